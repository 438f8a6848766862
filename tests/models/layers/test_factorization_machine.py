"""The FM pairwise term: hand-computed numbers and the O(fields^2) definition."""

import itertools

import numpy as np
import tensorflow as tf

from featureplex.models.layers.factorization_machine import pairwise_interaction


def test_hand_computed():
    # <e1, e2> = 3 + 8 = 11, <e1, e3> = 0.5, <e2, e3> = 1.5
    fields = tf.constant([[[1.0, 2.0], [3.0, 4.0], [0.5, 0.0]], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    np.testing.assert_allclose(pairwise_interaction(fields).numpy(), [[13.0], [0.0]])


def test_equals_the_sum_over_pairs():
    fields = tf.random.stateless_normal([4, 6, 5], seed=[2, 3]).numpy()
    pairs = sum(np.sum(fields[:, i] * fields[:, j], axis=1) for i, j in itertools.combinations(range(6), 2))
    np.testing.assert_allclose(pairwise_interaction(tf.constant(fields)).numpy()[:, 0], pairs, rtol=1e-5, atol=1e-5)
