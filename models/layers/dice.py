"""Dice: the data-adaptive activation of DIN (Zhou et al., KDD 2018)."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable("featureplex")
class Dice(tf.keras.layers.Layer):
    """out = p * x + alpha * (1 - p) * x,  p = sigmoid(BN(x)).

    BN standardises each channel with the batch's mean and variance in training and their moving
    averages at inference, without its own scale and shift (as the paper and FuxiCTR's `Dice`);
    alpha is one learned slope per channel, starting at 0, so Dice starts as a smoothed ReLU whose
    rectification point follows the data. Statistics are taken over every axis but the last, so
    the same layer fits [batch, units] and [batch, length, units].

    Example:
        >>> Dice()(tf.zeros([4, 8])).shape
        TensorShape([4, 8])
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self._norm = tf.keras.layers.BatchNormalization(axis=-1, center=False, scale=False, epsilon=epsilon)

    def build(self, input_shape) -> None:
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        p = tf.sigmoid(self._norm(inputs, training=training))
        return p * inputs + self.alpha * (1.0 - p) * inputs

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}
