"""One embedding table shared by every categorical feature (Unified Embedding, with a collision-free head)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import models  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from features.layout import PADDING_ROW, Layout, chunk_widths


@tf.keras.utils.register_keras_serializable(package="featureplex")
class MultiplexedEmbedding(tf.keras.layers.Layer):
    """Embeds the row ids of `FeaturePreprocessing` with one table T of shape [rows, dimension].

    A feature value looks up c rows (its chunks, c >= 1); chunk j contributes the columns
    [start_j, start_j + width_j) of its row, the chunk widths splitting `dimension` as evenly as
    possible:

        e(v) = sum_j  m_j * T[id_j(v)]        m_j = indicator of chunk j's columns

    so e(v) is the concatenation of the chunks' slices, `dimension` wide whatever c is. A head value
    has the same row in every chunk and gets that whole row; a hashed value gets c independently
    hashed slices, so two values collide completely only if they collide in every chunk. In `separate`
    mode the features' disjoint row regions are their separate tables. A sequence's embeddings are
    zero at padding (row 0), and its mask is returned beside them; so are the values of a feature
    whose tail OptFS pruned (`pruned_tails`: they all land on row 0).

    Input: `{feature: int [batch, c], sequence: int [batch, length, c]}`. Output: a pair
    `(embeddings, masks)`: `{feature: [batch, dimension], sequence: [batch, length, dimension]}` and
    `{sequence: bool [batch, length]}` (True where a position holds an element).

    Example:

    >>> preprocessing = FeaturePreprocessing.from_artifact("artifacts/vocab")
    >>> embedding = MultiplexedEmbedding.from_layout(preprocessing.layout)
    >>> embeddings, masks = embedding(preprocessing(raw_features))
    >>> embeddings["item_id"].shape, embeddings["history_item_ids"].shape, masks["history_item_ids"].shape
    (TensorShape([2, 16]), TensorShape([2, 20, 16]), TensorShape([2, 20]))
    """

    def __init__(
        self,
        rows: int,
        dimension: int,
        sequences: Sequence[str] = (),
        pruned_tails: Sequence[str] = (),
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rows = rows
        self.dimension = dimension
        self.sequences = tuple(sequences)
        self.pruned_tails = tuple(pruned_tails)
        self.embeddings_initializer = tf.keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = tf.keras.regularizers.get(embeddings_regularizer)

    @classmethod
    def from_layout(cls, layout: Layout, **kwargs) -> MultiplexedEmbedding:
        pruned_tails = sorted(name for name, feature in layout.features.items() if feature.tail_dropped)
        return cls(layout.rows, layout.dimension, sorted(layout.sequences), pruned_tails, **kwargs)

    def build(self, input_shape: Any) -> None:
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.rows, self.dimension),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
        )
        super().build(input_shape)

    def chunk_columns(self, chunks: int) -> tf.Tensor:
        """m: [chunks, dimension], m[j, k] = 1 where column k belongs to chunk j."""
        # a constant built in numpy: tf.repeat loses the static shape inside tf.function
        owner = np.repeat(np.arange(chunks), chunk_widths(self.dimension, chunks))
        return tf.constant(np.eye(chunks)[:, owner], dtype=self.compute_dtype)

    def embed(self, ids: tf.Tensor) -> tf.Tensor:
        """[..., chunks] ids -> [..., dimension]: the chunks' column slices of their rows, concatenated."""
        rows = tf.gather(tf.cast(self.embeddings, self.compute_dtype), ids)
        if ids.shape[-1] == 1:
            return rows[..., 0, :]
        # a broadcast multiply and a sum over chunks: the einsum "...cd,cd->...d" it replaces ran
        # about 40 times slower on CPU (a [batch, 50, 2, 16] history took ~250 ms a batch)
        return tf.reduce_sum(rows * self.chunk_columns(ids.shape[-1]), axis=-2)

    def call(self, ids: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        embeddings, masks = {}, {}
        for name, feature_ids in ids.items():
            embeddings[name] = self.embed(feature_ids)
            if name in self.sequences or name in self.pruned_tails:
                present = feature_ids[..., 0] != PADDING_ROW
                embeddings[name] *= tf.cast(present, self.compute_dtype)[..., None]
                if name in self.sequences:
                    masks[name] = present
        return embeddings, masks

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rows": self.rows,
            "dimension": self.dimension,
            "sequences": list(self.sequences),
            "pruned_tails": list(self.pruned_tails),
            "embeddings_initializer": tf.keras.initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": tf.keras.regularizers.serialize(self.embeddings_regularizer),
        }
