"""Predictions from an exported SavedModel, fed from JSON-like rows or columns.

The signature says every input's name and dtype, so requests are checked against it: a missing
feature or a value of the wrong type is a `RequestError` naming the feature, never a TensorFlow
traceback. JSON null is a missing value ("" for strings, the integer sentinel, NaN for floats, an
empty list for sequences). Unseen categories are not errors: they hash to the tail in the graph.
"""

from __future__ import annotations

import numbers
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


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: tf.DType
    sequence: bool

    @property
    def missing(self):
        return {tf.string: MISSING_STRING, tf.int64: MISSING_INTEGER}.get(self.dtype, float("nan"))

    def check(self, value: Any) -> Any:
        """One scalar value as the dtype wants it (None -> missing)."""
        if value is None:
            return self.missing
        if self.dtype == tf.string:
            if isinstance(value, str):
                return value
            raise RequestError(f"feature '{self.name}': expected a string, got {type(value).__name__} {value!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Number):
            raise RequestError(f"feature '{self.name}': expected a number, got {type(value).__name__} {value!r}")
        if self.dtype == tf.int64:
            if isinstance(value, float) and not value.is_integer():
                raise RequestError(f"feature '{self.name}': expected an integer, got {value!r}")
            return int(value)
        return float(value)

    def column(self, values: Sequence[Any]) -> tf.Tensor:
        """A request column as the signature's tensor; sequences padded to the longest."""
        if not self.sequence:
            return tf.constant([self.check(v) for v in values], dtype=self.dtype)
        rows = []
        for value in values:
            if value is None:
                value = []
            if not isinstance(value, list):
                raise RequestError(f"feature '{self.name}': expected a list, got {type(value).__name__} {value!r}")
            rows.append([self.check(v) for v in value])
        width = max((len(row) for row in rows), default=0)
        # a timestamp list takes its row lengths from its sequence in the graph, so one padding fits all
        padded = [row + [self.missing] * (width - len(row)) for row in rows]
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
