"""Arrow record batches -> a SavedModel's requests, column by column (no Python object per value): how
Parquet data is scored in bulk (`featureplex evaluate`).

A column feeds an input when the model reads its type the same way (text for string inputs, integers,
booleans or timestamps for int64 inputs, any number for float32 inputs; lists of those for sequences);
nulls become the missing sentinels, as in training (models.input.dense_values). Timestamps are Unix
seconds, as the serving signature takes them.

Example::

    check_arrow_types(predictor, dataset.schema, "data/test.parquet")
    outputs = predictor.run(arrow_request(predictor, batch))
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from featureplex.features.data.sequence_checks import seconds_since_epoch
from featureplex.features.errors import InputError
from featureplex.models.input import dense_values
from featureplex.serving.encoded_request import EncodedRequest

_READS = {tf.string: ("text", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
          tf.int64: ("integers", lambda t: pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_timestamp(t)),
          tf.float32: ("numbers", lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))}


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def check_arrow_types(predictor, schema: pa.Schema, source: str) -> None:
    """Every input of `predictor` is a column of `schema` of a type it reads; else an InputError naming
    `source` and the column."""
    for name, spec in predictor.inputs.items():
        if name not in schema.names:
            raise InputError(f"{source}: column '{name}' is missing (the model takes {', '.join(predictor.inputs)})")
        found = schema.field(name).type
        element = found.value_type if _is_list(found) else found
        if pa.types.is_dictionary(element):
            element = element.value_type
        what, reads = _READS[spec.dtype]
        if _is_list(found) != spec.sequence or not reads(element):
            expected = f"a list of {what}" if spec.sequence else what
            raise InputError(f"{source}: column '{name}' has type {found}; the model takes {expected}")


def arrow_request(predictor, batch: pa.RecordBatch) -> EncodedRequest:
    """The batch's columns of `predictor`'s inputs as one request (types checked by `check_arrow_types`)."""
    batch = seconds_since_epoch(batch.select(list(predictor.inputs)))
    encoded, ragged = {}, {}
    for name, spec in predictor.inputs.items():
        column = batch.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if not spec.sequence:
            encoded[name] = dense_values(column, spec.dtype)
            continue
        column = pc.fill_null(column, pa.scalar([], column.type)) if column.null_count else column
        offsets = column.offsets.to_numpy().astype(np.int64)
        values = column.values.slice(offsets[0], offsets[-1] - offsets[0])
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        ragged[name] = (dense_values(values, spec.dtype), np.diff(offsets))
    return predictor.windowed(batch.num_rows, encoded, ragged)
