"""A multi-layer perceptron block shared by the model towers."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before tf.keras is touched)
from models.dice import Dice


@tf.keras.utils.register_keras_serializable("featureplex")
class Mlp(tf.keras.layers.Layer):
    """h_{l+1} = dropout(activation(norm(W_l h_l + b_l))) for each hidden width.

    `activation` is a Keras activation name, or "dice" for DIN's Dice (models.dice).

    Example:
        >>> Mlp([64, 32], dropout=0.1)(tf.zeros([8, 40])).shape
        TensorShape([8, 32])
    """

    def __init__(self, hidden_units: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = list(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self._layers = []
        for width in self.hidden_units:
            self._layers.append(tf.keras.layers.Dense(width, use_bias=not batch_norm))
            if batch_norm:
                self._layers.append(tf.keras.layers.BatchNormalization())
            self._layers.append(Dice() if activation == "dice" else tf.keras.layers.Activation(activation))
            if dropout:
                self._layers.append(tf.keras.layers.Dropout(dropout))

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        hidden = inputs
        for layer in self._layers:
            hidden = layer(hidden, training=training)
        return hidden

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden_units": self.hidden_units, "activation": self.activation,
                "dropout": self.dropout, "batch_norm": self.batch_norm}
