"""Greedy relevance-minus-redundancy selection (mRMR, Peng et al. 2005) over the ranked features.

Relevance is the corrected MI s(f) = MI(f; Y) - chance_mi(f) (nats), whatever heuristic
ordered the ranking: plain MI would let an ID column in. Redundancy rho(f, g) = MI(f; g) /
min(H(f), H(g)) in [0, 1] comes from the pass-2 joint tables (0 for pairs outside the pool). Starting
from S = {}, repeatedly add the candidate with the largest

    marginal(f) = s(f) * (1 - mean_{g in S} rho(f, g))

(the multiplicative form keeps nats and a unitless redundancy in one scale), except that a candidate
with rho(f, g) >= redundancy_threshold for some selected g is dropped as redundant with g. Candidates
are the features informative alone (s > significance_z * chance_mi_std) that are not excluded (label
leakage). Stops when no candidate is left, the best marginal is <= 0, or `max_selected` are chosen.

Example::

    chosen = select_features(scored, redundancy, redundancy_threshold=0.5, significance_z=3.0,
                             excluded={"leak_label"}, max_selected=50)
    [c.feature for c in chosen if c.selected]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import polars as pl

from featureplex.features.scoring.interactions import is_significant
from featureplex.features.scoring.ranking import ScoredFeature


@dataclass(frozen=True)
class Choice:
    """One candidate's outcome: selected in `order` with its marginal, or dropped as redundant with a feature."""

    feature: str
    selected: bool
    order: int | None
    marginal: float | None
    redundant_with: str | None


def redundancy_lookup(redundancy: pl.DataFrame) -> dict[tuple[str, str], float]:
    """rho for both orders of every scored pair."""
    pairs = {}
    for first, second, value in redundancy.select("feature_a", "feature_b", "redundancy").iter_rows():
        pairs[(first, second)] = pairs[(second, first)] = value
    return pairs


def select_features(
    scored: dict[str, ScoredFeature],
    redundancy: pl.DataFrame,
    redundancy_threshold: float,
    significance_z: float,
    excluded: set[str],
    max_selected: int,
) -> list[Choice]:
    """The greedy selection (module docstring); choices in the order they were decided."""
    rho = redundancy_lookup(redundancy)
    candidates = sorted(
        name for name, feature in scored.items() if name not in excluded and is_significant(feature, significance_z)
    )
    chosen: list[str] = []
    choices: list[Choice] = []
    while candidates and len(chosen) < max_selected:
        best, best_marginal = None, 0.0
        for name in list(candidates):
            overlaps = [rho.get((name, other), 0.0) for other in chosen]
            if overlaps and max(overlaps) >= redundancy_threshold:
                candidates.remove(name)
                worst = chosen[max(range(len(chosen)), key=lambda i: (overlaps[i], -i))]
                choices.append(Choice(name, False, None, None, worst))
                continue
            penalty = sum(overlaps) / len(overlaps) if overlaps else 0.0
            marginal = scored[name].corrected_mi * (1.0 - penalty)
            if best is None or marginal > best_marginal:
                best, best_marginal = name, marginal
        if best is None or best_marginal <= 0:
            break
        candidates.remove(best)
        chosen.append(best)
        choices.append(Choice(best, True, len(chosen), best_marginal, None))
    return choices


EXCLUDING_ANOMALIES = ("label_leakage", "constant", "id_like")


def recommended_features(selected: Sequence[str], interactions: pl.DataFrame, anomalies: Mapping[str, Mapping],
                         interaction_gain: float) -> list[str]:
    """The features the rank stage recommends (and `featureplex run` trains on): the greedy selection,
    plus both features of every pair whose interaction gain reaches `interaction_gain` (an XOR pair
    means nothing alone), minus features flagged as leakage, constant or ID-like (`anomalies`: feature ->
    {"anomalies": [...]})."""
    pairs = interactions.filter(pl.col("interaction_gain") >= interaction_gain).select("feature_a", "feature_b")
    chosen = dict.fromkeys([*selected, *(name for pair in pairs.iter_rows() for name in pair)])
    excluded = {name for name, entry in anomalies.items() if set(entry["anomalies"]) & set(EXCLUDING_ANOMALIES)}
    return [name for name in chosen if name not in excluded]
