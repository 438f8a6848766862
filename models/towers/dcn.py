"""DCN-v2 tower: explicit feature crosses (TFRS `Cross`) beside a deep MLP."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from featureplex.models.layers.mlp import BATCH_NORM_MOMENTUM, Mlp


@tf.keras.utils.register_keras_serializable("featureplex")
class DcnTower(tf.keras.layers.Layer):
    """DCN-v2 (Wang et al., 2021), parallel structure.

    x_{l+1} = x_0 * (W_l x_l + b_l) + x_l for `cross_layers` layers (tfrs.layers.dcn.Cross, low rank
    when `projection_dim` is set), a parallel MLP on x_0, and logit = w^T [x_L ; MLP(x_0)] + b, where
    x_0 is the concatenation of the field embeddings. Parallel is FuxiCTR's default structure; the
    crosses are what let the model express products such as an XOR of two fields. The MLP is
    `models.layers.mlp.Mlp` (dropout, batch norm and its momentum as there); the crosses have neither,
    as in FuxiCTR's DCNv2. Input: [batch, fields, dim]. Output: logits [batch, 1].

    Example:
        >>> DcnTower(cross_layers=2, hidden_units=[16], batch_norm=True)(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def __init__(self, cross_layers: int = 3, projection_dim: int | None = None,
                 hidden_units: Sequence[int] = (256, 128), dropout: float = 0.0, batch_norm: bool = False,
                 batch_norm_momentum: float = BATCH_NORM_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.cross_layers = cross_layers
        self.projection_dim = projection_dim
        self.hidden_units = list(hidden_units)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.batch_norm_momentum = batch_norm_momentum
        self._crosses = [tfrs.layers.dcn.Cross(projection_dim=projection_dim) for _ in range(cross_layers)]
        self._mlp = Mlp(self.hidden_units, dropout=dropout, batch_norm=batch_norm, batch_norm_momentum=batch_norm_momentum)
        self._logit = tf.keras.layers.Dense(1)

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x0 = tf.keras.layers.Flatten()(fields)
        crossed = x0
        for cross in self._crosses:
            crossed = cross(x0, crossed)
        return self._logit(tf.concat([crossed, self._mlp(x0, training=training)], axis=-1))

    def get_config(self) -> dict:
        return {**super().get_config(), "cross_layers": self.cross_layers, "projection_dim": self.projection_dim,
                "hidden_units": self.hidden_units, "dropout": self.dropout, "batch_norm": self.batch_norm,
                "batch_norm_momentum": self.batch_norm_momentum}
