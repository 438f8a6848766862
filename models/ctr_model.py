"""The CTR model: raw features -> field embeddings -> an interaction tower -> a logit, trained as a TFRS ranking task."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs


def ranking_task() -> tfrs.tasks.Ranking:
    """Binary cross-entropy on logits, with AUC and logloss as the task's metrics; the loss per row (the
    model averages it, `CtrModel.compute_loss`)."""
    return tfrs.tasks.Ranking(
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
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
        """The batch's summed loss / (its rows x the replicas): its mean in one process; under a strategy,
        the replicas' losses (summed by the gradients' all-reduce) make the global batch's mean."""
        features, labels = inputs
        logits = self(features, training=training)
        return tf.nn.compute_average_loss(self.task(labels=labels[:, None], predictions=logits, training=training))

    def losses_of(self, inputs) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(task loss, layer losses, their sum) of a training step, the layer losses / the replicas (each
        replica adds them, the all-reduce sums them)."""
        loss = self.compute_loss(inputs, training=True)
        regularization = tf.add_n([tf.reduce_sum(item) for item in self.losses]) if self.losses else tf.constant(0.0)
        regularization = tf.nn.scale_regularization_loss(regularization)
        return loss, regularization, loss + regularization

    def train_step(self, inputs) -> dict:
        """tfrs.Model's step, with `losses_of`'s scaling."""
        with tf.GradientTape() as tape:
            loss, regularization, total = self.losses_of(inputs)
        gradients = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization, total_loss=total)
        return metrics
