"""Constant and ID-like columns found cheaply: footer statistics, then a sample of rows."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import resolve_schema
from featureplex.features.data.suspect_columns import projected_distinct, suspect_columns
from tests.conftest import small_table

ROWS = 1_000


def table_with_suspects() -> pa.Table:
    rng = np.random.default_rng(1)
    table = small_table(ROWS)
    return (
        table.append_column("constant", pa.array(["same"] * ROWS))
        .append_column("constant_or_null", pa.array([None if i % 3 else 7 for i in range(ROWS)], pa.int64()))
        .append_column("all_null", pa.array([None] * ROWS, pa.string()))
        .append_column("row_id", pa.array([f"r{i}" for i in rng.permutation(ROWS)]))
        .append_column("constant_float", pa.array(np.full(ROWS, 2.5)))
        .append_column("many_floats", pa.array(rng.normal(size=ROWS)))
    )


def suspects_of(tmp_path, table, **write_options):
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=250, **write_options)
    dataset = open_dataset(path)
    return suspect_columns(dataset, resolve_schema(dataset), id_like_ratio=0.5)


def test_constant_and_id_like_columns_with_their_reasons(tmp_path):
    suspects = suspects_of(tmp_path, table_with_suspects())
    checks = {name: suspect.check for name, suspect in suspects.items()}
    assert checks == {
        "constant": "constant", "constant_or_null": "constant", "all_null": "constant", "constant_float": "constant",
        "row_id": "id_like",
    }
    assert suspects["constant"].reason == "constant: every non-missing value is 'same'"
    assert suspects["all_null"].reason == "constant: null in every row"
    assert suspects["row_id"].reason == "ID-like: 1,000 distinct values in 1,000 non-missing rows"


def test_a_sample_stands_in_when_statistics_are_missing(tmp_path):
    path = tmp_path / "bare.parquet"
    pq.write_table(table_with_suspects(), path, row_group_size=250, write_statistics=False)
    dataset = open_dataset(path)
    suspects = suspect_columns(dataset, resolve_schema(dataset), id_like_ratio=0.5, sample_rows=600)
    assert suspects["constant"].reason == "constant: 1 distinct value(s) in the first 600 rows"
    assert suspects["row_id"].reason == (
        "ID-like: 600 distinct values in the first 600 rows; about 997 expected in its 1,000 non-missing rows"
    )
    assert {"constant_float", "constant_or_null", "all_null"} <= set(suspects)
    assert "many_floats" not in suspects and "city" not in suspects


def test_a_large_vocabulary_that_repeats_over_the_whole_data_is_not_an_id(tmp_path):
    """10,000 items in 50,000 rows: a 5,000-row sample is ~79% distinct, the whole data 20%."""
    rows = 50_000
    rng = np.random.default_rng(2)
    table = pa.table({
        "label": pa.array(rng.integers(0, 2, rows), pa.int8()),
        "item_id": pa.array(rng.integers(0, 10_000, rows)),
        "request_id": pa.array(rng.permutation(rows)),
    })
    path = tmp_path / "big.parquet"
    pq.write_table(table, path, row_group_size=5_000)
    dataset = open_dataset(path)
    sample = pq.read_table(path).slice(0, 5_000)
    assert len(set(sample.column("item_id").to_pylist())) > 0.75 * 5_000  # what a naive sample ratio would flag
    suspects = suspect_columns(dataset, resolve_schema(dataset), id_like_ratio=0.5, sample_rows=5_000)
    assert set(suspects) == {"request_id"}
    projected = float(suspects["request_id"].reason.split("about ")[1].split(" ")[0].replace(",", ""))
    assert 0.99 * rows <= projected <= rows


def test_projected_distinct_matches_the_uniform_expectation():
    rng = np.random.default_rng(3)
    sample = rng.integers(0, 100_000, 50_000)
    counts = np.unique(sample, return_counts=True)[1]
    expected = 100_000 * -np.expm1(-1_000_000 / 100_000)
    assert abs(projected_distinct(counts, 1_000_000) - expected) / expected < 0.03
    assert projected_distinct(np.ones(10_000, dtype=np.int64), 100_000) > 0.99 * 100_000  # all unique: an ID


def test_ordinary_features_are_not_suspects(tmp_path):
    assert suspects_of(tmp_path, small_table(ROWS)) == {}
