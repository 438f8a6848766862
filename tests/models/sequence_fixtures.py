"""A tiny layout with an item, a device, and a history sharing the item's rows, for the sequence models."""

from __future__ import annotations

import pyarrow as pa
import tensorflow as tf

from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.preprocessing import FeaturePreprocessing


def field_encoder(dimension: int = 8, categories: bool = False) -> FieldEncoder:
    """`categories`: also item_category (item_id % 2) and history_item_categories, the history's categories."""
    columns = {
        "item_id": pa.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5], pa.int64()),
        "device": pa.array(["ios", "ios", "tv", "tv", "web", "web", "ios", "tv", "web", "ios"]),
        "history_item_ids": pa.array([[1, 2]] * 10, pa.list_(pa.int64())),
    }
    sequences = {"history_item_ids": "item_id"}
    if categories:
        columns["item_category"] = pa.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 1], pa.int64())
        columns["history_item_categories"] = pa.array([[1, 0]] * 10, pa.list_(pa.int64()))
        sequences["history_item_categories"] = "item_category"
    batch = pa.record_batch(columns)
    counts = ValueCounts([name for name in columns if name not in sequences], sequences).add(batch)
    layout = build_layout(counts, VocabParams(dimension=dimension))
    return FieldEncoder(FeaturePreprocessing(layout, head_vocabularies(counts, layout)), MultiplexedEmbedding.from_layout(layout))


def raw_features(histories: list[list[int]], times: list[list[int]] | None = None,
                 categories: list[list[int]] | None = None) -> dict:
    """Rows for `field_encoder`; `categories`: the history's categories (the candidate's is item_id % 2)."""
    rows = len(histories)
    items = [1 + index % 5 for index in range(rows)]
    features = {
        "item_id": tf.constant(items, tf.int64),
        "device": tf.constant(["ios", "tv", "web"] * (rows // 3) + ["ios"] * (rows % 3)),
        "history_item_ids": tf.ragged.constant(histories, tf.int64, row_splits_dtype=tf.int64),
    }
    if categories is not None:
        features["item_category"] = tf.constant([item % 2 for item in items], tf.int64)
        features["history_item_categories"] = tf.ragged.constant(categories, tf.int64, row_splits_dtype=tf.int64)
    if times is not None:
        features["history_timestamps"] = tf.ragged.constant(times, tf.int64, row_splits_dtype=tf.int64)
    return features
