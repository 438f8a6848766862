"""The rank stage end to end: acceptance on synthetic data, determinism across workers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.rank import rank

ARTIFACT_FILES = {
    "ranking.parquet", "ranking.tsv", "interactions.parquet", "redundancy.parquet", "selection.json",
    "anomalies.json", "report.html", "manifest.json",
}


@pytest.fixture(scope="module", params=[1, 2])
def synth_rank(request, tmp_path_factory):
    """200k synthetic rows (ground truth known), ranked with the defaults on one worker."""
    root = tmp_path_factory.mktemp(f"synth{request.param}")
    truth = generate_synthetic(root / "data", rows=200_000, seed=request.param, row_group_rows=50_000)
    ranking = rank(root / "data", out=root / "rank")
    return truth, ranking, root / "rank"


def roles(truth: dict, *wanted: str) -> list[str]:
    return [name for name, column in truth["columns"].items() if column["role"] in wanted]


def test_informative_features_rank_above_noise_and_ids(synth_rank):
    truth, ranking, out = synth_rank
    assert set(p.name for p in out.iterdir()) == ARTIFACT_FILES
    assert pl.read_parquet(out / "ranking.parquet").equals(ranking)
    position = {name: rank_ for name, rank_ in ranking.select("feature", "rank").iter_rows()}
    informative = roles(truth, "informative")
    noise = roles(truth, "noise", "id_like")
    assert len(informative) == 10 and "noise_row_id" in noise and "noise_uniform_100k" in noise
    assert max(position[f] for f in informative) < min(position[f] for f in noise)
    # plain MI puts the near-unique ID and the 100k-value noise right under the leaking column
    by_mi = ranking.sort("mi", descending=True)["feature"].to_list()
    assert by_mi.index("noise_row_id") <= 2 and by_mi.index("noise_uniform_100k") <= 2
    assert ranking.filter(pl.col("feature") == "noise_row_id")["id_like"][0]


def test_interactions_redundancy_and_selection(synth_rank):
    _, _, out = synth_rank
    interactions = pl.read_parquet(out / "interactions.parquet")
    top3 = [{a, b} for a, b in interactions.head(3).select("feature_a", "feature_b").iter_rows()]
    assert {"xor_a", "xor_b"} in top3
    redundant = pl.read_parquet(out / "redundancy.parquet").filter(pl.col("redundant"))
    assert [{a, b} for a, b in redundant.select("feature_a", "feature_b").iter_rows()] == [{"inf_cat_100", "inf_cat_100_copy"}]
    selection = json.loads((out / "selection.json").read_text())
    kept = {"inf_cat_100", "inf_cat_100_copy"} & set(selection["recommended"])
    assert len(kept) == 1
    assert "leak_label" not in selection["recommended"] and "noise_row_id" not in selection["recommended"]


def test_anomalies_are_flagged(synth_rank):
    _, _, out = synth_rank
    anomalies = json.loads((out / "anomalies.json").read_text())
    flags = {name: set(entry["anomalies"]) for name, entry in anomalies["features"].items()}
    assert "constant" in flags["constant"]
    assert "missing" in flags["missing_80"]
    assert "label_leakage" in flags["leak_label"]
    assert "drift" in flags["drift_noise"]
    assert "id_like" in flags["noise_row_id"]
    assert {"column": "history_item_ids", "reason": "sequence feature: not ranked"} in anomalies["skipped"]
    informative_flags = {name: flags[name] for name in ("inf_cat_10", "inf_cat_100", "inf_num", "xor_a")}
    assert all(not found for found in informative_flags.values()), informative_flags
    report = (out / "report.html").read_text()
    assert report.count('<svg class="chart"') == 2 and "leak_label" in report and "<img" not in report


def artifact_bytes(out: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    manifest = json.loads(files.pop("manifest.json"))
    assert set(manifest["timings"]) == {"passes"}
    manifest.pop("timings")
    files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def test_one_and_two_workers_give_identical_artifacts(cli, tmp_path):
    generate_synthetic(tmp_path / "data", rows=30_000, seed=3, row_group_rows=4_000)
    one = cli("rank", tmp_path / "data", "--out", tmp_path / "one", "--top-k", "8")
    assert one.returncode == 0, one.stderr
    assert "top features" in one.stdout and "top interactions:" in one.stdout
    two = cli("rank", tmp_path / "data", "--out", tmp_path / "two", "--top-k", "8",
              "--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
    assert two.returncode == 0, two.stderr
    assert artifact_bytes(tmp_path / "one") == artifact_bytes(tmp_path / "two")


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def labelled(labels, **columns) -> pa.Table:
    rows = len(labels)
    rng = np.random.default_rng(0)
    return pa.table({"label": pa.array(labels, pa.int8()), "city": pa.array(rng.integers(0, 5, rows)), **columns})


@pytest.mark.parametrize(
    "case, args, fragments",
    [
        ("empty", (), ("label 'label'", "no rows")),
        ("one_class", (), ("label 'label'", "both 0 and 1")),
        ("not_binary", (), ("label 'label'", "expected 0/1", "2")),
        ("label_missing", ("--label", "clicked"), ("label", "'clicked'", "not in the data")),
    ],
)
def test_bad_input_is_one_line_and_no_artifact(cli, tmp_path, case, args, fragments):
    tables = {
        "empty": labelled([]),
        "one_class": labelled([1] * 50),
        "not_binary": labelled([0, 1, 2] * 20),
        "label_missing": labelled([0, 1] * 20),
    }
    pq.write_table(tables[case], tmp_path / "data.parquet")
    result = cli("rank", tmp_path / "data.parquet", "--out", tmp_path / "out", *args)
    assert_one_line_error(result, *fragments)
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_all_null_and_unsupported_columns_are_warned_and_listed(cli, tmp_path):
    rows = 2_000
    rng = np.random.default_rng(1)
    table = labelled(
        list(rng.integers(0, 2, rows)),
        nothing=pa.nulls(rows),
        empty_text=pa.array([None] * rows, pa.string()),
        place=pa.array([{"x": 1, "y": 2}] * rows),
        tags=pa.array([[("a", 1)]] * rows, pa.map_(pa.string(), pa.int64())),
    )
    pq.write_table(table, tmp_path / "data.parquet")
    result = cli("rank", tmp_path / "data.parquet", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for column in ("nothing", "place", "tags"):
        assert f"warning: column '{column}' not ranked" in result.stderr
    assert "warning: column 'empty_text' is null on every row" in result.stderr
    anomalies = json.loads((tmp_path / "out" / "anomalies.json").read_text())
    skipped = {entry["column"]: entry["reason"] for entry in anomalies["skipped"]}
    assert set(skipped) == {"nothing", "place", "tags"} and "null" in skipped["nothing"]
    assert "struct" in skipped["place"] and "map" in skipped["tags"]
    empty_text = anomalies["features"]["empty_text"]
    assert set(empty_text["anomalies"]) == {"constant", "missing"} and empty_text["missing_rate"] == 1.0
