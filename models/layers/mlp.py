"""A multi-layer perceptron block shared by the model towers."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from featureplex.models.layers.dice import Dice

# PyTorch's BatchNorm1d (FuxiCTR's) updates its moving statistics with momentum 0.1, i.e. keeps 0.9 of
# the old value: Keras' `momentum` is that kept share, and Keras' own default 0.99 lags ten times longer
BATCH_NORM_MOMENTUM = 0.9


@tf.keras.utils.register_keras_serializable("featureplex")
class Mlp(tf.keras.layers.Layer):
    """h_{l+1} = dropout(activation(norm(W_l h_l + b_l))) for each hidden width.

    `activation` is a Keras activation name, or "dice" for DIN's Dice (models.layers.dice). With
    `batch_norm`, norm(z) = gamma (z - mu) / sqrt(sigma^2 + eps) + beta, mu and sigma^2 the batch's
    statistics in training and their moving averages at inference, updated per step as
    mu_run <- momentum mu_run + (1 - momentum) mu_batch; the default momentum 0.9 is PyTorch's 0.1
    (FuxiCTR's). b_l is dropped under batch norm (beta takes its place). Dropout is inverted (kept
    units scaled by 1 / (1 - rate) in training, identity at inference), as in PyTorch.

    Departures from FuxiCTR's MLP_Block, each measured on Criteo 10k (benchmarks/criteo_recipe.py, 3
    seeds): W_l starts glorot_uniform, FuxiCTR's xavier_normal has the same variance and scored the same
    (DNN +0.0006, DCN-v2 -0.0007 test AUC); eps is Keras' 1e-3, PyTorch's 1e-5 scaled embeddings that
    start at 1e-4 up ten times more and scored 0.02 lower with batch norm on.

    Input: [batch, features]. Output: [batch, hidden_units[-1]] (the input itself when there are no
    hidden units).

    Example:
        >>> Mlp([64, 32], dropout=0.1, batch_norm=True)(tf.zeros([8, 40])).shape
        TensorShape([8, 32])
    """

    def __init__(self, hidden_units: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, batch_norm_momentum: float = BATCH_NORM_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = list(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.batch_norm_momentum = batch_norm_momentum
        self._layers = []
        for width in self.hidden_units:
            self._layers.append(tf.keras.layers.Dense(width, use_bias=not batch_norm))
            if batch_norm:
                self._layers.append(tf.keras.layers.BatchNormalization(momentum=batch_norm_momentum))
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
                "dropout": self.dropout, "batch_norm": self.batch_norm, "batch_norm_momentum": self.batch_norm_momentum}
