"""Raw features -> one embedding per field, the input every interaction tower takes."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.numeric_fields import NumericFields
from featureplex.models.layers.preprocessing import FeaturePreprocessing


@tf.keras.utils.register_keras_serializable("featureplex")
class FieldEncoder(tf.keras.layers.Layer):
    """fields = [e(x_1), ..., e(x_C), pool(s_1), ..., pool(s_S), n_1, ..., n_N]: [batch, fields, dim].

    e: the multiplexed embedding of each categorical feature of the layout (ids assigned in the graph
    by FeaturePreprocessing); pool: the masked mean of a sequence's element embeddings (zero for an
    empty history), which is how models without target attention see a history; n: numeric fields
    (NumericFields). `encode` gives the unpooled embeddings and masks for sequence models.

    Example:
        >>> encoder = FieldEncoder(FeaturePreprocessing(layout, vocabularies), MultiplexedEmbedding.from_layout(layout))
        >>> encoder(raw_features).shape  # [batch, len(encoder.field_names), layout.dimension]
    """

    def __init__(self, preprocessing: FeaturePreprocessing, embedding: MultiplexedEmbedding,
                 numeric: NumericFields | None = None, **kwargs):
        super().__init__(**kwargs)
        self.preprocessing = preprocessing
        self.embedding = embedding
        self.numeric = numeric
        layout = preprocessing.layout
        self.categorical_names = sorted(layout.features)
        self.sequence_names = sorted(layout.sequences)
        self.numeric_names = list(numeric.names) if numeric is not None else []

    @property
    def field_names(self) -> list[str]:
        return self.categorical_names + self.sequence_names + self.numeric_names

    @property
    def input_names(self) -> list[str]:
        """The raw features this encoder reads."""
        return self.categorical_names + self.sequence_names + self.numeric_names

    def encode(self, features: dict) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Per-feature embeddings ([batch, dim]; sequences [batch, length, dim]) and sequence masks."""
        ids = self.preprocessing({name: features[name] for name in self.categorical_names + self.sequence_names})
        return self.embedding(ids)

    def call(self, features: dict) -> tf.Tensor:
        embeddings, masks = self.encode(features)
        fields = [embeddings[name] for name in self.categorical_names]
        for name in self.sequence_names:
            # the embeddings are zero at padding already: the mask only counts the elements
            count = tf.maximum(tf.reduce_sum(tf.cast(masks[name], embeddings[name].dtype), axis=1, keepdims=True), 1.0)
            fields.append(tf.reduce_sum(embeddings[name], axis=1) / count)
        stacked = tf.stack(fields, axis=1) if fields else None
        if self.numeric is None:
            return stacked
        numeric = self.numeric(features)
        return numeric if stacked is None else tf.concat([stacked, numeric], axis=1)

    def get_config(self) -> dict[str, Any]:
        serialize = tf.keras.layers.serialize
        return {**super().get_config(), "preprocessing": serialize(self.preprocessing),
                "embedding": serialize(self.embedding),
                "numeric": serialize(self.numeric) if self.numeric is not None else None}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FieldEncoder:
        config = dict(config)
        deserialize = tf.keras.layers.deserialize
        for key in ("preprocessing", "embedding", "numeric"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        return cls(**config)
