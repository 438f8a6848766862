"""The rank stage: two passes over the data in one Beam pipeline, scored once from full-data counts (DESIGN.md section 3).

Pass 1 counts, per feature and key, rows, positives and positives of R shuffled labels
(features.contingency), plus the time range. Between the passes (on a worker: `plan_second_pass`)
every feature is scored (features.ranking), leakage flagged, and the interaction pool picked
(features.interactions). Pass 2 counts the pool's joint cells with the same label shuffles and each
feature's cells in the first and last time windows (features.anomalies). The driver then derives interactions, redundancy, the greedy selection and the
anomalies, and writes the artifact (pipelines.rank_artifact). Every number comes from integer counts
merged in any order and sorted by key, so results are byte-identical whatever the runner and workers.

Python API::

    ranking = rank("data/clicks", config=load_config("config.yaml"), out="artifacts/rank")
    ranking.head()        # polars DataFrame, best feature first (columns: features.ranking.RANKING_SCHEMA)
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import polars as pl
import pyarrow as pa

from features.anomalies import (
    AnomalyThresholds,
    DriftCountsAccumulator,
    DriftPlan,
    drift_codebook,
    drift_windows,
    feature_anomalies,
    leakage_features,
)
from features.artifacts import Stopwatch
from features.config import FeatureplexConfig, RankParams
from features.contingency import CountPlan, FeatureCountsAccumulator, KeyRule
from features.dataset import ParquetDataset, open_dataset, text_columns
from features.errors import InputError
from features.information import label_entropy
from features.interactions import PairCountsAccumulator, PairPlan, all_pairs, interaction_pool, pair_frames
from features.ranking import ScoredFeature, heuristic_scores, ranking_frame, score_features
from features.schema import DatasetSchema, Kind, check_label_values, resolve_schema
from features.selection import Choice, select_features
from pipelines.pass_spec import PassSpec, Planned


class ColumnWarning(UserWarning):
    """A column not ranked (unsupported type, sequence, null type) or null on every row: see anomalies.json."""


@dataclass(frozen=True)
class RankResult:
    """Everything the rank stage found; `ranking` is what the Python API returns."""

    ranking: pl.DataFrame
    interactions: pl.DataFrame
    redundancy: pl.DataFrame
    anomalies: dict
    selection: list[Choice]
    pool: list[str]
    rows: int
    positives: int
    heuristic: str
    timings: dict[str, float]


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


def check_label(dataset: ParquetDataset, label: str) -> tuple[int, int]:
    """0/1 values on every row, and both classes present."""
    rows, positives = check_label_values(dataset, label)
    if positives in (0, rows):
        raise InputError(f"label '{label}': every one of the {rows} rows is {int(positives > 0)}; ranking needs both 0 and 1")
    return rows, positives


def thresholds(params: RankParams) -> AnomalyThresholds:
    return AnomalyThresholds(
        params.near_constant_share, params.missing_rate_threshold, params.leakage_threshold,
        params.rare_count, params.rare_share_threshold, params.drift_threshold,
    )


def external_scores(dataset: ParquetDataset, schema: DatasetSchema, params: RankParams) -> dict[str, float] | None:
    """Scores computed outside the count machinery: the reference-compatible estimator."""
    if params.heuristic != "outrank-compat":
        return None
    from features.outrank_compat import outrank_compat_scores

    return outrank_compat_scores(dataset, schema, params)


@dataclass(frozen=True)
class SecondPassPlan:
    """What pass 1's counts decide: made on a worker between the passes, kept by the driver."""

    scored: dict[str, ScoredFeature]
    leakage: set[str]
    pool: list[str]
    pair_plan: PairPlan
    drift_plan: DriftPlan | None


def plan_second_pass(
    first_results: tuple, rules: tuple[KeyRule, ...], schema: DatasetSchema, params: RankParams, label_h: float,
    text: tuple[str, ...],
) -> Planned:
    """Score the features, flag leakage, and plan pass 2: the interaction pool's pairs, and the time
    windows when a timestamp and a time range exist (then every feature is read, for drift)."""
    (counts,) = first_results
    scored = score_features(counts, rules, params.numeric_bins, params.id_like_ratio)
    leakage = leakage_features(scored, label_h, params.leakage_threshold)
    pool = interaction_pool(scored, params.top_k_interactions, params.pair_cardinality_cap, params.significance_z, leakage)
    pair_plan = PairPlan({name: scored[name].codebook for name in pool}, all_pairs(pool), schema.label, params.shuffles, params.seed)
    windows = drift_windows(counts.time_range, params.drift_window) if schema.timestamp and counts.time_range else None
    factories = (functools.partial(PairCountsAccumulator, pair_plan),)
    columns = (schema.label, *pool)
    drift_plan = None
    if windows is not None:
        drift_plan = DriftPlan(
            {name: drift_codebook(feature, params.drift_cells) for name, feature in scored.items()},
            schema.timestamp, *windows,
        )
        factories += (functools.partial(DriftCountsAccumulator, drift_plan),)
        columns = (schema.label, schema.timestamp, *(rule.name for rule in rules))
    spec = PassSpec(columns, factories, tuple(name for name in text if name in columns))
    return Planned(SecondPassPlan(scored, leakage, pool, pair_plan, drift_plan), spec)


def rank_dataset(
    dataset: ParquetDataset,
    schema: DatasetSchema,
    params: RankParams,
    beam_args: Sequence[str] = (),
    on_stage: Callable[[str], None] = lambda stage: None,
) -> RankResult:
    """Both passes and the driver-side scoring (module docstring)."""
    rows, positives = check_label(dataset, schema.label)
    # Beam is imported only once the input is known to be good: importing it logs warnings to stderr,
    # and a bad input must give exactly one line there
    from pipelines.beam_combine import combine_passes

    skipped = skipped_columns(dataset, schema)
    for entry in skipped:
        warnings.warn(f"column '{entry['column']}' not ranked: {entry['reason']}", ColumnWarning, stacklevel=2)
    rules = key_rules(dataset, schema, params)
    external = external_scores(dataset, schema, params)

    text = tuple(text_columns(dataset, [rule.name for rule in rules]))
    plan = CountPlan(rules, schema.label, params.shuffles, params.seed, schema.timestamp)
    first = PassSpec(tuple(plan.columns()), (functools.partial(FeatureCountsAccumulator, plan),), text)
    label_h = label_entropy(rows, positives)
    then = functools.partial(plan_second_pass, rules=rules, schema=schema, params=params, label_h=label_h, text=text)
    stopwatch = Stopwatch()
    on_stage(
        f"counting {len(rules)} features against the label and its shuffles, then the pairs of the top "
        f"{params.top_k_interactions}" + (" and time windows" if schema.timestamp else "")
    )
    with stopwatch.time("passes"):
        (counts,), kept, second = combine_passes(dataset, params.batch_rows, first, then, beam_args, "RankPasses")
    scored, leakage, drift_plan = kept.scored, kept.leakage, kept.drift_plan
    for name, feature in scored.items():
        if feature.missing_rate == 1.0:
            warnings.warn(f"column '{name}' is null on every row: scored 0 and flagged constant", ColumnWarning, stacklevel=2)
    pair_tables, drift_counts = second[0], (second[1] if drift_plan is not None else {})

    on_stage("scoring interactions, redundancy, selection and anomalies")
    interactions, redundancy = pair_frames(pair_tables, scored, params.redundancy_threshold)
    selection = select_features(
        scored, redundancy, params.redundancy_threshold, params.significance_z, leakage, params.max_selected
    )
    chosen = {choice.feature for choice in selection if choice.selected}
    scores = heuristic_scores(scored, params.heuristic, params.significance_z, external)
    ranking = ranking_frame(scored, scores, rows, positives, chosen)
    checks = thresholds(params)
    anomalies = {
        "label": {"column": schema.label, "rows": rows, "positives": positives, "entropy": label_h},
        "thresholds": {**checks.__dict__, "id_like_ratio": params.id_like_ratio},
        "drift_windows": None if drift_plan is None else {
            "timestamp": schema.timestamp, "first": list(drift_plan.first_window), "last": list(drift_plan.last_window)
        },
        "features": {
            name: feature_anomalies(
                scored[name], counts.tables[name], rows, label_h, checks, drift_counts.get(name), params.drift_min_rows
            )
            for name in sorted(scored)
        },
        "skipped": skipped,
    }
    return RankResult(
        ranking, interactions, redundancy, anomalies, selection, kept.pool, rows, positives, params.heuristic, stopwatch.timings
    )


def rank_params(config: FeatureplexConfig, **overrides) -> RankParams:
    """The config's rank parameters with command-line overrides (None: keep), validated again."""
    updates = {key: value for key, value in overrides.items() if value is not None}
    return RankParams.model_validate({**config.rank.model_dump(), **updates})


def rank(
    data_path: str | os.PathLike,
    config: FeatureplexConfig | None = None,
    out: str | os.PathLike | None = None,
    label: str | None = None,
    beam_args: Sequence[str] = (),
    on_stage: Callable[[str], None] = lambda stage: None,
    params: RankParams | None = None,
) -> pl.DataFrame:
    """Rank the features of a Parquet dataset; write the rank artifact to `out` when given.

    `params` (default: the config's `rank` section) lets a caller override parameters. Returns the
    ranking, best first. Bad input raises InputError, before any artifact directory is created.
    """
    from pipelines.rank_artifact import write_rank_artifact

    config = config or FeatureplexConfig()
    params = params or config.rank
    dataset = open_dataset(data_path)
    schema = resolve_schema(dataset, config, label)
    result = rank_dataset(dataset, schema, params, beam_args, on_stage)
    if out is not None:
        on_stage("writing the artifact and report")
        write_rank_artifact(out, result, dataset, os.fspath(data_path), params, result.timings)
    return result.ranking
