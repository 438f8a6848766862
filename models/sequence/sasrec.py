"""SASRec (Kang & McAuley, ICDM 2018): causal softmax self-attention over item embeddings."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

MASKED_SCORE = -1e9


@tf.keras.utils.register_keras_serializable("featureplex")
class SasRec(tf.keras.layers.Layer):
    """The SASRec encoder, the baseline HSTU is compared with (same input, same output):

        X_0 = dropout(E * sqrt(dim) + P)
        Q = LN(X);  H = LN(Q + MHA(Q, X))     MHA: softmax(Q K^T / sqrt(d) + causal and padding mask) V
        X' = H + FFN(H)                       FFN: dropout(W_2 dropout(ReLU(W_1 h))), dim -> dim -> dim
        out = LN(X_L)

    The block as in the authors' PyTorch code (`SASRec.pytorch`: queries layer-normed, keys and values
    not; the layer norm before the FFN applied to the residual sum); padded positions are
    zeroed after every block. Input: embeddings [batch, length, dim] right-aligned, validity
    [batch, length] (timestamps are accepted and ignored, so it is a drop-in for `Hstu`).

    Example:
        >>> SasRec(length=5, blocks=2, heads=1)(tf.zeros([3, 5, 8]), tf.ones([3, 5], tf.bool)).shape
        TensorShape([3, 5, 8])
    """

    def __init__(self, length: int, blocks: int = 2, heads: int = 1, dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.blocks = blocks
        self.heads = heads
        self.dropout = dropout
        self._dropout = tf.keras.layers.Dropout(dropout)
        self._final_norm = tf.keras.layers.LayerNormalization(epsilon=1e-8)

    def build(self, input_shape) -> None:
        dimension = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.length, dimension),
            initializer=tf.keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(dimension)))
        self._layers = []
        for index in range(self.blocks):
            self._layers.append((
                tf.keras.layers.LayerNormalization(epsilon=1e-8, name=f"attention_norm_{index}"),
                tf.keras.layers.MultiHeadAttention(self.heads, dimension // self.heads, dropout=self.dropout,
                                                   name=f"attention_{index}"),
                tf.keras.layers.LayerNormalization(epsilon=1e-8, name=f"ffn_norm_{index}"),
                tf.keras.layers.Dense(dimension, activation="relu", name=f"ffn_in_{index}"),
                tf.keras.layers.Dense(dimension, name=f"ffn_out_{index}"),
            ))
        super().build(input_shape)

    def call(self, embeddings: tf.Tensor, valid: tf.Tensor, timestamps: tf.Tensor | None = None,
             training: bool | None = None) -> tf.Tensor:
        keep = tf.cast(valid, embeddings.dtype)[..., None]
        x = self._dropout(embeddings * math.sqrt(embeddings.shape[-1]) + self.position_embeddings[None],
                          training=training) * keep
        causal = tf.linalg.band_part(tf.ones([self.length, self.length], tf.bool), -1, 0)
        # a padded query attends to itself only, so its softmax is defined; its output is zeroed anyway
        allowed = (causal[None] & valid[:, None, :]) | tf.eye(self.length, dtype=tf.bool)[None]
        for attention_norm, attention, ffn_norm, ffn_in, ffn_out in self._layers:
            queries = attention_norm(x)
            x = ffn_norm(queries + attention(queries, x, attention_mask=allowed, training=training))
            x = x + self._dropout(ffn_out(self._dropout(ffn_in(x), training=training)), training=training)
            x *= keep
        return self._final_norm(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length, "blocks": self.blocks, "heads": self.heads,
                "dropout": self.dropout}
