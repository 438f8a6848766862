"""How a hybrid layout splits its rows between the head and the hashed tail: the size that serves most.

A fixed share for the tail cannot be the rule: on one data set at a tight budget every head row cost
more than it saved (test AUC rose with the tail's share, pure hashing best), on others the heavy values
need rows of their own. The head size is chosen from the counts instead.

What a row buys. A head row gives one value a whole row. A tail row gives `c` values a slice each:
with `c` chunks a tail value reads column slice k of the row its chunk k hashes to, so each of the T tail
rows holds c slices ("slots"), and a slot's embedding is learned mostly from the heaviest value hashed
into it (its gradients dominate). A tail value that is the heaviest in at least one of its c slots keeps
a slice of its own, which tells it apart from every other value (what makes multi-chunk hashing work,
Coleman et al. 2023); one that is outweighed in all of them is, for the model, a mixture of heavier
values. Counting a value as *served* when it has a head row or owns a tail slot, the expected served
occurrences are, with the values in decreasing count order and r_j the number of tail values heavier
than j (each hashes into j's slot with probability 1/T, independently),

    S(H) = sum over the H head values of n_j  +  sum over tail values j of n_j * (1 - (1 - q^r_j)^c_j),
    q = 1 - 1/T,  T = F - H

where the head takes the H most frequent candidates (`min_count`, `top_k`), the tail holds every other
value (candidates after the first H, and the values below `min_count` or past `top_k`), and F is the
rows head and tail share (the budget less padding and missing rows). The head size is

    H* = argmax S(H) over 0 <= H <= min(candidates, F - 1)      (the smallest H on a tie)

so a value is promoted while the occurrences its head row serves exceed what the same row serves in
the tail (c more slots, each owned by the heaviest value hashed there). What it does:
- flat counts, far more values than rows: a head row serves one value, a tail row c of them: all tail;
- all values fit (F >= candidates + 1, no other values): every value gets its row, S = all occurrences;
- skewed counts: the heaviest values own their slots in the tail too, and each wastes c - 1 slots that
  the next values could own, so the head takes the heavy values until that stops paying.
Unrepresentable occurrences are left out (they cannot be head values; their mass does not change r).

Vectorised: S is evaluated for every H (for `GRID` geometrically spaced sizes, then up to `GRID` sizes
between the best one's neighbours, when there are more candidates), each as one numpy expression over the
values. Deterministic: the same counts give the same H*.
"""

from __future__ import annotations

import numpy as np

GRID = 64  # head sizes evaluated at first (all of them when there are fewer candidates)


def served(size: int, counts: np.ndarray, chunks: np.ndarray, candidate_index: np.ndarray, free_rows: int) -> float:
    """S(H) of the module docstring for H = `size`.

    `counts`, `chunks`: every value, most frequent first; `candidate_index`: for each value, its place in
    the head's promotion order, or -1 for a value that is no candidate.
    """
    promoted = (candidate_index >= 0) & (candidate_index < size)
    tail_rank = np.arange(len(counts)) - np.cumsum(promoted) + promoted  # tail values before this one
    keep = np.power(1.0 - 1.0 / (free_rows - size), tail_rank)  # P(no heavier tail value in one slot)
    owned = 1.0 - np.power(1.0 - keep, chunks)
    return float(np.where(promoted, counts, counts * owned).sum())


def head_size(candidates: np.ndarray, candidate_chunks: np.ndarray, rest: np.ndarray, rest_chunks: np.ndarray,
              free_rows: int) -> int:
    """H*: how many of the candidates (counts in promotion order, most frequent first) get head rows out of
    `free_rows` (>= 1), the values in `rest` (counts, chunks) staying in the tail."""
    counts = np.concatenate([candidates, rest]).astype(np.float64)
    chunks = np.concatenate([candidate_chunks, rest_chunks]).astype(np.float64)
    index = np.concatenate([np.arange(len(candidates)), np.full(len(rest), -1)])
    order = np.argsort(-counts, kind="stable")  # candidates first among equal counts: they come first
    counts, chunks, index = counts[order], chunks[order], index[order]
    largest = min(len(candidates), free_rows - 1)

    def best(sizes: np.ndarray) -> int:
        values = [served(int(size), counts, chunks, index, free_rows) for size in sizes]
        return int(np.argmax(values))

    if largest < GRID:
        sizes = np.arange(largest + 1)
        return int(sizes[best(sizes)])
    sizes = np.unique(np.concatenate([[0], np.rint(np.geomspace(1, largest, GRID - 1)).astype(np.int64)]))
    at = best(sizes)
    low, high = sizes[max(at - 1, 0)], sizes[min(at + 1, len(sizes) - 1)]
    window = np.unique(np.rint(np.linspace(low, high, min(GRID, high - low + 1))).astype(np.int64))
    return int(window[best(window)])
