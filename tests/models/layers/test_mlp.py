"""Mlp: batch norm with FuxiCTR's momentum computed by hand, dropout, config round trip."""

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.layers.mlp import Mlp


def linear_mlp(**options) -> Mlp:
    """One unit, z = x_1 + x_2, linear activation: what follows z is the block's own arithmetic."""
    mlp = Mlp([1], activation="linear", **options)
    mlp(tf.zeros([1, 2]))
    mlp._layers[0].kernel.assign([[1.0], [1.0]])
    return mlp


def test_batch_norm_uses_the_batch_in_training_and_moving_averages_with_momentum_0_9_after():
    mlp = linear_mlp(batch_norm=True)
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])  # z = 3, 7: mean 5, variance 4
    eps = 1e-3  # Keras' BatchNormalization epsilon
    np.testing.assert_allclose(mlp(x, training=True).numpy()[:, 0], [-2 / np.sqrt(4 + eps), 2 / np.sqrt(4 + eps)], rtol=1e-5)
    # moving statistics after that one step: 0.9 * (0, 1) + 0.1 * (5, 4), PyTorch's momentum 0.1
    np.testing.assert_allclose(mlp(x, training=False).numpy()[:, 0], (np.array([3.0, 7.0]) - 0.5) / np.sqrt(1.3 + eps), rtol=1e-5)
    assert mlp.get_config()["batch_norm_momentum"] == 0.9


def test_the_momentum_is_an_option():
    mlp = linear_mlp(batch_norm=True, batch_norm_momentum=0.99)
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    mlp(x, training=True)
    np.testing.assert_allclose(mlp(x, training=False).numpy()[:, 0], (np.array([3.0, 7.0]) - 0.05) / np.sqrt(1.03 + 1e-3), rtol=1e-5)


def test_dropout_is_inverted_and_off_at_inference():
    mlp = linear_mlp(dropout=0.5)
    x = tf.ones([2000, 2])  # z = 2
    trained = mlp(x, training=True).numpy()
    assert set(np.unique(trained)) == {0.0, 4.0} and 0.4 < (trained == 0).mean() < 0.6
    np.testing.assert_array_equal(mlp(x, training=False).numpy(), np.full([2000, 1], 2.0))


@pytest.mark.parametrize("options", [{}, {"batch_norm": True, "dropout": 0.2, "batch_norm_momentum": 0.8}])
def test_config_round_trip(options):
    mlp = Mlp([4, 3], **options)
    x = tf.random.stateless_normal([5, 6], seed=[0, 1])
    clone = Mlp.from_config(mlp.get_config())
    mlp(x), clone(x)
    clone.set_weights(mlp.get_weights())
    assert clone.get_config() == mlp.get_config()
    np.testing.assert_allclose(clone(x).numpy(), mlp(x).numpy(), rtol=1e-6)
