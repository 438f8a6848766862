"""The CTR model: raw features -> field embeddings -> an interaction tower -> a logit, trained as a TFRS ranking task."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs


def ranking_task() -> tfrs.tasks.Ranking:
    """Binary cross-entropy on logits, with AUC and logloss as the task's metrics."""
    return tfrs.tasks.Ranking(
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            tf.keras.metrics.AUC(from_logits=True, name="auc", num_thresholds=2000),
            tf.keras.metrics.BinaryCrossentropy(from_logits=True, name="logloss"),
        ],
    )


class CtrModel(tfrs.Model):
    """logit = tower(encoder(features)).

    `encoder` maps the dict of raw features to field embeddings [batch, fields, dim] (preprocessing and
    embedding live inside it, so the exported graph takes raw features); `tower` maps those to a logit
    [batch, 1]. Layer losses (an OptFS gate penalty, regularisers) are added by `tfrs.Model`.
    """

    def __init__(self, encoder: tf.keras.layers.Layer, tower: tf.keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.tower = tower
        self.task = ranking_task()

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        return self.tower(self.encoder(features), training=training)

    def get_config(self) -> dict:
        return {"encoder": tf.keras.layers.serialize(self.encoder), "tower": tf.keras.layers.serialize(self.tower)}

    @classmethod
    def from_config(cls, config: dict) -> "CtrModel":
        return cls(tf.keras.layers.deserialize(config["encoder"]), tf.keras.layers.deserialize(config["tower"]))

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        features, labels = inputs
        logits = self(features, training=training)
        return self.task(labels=labels[:, None], predictions=logits, training=training)
