"""Held-out files of a training run: `train.validation` (validated on instead of a share cut from DATA, so
the whole of DATA trains) and `train.test` (scored once with the kept weights after training).

Each is checked as DATA is before anything trains, the error naming the file: every column the model is
trained on (label, timestamp, user, features) present with a type the model reads the same way as in DATA,
labels 0/1 with both classes, sequence timestamps aligned.

Example::

    held_out = open_held_out(inputs, TrainParams(validation="data/valid.parquet", test="data/test.parquet"))
    held_out.validation.num_rows
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pyarrow as pa

from featureplex.features.data.config import TrainParams
from featureplex.features.data.dataset import ParquetDataset, open_dataset
from featureplex.features.data.schema import check_label_values
from featureplex.features.data.sequence_checks import check_timestamp_lengths
from featureplex.features.errors import InputError
from featureplex.pipelines.inputs import StageInputs


class UnusedSplitWarning(UserWarning):
    """train.validation_fraction / split_time set beside a validation file, which replaces them (the CLI prints it)."""


@dataclass(frozen=True)
class HeldOut:
    """The validation and test files of a run (None: not given)."""

    validation: ParquetDataset | None = None
    test: ParquetDataset | None = None

    def fingerprints(self) -> dict[str, str]:
        """{'validation': ..., 'test': ...} of the files given: what a manifest and a model card record."""
        return {name: data.fingerprint() for name, data in (("validation", self.validation), ("test", self.test)) if data}


def read_as(arrow_type: pa.DataType) -> str:
    """How the model reads a column of this type: text, integer (bool too) or floating point, per element of a
    list (the distinctions models.input.raw_feature_specs makes); other types by their name."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"list of {read_as(arrow_type.value_type)}"
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "floating point"
    return "timestamp" if pa.types.is_timestamp(arrow_type) else str(arrow_type)


def open_like_training(path: str, inputs: StageInputs, role: str) -> ParquetDataset:
    """The Parquet data at `path` (`role`: validation / test), checked to hold what the model reads of DATA."""
    dataset = open_dataset(path)
    schema = inputs.schema
    for name in schema.columns():
        if name not in dataset.schema.names:
            raise InputError(f"{path}: column '{name}' is missing (the {role} data needs every column the model "
                             f"is trained on: {', '.join(schema.columns())})")
        expected, found = inputs.dataset.schema.field(name).type, dataset.schema.field(name).type
        if read_as(found) != read_as(expected):
            raise InputError(f"{path}: column '{name}' has type {found}, expected {read_as(expected)} as in the "
                             f"training data ({expected})")
    try:
        rows, positives = check_label_values(dataset, schema.label)
        check_timestamp_lengths(dataset, schema)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    if positives in (0, rows):
        raise InputError(f"{path}: label '{schema.label}': a single class ({positives} positives in {rows} rows); "
                         f"{role} AUC needs both clicks and non-clicks")
    return dataset


def open_held_out(inputs: StageInputs, params: TrainParams) -> HeldOut:
    """The files `params.validation` and `params.test` name, each checked (`open_like_training`). A split of
    DATA set beside a validation file is not used: an UnusedSplitWarning says so."""
    default_fraction = TrainParams.model_fields["validation_fraction"].default
    if params.validation and (params.split_time is not None or params.validation_fraction not in (0, default_fraction)):
        unused = (f"train.split_time {params.split_time.isoformat()}" if params.split_time is not None
                  else f"train.validation_fraction {params.validation_fraction}")
        warnings.warn(UnusedSplitWarning(f"{unused} is not used: the validation file {params.validation} gives the "
                                         "validation rows and the whole of the training data trains"), stacklevel=2)
    return HeldOut(*(open_like_training(path, inputs, role) if path else None
                     for role, path in (("validation", params.validation), ("test", params.test))))
