"""`featureplex schema`: each column once, an integer Unix-seconds timestamp found, and a starter config
that marks constant and ID-like columns `role: ignore` with the reason."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from featureplex.features.data.config import load_config
from tests.conftest import small_table

ROWS = 500
JAN_2024 = 1_704_067_200


def table_a_user_would_bring() -> pa.Table:
    """Unix seconds in an int64 `timestamp`, two sequences sharing one timestamp list, a constant and a row id."""
    table = small_table(ROWS).drop_columns(["event_time"])
    histories = table.column("history_item_ids").to_pylist()
    return (
        table.append_column("timestamp", pa.array(JAN_2024 + 60 * np.arange(ROWS), pa.int64()))
        .append_column("history_cities", pa.array([[f"c{i % 7}" for i in h] for h in histories], pa.list_(pa.string())))
        .append_column("history_timestamps", pa.array([list(range(len(h))) for h in histories], pa.list_(pa.timestamp("s"))))
        .append_column("constant", pa.array(["same"] * ROWS))
        .append_column("request_id", pa.array([f"req-{i:05d}" for i in range(ROWS)]))
    )


def rows_of(stdout: str) -> dict[str, list[str]]:
    """The table's rows by column name: [type, role, notes] (rich's box drawing split on │)."""
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0]:
            assert cells[0] not in rows, f"{cells[0]} printed twice"
            rows[cells[0]] = cells[1:]
    return rows


def test_each_column_once_and_the_integer_timestamp_found(cli, tmp_path):
    path = tmp_path / "clicks.parquet"
    pq.write_table(table_a_user_would_bring(), path)
    result = cli("schema", path, env={"COLUMNS": "220"})
    assert result.returncode == 0, result.stderr
    rows = rows_of(result.stdout)
    assert rows["timestamp"] == ["int64", "timestamp", "integer Unix seconds, 2024-01-01 00:00:00 to 2024-01-01 08:19:00 UTC"]
    assert rows["history_timestamps"][1:] == ["sequence timestamps", "times of history_item_ids, history_cities"]
    assert rows["constant"][1] == "categorical" and rows["constant"][2].startswith("constant: every non-missing value is 'same'")
    assert rows["request_id"][2] == "ID-like: 500 distinct values in 500 non-missing rows: --write-config marks it role: ignore"
    assert rows["city"][2] == "" and rows["item_id"][2] == ""


def test_write_config_ignores_suspects_with_a_comment_and_loads_back(cli, tmp_path):
    path = tmp_path / "clicks.parquet"
    pq.write_table(table_a_user_would_bring(), path)
    starter = tmp_path / "starter.yaml"
    result = cli("schema", path, "--write-config", starter)
    assert result.returncode == 0, result.stderr
    text = starter.read_text()
    assert "    role: ignore  # constant: every non-missing value is 'same'; delete this line to use it as a feature\n" in text
    assert "    role: ignore  # ID-like: 500 distinct values in 500 non-missing rows; delete this line to use it as a feature\n" in text
    config = load_config(starter)
    assert config.timestamp == "timestamp"
    assert {name for name, feature in config.features.items() if feature.role == "ignore"} == {"constant", "request_id"}
    assert config.features["request_id"].kind == "categorical"  # deleting the role line leaves a usable entry
    assert yaml.safe_load(text)["features"]["history_cities"] == {
        "kind": "sequence", "shares_with": "city", "timestamps": "history_timestamps"
    }
    again = cli("schema", "--config", starter, env={"COLUMNS": "220"})
    assert again.returncode == 0, again.stderr
    rows = rows_of(again.stdout)
    assert rows["constant"][1:] == rows["request_id"][1:] == ["ignored", "role: ignore in the config"]


def test_a_column_the_config_ignores_is_listed_once(cli, tmp_path):
    path = tmp_path / "clicks.parquet"
    pq.write_table(table_a_user_would_bring(), path)
    config = tmp_path / "config.yaml"
    config.write_text("features:\n  history_timestamps: {role: ignore}\n  city: {role: ignore}\n")
    result = cli("schema", path, "--config", config, env={"COLUMNS": "220"})
    assert result.returncode == 0, result.stderr
    rows = rows_of(result.stdout)  # fails on a column printed twice
    assert rows["city"][1:] == ["ignored", "role: ignore in the config"]
    assert rows["history_timestamps"][1] == "sequence timestamps"
