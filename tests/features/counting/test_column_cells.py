"""Columns become cells (dictionary indices, narrow integers) with the key of every cell; others have none."""

import numpy as np
import polars as pl
import pyarrow as pa

from featureplex.features.counting.column_cells import MIN_SPAN, dictionary_cells, integer_cells


def test_integer_cells_are_offsets_with_missing_last():
    cells = integer_cells(pl.Series([7, 9, None, 7]))
    assert cells.cells.tolist() == [0, 2, 3, 0]
    assert cells.keys.to_list() == [7, 8, 9, None] and cells.size == 4
    assert cells.keys.gather(cells.cells).to_list() == [7, 9, None, 7]


def test_integers_wider_than_the_batch_have_no_cells():
    assert integer_cells(pl.Series([0, MIN_SPAN - 1])) is not None
    assert integer_cells(pl.Series([0, MIN_SPAN])) is None
    rows = np.arange(10_000)  # 10,000 rows may span 10,000 values
    assert integer_cells(pl.Series(rows)) is not None and integer_cells(pl.Series(rows * 2)) is None


def test_all_missing_is_one_cell():
    cells = integer_cells(pl.Series([None, None], dtype=pl.Int64))
    assert cells.cells.tolist() == [0, 0] and cells.keys.to_list() == [None]


def test_dictionary_cells_are_indices_and_keep_repeated_values():
    column = pa.DictionaryArray.from_arrays(pa.array([0, 2, None, 1]), pa.array(["a", "b", "a"]))
    cells = dictionary_cells(column.indices, pl.Series(column.dictionary))
    assert cells.cells.tolist() == [0, 2, 3, 1]
    assert cells.keys.gather(cells.cells).to_list() == ["a", "a", None, "b"]
