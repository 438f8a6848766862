"""The profile stage: one Beam pass of label-free count tables -> per-column profile artifact.

The same count machinery as ranking (features.counting.contingency, no label weights), so profiles merge
exactly and are byte-identical whatever the runner; the per-column figures are features.scoring.column_profile.
Stage contract: `run(inputs, params, out) -> ProfileArtifact` (pipelines.artifacts.profile)::

    inputs = resolve_inputs("data/clicks", "config.yaml")
    profile.run(inputs, inputs.config.rank, "artifacts/profile").frame   # polars DataFrame, a row per column
"""

from __future__ import annotations

import functools
import os

import polars as pl

from featureplex.features.counting.contingency import CountPlan, FeatureCountsAccumulator, KeyRule
from featureplex.features.counting.key_rules import key_rules, skipped_columns
from featureplex.features.data.artifact_dir import Manifest, Stopwatch
from featureplex.features.data.config import RankParams
from featureplex.features.data.dataset import text_columns
from featureplex.features.errors import InputError
from featureplex.features.scoring.column_profile import QUANTILES, column_profile
from featureplex.pipelines.artifacts.profile import STAGE, ProfileArtifact
from featureplex.pipelines.beam.pass_spec import PassSpec
from featureplex.pipelines.inputs import StageInputs


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


def run(inputs: StageInputs, params: RankParams, out: str | os.PathLike | None) -> ProfileArtifact:
    """Profile every categorical and numeric column and the label; write the artifact to `out` when given."""
    dataset, schema = inputs.dataset, inputs.schema
    if dataset.num_rows == 0:
        raise InputError(f"{inputs.data_path}: the dataset has no rows")
    from featureplex.pipelines.beam.passes import run_passes  # Beam logs to stderr on import: only for good input

    label_rule = KeyRule(schema.label, "categorical", True, params.cardinality_cap, params.hash_buckets)
    rules = (label_rule, *key_rules(dataset, schema, params))
    plan = CountPlan(rules, label=None, timestamp=schema.timestamp)
    stopwatch = Stopwatch()
    inputs.on_progress("counting values")
    with stopwatch.time("count"):
        text = tuple(text_columns(dataset, [rule.name for rule in rules]))
        count = PassSpec("CountValues", tuple(plan.columns()), (("value_counts", functools.partial(FeatureCountsAccumulator, plan)),), text)
        counts = run_passes(dataset, params.batch_rows, count, beam_args=inputs.beam_args, step="Profile").first["value_counts"]
    entries = [column_profile(rule, counts.tables[rule.name], counts.rows) for rule in rules]
    details = {
        "rows": counts.rows,
        "timestamp": None if counts.time_range is None else {"column": schema.timestamp, "min": counts.time_range[0], "max": counts.time_range[1]},
        "columns": entries,
        "skipped": skipped_columns(dataset, schema),
    }
    manifest = Manifest(
        STAGE, inputs={"dataset": inputs.data_path, "fingerprint": dataset.fingerprint(), "rows": counts.rows},
        parameters={"label": schema.label, "cardinality_cap": params.cardinality_cap, "hash_buckets": params.hash_buckets},
        timings=stopwatch.timings, key=inputs.key,
    )
    artifact = ProfileArtifact(pl.DataFrame([flat_row(entry) for entry in entries]), details, manifest)
    if out is not None:
        artifact.write(out)
    return artifact
