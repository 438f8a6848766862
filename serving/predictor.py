"""Predictions from an exported SavedModel, fed from JSON-like rows or columns.

The signature says every input's name and dtype, so requests are checked against it: a missing
feature or a value of the wrong type is a `RequestError` naming the feature, never a TensorFlow
traceback. JSON null is a missing value ("" for strings, the integer sentinel, NaN for floats, an
empty list for sequences). Unseen categories are not errors: they hash to the tail in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

import models  # noqa: F401
import tensorflow as tf

from models.input import MISSING_INTEGER, MISSING_STRING
from serving.export import SIGNATURE


def columns_from_dataframe(frame) -> dict[str, list]:
    """A pandas DataFrame as request columns: numpy cells as lists, NaN / None as missing."""
    def cell(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        return value

    return {name: [cell(value) for value in frame[name]] for name in frame.columns}


class RequestError(ValueError):
    """A request the model cannot take; the message names the field."""


_ACCEPTED_TYPES = {
    tf.string: {str},
    tf.int64: {int, float, np.int64, np.int32},
    tf.float32: {int, float, np.float64, np.float32, np.int64, np.int32},
}


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: tf.DType
    sequence: bool

    @property
    def missing(self):
        return {tf.string: MISSING_STRING, tf.int64: MISSING_INTEGER}.get(self.dtype, float("nan"))

    def _reject(self, values: Sequence[Any]) -> None:
        """Name the first value of the wrong type (only on the error path, so a Python scan is fine)."""
        accepted = _ACCEPTED_TYPES[self.dtype]
        for value in values:
            if value is not None and type(value) not in accepted:
                wanted = "a string" if self.dtype == tf.string else "a number"
                raise RequestError(f"feature '{self.name}': expected {wanted}, got {type(value).__name__} {value!r}")

    def values(self, values: Sequence[Any]) -> np.ndarray:
        """Scalars as a numpy array of the dtype, None as missing; types checked per distinct type, not per value."""
        types = set(map(type, values))
        if not types - {type(None)} <= _ACCEPTED_TYPES[self.dtype]:
            self._reject(values)
        if type(None) in types:
            values = [self.missing if value is None else value for value in values]
        if self.dtype == tf.string:
            return np.array(values, dtype=object)
        array = np.array(values, dtype=np.float64)
        if self.dtype == tf.float32:
            return array.astype(np.float32)
        if float in types and not np.all(np.mod(array[np.isfinite(array)], 1) == 0):
            raise RequestError(f"feature '{self.name}': expected integers, got {array[np.mod(array, 1) != 0][0]!r}")
        return np.array(values, dtype=np.int64)

    def column(self, values: Sequence[Any]) -> tf.Tensor:
        """A request column as the signature's tensor; sequences padded to the longest."""
        if not self.sequence:
            return tf.constant(self.values(values), dtype=self.dtype)
        rows = [[] if value is None else value for value in values]
        if not set(map(type, rows)) <= {list}:
            bad = next(value for value in rows if not isinstance(value, list))
            raise RequestError(f"feature '{self.name}': expected a list, got {type(bad).__name__} {bad!r}")
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = self.values([value for row in rows for value in row])
        width = int(lengths.max(initial=0))
        # a timestamp list takes its row lengths from its sequence in the graph, so one padding fits all
        padded = np.full((len(rows), width), self.missing, dtype=object if self.dtype == tf.string else flat.dtype)
        row_of = np.repeat(np.arange(len(rows)), lengths)
        position = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        padded[row_of, position] = flat
        return tf.constant(padded, dtype=self.dtype, shape=[len(rows), width])


class SavedModelPredictor:
    """Loads a SavedModel once and answers columnar or row requests."""

    def __init__(self, path: str):
        self.path = path
        self._loaded = tf.saved_model.load(path)
        self._function = self._loaded.signatures[SIGNATURE]
        _, inputs = self._function.structured_input_signature
        self.inputs = {
            name: InputSpec(name, spec.dtype, spec.shape.rank == 2) for name, spec in sorted(inputs.items())
        }
        self.outputs = {name: spec for name, spec in sorted(self._function.structured_outputs.items())}

    def rows_to_columns(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list]:
        if not isinstance(rows, list) or not rows:
            raise RequestError("instances: expected a non-empty list of objects")
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise RequestError(f"instances[{index}]: expected an object of feature values")
        return {name: [row.get(name) for row in rows] for name in {key for row in rows for key in row}}

    def check_columns(self, columns: Mapping[str, Sequence[Any]]) -> int:
        """Names and lengths: every signature input present, nothing unknown, equal lengths."""
        if not isinstance(columns, dict):
            raise RequestError("inputs: expected an object of feature columns")
        unknown = sorted(set(columns) - set(self.inputs))
        if unknown:
            raise RequestError(f"feature '{unknown[0]}': not an input of this model")
        missing = sorted(set(self.inputs) - set(columns))
        if missing:
            raise RequestError(f"feature '{missing[0]}': missing from the request")
        lengths = set()
        for name, values in columns.items():
            if not isinstance(values, list):
                raise RequestError(f"feature '{name}': expected a list of values (columnar inputs)")
            lengths.add(len(values))
        if len(lengths) != 1 or 0 in lengths:
            raise RequestError("inputs: every feature needs the same, non-zero number of values")
        return lengths.pop()

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        self.check_columns(columns)
        tensors = {name: spec.column(columns[name]) for name, spec in self.inputs.items()}
        return {name: value.numpy() for name, value in self._function(**tensors).items()}

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        return self.predict_columns(self.rows_to_columns(rows))
