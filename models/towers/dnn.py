"""DNN tower: the classic embedding + MLP CTR baseline."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from featureplex.models.layers.mlp import BATCH_NORM_MOMENTUM, Mlp


@tf.keras.utils.register_keras_serializable("featureplex")
class DnnTower(tf.keras.layers.Layer):
    """logit = w^T MLP(concat(e_1, ..., e_F)) + b over the field embeddings e_f.

    The MLP is `models.layers.mlp.Mlp` (dropout, batch norm and its momentum as there). Input: field
    embeddings [batch, fields, dim]. Output: logits [batch, 1].

    Example:
        >>> DnnTower([32, 16], dropout=0.2, batch_norm=True)(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def __init__(self, hidden_units: Sequence[int] = (256, 128), dropout: float = 0.0, batch_norm: bool = False,
                 activation: str = "relu", batch_norm_momentum: float = BATCH_NORM_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = list(hidden_units)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.activation = activation
        self.batch_norm_momentum = batch_norm_momentum
        self._mlp = Mlp(self.hidden_units, activation, dropout, batch_norm, batch_norm_momentum)
        self._logit = tf.keras.layers.Dense(1)

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        flat = tf.keras.layers.Flatten()(fields)
        return self._logit(self._mlp(flat, training=training))

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden_units": self.hidden_units, "dropout": self.dropout,
                "batch_norm": self.batch_norm, "activation": self.activation,
                "batch_norm_momentum": self.batch_norm_momentum}
