"""The K-minimum-values sketch: exact under K distinct keys, ~1/sqrt(K) relative error above, merges in any order."""

import numpy as np
import polars as pl

from featureplex.features.counting.distinct_sketch import SKETCH_SIZE, distinct_estimate, key_sketch, merged_sketch


def test_small_sets_are_counted_exactly():
    keys = pl.Series("key", ["a", "b", None, "a", "c"])
    assert distinct_estimate(key_sketch(keys)) == 3


def test_estimate_and_merge():
    rng = np.random.default_rng(4)
    for distinct in (5_000, 300_000, 3_000_000):
        values = rng.permutation(distinct)
        parts = [pl.Series("key", part) for part in np.array_split(np.concatenate([values, values[:1000]]), 7)]
        sketches = [key_sketch(part) for part in parts]
        merged = merged_sketch(sketches)
        assert np.array_equal(merged, merged_sketch(sketches[::-1]))
        assert np.array_equal(merged, key_sketch(pl.Series("key", values)))
        # relative standard error 1 / sqrt(K - 2): allow four of them
        assert abs(distinct_estimate(merged) / distinct - 1) < 4 / np.sqrt(SKETCH_SIZE - 2), distinct


def test_repeated_keys_count_once():
    values = np.arange(5_000)
    repeated = pl.Series("key", np.concatenate([values, values, values[:100]]))
    assert np.array_equal(key_sketch(repeated), key_sketch(pl.Series("key", values)))
