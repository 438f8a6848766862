"""Dice: the formula at inference, a learned alpha per channel, config round trip."""

import numpy as np
import tensorflow as tf

from featureplex.models.layers.dice import Dice
from featureplex.models.layers.mlp import Mlp


def test_formula_with_fresh_statistics():
    layer = Dice(epsilon=1e-3)
    x = tf.constant([[-2.0, 0.5, 3.0]])
    layer(x)
    layer.alpha.assign([0.1, 0.2, 0.3])
    p = 1 / (1 + np.exp(-x.numpy() / np.sqrt(1 + 1e-3)))  # moving mean 0, variance 1
    expected = p * x.numpy() + np.array([0.1, 0.2, 0.3]) * (1 - p) * x.numpy()
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-5)


def test_batch_statistics_in_training_and_round_trip():
    x = tf.random.stateless_normal([64, 5, 4], seed=[0, 1]) * 3 + 7
    layer = Dice()
    out = layer(x, training=True)
    # p = sigmoid(standardised x): about half the values on each side of the batch mean
    p = (out / x).numpy()  # alpha = 0 -> out = p * x
    assert 0.4 < (p > 0.5).mean() < 0.6
    clone = Dice.from_config(layer.get_config())
    assert clone.get_config()["epsilon"] == layer.epsilon
    assert isinstance(Mlp([3], activation="dice")._layers[1], Dice)
