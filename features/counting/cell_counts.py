"""Counts per integer cell with np.bincount: rows n and 0/1 weights (label copies), as sparse tables.

When every row already has a small integer cell (a pair's joint code in pass 2), a hash group_by is
wasted work: `np.bincount(cells, minlength=size)` counts rows in one pass, and one weighted bincount per
weight column sums the label and its shuffles. Weighted bincounts are the cost, so weight columns are
packed: a batch of `rows` rows puts at most `rows` in a cell, i.e. `bits = rows.bit_length()` bits per
count, so `53 // bits` 0/1 columns fit side by side in one float64 weight (53-bit mantissa) and one
bincount sums them all. The sums are integers below 2^53, hence exact whatever the order of addition,
and are unpacked with shifts and masks. At 65,536-row batches 3 columns share a float: the label and
8 shuffles cost 3 weighted bincounts instead of 9. A single column (the label alone, as the
closed-form chance baseline counts) needs no weighted bincount at all: it rides in the cell code,
2 * cell + y, and one plain bincount over 2 * size codes counts n - y and y of every cell.

A table is (keys, counts): sorted distinct int64 keys of the non-empty cells and an int64 matrix
(keys, 1 + weights) holding n and the weight sums; tables merge by addition (`merge_tables`), so the
result is the same however the rows were split into batches and partial tables.

Example::

    packed = PackedWeights.of({"pos": labels, "pos_1": shuffled}, rows=labels.size)
    keys, counts = count_cells(cells, size=12, packed=packed)    # counts[:, 0] = n, then pos, pos_1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MANTISSA_BITS = 53
# merge_tables adds into a dense array when the largest key is below this many times the entries
DENSE_MERGE_FACTOR = 4


@dataclass(frozen=True)
class PackedWeights:
    """0/1 weight columns packed `per` to a float64, `bits` bits each (module docstring); a single
    column is kept as integers instead (`single`), to be counted inside the cell code."""

    columns: int
    bits: int
    per: int
    packed: tuple[np.ndarray, ...]
    single: np.ndarray | None = None

    @staticmethod
    def of(weights: dict[str, np.ndarray], rows: int) -> PackedWeights:
        columns = list(weights.values())
        if len(columns) == 1:
            return PackedWeights(1, 1, 1, (), columns[0].astype(np.intp))
        bits = max(int(rows).bit_length(), 1)
        per = max(MANTISSA_BITS // bits, 1)
        packed = []
        for start in range(0, len(columns), per):
            total = np.zeros(rows, dtype=np.float64)
            for offset, column in enumerate(columns[start : start + per]):
                total += column.astype(np.float64) * float(1 << (bits * offset))
            packed.append(total)
        return PackedWeights(len(columns), bits, per, tuple(packed))


def count_cells(cells: np.ndarray, size: int, packed: PackedWeights) -> tuple[np.ndarray, np.ndarray]:
    """Table of the non-empty cells among 0..size-1: keys and (n, weight sums) per key."""
    if packed.single is not None:
        return count_coded_cells(cells * 2 + packed.single, size)
    n = np.bincount(cells, minlength=size)
    keys = np.flatnonzero(n)
    counts = np.empty((keys.size, 1 + packed.columns), dtype=np.int64)
    counts[:, 0] = n[keys]
    mask = (1 << packed.bits) - 1
    for group, weights in enumerate(packed.packed):
        # exact: integer sums below 2^53 (see module docstring)
        sums = np.bincount(cells, weights=weights, minlength=size)[keys].astype(np.int64)
        first = group * packed.per
        for offset in range(min(packed.per, packed.columns - first)):
            counts[:, 1 + first + offset] = (sums >> (packed.bits * offset)) & mask
    return keys.astype(np.int64), counts


def count_coded_cells(coded: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """count_cells of one 0/1 weight column w from the codes 2 * cell + w: one bincount counts n - w and w."""
    return coded_table(np.bincount(coded, minlength=2 * size))


def coded_table(coded_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The table of the non-empty cells from the counts of every code 2 * cell + w (cells x 2, flat)."""
    both = coded_counts.reshape(-1, 2)
    n = both[:, 0] + both[:, 1]
    keys = np.flatnonzero(n)
    counts = np.empty((keys.size, 2), dtype=np.int64)
    counts[:, 0] = n[keys]
    counts[:, 1] = both[keys, 1]
    return keys.astype(np.int64), counts


def merge_tables(tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum tables: counts of equal keys added, keys sorted.

    Keys are cells below the pair's size, usually about as many as the entries: then bincounts into
    dense columns are several times cheaper than sorting the entries. Every key of a table has
    n >= 1, so the keys of the sum are the cells with n >= 1.
    """
    if len(tables) == 1:
        return tables[0]
    keys = np.concatenate([keys for keys, _ in tables])
    counts = np.concatenate([counts for _, counts in tables])
    if keys.size and int(keys.max()) < DENSE_MERGE_FACTOR * keys.size:
        # one weighted bincount per column (exact: integer sums below 2^53)
        sums = [np.bincount(keys, weights=column, minlength=int(keys.max()) + 1) for column in counts.T]
        present = np.flatnonzero(sums[0])
        return present, np.stack([column[present] for column in sums], axis=1).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    if keys.size == 0:
        return keys, counts
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts, axis=0)


def narrowed(table: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The table in the narrowest unsigned types that hold it (n bounds every count of its row): for shipping."""
    keys, counts = table
    largest_key = int(keys.max()) if keys.size else 0
    largest_count = int(counts[:, 0].max()) if counts.size else 0
    return keys.astype(np.min_scalar_type(largest_key)), counts.astype(np.min_scalar_type(largest_count))


def widened(table: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A narrowed table back in int64."""
    keys, counts = table
    return keys.astype(np.int64), counts.astype(np.int64)
