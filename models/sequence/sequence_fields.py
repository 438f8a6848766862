"""Field embeddings in which a model of its own summarises each behaviour sequence."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from featureplex.features.errors import InputError
from featureplex.models.layers.field_encoder import FieldEncoder


class SequenceFields(tf.keras.layers.Layer):
    """fields = [e(x_1), ..., e(x_C), summary(s_1), ..., summary(s_S), n_1, ..., n_N]: [batch, fields, dim].

    The same fields, in the same order, as `FieldEncoder`, except that each sequence is summarised by
    `summarise` (target attention in DIN, an HSTU stack in HSTU) instead of a mean. It wraps a
    FieldEncoder, so ids, embeddings and numeric fields come from the one shared code path, and every
    tower of the registry can sit on top. Subclasses implement `summarise`.

    The candidate of a sequence is the categorical feature it shares rows with (`layout.sequences`,
    e.g. history_item_ids -> item_id): both are in one embedding space, which target attention needs.
    """

    model_name = "sequence model"  # for error messages

    def __init__(self, encoder: FieldEncoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        layout = encoder.preprocessing.layout
        if not layout.sequences:
            raise InputError(f"model '{self.model_name}': the layout has no sequence feature to model "
                             "(a list column sharing rows with a categorical feature, e.g. history_item_ids -> item_id)")
        self.candidates = dict(layout.sequences)
        for sequence, candidate in sorted(self.candidates.items()):
            if candidate not in layout.features:
                raise InputError(f"sequence '{sequence}': its shared feature '{candidate}' is not in the layout; "
                                 f"{self.model_name} needs the candidate '{candidate}' as a categorical feature")

    @property
    def categorical_names(self) -> list[str]:
        return self.encoder.categorical_names

    @property
    def sequence_names(self) -> list[str]:
        return self.encoder.sequence_names

    @property
    def numeric_names(self) -> list[str]:
        return self.encoder.numeric_names

    @property
    def field_names(self) -> list[str]:
        return self.encoder.field_names

    @property
    def input_names(self) -> list[str]:
        return self.encoder.input_names

    def summarise(self, embeddings: dict, masks: dict, features: dict, training: bool | None) -> dict[str, tf.Tensor]:
        """{sequence: [batch, dim]} for every sequence of the layout."""
        raise NotImplementedError

    def call(self, features: dict, training: bool | None = None) -> tf.Tensor:
        embeddings, masks = self.encoder.encode(features)
        summaries = self.summarise(embeddings, masks, features, training)
        fields = [embeddings[name] for name in self.categorical_names] + [summaries[name] for name in self.sequence_names]
        stacked = tf.stack(fields, axis=1)
        if self.encoder.numeric is None:
            return stacked
        return tf.concat([stacked, self.encoder.numeric(features)], axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "encoder": tf.keras.layers.serialize(self.encoder)}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        config["encoder"] = tf.keras.layers.deserialize(config["encoder"])
        return cls(**config)


def mean_pool(values: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """Masked mean over axis 1 (zero for an empty history): how FieldEncoder sees a sequence."""
    weights = tf.cast(valid, values.dtype)[..., None]
    return tf.reduce_sum(values * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
