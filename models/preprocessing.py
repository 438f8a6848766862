"""Raw categorical features -> rows of the multiplexed embedding table, assigned in the graph.

The only place ids are assigned (DESIGN.md section 4): training and serving run this same layer, and
its vocabularies travel inside its config and the SavedModel, so there is no skew by construction.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import models  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from features.layout import PADDING_ROW, FeatureLayout, Layout, read_vocab_artifact
from features.vocabulary import MISSING_INT

MISSING_TOKEN = ""
_NOT_IN_HEAD = -1


def raw_tokens(values: tf.Tensor) -> tf.Tensor:
    """Values as the vocabulary's tokens: strings as they are, integers and booleans in decimal, missing as ""."""
    if values.dtype == tf.string:
        return values
    values = tf.cast(values, tf.int64)
    return tf.where(values == MISSING_INT, MISSING_TOKEN, tf.strings.as_string(values))


@tf.keras.utils.register_keras_serializable(package="featureplex")
class FeaturePreprocessing(tf.keras.layers.Layer):
    """Maps each categorical feature's raw values to its rows of the multiplexed table.

    For a feature f with c chunks and a value v whose token is t (the string, or the integer in
    decimal), chunk j = 0..c-1 gets the row

        id_j(v) = head_offset_f + i                                    if t is line i of vocab/f.txt
                = missing_row_f                                        if v is missing and f has one
                = tail_offset_f + SipHash_[salt_f, j](t) mod tail_rows_f   otherwise

    SipHash with the key [salt, chunk] is `tf.strings.to_hash_bucket_strong`, what `tf.keras.layers.Hashing`
    with a salt (and so TFRS's UnifiedEmbedding) computes. A sequence maps its elements through the
    rows of the feature it shares; padding ("" or MISSING_INT in a dense input, the end of a ragged row)
    is row 0.

    Input: a dict of raw tensors by name, strings or integers: categorical features [batch] (or
    [batch, 1]), sequences ragged [batch, (length)] or padded [batch, length]. Names the layout does not
    know are ignored. Output: int64 ids, `{feature: [batch, chunks], sequence: [batch, length, chunks]}`.

    Example:

    >>> layout, vocabularies = read_vocab_artifact("artifacts/vocab")
    >>> preprocessing = FeaturePreprocessing(layout, vocabularies)
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

    @classmethod
    def from_artifact(cls, path: str | os.PathLike, **kwargs) -> FeaturePreprocessing:
        layout, vocabularies = read_vocab_artifact(path)
        return cls(layout, vocabularies, **kwargs)

    def feature_ids(self, name: str, tokens: tf.Tensor) -> tf.Tensor:
        """Rows of feature `name` for tokens of any shape S: [*S, chunks]."""
        feature: FeatureLayout = self.layout.features[name]
        ids = tf.stack(
            [
                feature.tail_offset + tf.strings.to_hash_bucket_strong(tokens, feature.tail_rows, key=key)
                for key in feature.hash_keys()
            ],
            axis=-1,
        )
        if feature.missing_row is not None:
            ids = tf.where((tokens == MISSING_TOKEN)[..., None], tf.constant(feature.missing_row, tf.int64), ids)
        if name in self.head_tables:
            head = self.head_tables[name].lookup(tokens)[..., None]
            ids = tf.where(head != _NOT_IN_HEAD, head, ids)
        return ids

    def _sequence_ids(self, feature: str, values: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
        def rows(flat: tf.Tensor) -> tf.Tensor:
            tokens = raw_tokens(flat)
            return tf.where((tokens == MISSING_TOKEN)[..., None], tf.constant(PADDING_ROW, tf.int64),
                            self.feature_ids(feature, tokens))

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
                ids[name] = self.feature_ids(name, raw_tokens(values))
        return ids

    def get_config(self) -> dict[str, Any]:
        vocabularies = {name: list(tokens) for name, tokens in self.vocabularies.items()}
        return {**super().get_config(), "layout": self.layout.to_dict(), "vocabularies": vocabularies}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeaturePreprocessing:
        config = dict(config)
        config.pop("trainable", None)  # always False
        return cls(**config)
