"""A column's profile from its pass-1 count table (features.counting.contingency, counted without a label).

Per column: rows, missing rate, cardinality (distinct non-missing keys: exact values; sketch buckets
for floats; occupied hash buckets once hashed past the cap, `cardinality_exact` says which), the most frequent values with their counts, and for numeric columns quantiles read off the
sketch: the q-quantile is the value of the first sorted key whose cumulative count reaches q * N
(N = non-missing rows), exact for integer keys and within the sketch's 1% relative accuracy otherwise.

Example::

    profile = column_profile(rule, counts.tables["price"], counts.rows)
    profile["quantiles"]["p50"]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from featureplex.features.counting.contingency import KeyedCounts, KeyMode, KeyRule
from featureplex.features.counting.numeric_sketch import representative_values

QUANTILES = {"min": 0.0, "p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99, "max": 1.0}
TOP_VALUES = 10


def sketch_quantiles(keys: np.ndarray, counts: np.ndarray, mode: KeyMode) -> dict[str, float | None]:
    """Quantiles of a numeric column from its sorted non-missing keys and their counts."""
    total = int(counts.sum())
    if total == 0:
        return {name: None for name in QUANTILES}
    cumulative = np.cumsum(counts)
    targets = np.array([max(q * total, 1) for q in QUANTILES.values()])
    positions = np.minimum(np.searchsorted(cumulative, targets, side="left"), keys.size - 1)
    picked = keys[positions]
    values = representative_values(picked) if mode == KeyMode.LOG_BUCKET else picked.astype(np.float64)
    return dict(zip(QUANTILES, (float(v) for v in values)))


def column_profile(rule: KeyRule, table: KeyedCounts, rows: int) -> dict:
    """The profile of one column (module docstring); top values only while keys are exact values."""
    present = table.frame.filter(pl.col("key").is_not_null())
    missing = rows - int(present["n"].sum())
    top = []
    if table.mode == KeyMode.EXACT:
        ordered = present.sort(["n", "key"], descending=[True, False]).head(TOP_VALUES)
        top = [{"value": str(key), "count": int(n)} for key, n in ordered.select("key", "n").iter_rows()]
    quantiles = None
    if rule.kind == "numeric":
        quantiles = sketch_quantiles(present["key"].to_numpy(), present["n"].to_numpy(), table.mode)
    return {
        "column": rule.name,
        "kind": rule.kind,
        "rows": rows,
        "missing": missing,
        "missing_rate": missing / rows if rows else 0.0,
        "cardinality": present.height,
        "cardinality_exact": table.mode == KeyMode.EXACT,
        "top_values": top,
        "quantiles": quantiles,
    }
