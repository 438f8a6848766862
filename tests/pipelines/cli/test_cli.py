"""The CLI contract: --help everywhere, --version, exit codes and one-line errors that name the problem."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.pipelines import __version__
from featureplex.pipelines.cli import COMMANDS
from tests.conftest import small_table


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_on_every_command(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: featureplex" in result.stdout


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.returncode == 2 and "No such command" in result.stderr


def test_schema_prints_and_writes_a_config_that_loads_back(cli, small_parquet, tmp_path):
    starter = tmp_path / "starter.yaml"
    result = cli("schema", small_parquet, "--write-config", starter)
    assert result.returncode == 0, result.stderr
    for column in ("item_id", "history_item_ids", "event_time"):
        assert column in result.stdout
    again = cli("schema", small_parquet, "--config", starter)
    assert again.returncode == 0, again.stderr


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write(tmp_path, name, table):
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def bad_inputs(tmp_path):
    """(args, fragments the error line must contain) for each bad input of the foundation issue."""
    good = write(tmp_path, "good.parquet", small_table(50))
    csv = tmp_path / "clicks.parquet"
    csv.write_text("label,x\n1,2\n")
    (tmp_path / "empty").mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write(mixed, "a.parquet", small_table(50))
    write(mixed, "b.parquet", small_table(50).drop_columns(["price"]))
    unknown_key = tmp_path / "unknown.yaml"
    unknown_key.write_text("rank: {shufles: 3}\n")
    missing_column = tmp_path / "missing.yaml"
    missing_column.write_text("features: {no_such_column: {kind: numeric}}\n")
    not_binary = write(tmp_path, "three.parquet", small_table(50).set_column(0, "label", pa.array([0, 1, 2] * 16 + [0, 1], pa.int64())))
    sequence_on_scalar = tmp_path / "seq.yaml"
    sequence_on_scalar.write_text("features: {city: {kind: sequence, shares_with: item_id}}\n")
    return [
        ((tmp_path / "absent",), ("absent", "no such file or directory")),
        ((csv,), ("clicks.parquet", "not a Parquet file")),
        ((tmp_path / "empty",), ("empty", "no Parquet files found")),
        ((mixed,), ("b.parquet", "column 'price' is missing")),
        ((good, "--config", unknown_key), ("unknown.yaml", "unknown key 'rank.shufles'")),
        ((good, "--config", missing_column), ("features.no_such_column", "not in the data")),
        ((not_binary,), ("label 'label'", "expected 0/1")),
        ((good, "--config", sequence_on_scalar), ("features.city", "declared sequence")),
    ]


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(cli, tmp_path):
    for args, fragments in bad_inputs(tmp_path):
        out = tmp_path / "written.yaml"
        result = cli("schema", *args, "--write-config", out)
        assert_one_line_error(result, *fragments)
        assert not out.exists()


def test_the_exit_after_a_command_runs_finalisers_and_atexit_handlers_and_keeps_the_code():
    """exit_after freezes what is left for a fast shutdown: garbage made before it is still finalised (an
    object only a reference cycle holds), atexit handlers run, and the exit code is kept."""
    import subprocess
    import sys

    script = """
import atexit
from featureplex.pipelines.cli import exit_after
atexit.register(print, "atexit ran")
class Cycle:
    def __del__(self):
        print("finalised")
held = Cycle()
held.self = held
del held
exit_after(3)
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout == "finalised\natexit ran\n"
