"""Leave-one-out evaluation with full ranking: HR@k and NDCG@k of each user's held-out item."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray, histories: np.ndarray) -> np.ndarray:
    """0-based rank of each target among all items, after removing the items already in the user's history.

    scores [users, items + 1] (column 0 is padding and never ranked), targets [users], histories
    [users, length] item ids with 0 as padding. The target itself stays (it may also appear earlier
    in the history; leave-one-out asks where it ranks). Ties count against the target.
    """
    scores = scores.astype(np.float64, copy=True)
    users = np.arange(len(targets))
    target_scores = scores[users, targets]
    rows, positions = np.nonzero(histories > 0)
    scores[rows, histories[rows, positions]] = -np.inf
    scores[:, 0] = -np.inf
    scores[users, targets] = target_scores
    return (scores >= target_scores[:, None]).sum(axis=1) - 1


def ranking_metrics(ranks: np.ndarray, cutoffs: Sequence[int] = (10, 50)) -> dict[str, float]:
    """HR@k = mean(rank < k); NDCG@k = mean(1 / log2(rank + 2) if rank < k else 0) (one relevant item)."""
    metrics = {}
    for k in cutoffs:
        hit = ranks < k
        metrics[f"hr@{k}"] = float(hit.mean())
        metrics[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    return metrics


def evaluate_leave_one_out(user_vectors: Callable[[np.ndarray], np.ndarray], item_vectors: np.ndarray,
                           histories: np.ndarray, targets: np.ndarray, batch_size: int = 1024,
                           cutoffs: Sequence[int] = (10, 50)) -> dict[str, float]:
    """Score every item for every user (dot products), remove history items, rank the held-out target.

    histories [users, length] right-aligned item ids (0 = padding); item_vectors [items + 1, dim].
    """
    ranks = [
        target_ranks(user_vectors(histories[start:start + batch_size]) @ item_vectors.T,
                     targets[start:start + batch_size], histories[start:start + batch_size])
        for start in range(0, len(targets), batch_size)
    ]
    return ranking_metrics(np.concatenate(ranks), cutoffs)
