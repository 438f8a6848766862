"""The dataset schema: which column is the label, the timestamp, and each feature's kind.

Inferred from the Arrow schema, overridden by the config:
- string / integer / bool / dictionary -> categorical; floating point -> numeric;
- list<string | integer> -> sequence; list<timestamp> pairs with a sequence as its timestamps;
- anything else (struct, map, binary, ...) is skipped with a reason, not an error.
The timestamp is the one timestamp- or date-typed column; failing that, the one integer column named
like a timestamp (`timestamp`, `event_time`, `created_at`, ...) whose values, per the Parquet footers'
statistics, all lie in the Unix-seconds range of the years 2000-2100 (`unix_seconds_span`).
A sequence shares its vocabulary with the categorical feature its name points at
(`history_item_ids` -> `item_id`, `history_item_categories` -> `item_category`), unless the config says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.data.config import FeatureplexConfig
from featureplex.features.data.dataset import ParquetDataset, iter_record_batches, read_metadata
from featureplex.features.errors import InputError

LABEL_NAMES = ("label", "click")
SEQUENCE_PREFIXES = ("history_", "hist_", "seq_", "recent_", "clicked_")
# An integer column with one of these names (lower-cased) or suffixes may hold Unix seconds.
TIMESTAMP_NAMES = ("timestamp", "ts", "time", "datetime", "event_time", "event_ts")
TIMESTAMP_SUFFIXES = ("_timestamp", "_ts", "_time", "_at")
# 2000-01-01 and 2100-01-01 in Unix seconds: a duration or a count named `*_time` lies far below, and
# milliseconds far above, so the name and the range together make the call.
UNIX_SECONDS_RANGE = (946_684_800, 4_102_444_800)


class Kind(str, Enum):
    CATEGORICAL = "categorical"
    NUMERIC = "numeric"
    SEQUENCE = "sequence"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column: its kind, Arrow type, and for sequences the vocabulary and timestamps it pairs with."""

    name: str
    kind: Kind
    arrow_type: str
    shares_with: str | None = None
    timestamps: str | None = None


@dataclass(frozen=True)
class DatasetSchema:
    """Label, timestamp, features in column order, and the columns skipped with their reasons."""

    label: str
    timestamp: str | None
    features: tuple[FeatureSpec, ...]
    user: str | None = None
    skipped: tuple[tuple[str, str], ...] = field(default=())

    def feature(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def names(self, kind: Kind | None = None) -> list[str]:
        return [spec.name for spec in self.features if kind is None or spec.kind == kind]

    @property
    def sequence_timestamps(self) -> list[str]:
        """The timestamp lists paired with sequences, once each (several sequences may share one)."""
        return list(dict.fromkeys(spec.timestamps for spec in self.features if spec.timestamps))

    def columns(self) -> list[str]:
        """Every column a stage reads: label, timestamp, user, features and sequence timestamps (once each)."""
        extra = [self.label, self.timestamp, self.user]
        return list(dict.fromkeys([name for name in extra if name] + self.names() + self.sequence_timestamps))


def _is_key_type(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_boolean(arrow_type)
    )


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def infer_kind(arrow_type: pa.DataType) -> tuple[Kind | None, str]:
    """The kind a column of this type gets, or None and the reason it cannot be a feature."""
    if _is_key_type(arrow_type):
        return Kind.CATEGORICAL, ""
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Kind.NUMERIC, ""
    if _is_list(arrow_type) and _is_key_type(arrow_type.value_type):
        return Kind.SEQUENCE, ""
    return None, f"unsupported type {arrow_type}"


def _default_label(arrow_schema: pa.Schema) -> str:
    for name in LABEL_NAMES:
        if name in arrow_schema.names:
            return name
    raise InputError(f"no label column: none of {', '.join(LABEL_NAMES)} exists; name one with --label or `label:` in the config")


@dataclass(frozen=True)
class ColumnRange:
    """A column's smallest and largest non-null value over a dataset (None and None: every value is null)."""

    minimum: Any
    maximum: Any


def column_ranges(dataset: ParquetDataset, names: Sequence[str]) -> dict[str, ColumnRange]:
    """Min and max of each named top-level column from the Parquet footers' statistics: no data is read.

    A column is left out when some row group with a non-null value has no min/max statistics.
    """
    wanted = set(names)
    found: dict[str, list] = {name: [] for name in wanted}
    for path in dataset.files:
        metadata = read_metadata(path)
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                name = chunk.path_in_schema
                if name not in found:
                    continue
                statistics = chunk.statistics
                if statistics is not None and statistics.has_min_max:
                    found[name] += [statistics.min, statistics.max]
                elif statistics is None or statistics.null_count != row_group.num_rows:
                    wanted.discard(name)
    return {
        name: ColumnRange(min(values), max(values)) if values else ColumnRange(None, None)
        for name, values in found.items() if name in wanted
    }


def looks_like_timestamp_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in TIMESTAMP_NAMES or lowered.endswith(TIMESTAMP_SUFFIXES)


def unix_seconds_span(dataset: ParquetDataset, name: str) -> tuple[datetime, datetime] | None:
    """First and last time of an integer column whose every value lies in UNIX_SECONDS_RANGE, else None."""
    if not pa.types.is_integer(dataset.schema.field(name).type):
        return None
    span = column_ranges(dataset, [name]).get(name)
    if span is None or span.minimum is None:
        return None
    low, high = UNIX_SECONDS_RANGE
    if not low <= span.minimum <= span.maximum <= high:
        return None
    return tuple(datetime.fromtimestamp(value, timezone.utc) for value in (span.minimum, span.maximum))


def _default_timestamp(dataset: ParquetDataset, configured: set[str]) -> str | None:
    """The one timestamp- or date-typed column, else the one integer column named like a timestamp and
    holding Unix seconds (module docstring); None when there is none or several. Columns the config
    lists under `features` are its to type."""
    arrow_schema = dataset.schema
    stamps = [f.name for f in arrow_schema if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)]
    if not stamps:
        stamps = [
            f.name for f in arrow_schema
            if f.name not in configured and looks_like_timestamp_name(f.name) and unix_seconds_span(dataset, f.name)
        ]
    return stamps[0] if len(stamps) == 1 else None


def _sequence_stem(name: str) -> str:
    for prefix in SEQUENCE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") else name


def _guess_shared(name: str, categorical: set[str]) -> str | None:
    stem = _sequence_stem(name)
    for candidate in (stem, _singular(stem)):
        if candidate in categorical and candidate != name:
            return candidate
    return None


def _guess_timestamps(name: str, timestamp_lists: set[str]) -> str | None:
    prefix = name[: len(name) - len(_sequence_stem(name))]
    matches = sorted(t for t in timestamp_lists if prefix and t.startswith(prefix))
    return matches[0] if len(matches) == 1 else None


def resolve_schema(
    dataset: ParquetDataset, config: FeatureplexConfig | None = None, label: str | None = None
) -> DatasetSchema:
    """Infer the schema of `dataset` and apply the config; every column the config names must exist."""
    config = config or FeatureplexConfig()
    arrow_schema = dataset.schema
    present = set(arrow_schema.names)
    for key, name in (("label", label or config.label), ("timestamp", config.timestamp), ("user", config.user)):
        if name is not None and name not in present:
            raise InputError(f"{key}: column '{name}' is not in the data (columns: {', '.join(arrow_schema.names)})")
    for name in config.features:
        if name not in present:
            raise InputError(f"features.{name}: column '{name}' is not in the data")

    label_name = label or config.label or _default_label(arrow_schema)
    label_type = arrow_schema.field(label_name).type
    if not (pa.types.is_integer(label_type) or pa.types.is_boolean(label_type) or pa.types.is_floating(label_type)):
        raise InputError(f"label '{label_name}': expected 0/1 values, got column type {label_type}")
    timestamp = config.timestamp or _default_timestamp(dataset, set(config.features) | {label_name})

    timestamp_lists = {
        f.name for f in arrow_schema if _is_list(f.type) and pa.types.is_timestamp(f.type.value_type)
    }
    explicit_timestamps = {c.timestamps for c in config.features.values() if c.timestamps}
    reserved = {label_name, timestamp} | timestamp_lists | explicit_timestamps

    kinds: dict[str, Kind] = {}
    skipped: list[tuple[str, str]] = []
    for arrow_field in arrow_schema:
        name = arrow_field.name
        override = config.features.get(name)
        if name in reserved or (override and override.role == "ignore"):
            continue
        inferred, reason = infer_kind(arrow_field.type)
        kind = Kind(override.kind) if override and override.kind else inferred
        if kind is None:
            skipped.append((name, reason))
            continue
        if kind == Kind.SEQUENCE and not _is_list(arrow_field.type):
            raise InputError(f"features.{name}: declared sequence, but column '{name}' has type {arrow_field.type}, not a list")
        if kind != Kind.SEQUENCE and _is_list(arrow_field.type):
            raise InputError(f"features.{name}: declared {kind.value}, but column '{name}' is a list ({arrow_field.type})")
        if kind == Kind.NUMERIC and not (inferred == Kind.NUMERIC or pa.types.is_integer(arrow_field.type)):
            raise InputError(f"features.{name}: declared numeric, but column '{name}' has type {arrow_field.type}")
        kinds[name] = kind

    categorical = {name for name, kind in kinds.items() if kind == Kind.CATEGORICAL}
    specs = []
    for name, kind in kinds.items():
        override = config.features.get(name)
        shares_with = timestamps = None
        if kind == Kind.SEQUENCE:
            shares_with = (override and override.shares_with) or _guess_shared(name, categorical)
            timestamps = (override and override.timestamps) or _guess_timestamps(name, timestamp_lists)
            if shares_with is not None and shares_with not in categorical:
                raise InputError(f"features.{name}.shares_with: '{shares_with}' is not a categorical feature of the data")
            if timestamps is not None and (timestamps not in present or not _is_list(arrow_schema.field(timestamps).type)):
                raise InputError(f"features.{name}.timestamps: '{timestamps}' is not a list column of the data")
        elif override and (override.shares_with or override.timestamps):
            raise InputError(f"features.{name}: shares_with / timestamps apply to sequence features only")
        specs.append(FeatureSpec(name, kind, str(arrow_schema.field(name).type), shares_with, timestamps))
    return DatasetSchema(label_name, timestamp, tuple(specs), config.user, tuple(skipped))


def check_label_values(dataset: ParquetDataset, label: str) -> tuple[int, int]:
    """Scan the label column: every value must be 0 or 1 (nulls counted). Returns (rows, positives)."""
    rows = positives = 0
    for batch in iter_record_batches(dataset, columns=[label]):
        column = batch.column(0)
        if column.null_count:
            raise InputError(f"label '{label}': {column.null_count} null values in a batch; expected 0/1 on every row")
        values = pc.cast(column, pa.float64())
        bad = pc.invert(pc.is_in(values, value_set=pa.array([0.0, 1.0])))
        if pc.any(bad).as_py():
            example = pc.filter(values, bad)[0].as_py()
            raise InputError(f"label '{label}': expected 0/1 values, found {example}")
        rows += len(values)
        positives += int(pc.sum(values).as_py() or 0)
    if rows == 0:
        raise InputError(f"label '{label}': the dataset has no rows")
    return rows, positives
