"""One embedding table shared by every categorical feature (Unified Embedding, with a collision-free head)."""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from featureplex.features.embedding.layout import PADDING_ROW, Layout, chunk_widths


@tf.keras.utils.register_keras_serializable(package="featureplex")
class MultiplexedEmbedding(tf.keras.layers.Layer):
    """Embeds the row ids of `FeaturePreprocessing` with one table T of shape [rows, dimension].

    A feature value looks up c rows (its chunks, c >= 1); chunk j contributes the columns
    [start_j, start_j + width_j) of its row, the chunk widths splitting `dimension` as evenly as
    possible:

        e(v) = sum_j  m_j * T[id_j(v)]        m_j = indicator of chunk j's columns

    so e(v) is the concatenation of the chunks' slices, `dimension` wide whatever c is. A head value
    has the same row in every chunk and gets that whole row; a hashed value gets c independently
    hashed slices, so two values collide completely only if they collide in every chunk. It is
    computed as one gather of slices, not a multiply and sum: T viewed as [rows * parts, dimension /
    parts], every chunk a whole number of parts; in training the table's gradient is summed densely
    by one XLA-compiled scatter (`gather_parts_densely`). In `separate` mode the features' disjoint
    row regions are their separate tables. A sequence's embeddings are zero at padding (row 0), and
    its mask is returned beside them; so are the values of a feature whose tail OptFS pruned
    (`pruned_tails`: they all land on row 0).

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

    def row_parts(self, ids: Mapping[str, tf.Tensor]) -> int:
        """How many equal column slices ("parts") a row is viewed as: every chunk is a whole number of parts."""
        widths = [width for feature_ids in ids.values() for width in chunk_widths(self.dimension, feature_ids.shape[-1])]
        return self.dimension // math.gcd(*widths)

    def part_ids(self, ids: tf.Tensor, parts: int) -> tf.Tensor:
        """[..., chunks] row ids -> [..., parts] ids into the table viewed as [rows * parts, dimension / parts]:
        part p of the embedding is part p of the row of the chunk that owns column p * width."""
        chunks = ids.shape[-1]
        owner = np.repeat(np.arange(chunks), np.array(chunk_widths(self.dimension, chunks)) * parts // self.dimension)
        ids = tf.cast(ids, tf.int64)
        owned = ids if chunks == parts else tf.gather(ids, owner, axis=-1)
        return owned * parts + tf.range(parts, dtype=tf.int64)

    def call(self, ids: Mapping[str, tf.Tensor], training: bool | None = None) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        if not ids:
            return {}, {}
        names = list(ids)
        parts = self.row_parts(ids)
        part_ids = [self.part_ids(ids[name], parts) for name in names]
        table = tf.cast(self.embeddings, self.compute_dtype)
        gather = gather_parts_densely if training else gather_parts
        looked_up = gather(table, part_ids, self.dimension // parts)
        embeddings, masks = {}, {}
        for name, feature_ids, parts_of_rows in zip(names, part_ids, looked_up):
            embeddings[name] = tf.reshape(parts_of_rows, tf.concat([tf.shape(feature_ids)[:-1], [self.dimension]], 0))
            if name in self.sequences or name in self.pruned_tails:
                present = ids[name][..., 0] != PADDING_ROW
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


def gather_parts(table: tf.Tensor, part_ids: Sequence[tf.Tensor], width: int) -> list[tf.Tensor]:
    """The parts `part_ids` of `table` ([rows, dimension] viewed as [rows * parts, width]): [..., parts, width] each."""
    parts = tf.reshape(table, [-1, width])
    return [tf.gather(parts, ids) for ids in part_ids]


@functools.lru_cache(maxsize=None)
def summed_into(rows: int) -> tf.types.experimental.GenericFunction:
    """values [n, width], ids [n] -> [rows, width], the values of equal ids summed; compiled by XLA, whose
    scatter on CPU is about four times faster than TensorFlow's UnsortedSegmentSum kernel."""
    return tf.function(lambda values, ids: tf.math.unsorted_segment_sum(values, ids, rows), jit_compile=True)


def gather_parts_densely(table: tf.Tensor, part_ids: Sequence[tf.Tensor], width: int) -> list[tf.Tensor]:
    """`gather_parts`, whose gradient for `table` is one dense tensor instead of a slice per lookup.

    Dense Adam densifies the embedding gradient anyway (FusedAdam); a slice per looked-up part,
    concatenated and then summed by UnsortedSegmentSum, was a third of a DNN training step on CPU.
    """
    rows = int(np.prod(table.shape)) // width

    @tf.custom_gradient
    def gather(table):
        def gradient(*upstream):
            upstream = [tf.zeros_like(out) if dy is None else dy for dy, out in zip(upstream, looked_up)]
            values = tf.concat([tf.reshape(dy, [-1, width]) for dy in upstream], 0)
            flat_ids = tf.concat([tf.reshape(feature_part_ids, [-1]) for feature_part_ids in part_ids], 0)
            return tf.reshape(summed_into(rows)(values, flat_ids), tf.shape(table))

        looked_up = gather_parts(table, part_ids, width)
        return looked_up, gradient

    return gather(table)

