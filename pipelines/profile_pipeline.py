"""The profile stage: one Beam pass of label-free count tables -> per-column profile artifact.

The same count machinery as ranking (features.contingency, no label weights), so profiles merge
exactly and are byte-identical whatever the runner; the per-column figures are features.column_profile.
Artifact: profile.parquet (one flat row per column), profile.json (with top values and quantiles),
manifest.json.

Python API::

    profile = profile_columns("data/clicks", out="artifacts/profile")   # polars DataFrame
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Sequence

import polars as pl

from features.artifacts import MANIFEST, Stopwatch, atomic_artifact_dir, write_json, write_manifest
from features.column_profile import QUANTILES, column_profile
from features.config import FeatureplexConfig
from features.contingency import CountPlan, FeatureCountsAccumulator, KeyRule
from features.dataset import open_dataset, text_columns
from features.errors import InputError
from features.schema import resolve_schema
from pipelines.pass_spec import PassSpec
from pipelines.rank_artifact import write_parquet
from pipelines.rank_pipeline import key_rules, skipped_columns

STAGE = "profile"
PROFILE = "profile.parquet"
PROFILE_JSON = "profile.json"


def flat_row(entry: dict) -> dict:
    """The profile.parquet row of one column: the top value and the quantiles as plain columns."""
    top = entry["top_values"][0] if entry["top_values"] else None
    quantiles = entry["quantiles"] or {}
    return {
        **{key: entry[key] for key in ("column", "kind", "rows", "missing", "missing_rate", "cardinality", "cardinality_exact")},
        "top_value": top["value"] if top else None,
        "top_share": top["count"] / entry["rows"] if top and entry["rows"] else None,
        **{name: quantiles.get(name) for name in QUANTILES},
    }


def profile_columns(
    data_path: str | os.PathLike,
    config: FeatureplexConfig | None = None,
    out: str | os.PathLike | None = None,
    label: str | None = None,
    beam_args: Sequence[str] = (),
    on_stage: Callable[[str], None] = lambda stage: None,
) -> pl.DataFrame:
    """Profile every categorical and numeric column and the label; write the artifact to `out` when given."""
    config = config or FeatureplexConfig()
    dataset = open_dataset(data_path)
    schema = resolve_schema(dataset, config, label)
    if dataset.num_rows == 0:
        raise InputError(f"{data_path}: the dataset has no rows")
    from pipelines.beam_combine import combine_passes  # Beam logs to stderr on import: only for good input

    params = config.rank
    label_rule = KeyRule(schema.label, "categorical", True, params.cardinality_cap, params.hash_buckets)
    rules = (label_rule, *key_rules(dataset, schema, params))
    plan = CountPlan(rules, label=None, timestamp=schema.timestamp)
    stopwatch = Stopwatch()
    on_stage("counting values")
    with stopwatch.time("count"):
        text = tuple(text_columns(dataset, [rule.name for rule in rules]))
        count = PassSpec(tuple(plan.columns()), (functools.partial(FeatureCountsAccumulator, plan),), text)
        (counts,), _, _ = combine_passes(dataset, params.batch_rows, count, beam_args=beam_args, step="CountValues")
    entries = [column_profile(rule, counts.tables[rule.name], counts.rows) for rule in rules]
    frame = pl.DataFrame([flat_row(entry) for entry in entries])
    if out is not None:
        with atomic_artifact_dir(out) as staging:
            write_parquet(frame, staging / PROFILE)
            write_json(staging / PROFILE_JSON, {
                "rows": counts.rows,
                "timestamp": None if counts.time_range is None else {"column": schema.timestamp, "min": counts.time_range[0], "max": counts.time_range[1]},
                "columns": entries,
                "skipped": skipped_columns(dataset, schema),
            })
            write_manifest(
                staging, stage=STAGE,
                inputs={"dataset": os.fspath(data_path), "fingerprint": dataset.fingerprint(), "rows": counts.rows},
                parameters={"label": schema.label, "cardinality_cap": params.cardinality_cap, "hash_buckets": params.hash_buckets},
                outputs=[PROFILE, PROFILE_JSON, MANIFEST], timings=stopwatch.timings,
            )
    return frame
