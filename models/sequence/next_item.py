"""Next-item training: every position of a history predicts the following item (HSTU or SASRec encoder)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from featureplex.models.sequence.hstu import Hstu
from featureplex.models.sequence.sasrec import SasRec

MASKED_LOGIT = -1e9
ENCODERS = {"hstu": Hstu, "sasrec": SasRec}


def sampled_softmax_loss(outputs: tf.Tensor, positives: tf.Tensor, negatives: tf.Tensor, negative_ids: tf.Tensor,
                         positive_ids: tf.Tensor, weights: tf.Tensor, temperature: float) -> tf.Tensor:
    """Mean over weighted positions of -log softmax(z)_0 with z = [<h, e+>, <h, e-_1>, ..., <h, e-_K>] / T.

    h: outputs [batch, length, dim], e+: positives [batch, length, dim], e-: negatives [K, dim] (all
    L2-normalised by the caller, so <.,.> is a cosine); a negative whose id equals the position's
    positive id (an accidental hit) gets logit -inf. weights [batch, length]: 1 where a position has a
    next item.
    """
    positive_logits = tf.reduce_sum(outputs * positives, axis=-1, keepdims=True)
    negative_logits = tf.einsum("bld,kd->blk", outputs, negatives)
    hits = positive_ids[..., None] == negative_ids[None, None, :]
    negative_logits = tf.where(hits, MASKED_LOGIT, negative_logits / temperature)
    logits = tf.concat([positive_logits / temperature, negative_logits], axis=-1)
    losses = -tf.nn.log_softmax(logits, axis=-1)[..., 0]
    return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


class NextItemModel(tf.keras.Model):
    """Item ids (right-aligned, 0 = padding, items 1..items) -> one L2-normalised vector per position.

        e(i) = E[i] / |E[i]|,   h_t = encoder(E[x_1..x_t]) / |.|,   score(t, j) = <h_t, e(j)>

    Training (`train_step`): position t's target is x_{t+1}; sampled softmax over `negatives`
    items drawn uniformly from 1..items per batch (shared by its positions, as in-batch sampling
    is in the reference), temperature `temperature` (0.05), accidental hits masked. The encoder is
    `Hstu` or `SasRec`, so the two are compared with the same embeddings, loss and budget.
    Evaluation uses `user_vectors`: the output at the last position.

    Example:
        >>> model = NextItemModel(items=1000, length=50, encoder="hstu")
        >>> model.user_vectors(tf.zeros([2, 50], tf.int64)).shape
        TensorShape([2, 64])
    """

    def __init__(self, items: int, length: int, dimension: int = 64, encoder: str = "hstu", negatives: int = 128,
                 temperature: float = 0.05, encoder_parameters: dict[str, Any] | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.items = items
        self.length = length
        self.dimension = dimension
        self.encoder_name = encoder
        self.negatives = negatives
        self.temperature = temperature
        self.encoder_parameters = dict(encoder_parameters or {})
        self.seed = seed
        self.item_embeddings = tf.keras.layers.Embedding(
            items + 1, dimension, embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02))
        self.encoder = ENCODERS[encoder](length, **self.encoder_parameters)
        self.sampler = tf.random.Generator.from_seed(seed)

    def item_vectors(self, ids: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(self.item_embeddings(ids), axis=-1)

    def call(self, ids: tf.Tensor, timestamps: tf.Tensor | None = None, training: bool | None = None) -> tf.Tensor:
        valid = ids > 0
        outputs = self.encoder(self.item_embeddings(ids) * tf.cast(valid, tf.float32)[..., None], valid, timestamps,
                               training=training)
        return tf.math.l2_normalize(outputs, axis=-1)

    def user_vectors(self, ids: tf.Tensor, timestamps: tf.Tensor | None = None) -> tf.Tensor:
        return self(ids, timestamps, training=False)[:, -1]

    def train_step(self, data) -> dict[str, tf.Tensor]:
        """`data`: item ids [batch, length + 1] right-aligned (and optionally their timestamps)."""
        ids, timestamps = (data, None) if not isinstance(data, tuple) else data
        inputs, targets = ids[:, :-1], ids[:, 1:]
        negative_ids = self.sampler.uniform([self.negatives], 1, self.items + 1, dtype=tf.int64)
        with tf.GradientTape() as tape:
            outputs = self(inputs, None if timestamps is None else timestamps[:, :-1], training=True)
            weights = tf.cast((inputs > 0) & (targets > 0), tf.float32)
            loss = sampled_softmax_loss(outputs, self.item_vectors(targets), self.item_vectors(negative_ids),
                                        negative_ids, targets, weights, self.temperature)
        variables = self.trainable_variables
        # without timestamps HSTU's time bias takes no part, so it has no gradient
        self.optimizer.apply_gradients((gradient, variable) for gradient, variable
                                       in zip(tape.gradient(loss, variables), variables) if gradient is not None)
        return {"loss": loss}

    def get_config(self) -> dict[str, Any]:
        return {"items": self.items, "length": self.length, "dimension": self.dimension, "encoder": self.encoder_name,
                "negatives": self.negatives, "temperature": self.temperature,
                "encoder_parameters": self.encoder_parameters, "seed": self.seed}
