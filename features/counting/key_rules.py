"""Which columns the count passes key, and how: one KeyRule per categorical and numeric feature.

Sequences are not counted against the label (their elements are not the row's value); the columns
left out are listed with the reason, for the artifacts and a one-line warning.
"""

from __future__ import annotations

import pyarrow as pa

from featureplex.features.counting.contingency import KeyRule
from featureplex.features.data.config import RankParams
from featureplex.features.data.dataset import ParquetDataset
from featureplex.features.data.schema import DatasetSchema, Kind


def key_rules(dataset: ParquetDataset, schema: DatasetSchema, params: RankParams) -> tuple[KeyRule, ...]:
    """A key rule per categorical and numeric feature (sequences are not ranked)."""
    rules = []
    for spec in schema.features:
        if spec.kind == Kind.SEQUENCE:
            continue
        arrow_type = dataset.schema.field(spec.name).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        integer = pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type)
        rules.append(KeyRule(spec.name, spec.kind.value, integer, params.cardinality_cap, params.hash_buckets))
    return tuple(rules)


def skipped_columns(dataset: ParquetDataset, schema: DatasetSchema) -> list[dict]:
    """Columns not ranked, with the reason: the schema's skips (null-typed ones said plainly) and sequences."""
    skipped = []
    for name, reason in schema.skipped:
        if pa.types.is_null(dataset.schema.field(name).type):
            reason = "every value is null (column type null)"
        skipped.append({"column": name, "reason": reason})
    for spec in schema.features:
        if spec.kind == Kind.SEQUENCE:
            skipped.append({"column": spec.name, "reason": "sequence feature: not ranked"})
    return sorted(skipped, key=lambda entry: entry["column"])
