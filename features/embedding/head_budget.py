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
values. Counting a candidate (a value reaching `min_count` within `top_k`) as *served* when it has a head
row or owns a tail slot, the expected served occurrences are, with all values in decreasing count order
and r_j the number of tail values heavier than j (each hashes into j's slot with probability 1/T,
independently),

    S(H) = sum over the H head values of n_j  +  sum over tail candidates j of n_j * (1 - (1 - q^r_j)^c_j),
    q = 1 - 1/T,  T = F - H

where the head takes the H most frequent candidates, the tail holds every other value, and F is the rows
head and tail share (the budget less padding and missing rows). Values that are no candidates take
slots (a heavier one, past `top_k`, takes them from candidates) but count for nothing: the config says
they are not worth parameters of their own, and a slot of their own is one they can only memorise from
their few occurrences, and which unseen values hashing there inherit (on Criteo 10k at half the full
table, spreading the singletons over 14,000 tail rows cost 0.015 test AUC against pooling them). So

    H* = argmax S(H) over 0 <= H <= min(candidates, F - 1)      (the largest H on a tie)
    tail rows = F - H*, or 1 when every candidate has a head row (rows that would serve no candidate
                are not allocated: the table is then smaller than the budget)

A value is promoted while the occurrences its head row serves exceed what the same row serves in the
tail (c more slots, each owned by the heaviest value hashed there). What it does:
- flat counts, far more values than rows: a head row serves one value, a tail row c of them: all tail;
- all candidates fit: each gets a head row, and the values below `min_count` share one tail row;
- skewed counts: heavy values colliding with each other in the tail lose slots there, and each one
  owning all its c slots wastes c - 1 of them, so the head takes the heavy values until that stops paying.
Unrepresentable occurrences are left out (they cannot be head values; their mass does not change r).

Vectorised: S is evaluated for every H (for `GRID` geometrically spaced sizes, then up to `GRID` sizes
between the best one's neighbours, when there are more candidates), each as one numpy expression over the
values. Deterministic: the same counts give the same split.
"""

from __future__ import annotations

import numpy as np

GRID = 64  # head sizes evaluated at first (all of them when there are fewer candidates)
TIE = 1e-12  # relative: served occurrences this close are equal (float sums of equal terms in another order)


def served(size: int, counts: np.ndarray, chunks: np.ndarray, candidate_index: np.ndarray, free_rows: int) -> float:
    """S(H) of the module docstring for H = `size`: the candidates' served occurrences.

    `counts`, `chunks`: every value, most frequent first; `candidate_index`: for each value, its place in
    the head's promotion order, or -1 for a value that is no candidate (it takes slots, counts for nothing).
    """
    candidate = candidate_index >= 0
    promoted = candidate & (candidate_index < size)
    tail_rank = np.arange(len(counts)) - np.cumsum(promoted) + promoted  # tail values before this one
    keep = np.power(1.0 - 1.0 / (free_rows - size), tail_rank)  # P(no heavier tail value in one slot)
    owned = 1.0 - np.power(1.0 - keep, chunks)
    return float(np.where(promoted, counts, counts * owned)[candidate].sum())


def head_and_tail(candidates: np.ndarray, candidate_chunks: np.ndarray, rest: np.ndarray, rest_chunks: np.ndarray,
                  free_rows: int) -> tuple[int, int]:
    """(H*, tail rows): how many of the candidates (counts in promotion order, most frequent first) get head
    rows out of `free_rows` (>= 1), and the tail's rows: the rest of them, or 1 when every candidate has a
    head row. `rest`: the counts (and chunks) of the values that are no candidates."""
    counts = np.concatenate([candidates, rest]).astype(np.float64)
    chunks = np.concatenate([candidate_chunks, rest_chunks]).astype(np.float64)
    index = np.concatenate([np.arange(len(candidates)), np.full(len(rest), -1)])
    order = np.argsort(-counts, kind="stable")  # candidates first among equal counts: they come first
    counts, chunks, index = counts[order], chunks[order], index[order]
    largest = min(len(candidates), free_rows - 1)

    def best(sizes: np.ndarray) -> int:
        values = np.array([served(int(size), counts, chunks, index, free_rows) for size in sizes])
        return int(np.flatnonzero(values >= values.max() * (1 - TIE))[-1])  # the largest head on a tie

    if largest < GRID:
        sizes = np.arange(largest + 1)
    else:
        sizes = np.unique(np.concatenate([[0], np.rint(np.geomspace(1, largest, GRID - 1)).astype(np.int64)]))
        at = best(sizes)
        low, high = sizes[max(at - 1, 0)], sizes[min(at + 1, len(sizes) - 1)]
        sizes = np.unique(np.rint(np.linspace(low, high, min(GRID, high - low + 1))).astype(np.int64))
    head = int(sizes[best(sizes)])
    return head, (1 if head == len(candidates) else free_rows - head)
