"""Numeric values as mergeable sketch keys, and equal-frequency bins over them.

A DDSketch-style logarithmic bucketing (Masson et al., VLDB 2019): with relative accuracy a and
gamma = (1 + a) / (1 - a), a value x != 0 falls in bucket i = ceil(log_gamma |x|), and every value of
bucket i is within a relative error a of its representative 2 gamma^i / (gamma + 1). The key

    key(x) = sign(x) * (i + OFFSET),   key(0) = 0,   key(NaN) = key(null) = missing (null)

is an order-preserving integer: sorting keys sorts values. A table key -> label counts is therefore a
quantile sketch that carries the label: it merges by adding counts of equal keys, whatever the order.
Once merged, the sorted keys are grouped into equal-frequency bins (`equal_frequency_bins`), which are
what a numeric feature is scored on.

Example::

    >>> log_bucket_keys(np.array([1.0, 1.005, 2.0, -2.0, 0.0, np.nan])).to_list()
    [40000, 40001, 40035, -40035, 0, None]
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = float(np.log(GAMMA))
# |log_gamma x| < 35,500 for every finite double, so OFFSET keeps positive and negative keys apart;
# infinities are clamped to the outermost bucket.
OFFSET = 40_000
MAX_INDEX = OFFSET - 1


def log_bucket_keys(values: np.ndarray) -> pl.Series:
    """Sketch key of each value (Int64); NaN becomes null (missing).

    `values` is float64 with NaN for missing (callers turn Arrow nulls into NaN first).
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    magnitude = np.abs(np.where(missing, 1.0, values))
    nonzero = magnitude > 0
    with np.errstate(divide="ignore"):
        index = np.ceil(np.log(np.where(nonzero, magnitude, 1.0)) / LOG_GAMMA)
    index = np.clip(index, -MAX_INDEX, MAX_INDEX).astype(np.int64)
    sign = np.sign(np.where(missing, 0.0, values)).astype(np.int64)
    keys = np.where(nonzero, sign * (index + OFFSET), 0)
    return pl.Series("key", pa.array(keys, mask=missing))


def representative_values(keys: np.ndarray) -> np.ndarray:
    """The value a sketch key stands for: 2 gamma^i / (gamma + 1) with the key's sign, 0 for key 0."""
    keys = np.asarray(keys, dtype=np.int64)
    index = np.abs(keys) - OFFSET
    magnitude = 2.0 * np.power(GAMMA, index.astype(np.float64)) / (GAMMA + 1.0)
    return np.where(keys == 0, 0.0, np.sign(keys) * magnitude)


def equal_frequency_bins(counts: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (0..m-1, m <= bins) of each sorted key, so that bins hold about equal numbers of rows.

    A key is atomic (never split), and goes to the bin its middle row falls in:
    bin(k) = floor((2 * rows_before(k) + n_k) * bins / (2 * total)). Integer arithmetic, so equal counts
    give equal bins on every machine. Keys fewer than `bins` each keep their own bin, which is how
    low-cardinality numeric columns stay exact.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(counts) - counts
    total = int(counts.sum())
    raw = (2 * before + counts) * bins // (2 * total)
    # renumber to consecutive bins: a heavy key can skip bin numbers
    return np.concatenate([[0], np.cumsum(np.diff(raw) > 0)]).astype(np.int64)
