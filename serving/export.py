"""Export a trained model as a SavedModel whose `serving_default` takes raw features by name.

TensorFlow Serving's REST API carries dense tensors only, so a sequence arrives padded ([batch, len])
with the missing sentinel ("" or models.input.MISSING_INTEGER; 0 for timestamps) and becomes ragged
inside the graph, exactly the form the model trained on. Outputs: `probability` and `logit`, [batch].

Beside the graph, `assets.extra/featureplex_serving.json` (a folder TensorFlow Serving ignores) says
what a server needs to bound a request's cost without changing its answer:
- `history_windows`: {input: W} for the sequences the model reads only through their last W elements
  (`recent_window`: DIN's histories, HSTU's sequence and its timestamps). A server may cut such a
  list to its last W elements, after dropping the trailing missing elements the graph drops as
  padding, and the prediction is the same. Sequences that are mean-pooled have no window.
- `sequence_lengths_from`: {timestamps: sequence}: a timestamp list takes the row lengths of its
  sequence (0 is a valid time, so it cannot mark padding), so the two must have equal lengths.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import tensorflow as tf

from featureplex.models.input import MISSING_INTEGER, MISSING_STRING
from featureplex.models.sequence.din import DinFields
from featureplex.models.sequence.hstu import HstuFields

SIGNATURE = "serving_default"
SERVING_INFO = Path("assets.extra") / "featureplex_serving.json"


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


def history_windows(model: tf.keras.Model, sequence_lengths_from: dict[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    """({input: W} read only through the last W elements, {timestamps: sequence} to take lengths from).

    HSTU reads its timestamps aligned with its own sequence, so they take that sequence's lengths
    (a side sequence of equal length may have been named) and share its window.
    """
    fields = getattr(model, "encoder", None)
    lengths_from = dict(sequence_lengths_from)
    if isinstance(fields, DinFields):
        return {name: fields.max_length for name in fields.sequence_names}, lengths_from
    if isinstance(fields, HstuFields):
        windows = {fields.sequence: fields.max_length}
        if fields.timestamps:
            windows[fields.timestamps] = fields.max_length
            lengths_from[fields.timestamps] = fields.sequence
        return windows, lengths_from
    return {}, lengths_from


def export_saved_model(model: tf.keras.Model, raw_specs: dict[str, tf.TypeSpec], out: str | os.PathLike,
                       sequence_lengths_from: dict[str, str] | None = None) -> Path:
    """Write the SavedModel (and its serving info) to a temporary sibling and rename it into place."""
    windows, lengths_from = history_windows(model, sequence_lengths_from or {})
    windows = {name: length for name, length in windows.items() if name in raw_specs}

    @tf.function(input_signature=[signature_specs(raw_specs)])
    def serve(features):
        logit = model(unpad(features, raw_specs, lengths_from), training=False)[:, 0]
        return {"probability": tf.sigmoid(logit), "logit": logit}

    final = Path(out)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        tf.saved_model.save(model, str(staging), signatures={SIGNATURE: serve})
        (staging / SERVING_INFO).parent.mkdir(exist_ok=True)
        info = {"history_windows": windows, "sequence_lengths_from": lengths_from}
        (staging / SERVING_INFO).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
