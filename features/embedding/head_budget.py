"""How a hybrid layout splits its rows between the head and the hashed tail: the size that collides least.

A fixed share for the tail cannot be the rule: on one data set at a tight budget every head row cost
more than it saved (test AUC rose with the tail's share, pure hashing best), on another the heavy values
need rows of their own. The head size is chosen from the counts instead.

Model (mean field). The tail has T rows and holds values j with counts n_j and c_j chunks, M occurrences
in all. Each chunk of j hashes uniformly, so the row it lands in also carries, on average,
O_j = (M - n_j) / T occurrences of other values; that row follows j's gradients for a share
n_j / (n_j + O_j) of its updates and is pulled elsewhere by the rest, s_j = O_j / (n_j + O_j). With c_j
chunks in independent rows, j's embedding is confused with others only where all its chunks are,
s_j^c_j (the reason multi-chunk hashing keeps values apart). The expected collided occurrences are

    C(H) = sum over j in tail(H) of n_j * ((M_H - n_j) / (T_H * n_j + M_H - n_j)) ^ c_j,    T_H = F - H

when the head takes the H most frequent candidates (a head row has no collisions), tail(H) holds the
other values (the candidates after the first H, the values below `min_count` or past `top_k`, and each
unrepresentable occurrence as a value seen once), M_H is their occurrences and F the rows head and
tail share (the budget less padding and missing rows). The head size is

    H* = argmin C(H) over 0 <= H <= min(candidates, F - 1)      (the smallest H on a tie)

i.e. values are promoted while the collisions a head row saves (the promoted value's own, and its mass
taken out of the other values' rows) exceed what the same row saves in the tail (every O_j shrinking by
(T - 1) / T). What it does at the extremes:
- flat counts, far more values than rows: every value is swamped in the tail either way, and with two
  or more chunks the tail keeps them apart better than a head for a few of them: (almost) all tail;
- all values fit: H* gives each its row (C = 0);
- skewed counts: a value heavier than about a tail row's load (n > M / T) takes more collisions out of
  the tail than a row adds, so the heavy values get the head.

Vectorised: values with equal (count, chunks) are one group, and C is evaluated for every H (for at
most `GRID` sizes spaced geometrically when there are more candidates) as one numpy expression over
(sizes x groups), in blocks of bounded memory. Deterministic: the same counts give the same H*.
"""

from __future__ import annotations

import numpy as np

GRID = 1024  # head sizes evaluated at most (all of them when there are fewer candidates)
_BLOCK_CELLS = 1 << 22  # sizes x groups evaluated at once


def _sizes(largest: int) -> np.ndarray:
    """The head sizes to evaluate: all of 0..largest, or 0 and `GRID - 1` geometrically spaced ones."""
    if largest < GRID:
        return np.arange(largest + 1, dtype=np.int64)
    spaced = np.rint(np.geomspace(1, largest, GRID - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], spaced]))


def collisions(sizes: np.ndarray, candidates: np.ndarray, candidate_chunks: np.ndarray,
               rest: np.ndarray, rest_chunks: np.ndarray, free_rows: int) -> np.ndarray:
    """C(H) of the module docstring for each head size in `sizes`.

    `candidates`: the head candidates' counts in promotion order (most frequent first), with their
    chunks; `rest`: the counts (and chunks) of the values that stay in the tail whatever H is.
    """
    counts = np.concatenate([candidates, rest]).astype(np.int64)
    chunks = np.concatenate([candidate_chunks, rest_chunks]).astype(np.int64)
    keys, group = np.unique(counts * (int(chunks.max(initial=1)) + 1) + chunks, return_inverse=True)
    group = group.reshape(-1)
    group_count = (keys // (int(chunks.max(initial=1)) + 1)).astype(np.float64)
    group_chunks = (keys % (int(chunks.max(initial=1)) + 1)).astype(np.float64)
    groups = len(keys)
    total = np.bincount(group, minlength=groups)
    # candidates of each group among the first H: sorted (group, position) keys, one searchsorted per cell
    span = len(candidates) + 1
    candidate_group = group[: len(candidates)]
    position_keys = np.sort(candidate_group * span + np.arange(len(candidates)))
    group_start = np.searchsorted(position_keys, np.arange(groups) * span)
    promoted_mass = np.concatenate([[0], np.cumsum(candidates, dtype=np.int64)])
    mass = int(counts.sum())
    result = np.empty(len(sizes))
    block = max(1, _BLOCK_CELLS // max(groups, 1))
    for first in range(0, len(sizes), block):
        size = sizes[first: first + block]
        promoted = np.searchsorted(position_keys, np.arange(groups)[None, :] * span + size[:, None]) - group_start
        in_tail = total[None, :] - promoted
        tail_mass = (mass - promoted_mass[size]).astype(np.float64)[:, None]
        tail_rows = (free_rows - size).astype(np.float64)[:, None]
        others = np.maximum(tail_mass - group_count[None, :], 0.0)
        share = others / np.maximum(tail_rows * group_count[None, :] + others, 1e-300)
        result[first: first + block] = (in_tail * group_count[None, :] * share ** group_chunks[None, :]).sum(axis=1)
    return result


def head_size(candidates: np.ndarray, candidate_chunks: np.ndarray, rest: np.ndarray, rest_chunks: np.ndarray,
              free_rows: int) -> int:
    """H*: how many of the candidates (counts in promotion order) get head rows out of `free_rows` (>= 1)."""
    sizes = _sizes(min(len(candidates), free_rows - 1))
    cost = collisions(sizes, candidates, candidate_chunks, rest, rest_chunks, free_rows)
    return int(sizes[int(np.argmin(cost))])
