"""`featureplex profile`: per-column figures from the same count tables as ranking."""

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def test_profile_counts_missing_cardinality_top_values_and_quantiles(cli, tmp_path):
    rows = 5_000
    rng = np.random.default_rng(0)
    price = rng.uniform(1, 100, rows)
    price[:500] = np.nan
    table = pa.table({
        "label": pa.array(rng.integers(0, 2, rows), pa.int8()),
        "city": pa.array(np.where(np.arange(rows) % 10 == 0, "paris", "rome")),
        "visits": pa.array(np.arange(rows) % 7),
        "price": pa.array(price),
    })
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=1_000)
    config = tmp_path / "config.yaml"
    config.write_text("features:\n  visits: {kind: numeric}\n")
    result = cli("profile", tmp_path / "data.parquet", "--out", tmp_path / "out", "--config", config)
    assert result.returncode == 0, result.stderr
    assert "paris" not in result.stdout and "rome (90.0%)" in result.stdout
    profile = pl.read_parquet(tmp_path / "out" / "profile.parquet")
    assert profile["column"].to_list() == ["label", "city", "visits", "price"]
    price_row = profile.filter(pl.col("column") == "price").row(0, named=True)
    assert price_row["missing_rate"] == 0.1 and not price_row["cardinality_exact"]
    expected = np.quantile(price[500:], [0.25, 0.5, 0.75])
    for name, value in zip(("p25", "p50", "p75"), expected):
        assert abs(price_row[name] - value) / value < 0.03, (name, price_row[name], value)
    visits = profile.filter(pl.col("column") == "visits").row(0, named=True)
    assert visits["cardinality"] == 7 and visits["min"] == 0 and visits["max"] == 6 and visits["p50"] == 3
    detail = json.loads((tmp_path / "out" / "profile.json").read_text())
    city = next(entry for entry in detail["columns"] if entry["column"] == "city")
    assert city["top_values"] == [{"value": "rome", "count": 4_500}, {"value": "paris", "count": 500}]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["stage"] == "profile"
