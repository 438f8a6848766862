"""Log-bucket sketch keys keep order and 1% relative accuracy; equal-frequency bins never split a key."""

import numpy as np

from featureplex.features.counting.numeric_sketch import (
    RELATIVE_ACCURACY,
    equal_frequency_bins,
    log_bucket_keys,
    representative_values,
)


def test_keys_are_order_preserving_with_missing_as_null():
    values = np.array([-50.0, -1.0, 0.0, 1e-9, 0.5, 1.0, 3.0, 1e12, np.nan])
    keys = log_bucket_keys(values)
    assert keys.null_count() == 1 and keys[-1] is None
    present = keys.drop_nulls().to_numpy()
    assert np.all(np.diff(present) > 0)


def test_representative_value_is_within_relative_accuracy():
    values = np.random.default_rng(0).lognormal(0, 3, 10_000) * np.where(np.arange(10_000) % 2, 1, -1)
    estimate = representative_values(log_bucket_keys(values).to_numpy())
    assert np.max(np.abs(estimate - values) / np.abs(values)) <= RELATIVE_ACCURACY + 1e-12


def test_equal_frequency_bins():
    bins = equal_frequency_bins(np.full(100, 10), 4)
    assert np.array_equal(np.bincount(bins), [25, 25, 25, 25])
    # fewer keys than bins: each key keeps its own bin (low-cardinality numbers stay exact)
    assert equal_frequency_bins(np.array([3, 900, 5]), 32).tolist() == [0, 1, 2]
    # a heavy key is one bin; bin numbers stay consecutive and monotone
    heavy = equal_frequency_bins(np.array([1, 1, 1000, 1, 1]), 4)
    assert heavy.tolist() == sorted(heavy.tolist()) and set(heavy.tolist()) == set(range(heavy.max() + 1))
