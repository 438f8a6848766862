"""The rank stage: two passes over the data in one Beam pipeline, scored once from full-data counts
(DESIGN.md section 3).

Pass 1 (`CountFeatureLabel`) counts, per feature and key, rows and positives (and, with `rank.chance:
shuffles`, positives of R shuffled labels; features.counting.contingency), plus the time range. Between
the passes, on a worker (`plan_second_pass`), every feature is scored (features.scoring.ranking, the
chance MI in closed form: features.scoring.chance_mi), leakage flagged, and the interaction pool
picked (features.scoring.interactions). Pass 2 (`CountTopPairs`) counts the pool's joint cells, and
each feature's cells in the first and last time windows when there is a timestamp
(features.scoring.anomalies). The driver then derives interactions, redundancy, the greedy selection,
the recommended features and the anomalies: the rank artifact (pipelines.artifacts.rank). Every number
comes from integer counts merged in any order and sorted by key, so results are byte-identical
whatever the runner and workers.

Stage contract: `run(inputs, params, out) -> RankArtifact`. Python API::

    ranking = rank("data/clicks", config=load_config("config.yaml"), out="artifacts/rank")
    ranking.head()        # polars DataFrame, best feature first (columns: features.scoring.ranking.RANKING_SCHEMA)
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import polars as pl

from featureplex.features.counting.contingency import CountPlan, FeatureCountsAccumulator, KeyRule
from featureplex.features.counting.key_rules import key_rules, skipped_columns
from featureplex.features.data.artifact_dir import Manifest, Stopwatch
from featureplex.features.data.config import FeatureplexConfig, RankParams
from featureplex.features.data.dataset import ParquetDataset, text_columns
from featureplex.features.data.schema import DatasetSchema
from featureplex.features.errors import InputError
from featureplex.features.scoring.anomalies import (
    AnomalyThresholds,
    DriftCountsAccumulator,
    DriftPlan,
    drift_codebook,
    drift_windows,
    feature_anomalies,
    leakage_features,
)
from featureplex.features.scoring.information import label_entropy
from featureplex.features.scoring.interactions import (
    PairCountsAccumulator,
    PairPlan,
    all_pairs,
    interaction_pool,
    pair_frames,
)
from featureplex.features.scoring.ranking import ScoredFeature, heuristic_scores, ranking_frame, score_features
from featureplex.features.scoring.selection import recommended_features, select_features
from featureplex.pipelines.artifacts.rank import STAGE, RankArtifact
from featureplex.pipelines.beam.pass_spec import PassResults, PassSpec, Planned
from featureplex.pipelines.inputs import StageInputs, resolve_inputs

FEATURE_COUNTS, PAIR_COUNTS, DRIFT_COUNTS = "feature_counts", "pair_counts", "drift_counts"


class ColumnWarning(UserWarning):
    """A column not ranked (unsupported type, sequence, null type) or null on every row: see anomalies.json."""


def check_label(inputs: StageInputs) -> tuple[int, int]:
    """0/1 values on every row, and both classes present."""
    rows, positives = inputs.label_counts
    if positives in (0, rows):
        raise InputError(f"label '{inputs.schema.label}': every one of the {rows} rows is {int(positives > 0)}; "
                         "ranking needs both 0 and 1")
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
    from featureplex.features.scoring.outrank_compat import outrank_compat_scores

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
    first_results: PassResults, rules: tuple[KeyRule, ...], schema: DatasetSchema, params: RankParams, label_h: float,
    text: tuple[str, ...],
) -> Planned:
    """Score the features, flag leakage, and plan pass 2: the interaction pool's pairs, and the time
    windows when a timestamp and a time range exist (then every feature is read, for drift)."""
    counts = first_results[FEATURE_COUNTS]
    scored = score_features(counts, rules, params.numeric_bins, params.id_like_ratio)
    leakage = leakage_features(scored, label_h, params.leakage_threshold)
    pool = interaction_pool(scored, params.top_k_interactions, params.pair_cardinality_cap, params.significance_z, leakage)
    pair_plan = PairPlan({name: scored[name].codebook for name in pool}, all_pairs(pool), schema.label, params.shuffles, params.seed)
    windows = drift_windows(counts.time_range, params.drift_window) if schema.timestamp and counts.time_range else None
    factories = ((PAIR_COUNTS, functools.partial(PairCountsAccumulator, pair_plan)),)
    columns = (schema.label, *pool)
    drift_plan = None
    if windows is not None:
        drift_plan = DriftPlan(
            {name: drift_codebook(feature, params.drift_cells) for name, feature in scored.items()},
            schema.timestamp, *windows,
        )
        factories += ((DRIFT_COUNTS, functools.partial(DriftCountsAccumulator, drift_plan)),)
        columns = (schema.label, schema.timestamp, *(rule.name for rule in rules))
    spec = PassSpec(second_label(schema), columns, factories, tuple(name for name in text if name in columns))
    return Planned(SecondPassPlan(scored, leakage, pool, pair_plan, drift_plan), spec)


def second_label(schema: DatasetSchema) -> str:
    """The second pass's step: the top pairs, and the time windows when there is a timestamp."""
    return "CountTopPairsAndTimeWindows" if schema.timestamp else "CountTopPairs"


def run(inputs: StageInputs, params: RankParams, out: str | os.PathLike | None) -> RankArtifact:
    """Both passes and the driver-side scoring (module docstring); the artifact is written to `out` when given."""
    dataset, schema = inputs.dataset, inputs.schema
    rows, positives = check_label(inputs)
    # Beam is imported only once the input is known to be good: importing it logs warnings to stderr,
    # and a bad input must give exactly one line there
    from featureplex.pipelines.beam.passes import run_passes

    skipped = skipped_columns(dataset, schema)
    for entry in skipped:
        warnings.warn(f"column '{entry['column']}' not ranked: {entry['reason']}", ColumnWarning, stacklevel=2)
    rules = key_rules(dataset, schema, params)
    external = external_scores(dataset, schema, params)

    text = tuple(text_columns(dataset, [rule.name for rule in rules]))
    plan = CountPlan(rules, schema.label, params.shuffles, params.seed, schema.timestamp)
    first = PassSpec("CountFeatureLabel", tuple(plan.columns()),
                     ((FEATURE_COUNTS, functools.partial(FeatureCountsAccumulator, plan)),), text)
    label_h = label_entropy(rows, positives)
    then = functools.partial(plan_second_pass, rules=rules, schema=schema, params=params, label_h=label_h, text=text)
    stopwatch = Stopwatch()
    inputs.on_progress(
        f"counting {len(rules)} features against the label, then the pairs of the top "
        f"{params.top_k_interactions}" + (" and time windows" if schema.timestamp else "")
    )
    with stopwatch.time("passes"):
        passes = run_passes(dataset, params.batch_rows, first, then, second_label(schema), inputs.beam_args, "Rank")
    counts, kept = passes.first[FEATURE_COUNTS], passes.kept
    scored, leakage, drift_plan = kept.scored, kept.leakage, kept.drift_plan
    for name, feature in scored.items():
        if feature.missing_rate == 1.0:
            warnings.warn(f"column '{name}' is null on every row: scored 0 and flagged constant", ColumnWarning, stacklevel=2)
    pair_tables, drift_counts = passes.second[PAIR_COUNTS], passes.second.get(DRIFT_COUNTS, {})

    inputs.on_progress("scoring interactions, redundancy, selection and anomalies")
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
    manifest = Manifest(
        STAGE, inputs={"dataset": inputs.data_path, "fingerprint": dataset.fingerprint(), "rows": rows},
        parameters={"label": schema.label, **params.model_dump()}, timings=stopwatch.timings, key=inputs.key,
    )
    recommended = recommended_features([choice.feature for choice in selection if choice.selected], interactions,
                                       anomalies["features"], params.interaction_gain)
    artifact = RankArtifact(ranking, interactions, redundancy, anomalies, selection, recommended, kept.pool, rows,
                            positives, params.heuristic, manifest)
    if out is not None:
        inputs.on_progress("writing the artifact and report")
        artifact.write(out)
    return artifact


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
    inputs = resolve_inputs(data_path, config or FeatureplexConfig(), label, beam_args, on_stage)
    return run(inputs, params or inputs.config.rank, out).ranking
