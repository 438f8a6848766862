"""Deterministic Parquet for the artifacts' tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Large strings narrowed to `string`, fixed zstd compression, one row group, no timestamps: equal
    frames give equal bytes whatever the number of workers that computed them."""
    table = frame.to_arrow()
    schema = pa.schema([
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema
    ])
    pq.write_table(table.cast(schema), path, compression="zstd", row_group_size=max(table.num_rows, 1))
