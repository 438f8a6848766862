"""The wide (logistic-regression) part any tower can add (Wide & Deep, Cheng et al., 2016)."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable("featureplex")
class WideTower(tf.keras.layers.Layer):
    """logit = tower(E) + sum_f w_f^T e_f over the field embeddings E = [e_1, ..., e_F].

    The wide term is `LogisticTower` without its bias (the tower has one): value v of field f adds
    the scalar w_f^T e_v, a first-order weight per value. Unlike FuxiCTR's LogisticRegression, whose
    weight per value is a separate one-dimensional embedding, this one is read from the value's
    shared embedding row, so the wide part costs `fields * dim` parameters, not a second table.
    Input: [batch, fields, dim]. Output: logits [batch, 1].

    Example:
        >>> WideTower(DnnTower([16]))(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def __init__(self, tower: tf.keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.tower = tower
        self._wide = tf.keras.layers.Dense(1, use_bias=False)

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return self.tower(fields, training=training) + self._wide(tf.keras.layers.Flatten()(fields))

    def get_config(self) -> dict:
        return {**super().get_config(), "tower": tf.keras.layers.serialize(self.tower)}

    @classmethod
    def from_config(cls, config: dict) -> "WideTower":
        config = dict(config)
        config["tower"] = tf.keras.layers.deserialize(config["tower"])
        return cls(**config)
