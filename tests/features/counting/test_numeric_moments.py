import numpy as np
import pyarrow as pa

from featureplex.features.counting.numeric_moments import NumericMoments, signed_log


def test_moments_merge_and_skip_missing():
    batch = pa.table({"x": pa.array([1.0, None, float("nan"), 3.0]), "y": pa.array([5, 5, 5, 5])})
    left, right = NumericMoments(("x", "y")), NumericMoments(("x", "y"))
    left.add(batch.slice(0, 2))
    right.add(batch.slice(2))
    means, stds = left.merge(right).mean_and_std()
    expected = signed_log(np.array([1.0, 3.0]))
    np.testing.assert_allclose(means[0], expected.mean())
    np.testing.assert_allclose(stds[0], expected.std())
    assert means[1] == signed_log(np.array([5.0]))[0] and stds[1] == 1.0  # constant: std 1, not 0
