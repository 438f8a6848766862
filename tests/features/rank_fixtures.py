"""A small impression table with known structure, and a local (Beam-free) driver of the rank passes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from featureplex.features.counting.contingency import CountPlan, FeatureCountsAccumulator, KeyRule
from featureplex.features.data.dataset import BatchOrigin
from featureplex.features.scoring.ranking import score_features

ROWS = 40_000


def impressions(rows: int = ROWS, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    signal = rng.integers(0, 20, rows)
    xor_a, xor_b = rng.integers(0, 2, rows), rng.integers(0, 2, rows)
    amount = rng.normal(size=rows)
    logit = -1.0 + 0.08 * signal - 0.05 * 10 + 0.8 * amount + 1.2 * (xor_a ^ xor_b)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    copy = np.where(rng.random(rows) < 0.97, signal, rng.integers(0, 20, rows))
    flips = rng.random(rows) < 0.02
    time = np.arange(rows)
    drift = np.where(time < rows // 2, rng.integers(0, 5, rows), rng.integers(5, 10, rows))
    missing = np.where(rng.random(rows) < 0.8, None, rng.integers(0, 5, rows).astype(str).astype(object))
    return pa.table({
        "label": pa.array(label),
        "timestamp": pa.array(time, pa.timestamp("s")),
        "signal": pa.array([f"s{v}" for v in signal]),
        "signal_copy": pa.array([f"s{v}" for v in copy]),
        "amount": pa.array(amount),
        "xor_a": pa.array(xor_a),
        "xor_b": pa.array(xor_b),
        "noise": pa.array(rng.integers(0, 50, rows)),
        "row_id": pa.array(rng.permutation(rows)),
        "constant": pa.array(["same"] * rows),
        "missing": pa.array(missing, pa.string()),
        "drifting": pa.array(drift),
        "leak": pa.array(np.where(flips, 1 - label, label)),
    })


def rules(table: pa.Table, cap: int = 10_000) -> tuple[KeyRule, ...]:
    out = []
    for field in table.schema:
        if field.name in ("label", "timestamp"):
            continue
        numeric = pa.types.is_floating(field.type)
        out.append(KeyRule(field.name, "numeric" if numeric else "categorical", pa.types.is_integer(field.type), cap, 4096))
    return tuple(out)


def batches(table: pa.Table, rows_per_batch: int = 8_000):
    for start in range(0, table.num_rows, rows_per_batch):
        yield BatchOrigin("data.parquet", start), table.slice(start, rows_per_batch).to_batches()[0]


def run_accumulator(accumulator, table: pa.Table):
    for origin, batch in batches(table):
        accumulator.add_batch(origin, batch)
    return accumulator.result()


def pass_one(table: pa.Table, shuffles: int = 0, cap: int = 10_000):
    """Pass-1 counts and scored features; shuffles = 0 (the default rank.chance) scores chance in closed form."""
    plan = CountPlan(rules(table, cap), "label", shuffles, 0, "timestamp")
    counts = run_accumulator(FeatureCountsAccumulator(plan), table)
    return counts, score_features(counts, plan.rules, numeric_bins=16, id_like_ratio=0.5)
