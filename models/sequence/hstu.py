"""HSTU: Hierarchical Sequential Transduction Units (Zhai et al., ICML 2024), and its CTR fields."""

from __future__ import annotations

import math
from typing import Any, Sequence

import tensorflow as tf

from featureplex.features.errors import InputError
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.history_window import recent_window
from featureplex.models.sequence.sequence_fields import SequenceFields, mean_pool

LOG_BUCKET_BASE = 0.301  # log(2) / log(10) rounded as in the reference: one bucket per factor of ~1.35 in seconds


def small_normal() -> tf.keras.initializers.Initializer:
    """The reference's N(0, 0.02) (truncated); a new instance per weight, so weights differ."""
    return tf.keras.initializers.TruncatedNormal(stddev=0.02)


def time_buckets(seconds: tf.Tensor, buckets: int) -> tf.Tensor:
    """bucket(dt) = min(floor(ln(max(|dt|, 1)) / 0.301), buckets): the reference's log bucketing."""
    magnitude = tf.maximum(tf.abs(tf.cast(seconds, tf.float32)), 1.0)
    return tf.minimum(tf.cast(tf.math.log(magnitude) / LOG_BUCKET_BASE, tf.int32), buckets)


@tf.keras.utils.register_keras_serializable("featureplex")
class HstuBlock(tf.keras.layers.Layer):
    """One HSTU layer over a sequence X [batch, n, dim] (n fixed: `length`):

        U, V, Q, K = split(SiLU(LayerNorm(X) W_uvqk))                      one projection, per head
        A_h = SiLU(Q_h K_h^T + rab) / n  *  causal(i >= j) * valid(j)        no softmax
        Y = W_o(dropout(U * LayerNorm(concat_h A_h V_h))) + X

        rab[i, j] = p[j - i] + t[bucket(ts[i + 1] - ts[j])]                  (ts[n] := ts[n - 1])

    p: a learned bias per relative position, t: a learned bias per log-bucketed time gap (only when
    timestamps are given), both shared by the heads, as in the reference `HSTUJagged` with
    `RelativeBucketedTimeAndPositionBasedBias`. Query i is the event that predicts event i + 1, so
    its time gap to key j is measured from the time of event i + 1. The layer norms have no scale or
    shift (the reference's `F.layer_norm`); dividing by the fixed n rather than the row's length
    keeps the output independent of how a batch was padded, so training and serving agree.

    Example:
        >>> HstuBlock(length=6, heads=2, attention_dim=4, linear_dim=4)(tf.zeros([3, 6, 8]), tf.ones([3, 6], tf.bool)).shape
        TensorShape([3, 6, 8])
    """

    def __init__(self, length: int, heads: int = 1, attention_dim: int = 16, linear_dim: int = 16,
                 time_buckets: int = 128, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.heads = heads
        self.attention_dim = attention_dim
        self.linear_dim = linear_dim
        self.time_buckets = time_buckets
        self.dropout = dropout
        self._input_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6, center=False, scale=False)
        self._output_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6, center=False, scale=False)
        self._uvqk = tf.keras.layers.Dense(heads * 2 * (linear_dim + attention_dim), use_bias=False,
                                           kernel_initializer=small_normal())
        self._dropout = tf.keras.layers.Dropout(dropout)

    def build(self, input_shape) -> None:
        self._output = tf.keras.layers.Dense(input_shape[-1])
        self.position_bias = self.add_weight(name="position_bias", shape=(2 * self.length - 1,), initializer=small_normal())
        self.time_bias = self.add_weight(name="time_bias", shape=(self.time_buckets + 1,), initializer=small_normal())
        super().build(input_shape)

    def relative_bias(self, timestamps: tf.Tensor | None) -> tf.Tensor:
        """rab: [1 or batch, n, n]."""
        offsets = tf.range(self.length)[None, :] - tf.range(self.length)[:, None] + self.length - 1
        bias = tf.gather(self.position_bias, offsets)[None]
        if timestamps is not None:
            following = tf.concat([timestamps[:, 1:], timestamps[:, -1:]], axis=1)
            gaps = following[:, :, None] - timestamps[:, None, :]
            bias += tf.gather(self.time_bias, time_buckets(gaps, self.time_buckets))
        return bias

    def call(self, x: tf.Tensor, valid: tf.Tensor, timestamps: tf.Tensor | None = None,
             training: bool | None = None) -> tf.Tensor:
        batch = tf.shape(x)[0]
        projected = tf.nn.silu(self._uvqk(self._input_norm(x)))
        u, v, q, k = tf.split(projected, [self.heads * self.linear_dim] * 2 + [self.heads * self.attention_dim] * 2, axis=-1)
        q = tf.reshape(q, [batch, self.length, self.heads, self.attention_dim])
        k = tf.reshape(k, [batch, self.length, self.heads, self.attention_dim])
        v = tf.reshape(v, [batch, self.length, self.heads, self.linear_dim])
        scores = tf.einsum("bihd,bjhd->bhij", q, k) + self.relative_bias(timestamps)[:, None]
        causal = tf.linalg.band_part(tf.ones([self.length, self.length], x.dtype), -1, 0)
        allowed = causal[None, None] * tf.cast(valid, x.dtype)[:, None, None, :]
        attention = tf.nn.silu(scores) / self.length * allowed
        attended = tf.reshape(tf.einsum("bhij,bjhd->bihd", attention, v), [batch, self.length, self.heads * self.linear_dim])
        y = self._output(self._dropout(u * self._output_norm(attended), training=training)) + x
        return y * tf.cast(valid, x.dtype)[..., None]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length, "heads": self.heads, "attention_dim": self.attention_dim,
                "linear_dim": self.linear_dim, "time_buckets": self.time_buckets, "dropout": self.dropout}


@tf.keras.utils.register_keras_serializable("featureplex")
class Hstu(tf.keras.layers.Layer):
    """A stack of HstuBlocks over item embeddings, with the reference's input preprocessing:

        X_0 = dropout(E * sqrt(dim) + P)      P: a learned embedding per position (right-aligned)
        X_l = HstuBlock_l(X_{l-1})            then a LayerNorm (with scale and shift) of X_L

    Input: embeddings [batch, length, dim] (right-aligned: position length - 1 is the newest), their
    validity [batch, length], optional timestamps [batch, length] int64 seconds. Output: [batch,
    length, dim]; position i sees positions <= i only. The same stack serves CTR (the candidate is
    the last position) and next-item training (every position predicts the next item).

    Example:
        >>> Hstu(length=5, blocks=2)(tf.zeros([3, 5, 8]), tf.ones([3, 5], tf.bool)).shape
        TensorShape([3, 5, 8])
    """

    def __init__(self, length: int, blocks: int = 2, heads: int = 1, attention_dim: int | None = None,
                 linear_dim: int | None = None, time_buckets: int = 128, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.blocks = blocks
        self.heads = heads
        self.attention_dim = attention_dim
        self.linear_dim = linear_dim
        self.time_buckets = time_buckets
        self.dropout = dropout
        self._dropout = tf.keras.layers.Dropout(dropout)
        self._final_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape) -> None:
        dimension = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.length, dimension),
            initializer=tf.keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(dimension)))
        self._blocks = [
            HstuBlock(self.length, self.heads, self.attention_dim or dimension, self.linear_dim or dimension,
                      self.time_buckets, self.dropout, name=f"block_{index}")
            for index in range(self.blocks)
        ]
        super().build(input_shape)

    def call(self, embeddings: tf.Tensor, valid: tf.Tensor, timestamps: tf.Tensor | None = None,
             training: bool | None = None) -> tf.Tensor:
        scale = math.sqrt(embeddings.shape[-1])
        x = self._dropout(embeddings * scale + self.position_embeddings[None], training=training)
        x *= tf.cast(valid, x.dtype)[..., None]
        for block in self._blocks:
            x = block(x, valid, timestamps, training=training)
        return self._final_norm(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length, "blocks": self.blocks, "heads": self.heads,
                "attention_dim": self.attention_dim, "linear_dim": self.linear_dim,
                "time_buckets": self.time_buckets, "dropout": self.dropout}


@tf.keras.utils.register_keras_serializable("featureplex")
class HstuFields(SequenceFields):
    """Field embeddings with one history summarised by HSTU, the candidate appended to it.

        X = [e(h_{n-L+1}), ..., e(h_n), e(c)]          the last L = max_length history items, then the candidate
        summary(s) = Hstu(X)[L]                         the output at the candidate's position

    with the history's timestamps (ts of the candidate := ts of the newest item, the reference's
    rule for the last position) when `timestamps` names the sequence's timestamp list. The summary
    replaces the sequence's mean in the fields, and the other fields join it before the head (a
    `DnnTower` in the registry's `hstu`). Other sequences of the layout keep the mean pooling.
    `side_sequences` are lists aligned element by element with the sequence: side information of
    the same events, e.g. history_item_categories beside history_item_ids (the registry takes those
    sharing its timestamp list, whose lengths training checks). Each token is the sum of the
    elements' embeddings, e(h_j) + e(s_j), and the candidate's e(c) + e(c_s), as side features enter
    the item tokens of SASRec-style encoders; they also keep their mean among the fields.

    Example:
        >>> fields = HstuFields(field_encoder, timestamps="history_timestamps", max_length=50)
        >>> fields.input_names[-1]
        'history_timestamps'
    """

    model_name = "hstu"

    def __init__(self, encoder: FieldEncoder, sequence: str | None = None, timestamps: str | None = None,
                 max_length: int = 50, blocks: int = 2, heads: int = 1, attention_dim: int | None = None,
                 linear_dim: int | None = None, time_buckets: int = 128, dropout: float = 0.0,
                 side_sequences: Sequence[str] = (), **kwargs):
        super().__init__(encoder, **kwargs)
        self.sequence = sequence or self.sequence_names[0]
        self.side_sequences = list(side_sequences)
        for name in [self.sequence, *self.side_sequences]:
            if name not in self.candidates:
                raise InputError(f"model 'hstu': sequence '{name}' is not in the layout "
                                 f"(choose one of {', '.join(self.sequence_names)})")
        self.timestamps = timestamps
        self.max_length = max_length
        self.blocks = blocks
        self.heads = heads
        self.attention_dim = attention_dim
        self.linear_dim = linear_dim
        self.time_buckets = time_buckets
        self.dropout = dropout
        self._hstu = Hstu(max_length + 1, blocks, heads, attention_dim, linear_dim, time_buckets, dropout)

    @property
    def input_names(self) -> list[str]:
        return self.encoder.input_names + ([self.timestamps] if self.timestamps else [])

    def summarise(self, embeddings: dict, masks: dict, features: dict, training: bool | None) -> dict[str, tf.Tensor]:
        summaries = {name: mean_pool(embeddings[name], masks[name]) for name in self.sequence_names if name != self.sequence}
        valid = masks[self.sequence]
        history, history_valid = recent_window(embeddings[self.sequence], valid, self.max_length)
        candidate = embeddings[self.candidates[self.sequence]]
        for side in self.side_sequences:  # equal lengths, so the same positions after the window
            history += recent_window(embeddings[side], masks[side], self.max_length)[0]
            candidate += embeddings[self.candidates[side]]
        x = tf.concat([history, candidate[:, None]], axis=1)
        x_valid = tf.concat([history_valid, tf.ones_like(history_valid[:, :1])], axis=1)
        times = None
        if self.timestamps:
            raw = features[self.timestamps]
            dense = raw.to_tensor(default_value=0) if isinstance(raw, tf.RaggedTensor) else raw
            dense = tf.pad(dense, [[0, 0], [0, tf.maximum(tf.shape(valid)[1] - tf.shape(dense)[1], 0)]])[:, :tf.shape(valid)[1]]
            history_times, _ = recent_window(tf.cast(dense, tf.int64), valid, self.max_length)
            times = tf.concat([history_times, history_times[:, -1:]], axis=1)
        summaries[self.sequence] = self._hstu(x, x_valid, times, training=training)[:, -1]
        return summaries

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sequence": self.sequence, "timestamps": self.timestamps,
                "max_length": self.max_length, "blocks": self.blocks, "heads": self.heads,
                "attention_dim": self.attention_dim, "linear_dim": self.linear_dim,
                "time_buckets": self.time_buckets, "dropout": self.dropout, "side_sequences": self.side_sequences}
