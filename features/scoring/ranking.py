"""The feature ranking: pass-1 count tables -> scored cells per feature -> one row per feature.

Per feature: its codebook (cells: exact values, hash buckets, or equal-frequency numeric bins, with
missing as its own cell), the cell table (n, pos, pos_1..pos_R) and what it says about the label:

    corrected_mi     = MI(X; Y) - chance_mi,   chance_mi = E[MI(X; Y_pi)]   (Y_pi: the label permuted)
    score(mi-chance) = corrected_mi - z * chance_mi_std,   chance_mi_std = sd[MI(X; Y_pi)]   (z = significance_z)
    score(mi)        = MI(X; Y)
    score(outrank-compat) = the reference estimator's value (features.scoring.outrank_compat)

chance_mi and chance_mi_std are exact (features.scoring.chance_mi) unless rank.chance is `shuffles`,
which counts R shuffled labels and takes their MIs' mean and standard deviation instead
(features.scoring.information.label_informations reads which from the tables).

`mi-chance` ranks by a lower confidence bound of the corrected MI rather than the corrected MI
itself: chance MI spreads more the more cells a feature has (sd ~ sqrt(2(k-1)) / 2N for k cells), so
a near-unique ID's corrected MI is a coin flip of size 1e-3 nats at 200k rows, enough to pass weak
but real features by luck. Subtracting z standard deviations sinks noise (score ~ -z sigma) by its
own uncertainty while informative features keep nearly all of theirs; score > 0 is exactly
"informative alone" (features.scoring.interactions.is_significant).

plus MI / H(Y), cardinality (distinct non-missing keys: values, sketch buckets, or occupied hash
buckets once hashed), cardinality_capped (the keys were coarsened past the cardinality cap: hash
buckets, or sketch buckets for integers), distinct_estimate (distinct non-missing values: exact while
counted exactly, the distinct-count sketch's estimate once capped (features.counting.distinct_sketch),
null for floating-point numerics, which are keyed by sketch bucket from the start), bins (non-missing
cells scored), missing rate and the ID-like flag (hashed past the cardinality cap, or distinct values
>= id_like_ratio of the non-missing rows). Rows are ordered by score, descending, ties by name, so
the ranking is a pure function of the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from featureplex.features.counting.contingency import Codebook, FeatureCounts, KeyMode, KeyRule, build_codebook
from featureplex.features.scoring.information import LabelInformation, label_entropy, label_informations

RANKING_SCHEMA = {
    "feature": pl.String,
    "kind": pl.String,
    "rank": pl.Int64,
    "score": pl.Float64,
    "mi": pl.Float64,
    "chance_mi": pl.Float64,
    "chance_mi_std": pl.Float64,
    "corrected_mi": pl.Float64,
    "mi_over_label_entropy": pl.Float64,
    "cardinality": pl.Int64,
    "cardinality_capped": pl.Boolean,
    "distinct_estimate": pl.Int64,
    "bins": pl.Int64,
    "missing_rate": pl.Float64,
    "id_like": pl.Boolean,
    "selected": pl.Boolean,
}


@dataclass(frozen=True)
class ScoredFeature:
    """One feature after pass 1: its cells and what they say about the label."""

    name: str
    kind: str
    codebook: Codebook
    cells: np.ndarray  # (codebook.size, 2 + R): n, pos, pos_1..pos_R per cell
    information: LabelInformation
    cardinality: int
    cardinality_capped: bool
    distinct_estimate: int | None
    missing_rate: float
    id_like: bool

    @property
    def corrected_mi(self) -> float:
        return self.information.corrected_mi


def score_features(
    counts: FeatureCounts, rules: tuple[KeyRule, ...], numeric_bins: int, id_like_ratio: float
) -> dict[str, ScoredFeature]:
    """Codebook, cell table and label information of every feature, from the full-data counts."""
    codebooks = {rule.name: build_codebook(rule, counts.tables[rule.name], numeric_bins) for rule in rules}
    cells = {name: codebook.cell_counts(counts.tables[name]) for name, codebook in codebooks.items()}
    informations = dict(zip(cells, label_informations(list(cells.values()))))
    scored = {}
    for rule in rules:
        table, codebook = counts.tables[rule.name], codebooks[rule.name]
        missing = int(cells[rule.name][codebook.missing_code, 0])
        present = counts.rows - missing
        cardinality = table.distinct
        id_like = table.mode == KeyMode.HASHED or (
            rule.kind == "categorical" and present > 0 and cardinality >= id_like_ratio * present and cardinality > 1
        )
        capped = table.mode != rule.initial_mode
        distinct = None if rule.initial_mode == KeyMode.LOG_BUCKET else table.distinct_estimate if capped else cardinality
        scored[rule.name] = ScoredFeature(
            rule.name, rule.kind, codebook, cells[rule.name], informations[rule.name], cardinality, capped, distinct,
            missing / max(counts.rows, 1), id_like,
        )
    return scored


def heuristic_scores(
    scored: dict[str, ScoredFeature], heuristic: str, significance_z: float, external: dict[str, float] | None = None
) -> dict[str, float]:
    """The score each feature is ranked by under `heuristic` (module docstring)."""
    if heuristic == "mi":
        return {name: feature.information.mi for name, feature in scored.items()}
    if heuristic == "mi-chance":
        return {
            name: feature.corrected_mi - significance_z * feature.information.chance_mi_std
            for name, feature in scored.items()
        }
    if external is None:
        raise ValueError(f"heuristic {heuristic} needs externally computed scores")
    return {name: float(external[name]) for name in scored}


def ranking_frame(
    scored: dict[str, ScoredFeature],
    scores: dict[str, float],
    rows: int,
    positives: int,
    selected: set[str] = frozenset(),
) -> pl.DataFrame:
    """One row per feature, best first: the columns of RANKING_SCHEMA."""
    label_h = label_entropy(rows, positives)
    order = sorted(scored, key=lambda name: (-scores[name], name))
    records = {column: [] for column in RANKING_SCHEMA}
    for position, name in enumerate(order, start=1):
        feature = scored[name]
        info = feature.information
        values = (
            name, feature.kind, position, scores[name], info.mi, info.chance_mi, info.chance_mi_std, info.corrected_mi,
            info.mi / label_h if label_h > 0 else 0.0, feature.cardinality, feature.cardinality_capped,
            feature.distinct_estimate, feature.codebook.size - 1, feature.missing_rate, feature.id_like, name in selected,
        )
        for column, value in zip(RANKING_SCHEMA, values):
            records[column].append(value)
    return pl.DataFrame(records, schema=RANKING_SCHEMA)
