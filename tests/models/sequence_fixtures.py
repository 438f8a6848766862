"""A tiny layout with an item, a device, and a history sharing the item's rows, for the sequence models."""

from __future__ import annotations

import pyarrow as pa

import models  # noqa: F401
import tensorflow as tf

from features.config import VocabParams
from features.layout import build_layout, head_vocabularies
from features.vocabulary import ValueCounts
from models.field_encoder import FieldEncoder
from models.multiplexed_embedding import MultiplexedEmbedding
from models.preprocessing import FeaturePreprocessing


def field_encoder(dimension: int = 8) -> FieldEncoder:
    batch = pa.record_batch({
        "item_id": pa.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5], pa.int64()),
        "device": pa.array(["ios", "ios", "tv", "tv", "web", "web", "ios", "tv", "web", "ios"]),
        "history_item_ids": pa.array([[1, 2]] * 10, pa.list_(pa.int64())),
    })
    counts = ValueCounts(["item_id", "device"], {"history_item_ids": "item_id"}).add(batch)
    layout = build_layout(counts, VocabParams(dimension=dimension))
    return FieldEncoder(FeaturePreprocessing(layout, head_vocabularies(counts, layout)), MultiplexedEmbedding.from_layout(layout))


def raw_features(histories: list[list[int]], times: list[list[int]] | None = None) -> dict:
    rows = len(histories)
    features = {
        "item_id": tf.constant([1 + index % 5 for index in range(rows)], tf.int64),
        "device": tf.constant(["ios", "tv", "web"] * (rows // 3) + ["ios"] * (rows % 3)),
        "history_item_ids": tf.ragged.constant(histories, tf.int64, row_splits_dtype=tf.int64),
    }
    if times is not None:
        features["history_timestamps"] = tf.ragged.constant(times, tf.int64, row_splits_dtype=tf.int64)
    return features
