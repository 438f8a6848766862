"""JSON feature values -> numpy arrays of the signature's dtype, checked one input at a time.

Everything a request can get wrong about a value is a `RequestError` naming the feature and the row
(and item, in a sequence), never a numpy or TensorFlow exception:
- strings: str or null, valid Unicode (no lone surrogate: TensorFlow could not encode it), at most
  `string_chars` characters;
- integers: int, or a float with an integral value, within int64 (NaN, Infinity, 1e300 and 2**70
  are errors); the int64 minimum is the missing sentinel, as in training;
- floats: int or float, finite in float32 (Infinity and 1e300 are errors); NaN and null are missing;
- sequences: a list (or null: empty) of such values, at most `sequence_items` long.
JSON null is a missing value ("" for strings, the int64 minimum, NaN for floats, [] for sequences).
The checks look at the distinct types of a column and at whole numpy arrays; only the error path
scans values one by one, to name the first bad one.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from featureplex.models.input import MISSING_INTEGER, MISSING_STRING
from featureplex.serving.request_limits import OverLimit, RequestError, RequestLimits

_NUMBERS = {int, float, np.int64, np.int32, np.float64, np.float32}
_ACCEPTED_TYPES = {tf.string: {str, type(None)}, tf.int64: _NUMBERS | {type(None)}, tf.float32: _NUMBERS | {type(None)}}
_INT64_END = 2.0**63  # exclusive; -2**63 is the missing sentinel and allowed


def shown(value: Any, width: int = 40) -> str:
    """A value for an error message: its type and a short repr (containers by length: no deep repr)."""
    if isinstance(value, (list, dict)):
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= width else text[:width] + '...'}"


def shown_name(name: str, width: int = 60) -> str:
    """A name taken from a request, cut and with lone surrogates escaped, safe to put in a message."""
    name = name if len(name) <= width else name[:width] + "..."
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class InputSpec:
    """One input of the signature: its name, dtype and whether it is a sequence ([batch, len])."""

    name: str
    dtype: tf.DType
    sequence: bool

    @property
    def missing(self):
        return {tf.string: MISSING_STRING, tf.int64: MISSING_INTEGER}.get(self.dtype, float("nan"))

    def column(self, values: Sequence[Any], limits: RequestLimits) -> np.ndarray:
        """A column of scalars as a [rows] array of the dtype."""
        return self._values(values, limits, lambda index: f"row {index}")

    def ragged(self, values: Sequence[Any], limits: RequestLimits) -> tuple[np.ndarray, np.ndarray]:
        """A column of lists as (flat values, row lengths); null is an empty list."""
        if not set(map(type, values)) <= {list, type(None)}:
            row, bad = next((i, v) for i, v in enumerate(values) if not isinstance(v, (list, type(None))))
            raise RequestError(f"feature '{self.name}': expected a list, got {shown(bad)} at row {row}")
        lengths = np.fromiter((0 if row is None else len(row) for row in values), dtype=np.int64, count=len(values))
        if lengths.size and lengths.max() > limits.sequence_items:
            row = int(lengths.argmax())
            raise OverLimit(f"feature '{self.name}': {lengths[row]} items at row {row} is over the limit of "
                            f"{limits.sequence_items} items per sequence (--max-sequence-items)")
        offsets = np.cumsum(lengths) - lengths

        def item(index: int) -> str:
            row = int(np.searchsorted(offsets, index, side="right") - 1)  # the last of rows sharing an offset
            return f"row {row}, item {index - offsets[row]}"

        flat = self._values(list(chain.from_iterable(row for row in values if row)), limits, item)
        return flat, lengths

    def _values(self, values: list, limits: RequestLimits, where: Callable[[int], str]) -> np.ndarray:
        types = set(map(type, values))
        if not types <= _ACCEPTED_TYPES[self.dtype]:
            index = next(i for i, v in enumerate(values) if type(v) not in _ACCEPTED_TYPES[self.dtype])
            wanted = "a string" if self.dtype == tf.string else "a number"
            raise RequestError(f"feature '{self.name}': expected {wanted}, got {shown(values[index])} at {where(index)}")
        if type(None) in types:
            values = [self.missing if value is None else value for value in values]
        if self.dtype == tf.string:
            return self._strings(values, limits, where)
        if self.dtype == tf.int64:
            return self._integers(values, types, where)
        return self._floats(values, where)

    def _strings(self, values: list, limits: RequestLimits, where: Callable[[int], str]) -> np.ndarray:
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        if lengths.size and lengths.max() > limits.string_chars:
            index = int(lengths.argmax())
            raise OverLimit(f"feature '{self.name}': a string of {lengths[index]} characters at {where(index)} is over "
                            f"the limit of {limits.string_chars} characters (--max-string-chars)")
        try:
            "".join(values).encode("utf-8")
        except UnicodeEncodeError as error:
            index = int(np.searchsorted(np.cumsum(lengths), error.start, side="right"))
            raise RequestError(f"feature '{self.name}': not valid Unicode (a lone surrogate) in "
                               f"{shown(values[index])} at {where(index)}") from None
        return np.array(values, dtype=object)

    def _integers(self, values: list, types: set, where: Callable[[int], str]) -> np.ndarray:
        if types & {float, np.float64, np.float32}:
            as_float = self._as_float64(values, where)
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(as_float) | (np.mod(as_float, 1) != 0) | (np.abs(as_float) > _INT64_END) | (as_float == _INT64_END)
            if bad.any():
                index = int(bad.argmax())
                raise RequestError(f"feature '{self.name}': expected an integer within int64, got "
                                   f"{shown(values[index])} at {where(index)}")
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            index = next(i for i, v in enumerate(values) if not -_INT64_END <= v < _INT64_END)
            raise RequestError(f"feature '{self.name}': expected an integer within int64, got "
                               f"{shown(values[index])} at {where(index)}") from None

    def _floats(self, values: list, where: Callable[[int], str]) -> np.ndarray:
        with np.errstate(over="ignore"):
            as_float32 = self._as_float64(values, where).astype(np.float32)
        infinite = np.isinf(as_float32)
        if infinite.any():
            index = int(infinite.argmax())
            raise RequestError(f"feature '{self.name}': {shown(values[index])} at {where(index)} is not a finite "
                               "float32 (use null for a missing value)")
        return as_float32

    def _as_float64(self, values: list, where: Callable[[int], str]) -> np.ndarray:
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:  # an int beyond float64: it has hundreds of digits
            index = next(i for i, v in enumerate(values) if isinstance(v, int) and v.bit_length() >= 1024)
            raise RequestError(f"feature '{self.name}': {shown(values[index])} at {where(index)} is out of range") from None

