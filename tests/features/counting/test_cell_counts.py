"""Bincount tables equal a plain per-cell sum, for any packing, and merge in any order."""

import numpy as np
import pytest

from featureplex.features.counting.cell_counts import PackedWeights, count_cells, merge_tables, narrowed, widened


def naive(cells: np.ndarray, weights: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(cells)
    columns = [np.ones_like(cells), *weights.values()]
    return keys, np.array([[int(column[cells == key].sum()) for column in columns] for key in keys], dtype=np.int64)


@pytest.mark.parametrize("rows, copies", [(1, 1), (7, 9), (5_000, 9), (70_000, 4)])
def test_packed_counts_equal_plain_sums(rows, copies):
    rng = np.random.default_rng(rows)
    cells = rng.integers(0, 40, rows)
    # all-ones columns put the largest possible sum (every row) in a cell: the packing's worst case
    weights = {f"w{i}": (np.ones(rows) if i == 0 else rng.integers(0, 2, rows)).astype(np.uint8) for i in range(copies)}
    keys, counts = count_cells(cells, 40, PackedWeights.of(weights, rows))
    expected_keys, expected = naive(cells, weights)
    assert np.array_equal(keys, expected_keys) and np.array_equal(counts, expected)


@pytest.mark.parametrize("size", [300, 10_000_000])  # keys dense among the cells (added in place) or sparse (sorted)
def test_merge_is_split_and_order_independent(size):
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 300, 6_000) * (size // 300)
    weights = {"pos": rng.integers(0, 2, 6_000).astype(np.uint8)}
    whole = count_cells(cells, size, PackedWeights.of(weights, 6_000))
    parts = [
        count_cells(cells[i : i + 1_000], size, PackedWeights.of({"pos": weights["pos"][i : i + 1_000]}, 1_000))
        for i in range(0, 6_000, 1_000)
    ]
    merged = merge_tables([merge_tables(parts[3:]), *parts[:3][::-1]])
    assert np.array_equal(merged[0], whole[0]) and np.array_equal(merged[1], whole[1])


def test_narrowed_tables_ship_small_and_come_back_equal():
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 50_000, 70_000)
    table = count_cells(cells, 50_000, PackedWeights.of({"pos": rng.integers(0, 2, 70_000).astype(np.uint8)}, 70_000))
    keys, counts = narrowed(table)
    assert keys.dtype == np.uint16 and counts.dtype == np.uint8
    back = widened((keys, counts))
    assert all(part.dtype == np.int64 for part in back)
    assert np.array_equal(back[0], table[0]) and np.array_equal(back[1], table[1])


def test_one_column_is_counted_inside_the_cell_code():
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 70, 9_000)
    weights = {"pos": rng.integers(0, 2, 9_000).astype(np.uint8)}
    packed = PackedWeights.of(weights, 9_000)
    assert packed.single is not None and not packed.packed
    keys, counts = count_cells(cells, 80, packed)
    expected_keys, expected = naive(cells, weights)
    assert np.array_equal(keys, expected_keys) and np.array_equal(counts, expected)
