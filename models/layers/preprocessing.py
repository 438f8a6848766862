"""Raw categorical features -> rows of the multiplexed embedding table, assigned in the graph.

The only place ids are assigned (DESIGN.md section 4): training and serving run this same layer, and
its vocabularies travel inside its config and the SavedModel, so there is no skew by construction.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from featureplex.features.embedding.layout import PADDING_ROW, FeatureLayout, Layout
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.embedding.vocabulary import MISSING_INT

MISSING_TOKEN = ""
_NOT_IN_HEAD = -1


def raw_tokens(values: tf.Tensor) -> tf.Tensor:
    """Values as the vocabulary's tokens: strings as they are, integers and booleans in decimal, missing as ""."""
    if values.dtype == tf.string:
        return values
    values = tf.cast(values, tf.int64)
    return tf.where(values == MISSING_INT, MISSING_TOKEN, tf.strings.as_string(values))


def is_missing(values: tf.Tensor) -> tf.Tensor:
    """Where `raw_tokens(values)` is the missing token, without formatting any value."""
    if values.dtype == tf.string:
        return values == MISSING_TOKEN
    return tf.cast(values, tf.int64) == MISSING_INT


def integer_keys(tokens: Sequence[str]) -> np.ndarray | None:
    """The tokens as the integers they format (the missing token as MISSING_INT), or None if one is not."""
    keys = []
    for token in tokens:
        if token == MISSING_TOKEN:
            keys.append(MISSING_INT)
            continue
        try:
            value = int(token)
        except ValueError:
            return None
        if str(value) != token or not MISSING_INT < value < 2**63:
            return None  # "+7" or "007" is not what an integer input formats to
        keys.append(value)
    return np.array(keys, np.int64) if len(set(keys)) == len(keys) else None


@tf.keras.utils.register_keras_serializable(package="featureplex")
class FeaturePreprocessing(tf.keras.layers.Layer):
    """Maps each categorical feature's raw values to its rows of the multiplexed table.

    For a feature f with c chunks and a value v whose token is t (the string, or the integer in
    decimal), chunk j = 0..c-1 gets the row

        id_j(v) = head_offset_f + i                                    if t is line i of vocab/f.txt
                = missing_row_f                                        if v is missing and f has one
                = tail_offset_f + SipHash_[salt_f, j](t) mod tail_rows_f   otherwise

    SipHash with the key [salt, chunk] is `tf.strings.to_hash_bucket_strong`, what `tf.keras.layers.Hashing`
    with a salt (and so TFRS's UnifiedEmbedding) computes. Only values missing from the head are
    formatted and hashed (the head is looked up first, integer inputs by value when every head token
    is an integer), which makes the layer several times faster when most values are in the head; the
    ids are the same as hashing every value. A sequence maps its elements through the
    rows of the feature it shares; padding ("" or MISSING_INT in a dense input, the end of a ragged row)
    is row 0.

    Input: a dict of raw tensors by name, strings or integers: categorical features [batch] (or
    [batch, 1]), sequences ragged [batch, (length)] or padded [batch, length]. Names the layout does not
    know are ignored. Output: int64 ids, `{feature: [batch, chunks], sequence: [batch, length, chunks]}`.

    Example:

    >>> vocab = VocabArtifact.read("artifacts/vocab")
    >>> preprocessing = FeaturePreprocessing(vocab.layout, vocab.vocabularies)
    >>> ids = preprocessing({"item_id": tf.constant([7, 123456789]), "device": tf.constant(["ios", "tv"])})
    """

    def __init__(self, layout: Layout | Mapping[str, Any], vocabularies: Mapping[str, Sequence[str]], **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.layout = layout if isinstance(layout, Layout) else Layout.from_dict(layout)
        self.vocabularies = {name: list(vocabularies.get(name, [])) for name in self.layout.features}
        for name, tokens in self.vocabularies.items():
            if len(tokens) != self.layout.features[name].head_rows:
                raise ValueError(f"feature '{name}': {len(tokens)} vocabulary tokens for {self.layout.features[name].head_rows} head rows")
        self.head_tables = {
            name: tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(tokens, tf.string),
                    tf.range(len(tokens), dtype=tf.int64) + self.layout.features[name].head_offset,
                ),
                default_value=_NOT_IN_HEAD,
            )
            for name, tokens in self.vocabularies.items()
            if tokens
        }
        self.integer_head_tables = {}
        for name, tokens in self.vocabularies.items():
            keys = integer_keys(tokens) if tokens else None
            if keys is not None:
                self.integer_head_tables[name] = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        tf.constant(keys, tf.int64),
                        tf.range(len(tokens), dtype=tf.int64) + self.layout.features[name].head_offset,
                    ),
                    default_value=_NOT_IN_HEAD,
                )

    @classmethod
    def from_artifact(cls, path: str | os.PathLike, **kwargs) -> FeaturePreprocessing:
        vocab = VocabArtifact.read(path)
        return cls(vocab.layout, vocab.vocabularies, **kwargs)

    def _not_in_head_ids(self, feature: FeatureLayout, values: tf.Tensor) -> tf.Tensor:
        """[k] raw values -> [k, chunks]: the missing row for missing values, else the salted tail hashes
        (the padding row when the feature's tail was pruned)."""
        tokens = raw_tokens(values)
        if feature.tail_dropped:  # pruned by OptFS: the padding row, whose embedding is zero
            ids = tf.fill(tf.concat([tf.shape(tokens), [feature.chunks]], 0), tf.constant(PADDING_ROW, tf.int64))
        else:
            ids = tf.stack(
                [
                    feature.tail_offset + tf.strings.to_hash_bucket_strong(tokens, feature.tail_rows, key=key)
                    for key in feature.hash_keys()
                ],
                axis=-1,
            )
        if feature.missing_row is not None:
            ids = tf.where((tokens == MISSING_TOKEN)[..., None], tf.constant(feature.missing_row, tf.int64), ids)
        return ids

    def _head_ids(self, name: str, values: tf.Tensor) -> tf.Tensor | None:
        if values.dtype != tf.string and name in self.integer_head_tables:
            return self.integer_head_tables[name].lookup(tf.cast(values, tf.int64))
        if name in self.head_tables:
            return self.head_tables[name].lookup(raw_tokens(values))
        return None

    def feature_ids(self, name: str, values: tf.Tensor) -> tf.Tensor:
        """Rows of feature `name` for raw values (strings or integers) of any shape S: [*S, chunks]."""
        feature: FeatureLayout = self.layout.features[name]
        head = self._head_ids(name, values)
        if head is None:
            return self._not_in_head_ids(feature, values)
        outside = tf.where(head == _NOT_IN_HEAD)
        ids = tf.stack([head] * feature.chunks, axis=-1)
        return tf.tensor_scatter_nd_update(ids, outside, self._not_in_head_ids(feature, tf.gather_nd(values, outside)))

    def _sequence_ids(self, feature: str, values: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
        def rows(flat: tf.Tensor) -> tf.Tensor:
            return tf.where(is_missing(flat)[..., None], tf.constant(PADDING_ROW, tf.int64),
                            self.feature_ids(feature, flat))

        if isinstance(values, tf.RaggedTensor):
            return tf.ragged.map_flat_values(rows, values).to_tensor(default_value=PADDING_ROW)
        return rows(values)

    def call(self, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        ids = {}
        for name, values in inputs.items():
            if name in self.layout.sequences:
                ids[name] = self._sequence_ids(self.layout.sequences[name], values)
            elif name in self.layout.features:
                if values.shape.rank == 2 and values.shape[-1] == 1:
                    values = tf.squeeze(values, axis=-1)
                ids[name] = self.feature_ids(name, values)
        return ids

    def get_config(self) -> dict[str, Any]:
        vocabularies = {name: list(tokens) for name, tokens in self.vocabularies.items()}
        return {**super().get_config(), "layout": self.layout.to_dict(), "vocabularies": vocabularies}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeaturePreprocessing:
        config = dict(config)
        config.pop("trainable", None)  # always False
        return cls(**config)
