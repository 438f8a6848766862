"""A column as small integer cells, each cell with its key: what lets counting use np.bincount, not hashing.

Two kinds of column have such cells almost for free:
- a dictionary array (text read as Parquet dictionaries): a row's cell is its dictionary index, and a
  cell's key is its dictionary value (Arrow allows a value twice in a dictionary: two cells, one key,
  which callers add up when they merge by key);
- integer keys spanning a range no wider than the batch (ids, bucketed numerics): a row's cell is its
  key minus the smallest key.
Missing rows (null keys) get the last cell, whose key is null. Other columns (text read plainly,
integers spread wider than the batch) have no cells; callers hash-group their keys instead.

Example::

    cells = integer_cells(pl.Series([7, 9, None, 7]))
    cells.cells            # [0, 2, 3, 0]
    cells.keys.to_list()   # [7, 8, 9, None]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

# a batch may always use this many cells, however few rows it has
MIN_SPAN = 4096


@dataclass(frozen=True)
class ColumnCells:
    """`cells`: int64 cell of every row, in 0..size-1; `keys`: the key of each cell, the last one null."""

    cells: np.ndarray
    keys: pl.Series

    @property
    def size(self) -> int:
        return len(self.keys)


def filled(keys: pl.Series, value: int) -> np.ndarray:
    """Int64 keys as an int64 array, nulls replaced by `value`: by Arrow, as polars' Series.fill_null runs a
    query (0.1-0.3 ms a call, of which pass 2 makes dozens per batch)."""
    if not keys.null_count():
        return keys.to_numpy()
    return pc.fill_null(keys.to_arrow(), value).to_numpy(zero_copy_only=False)


def _with_missing(keys: pl.Series) -> pl.Series:
    return keys.append(pl.Series(keys.name, [None], dtype=keys.dtype))


def dictionary_cells(indices: pa.Array, dictionary_keys: pl.Series) -> ColumnCells:
    """Cells of a dictionary array given its indices and the key of each dictionary value."""
    cells = pc.fill_null(indices, len(dictionary_keys)) if indices.null_count else indices
    return ColumnCells(cells.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), _with_missing(dictionary_keys))


def integer_cells(keys: pl.Series, max_span: int | None = None) -> ColumnCells | None:
    """Cells of Int64 keys (null: missing), or None when they span more than max(`max_span`, MIN_SPAN)
    values (default: as many as rows)."""
    low, high = keys.min(), keys.max()
    if low is None:  # every row missing
        return ColumnCells(np.zeros(len(keys), dtype=np.int64), pl.Series(keys.name, [None], dtype=pl.Int64))
    span = high - low + 1
    if span > max(len(keys) if max_span is None else max_span, MIN_SPAN):
        return None
    cells = filled(keys - low, span)
    return ColumnCells(cells, _with_missing(pl.Series(keys.name, np.arange(low, high + 1, dtype=np.int64))))
