"""Logistic regression baseline tower."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable("featureplex")
class LogisticTower(tf.keras.layers.Layer):
    """logit = sum_f w_f^T e_f + b.

    With learned embeddings this is logistic regression on the one-hot values (value v of field f
    contributes the scalar w_f^T e_v) plus linear numeric terms: no interaction between fields.

    Example:
        >>> LogisticTower()(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._logit = tf.keras.layers.Dense(1)

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return self._logit(tf.keras.layers.Flatten()(fields))
