"""DeepFM tower: a factorization machine and a DNN on the same field embeddings (Guo et al., IJCAI 2017)."""

from __future__ import annotations

import tensorflow as tf

from featureplex.models.layers.factorization_machine import pairwise_interaction
from featureplex.models.towers.dnn import DnnTower


@tf.keras.utils.register_keras_serializable("featureplex")
class DeepFmTower(DnnTower):
    """logit = sum_{i<j} <e_i, e_j> + w^T MLP(concat(e_1, ..., e_F)) + b.

    The DNN part is `DnnTower` (same parameters and config); the FM part is `pairwise_interaction`.
    The FM's first-order (LR) term is the wide part that `models.towers.wide.WideTower` adds, which
    the `deepfm` model turns on by default (FuxiCTR's FactorizationMachine = LR + pairwise term).
    Input: field embeddings [batch, fields, dim]. Output: logits [batch, 1].

    Example:
        >>> DeepFmTower([32, 16], dropout=0.2)(tf.zeros([4, 5, 8])).shape
        TensorShape([4, 1])
    """

    def call(self, fields: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return super().call(fields, training=training) + pairwise_interaction(fields)
