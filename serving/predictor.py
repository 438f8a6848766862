"""Predictions from an exported SavedModel, fed from JSON-like rows or columns.

The signature says every input's name and dtype, so requests are checked against it: a missing
feature or a value of the wrong type is a `RequestError` naming the feature, never a TensorFlow
traceback (feature_values.py lists the checks). Unseen categories are not errors: they hash to the
tail in the graph. A request is checked and encoded on its own (`encode`) before any model call
(`run`), so a server can join checked requests into one call. Sequences the model reads through a
history window (the SavedModel's serving info, export.py) are cut to it before padding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from featureplex.serving.encoded_request import EncodedRequest, padded, recent_slices, sliced
from featureplex.serving.export import SERVING_INFO, SIGNATURE
from featureplex.serving.feature_values import InputSpec, shown_name
from featureplex.serving.request_limits import UNLIMITED, RequestError, RequestLimits

__all__ = ["RequestError", "SavedModelPredictor", "columns_from_dataframe"]


def columns_from_dataframe(frame) -> dict[str, list]:
    """A pandas DataFrame as request columns: numpy cells as lists, NaN / None as missing."""
    def cell(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        return value

    return {name: [cell(value) for value in frame[name]] for name in frame.columns}


class SavedModelPredictor:
    """Loads a SavedModel once and answers columnar or row requests within `limits`."""

    def __init__(self, path: str, limits: RequestLimits = UNLIMITED):
        self.path = path
        self.limits = limits
        self._loaded = tf.saved_model.load(path)
        self._function = self._loaded.signatures[SIGNATURE]
        _, inputs = self._function.structured_input_signature
        self.inputs = {
            name: InputSpec(name, spec.dtype, spec.shape.rank == 2) for name, spec in sorted(inputs.items())
        }
        self.outputs = {name: spec for name, spec in sorted(self._function.structured_outputs.items())}
        info_file = Path(path) / SERVING_INFO
        info = json.loads(info_file.read_text()) if info_file.exists() else {}  # older exports have none
        self.history_windows: dict[str, int] = info.get("history_windows", {})
        self.sequence_lengths_from: dict[str, str] = info.get("sequence_lengths_from", {})

    def rows_to_columns(self, rows: Sequence[Mapping[str, Any]], every_key: bool = False) -> dict[str, list]:
        """Row objects -> columns. A key absent from a row is null, or with `every_key` (TF Serving's
        `instances`) an error: every row names every feature it gives."""
        if not isinstance(rows, list) or not rows:
            raise RequestError("instances: expected a non-empty list of objects")
        self.limits.check_rows(len(rows), "instances")
        if not all(isinstance(row, dict) for row in rows):
            index = next(i for i, row in enumerate(rows) if not isinstance(row, dict))
            raise RequestError(f"instances[{index}]: expected an object of feature values")
        names = rows[0].keys()
        if every_key and not all(row.keys() == names for row in rows):
            index = next(i for i, row in enumerate(rows) if row.keys() != names)
            name = sorted(names ^ rows[index].keys())[0]
            if name not in self.inputs:
                raise RequestError(f"feature '{shown_name(name)}': not an input of this model")
            where = index if name in names else 0
            raise RequestError(f"instances[{where}]: feature '{shown_name(name)}' is missing (every instance gives "
                               "every feature, as in TensorFlow Serving; null is a missing value)")
        if not every_key:
            names = {key for row in rows for key in row}
        return {name: [row.get(name) for row in rows] for name in names}

    def check_columns(self, columns: Mapping[str, Sequence[Any]]) -> int:
        """Names and lengths: every signature input present, nothing unknown, equal lengths; the row count."""
        if not isinstance(columns, dict):
            raise RequestError("inputs: expected an object of feature columns")
        unknown = sorted(set(columns) - set(self.inputs))
        if unknown:
            raise RequestError(f"feature '{shown_name(unknown[0])}': not an input of this model")
        missing = sorted(set(self.inputs) - set(columns))
        if missing:
            raise RequestError(f"feature '{missing[0]}': missing from the request")
        for name, values in columns.items():
            if not isinstance(values, list):
                raise RequestError(f"feature '{name}': expected a list of values (columnar inputs)")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise RequestError("inputs: every feature needs the same, non-zero number of values")
        rows = lengths.pop()
        self.limits.check_rows(rows, "inputs")
        return rows

    def encode(self, columns: Mapping[str, Sequence[Any]]) -> EncodedRequest:
        """Check every value and encode it; sequences with a history window cut to it."""
        rows = self.check_columns(columns)
        encoded = {name: spec.column(columns[name], self.limits) for name, spec in self.inputs.items() if not spec.sequence}
        ragged = {name: spec.ragged(columns[name], self.limits) for name, spec in self.inputs.items() if spec.sequence}
        return self.windowed(rows, encoded, ragged)

    def windowed(self, rows: int, encoded: dict[str, np.ndarray], ragged: dict[str, tuple[np.ndarray, np.ndarray]]) -> EncodedRequest:
        """Encoded columns as a request: timestamp lists checked against their sequences, sequences with a
        history window cut to it: the last step of `encode` and of serving.arrow_request."""
        for times, sequence in self.sequence_lengths_from.items():
            self._check_aligned(ragged, times, sequence)
        for name, window in self.history_windows.items():
            if name not in self.sequence_lengths_from:
                flat, lengths = ragged[name]
                starts, ends = recent_slices(flat, lengths, self.inputs[name].missing, window)
                ragged[name] = sliced(flat, lengths, starts, ends)
                ragged.update({times: sliced(*ragged[times], starts, ends)
                               for times, sequence in self.sequence_lengths_from.items() if sequence == name})
        return EncodedRequest(rows, encoded, ragged)

    def _check_aligned(self, ragged: dict, times: str, sequence: str) -> None:
        """A timestamp list has one time per element of its sequence (the graph takes the sequence's lengths)."""
        if times not in ragged or sequence not in ragged:
            return
        unequal = ragged[times][1] != ragged[sequence][1]
        if unequal.any():
            row = int(unequal.argmax())
            raise RequestError(f"feature '{times}': {ragged[times][1][row]} values at row {row}, but '{sequence}' has "
                               f"{ragged[sequence][1][row]} (one time per element)")

    def run(self, request: EncodedRequest) -> dict[str, np.ndarray]:
        """One model call. A request the graph rejects (it passed every check here) is a RequestError
        carrying TensorFlow's first line; anything else is an internal error."""
        tensors = {name: tf.constant(values, dtype=self.inputs[name].dtype) for name, values in request.columns.items()}
        for name, (flat, lengths) in request.sequences.items():
            spec = self.inputs[name]
            tensors[name] = tf.constant(padded(flat, lengths, spec.missing), dtype=spec.dtype)
        try:
            outputs = self._function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise RequestError(f"request: the model cannot score it ({error.message.splitlines()[0]})") from None
        return {name: value.numpy() for name, value in outputs.items()}

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        return self.run(self.encode(columns))

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        return self.predict_columns(self.rows_to_columns(rows))
