"""AutoInt and AutoInt+: multi-head self-attention over the field embeddings."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from featureplex.models.layers.mlp import BATCH_NORM_MOMENTUM, Mlp


@tf.keras.utils.register_keras_serializable("featureplex")
class FieldSelfAttention(tf.keras.layers.Layer):
    """One interacting layer of AutoInt (Song et al., 2019).

    For each head h: A_h = softmax(Q_h K_h^T [/ sqrt(d)]) V_h with Q_h, K_h, V_h linear maps of the
    fields E [batch, fields, dim]; out = ReLU(concat_h A_h + R(E)) (optionally layer-normalised), the residual
    R(E) = E when dim equals the output's width and E W_res (a linear map) when it does not, as FuxiCTR's
    MultiHeadSelfAttention.

    Variant: as the paper and FuxiCTR's default, no 1/sqrt(d) scaling, ReLU after the residual, no
    layer norm; `use_scale` and `layer_norm` switch those on.

    `attention_dim` is the width of ONE head: Q_h, K_h, V_h are [batch, fields, attention_dim] and the
    output is `heads * attention_dim` wide. FuxiCTR's `attention_dim` is the total width, split
    between its heads: its attention_dim 32 with 2 heads is ours attention_dim 16, heads 2. One departure
    from FuxiCTR's MultiHeadSelfAttention: the attention weights have no dropout (FuxiCTR applies its
    net_dropout there).

    Input: [batch, fields, dim]. Output: [batch, fields, heads * attention_dim].

    Example:
        >>> FieldSelfAttention(attention_dim=4, heads=2)(tf.zeros([3, 5, 8])).shape
        TensorShape([3, 5, 8])
    """

    def __init__(self, attention_dim: int = 16, heads: int = 2, use_scale: bool = False, layer_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.attention_dim = attention_dim
        self.heads = heads
        self.use_scale = use_scale
        self.layer_norm = layer_norm
        width = attention_dim * heads
        self._query = tf.keras.layers.Dense(width, use_bias=False)
        self._key = tf.keras.layers.Dense(width, use_bias=False)
        self._value = tf.keras.layers.Dense(width, use_bias=False)
        self._residual = None  # set in build: a linear map only where the widths differ
        self._norm = tf.keras.layers.LayerNormalization() if layer_norm else None

    def build(self, input_shape) -> None:
        if int(input_shape[-1]) != self.attention_dim * self.heads:
            self._residual = tf.keras.layers.Dense(self.attention_dim * self.heads, use_bias=False)
        super().build(input_shape)

    def _split_heads(self, tensor: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(tensor)
        return tf.transpose(tf.reshape(tensor, [shape[0], shape[1], self.heads, self.attention_dim]), [0, 2, 1, 3])

    def call(self, fields: tf.Tensor) -> tf.Tensor:
        query, key, value = (self._split_heads(dense(fields)) for dense in (self._query, self._key, self._value))
        scores = tf.matmul(query, key, transpose_b=True)
        if self.use_scale:
            scores /= tf.sqrt(tf.cast(self.attention_dim, scores.dtype))
        attended = tf.matmul(tf.nn.softmax(scores, axis=-1), value)
        shape = tf.shape(fields)
        merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [shape[0], shape[1], self.heads * self.attention_dim])
        output = merged + (fields if self._residual is None else self._residual(fields))
        if self._norm is not None:
            output = self._norm(output)
        return tf.nn.relu(output)

    def get_config(self) -> dict:
        return {**super().get_config(), "attention_dim": self.attention_dim, "heads": self.heads,
                "use_scale": self.use_scale, "layer_norm": self.layer_norm}


@tf.keras.utils.register_keras_serializable("featureplex")
class AutoIntTower(tf.keras.layers.Layer):
    """AutoInt: `attention_layers` FieldSelfAttention layers, then logit = w^T flatten(H_L) + b.

    AutoInt+ (`dnn_units` non-empty) adds a parallel MLP on the flattened embeddings and sums the two
    logits: logit = w^T flatten(H_L) + b + w_d^T MLP(flatten(E)) + b_d. The MLP is
    `models.layers.mlp.Mlp` (`dropout`, batch norm and its momentum as there). `attention_dim` is per
    head (FieldSelfAttention says how that maps to FuxiCTR's). Input: [batch, fields, dim]. Output:
    logits [batch, 1].

    Example:
        >>> AutoIntTower(attention_layers=2, dnn_units=[16], batch_norm=True)(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def __init__(self, attention_layers: int = 3, attention_dim: int = 16, heads: int = 2, use_scale: bool = False,
                 layer_norm: bool = False, dnn_units: Sequence[int] = (), dropout: float = 0.0,
                 batch_norm: bool = False, batch_norm_momentum: float = BATCH_NORM_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.attention_layers = attention_layers
        self.attention_dim = attention_dim
        self.heads = heads
        self.use_scale = use_scale
        self.layer_norm = layer_norm
        self.dnn_units = list(dnn_units)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.batch_norm_momentum = batch_norm_momentum
        self._attention = [
            FieldSelfAttention(attention_dim, heads, use_scale, layer_norm) for _ in range(attention_layers)
        ]
        self._attention_logit = tf.keras.layers.Dense(1)
        self._dnn = (Mlp(self.dnn_units, dropout=dropout, batch_norm=batch_norm, batch_norm_momentum=batch_norm_momentum)
                     if self.dnn_units else None)
        self._dnn_logit = tf.keras.layers.Dense(1) if self.dnn_units else None

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        hidden = fields
        for layer in self._attention:
            hidden = layer(hidden)
        logit = self._attention_logit(tf.keras.layers.Flatten()(hidden))
        if self._dnn is not None:
            logit += self._dnn_logit(self._dnn(tf.keras.layers.Flatten()(fields), training=training))
        return logit

    def get_config(self) -> dict:
        return {**super().get_config(), "attention_layers": self.attention_layers, "attention_dim": self.attention_dim,
                "heads": self.heads, "use_scale": self.use_scale, "layer_norm": self.layer_norm,
                "dnn_units": self.dnn_units, "dropout": self.dropout, "batch_norm": self.batch_norm,
                "batch_norm_momentum": self.batch_norm_momentum}
