"""Export a trained model as a SavedModel whose `serving_default` takes raw features by name.

TensorFlow Serving's REST API carries dense tensors only, so a sequence arrives padded ([batch, len])
with the missing sentinel ("" or models.input.MISSING_INTEGER; 0 for timestamps) and becomes ragged
inside the graph, exactly the form the model trained on. Outputs: `probability` and `logit`, [batch].
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import models  # noqa: F401
import tensorflow as tf

from models.input import MISSING_INTEGER, MISSING_STRING

SIGNATURE = "serving_default"


def signature_specs(raw_specs: dict[str, tf.TypeSpec]) -> dict[str, tf.TensorSpec]:
    """The serving input of each raw feature: ragged sequences become padded dense tensors."""
    return {
        name: tf.TensorSpec([None, None] if isinstance(spec, tf.RaggedTensorSpec) else [None], spec.dtype, name=name)
        for name, spec in raw_specs.items()
    }


def padding_value(dtype: tf.DType):
    return MISSING_STRING if dtype == tf.string else tf.constant(MISSING_INTEGER, dtype)


def unpad(features: dict, raw_specs: dict[str, tf.TypeSpec], sequence_lengths_from: dict[str, str]) -> dict:
    """Padded sequences -> ragged; a timestamp list takes the row lengths of its sequence."""
    unpadded = dict(features)
    for name, spec in raw_specs.items():
        if isinstance(spec, tf.RaggedTensorSpec) and name not in sequence_lengths_from:
            unpadded[name] = tf.RaggedTensor.from_tensor(features[name], padding=padding_value(spec.dtype),
                                                         row_splits_dtype=tf.int64)
    for name, sequence in sequence_lengths_from.items():
        lengths = unpadded[sequence].row_lengths()
        unpadded[name] = tf.RaggedTensor.from_tensor(features[name], lengths=lengths, row_splits_dtype=tf.int64)
    return unpadded


def export_saved_model(model: tf.keras.Model, raw_specs: dict[str, tf.TypeSpec], out: str | os.PathLike,
                       sequence_lengths_from: dict[str, str] | None = None) -> Path:
    """Write the SavedModel to a temporary sibling and rename it into place."""
    lengths_from = dict(sequence_lengths_from or {})

    @tf.function(input_signature=[signature_specs(raw_specs)])
    def serve(features):
        logit = model(unpad(features, raw_specs, lengths_from), training=False)[:, 0]
        return {"probability": tf.sigmoid(logit), "logit": logit}

    final = Path(out)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        tf.saved_model.save(model, str(staging), signatures={SIGNATURE: serve})
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
