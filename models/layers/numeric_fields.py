"""Numeric features as fields: each value scales a learned vector, as in AutoInt."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


@tf.keras.utils.register_keras_serializable("featureplex")
class NumericFields(tf.keras.layers.Layer):
    """e_f = z_f * v_f when x_f is present, e_f = m_f when it is missing (NaN).

    z_f = (s(x_f) - mean_f) / std_f with the signed log s(x) = sign(x) log(1 + |x|); the constants come
    from the training data (features.counting.numeric_moments) and live in the graph, so serving needs no
    preprocessing. Output: [batch, len(names), dimension].

    Example:
        >>> layer = NumericFields(["price"], means=[0.0], stds=[1.0], dimension=4)
        >>> layer({"price": tf.constant([1.0, float("nan")])}).shape
        TensorShape([2, 1, 4])
    """

    def __init__(self, names: Sequence[str], means: Sequence[float], stds: Sequence[float], dimension: int, **kwargs):
        super().__init__(**kwargs)
        self.names = list(names)
        self.means = [float(m) for m in means]
        self.stds = [float(s) for s in stds]
        self.dimension = dimension

    def build(self, input_shape) -> None:
        fields = len(self.names)
        self.scale_vectors = self.add_weight("scale_vectors", [fields, self.dimension], initializer="glorot_uniform")
        self.missing_vectors = self.add_weight("missing_vectors", [fields, self.dimension], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: dict) -> tf.Tensor:
        values = tf.stack([tf.cast(inputs[name], tf.float32) for name in self.names], axis=1)
        missing = tf.math.is_nan(values)
        compressed = tf.sign(values) * tf.math.log1p(tf.abs(values))
        standard = (compressed - tf.constant(self.means)) / tf.constant(self.stds)
        standard = tf.where(missing, tf.zeros_like(standard), standard)
        present = standard[..., None] * self.scale_vectors
        return tf.where(missing[..., None], tf.broadcast_to(self.missing_vectors, tf.shape(present)), present)

    def get_config(self) -> dict:
        return {**super().get_config(), "names": self.names, "means": self.means, "stds": self.stds,
                "dimension": self.dimension}
