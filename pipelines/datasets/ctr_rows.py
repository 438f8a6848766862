"""DIN-style CTR rows from user histories, and next-item training sequences (Parquet, deterministic by seed).

CTR rows: for every event t of a user with at least `min_history` earlier events, two rows share
the history h = the user's last `max_length` items before t (most recent last, with their
timestamps when the source has times):

    label 1, item_id = the item of event t            (the real next item)
    label 0, item_id = an item drawn uniformly from all items the user never touched

Each user's last event is the test row pair (leave-one-out), every earlier event a training pair,
written to `train/` and `test/`. A history longer than `max_length` keeps its most recent items and
is counted (`truncated_histories`); `min_history=0` keeps the first event with an empty history.

Next-item sequences: one row per user: `history_item_ids`, the user's items except the last (the
most recent `max_length + 1`, so each of the `max_length` training positions has a next item),
and `target_item_id`, the held-out last item for the leave-one-out evaluation; with
`history_timestamps` and `target_timestamp` when known.

Everything is numpy / pyarrow on whole columns; the only loop is over rounds of negative
rejection sampling, each round vectorised over all rows still drawing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featureplex.features.data.artifact_dir import Manifest, Stopwatch, atomic_artifact_dir, write_json
from featureplex.features.errors import InputError
from featureplex.pipelines.datasets.user_histories import UserHistories

PART = "part-00000.parquet"
STATS = "stats.json"
MAX_REJECTION_ROUNDS = 1000


@dataclass(frozen=True)
class SequenceStats:
    users: int
    items: int
    events: int
    train_rows: int
    test_rows: int
    empty_histories: int
    truncated_histories: int
    users_without_rows: int


def _columns(histories: UserHistories) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """users, items, seconds (or None), each user's first index and length (events sorted by user)."""
    events = histories.events
    users = events["user"].to_numpy()
    items = events["item"].to_numpy()
    seconds = events["time"].dt.epoch("s").to_numpy() if histories.has_time else None
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    lengths = np.diff(np.r_[starts, len(users)])
    return users, items, seconds, starts, lengths


def _gather_lists(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values[starts[r] : starts[r] + lengths[r]] for every r, flattened, and the list offsets."""
    offsets = np.r_[0, np.cumsum(lengths)]
    flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return values[flat], offsets


def _list_array(values: np.ndarray, offsets: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, arrow_type))


def sample_unseen(rng: np.random.Generator, users: np.ndarray, items: np.ndarray, row_users: np.ndarray) -> np.ndarray:
    """For each entry of `row_users`, an item drawn uniformly from the items that user never touched."""
    catalogue = np.unique(items)
    item_index = np.searchsorted(catalogue, items)
    user_ids, user_index = np.unique(users, return_inverse=True)
    seen = np.unique(user_index.astype(np.int64) * len(catalogue) + item_index)
    rows = np.searchsorted(user_ids, row_users).astype(np.int64)
    drawn = np.empty(len(row_users), np.int64)
    pending = np.arange(len(row_users))
    for _ in range(MAX_REJECTION_ROUNDS):
        candidates = rng.integers(0, len(catalogue), len(pending))
        codes = rows[pending] * len(catalogue) + candidates
        hit = np.searchsorted(seen, codes)
        collided = seen[np.minimum(hit, len(seen) - 1)] == codes
        drawn[pending[~collided]] = candidates[~collided]
        pending = pending[collided]
        if not len(pending):
            return catalogue[drawn]
    raise InputError(f"{len(pending)} rows: their users touched (almost) every item; no unseen item to sample as a negative")


def build_ctr_rows(histories: UserHistories, out: str | os.PathLike, max_length: int = 50, min_history: int = 1,
                   seed: int = 0) -> SequenceStats:
    """Write `train/` and `test/` Parquet datasets of DIN-style CTR rows to `out`, with `stats.json` and a manifest."""
    if max_length < 1 or min_history < 0:
        raise InputError(f"--max-length must be >= 1 and --min-history >= 0 (got {max_length}, {min_history})")
    stopwatch = Stopwatch()
    users, items, seconds, starts, lengths = _columns(histories)
    owner_start = np.repeat(starts, lengths)
    position = np.arange(len(users)) - owner_start
    targets = np.flatnonzero(position >= min_history)
    is_test = np.zeros(len(users), bool)
    is_test[starts + lengths - 1] = True
    history_start = np.maximum(owner_start[targets], targets - max_length)
    history_lengths = targets - history_start
    rng = np.random.default_rng(seed)
    negatives = sample_unseen(rng, users, items, users[targets])

    def table(selected: np.ndarray) -> pa.Table:
        # two rows per target, positive first: each history list appears twice
        target = targets[selected]
        pair = np.repeat(np.arange(len(target)), 2)
        history, offsets = _gather_lists(items, history_start[selected][pair], history_lengths[selected][pair])
        columns = {
            "label": pa.array(np.tile([1, 0], len(target)).astype(np.int8)),
            "user_id": pa.array(users[target][pair]),
            "item_id": pa.array(np.stack([items[target], negatives[selected]], axis=1).ravel()),
            "history_item_ids": _list_array(history, offsets, pa.int64()),
        }
        if seconds is not None:
            columns["timestamp"] = pa.array(seconds[target][pair].astype("datetime64[s]"))
            times, _ = _gather_lists(seconds, history_start[selected][pair], history_lengths[selected][pair])
            columns["history_timestamps"] = _list_array(times.astype("datetime64[s]"), offsets, pa.timestamp("s"))
        return pa.table(columns)

    test = is_test[targets]
    stats = SequenceStats(
        users=len(starts), items=int(len(np.unique(items))), events=len(users),
        train_rows=2 * int((~test).sum()), test_rows=2 * int(test.sum()),
        empty_histories=int((history_lengths == 0).sum()),
        truncated_histories=int((targets - owner_start[targets] > max_length).sum()),
        users_without_rows=int((lengths <= min_history).sum()),
    )
    with atomic_artifact_dir(out) as staging:
        with stopwatch.time("write"):
            for name, selected in (("train", ~test), ("test", test)):
                (staging / name).mkdir()
                pq.write_table(table(np.flatnonzero(selected)), staging / name / PART)
        write_json(staging / STATS, asdict(stats))
        Manifest("ctr-rows", inputs={"source": histories.source},
                 parameters={"max_length": max_length, "min_history": min_history, "seed": seed},
                 outputs=(f"train/{PART}", f"test/{PART}", STATS), timings=stopwatch.timings).write(staging)
    return stats


def build_next_item_sequences(histories: UserHistories, out: str | os.PathLike, max_length: int = 50) -> SequenceStats:
    """Write one leave-one-out row per user with at least two items to `out/part-00000.parquet`."""
    if max_length < 1:
        raise InputError(f"--max-length must be >= 1 (got {max_length})")
    stopwatch = Stopwatch()
    users, items, seconds, starts, lengths = _columns(histories)
    kept = lengths >= 2
    starts, lengths = starts[kept], lengths[kept]
    last = starts + lengths - 1
    history_lengths = np.minimum(lengths - 1, max_length + 1)
    history_start = last - history_lengths
    history, offsets = _gather_lists(items, history_start, history_lengths)
    columns = {
        "user_id": pa.array(users[starts]),
        "history_item_ids": _list_array(history, offsets, pa.int64()),
        "target_item_id": pa.array(items[last]),
    }
    if seconds is not None:
        times, _ = _gather_lists(seconds, history_start, history_lengths)
        columns["history_timestamps"] = _list_array(times.astype("datetime64[s]"), offsets, pa.timestamp("s"))
        columns["target_timestamp"] = pa.array(seconds[last].astype("datetime64[s]"))
    stats = SequenceStats(
        users=int(len(np.unique(users))), items=int(len(np.unique(items))), events=len(users),
        train_rows=int(kept.sum()), test_rows=int(kept.sum()), empty_histories=0,
        truncated_histories=int((lengths - 1 > max_length + 1).sum()), users_without_rows=int((~kept).sum()),
    )
    with atomic_artifact_dir(out) as staging:
        with stopwatch.time("write"):
            pq.write_table(pa.table(columns), staging / PART)
        write_json(staging / STATS, asdict(stats))
        Manifest("next-item-sequences", inputs={"source": histories.source}, parameters={"max_length": max_length},
                 outputs=(PART, STATS), timings=stopwatch.timings).write(staging)
    return stats
