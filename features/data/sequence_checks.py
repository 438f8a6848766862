"""Checks and conversions of behaviour sequences and their timestamp lists (pyarrow, vectorised)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.data.dataset import ParquetDataset, iter_origin_batches
from featureplex.features.data.schema import DatasetSchema
from featureplex.features.errors import InputError


def mismatched_rows(sequences: pa.Array, timestamps: pa.Array) -> np.ndarray:
    """Rows where the two lists differ in length (a null list counts as empty): bool [rows]."""
    def lengths(column: pa.Array) -> np.ndarray:
        return pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)

    return lengths(sequences) != lengths(timestamps)


def check_timestamp_lengths(dataset: ParquetDataset, schema: DatasetSchema) -> None:
    """Every sequence and its timestamp list must have equal lengths on every row.

    The error counts the rows affected over the whole dataset and names the first one, since a
    model pairing element j with time j would silently misread every row after the first mismatch.
    """
    pairs = [(spec.name, spec.timestamps) for spec in schema.features if spec.timestamps]
    for sequence, timestamps in pairs:
        bad = rows = 0
        first = None
        for origin, batch in iter_origin_batches(dataset, [sequence, timestamps]):
            mismatched = mismatched_rows(batch.column(0), batch.column(1))
            if first is None and mismatched.any():
                first = f"{origin.file} row {origin.first_row + int(np.argmax(mismatched))}"
            bad += int(mismatched.sum())
            rows += batch.num_rows
        if bad:
            raise InputError(f"{timestamps}: {bad} of {rows} rows have a different length from {sequence} "
                             f"(first: {first}); each history item needs exactly one timestamp")


def seconds_since_epoch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamp and list<timestamp> columns as int64 seconds, the form the serving signature takes."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(pc.cast(column, pa.timestamp("s")), pa.int64())
        elif pa.types.is_list(column.type) and pa.types.is_timestamp(column.type.value_type):
            column = pc.cast(pc.cast(column, pa.list_(pa.timestamp("s"))), pa.list_(pa.int64()))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
