"""Feature pairs: joint cell tables (pass 2), interaction gain and redundancy.

For a pair (a, b) of pool features with codebooks of sizes s_a, s_b, each row's joint cell is

    joint = code_a * s_b + code_b          (exact: no string concatenation, no collisions)

counted into the same (n, pos, pos_1..pos_R) columns as single features (pos_r only with
rank.chance: shuffles), with bincounts over the joint code (features.counting.cell_counts). From one
joint table:

    pair_score       = MI(a,b; Y) - chance_mi(a,b)     (the pair's corrected MI; chance as for features,
                                                        features.scoring.ranking)
    interaction_gain = pair_score - corrected_mi(a) - corrected_mi(b)
                       (chance-corrected throughout, so large joint tables do not look informative)
    MI(a; b)         = from the joint n and its marginals;  redundancy = MI(a; b) / min(H(a), H(b))

A pair such as XOR has scores ~0 alone and a large gain; a near-copy has redundancy ~1.

The pool: features informative alone (corrected_mi > significance_z * chance_mi_std) come first, best
corrected MI first; the remaining of the K slots go to the other pairable features with the fewest cells. A feature
useless alone can only matter through an interaction, and among those the low-cardinality ones are both
the classic case (XOR-like crosses) and the ones whose pair tables are estimable, so they are screened
instead of whichever noise feature happened to score highest by chance. Not pairable: ID-like, constant,
leakage, and features with more than `pair_cardinality_cap` cells.

Example::

    pool = interaction_pool(scored, k=20, pair_cardinality_cap=1024, significance_z=3.0, excluded={"leak"})
    plan = PairPlan({f: scored[f].codebook for f in pool}, all_pairs(pool), "label", 0, 0)
    acc = PairCountsAccumulator(plan); acc.add_batch(origin, batch); tables = acc.result()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import polars as pl
import pyarrow as pa

from featureplex.features.counting.cell_counts import (
    PackedWeights,
    coded_table,
    count_cells,
    count_coded_cells,
    merge_tables,
    narrowed,
    widened,
)
from featureplex.features.counting.contingency import COMPACT_ROWS, Codebook, label_array, label_weights
from featureplex.features.data.dataset import BatchOrigin
from featureplex.features.scoring.information import (
    LabelInformation,
    entropy,
    label_informations,
    pair_mutual_information,
)
from featureplex.features.scoring.ranking import ScoredFeature

# a label-only joint table of at most this many cells is counted per batch into a dense array of its
# codes 2 * cell + y and added up as it is: no sparse table per batch, no merges (1 MB a pair at most)
DENSE_PAIR_CELLS = 1 << 16

INTERACTION_SCHEMA = {
    "feature_a": pl.String,
    "feature_b": pl.String,
    "rank": pl.Int64,
    "interaction_gain": pl.Float64,
    "pair_score": pl.Float64,
    "pair_mi": pl.Float64,
    "pair_chance_mi": pl.Float64,
    "corrected_mi_a": pl.Float64,
    "corrected_mi_b": pl.Float64,
    "cells": pl.Int64,
}
REDUNDANCY_SCHEMA = {
    "feature_a": pl.String,
    "feature_b": pl.String,
    "mutual_information": pl.Float64,
    "redundancy": pl.Float64,
    "redundant": pl.Boolean,
}


def is_significant(feature: ScoredFeature, significance_z: float) -> bool:
    """Informative alone: the corrected MI clears the spread of chance MI by z standard deviations."""
    return feature.corrected_mi > significance_z * feature.information.chance_mi_std


def interaction_pool(
    scored: dict[str, ScoredFeature], k: int, pair_cardinality_cap: int, significance_z: float, excluded: set[str]
) -> list[str]:
    """Up to k pairable features: informative ones by score, then the rest by fewest cells (module docstring)."""
    pairable = [
        feature for feature in scored.values()
        if feature.name not in excluded and not feature.id_like and feature.cardinality > 1
        and feature.codebook.size - 1 <= pair_cardinality_cap
    ]
    informative = sorted((f for f in pairable if is_significant(f, significance_z)), key=lambda f: (-f.corrected_mi, f.name))
    others = sorted((f for f in pairable if not is_significant(f, significance_z)), key=lambda f: (f.codebook.size, f.name))
    return [feature.name for feature in (informative + others)[:k]]


def all_pairs(pool: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple(combinations(pool, 2))


# what prepare gives per pair: a sparse table, or the dense counts of the codes 2 * cell + y
PairPart = tuple[np.ndarray, np.ndarray] | np.ndarray


@dataclass(frozen=True)
class PairPlan:
    """What pass 2 counts for interactions: the pool's codebooks, the pairs, the label and its shuffles (if any)."""

    codebooks: dict[str, Codebook]
    pairs: tuple[tuple[str, str], ...]
    label: str
    shuffles: int
    seed: int


@dataclass
class PairCountsAccumulator:
    """add_batch / merge / result of joint cell tables; the shuffles are those of pass 1 (same seeds).

    Pool features have small codebooks (at most `pair_cardinality_cap` cells), so a pair's joint code
    is a small integer and is counted with bincounts (features.counting.cell_counts), not a group_by per pair:
    rows are encoded once per feature per batch, the label copies packed once per batch (the label
    alone: one plain bincount per pair, the label inside the joint code, added up densely for pairs
    of at most DENSE_PAIR_CELLS cells). Partial tables are numpy (keys, counts) pairs: cheap to pickle
    between Beam stages, merged by addition.
    """

    plan: PairPlan
    pending: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    pending_rows: int = 0
    dense: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # counts of the codes 2 * cell + y

    def add_batch(self, origin: BatchOrigin, batch: pa.RecordBatch) -> PairCountsAccumulator:
        return self.add_prepared(origin, self.prepare(origin, batch))

    def prepare(self, origin: BatchOrigin, batch: pa.RecordBatch) -> list[tuple[tuple[str, str], PairPart]]:
        """The batch's joint table per pair (or its dense code counts), not yet added: no state read or
        written, so reading threads run it."""
        plan = self.plan
        if not plan.pairs:
            return []
        weights = label_weights(label_array(batch.column(plan.label)), origin, plan.shuffles, plan.seed)
        packed = PackedWeights.of(weights, batch.num_rows)
        codes = {name: book.encode(batch.column(name)) for name, book in plan.codebooks.items()}
        if packed.single is not None:
            # the label alone rides in the joint code (features.counting.cell_counts):
            # 2 (a s_b + b) + y = a (2 s_b) + (2 b + y), whose second term is made once per feature
            seconds = {name: code * 2 + packed.single for name, code in codes.items()}
        tables = []
        for first, second in plan.pairs:
            size_b = plan.codebooks[second].size
            size = plan.codebooks[first].size * size_b
            if packed.single is None:
                table = count_cells(codes[first] * size_b + codes[second], size, packed)
            elif size <= DENSE_PAIR_CELLS:
                table = np.bincount(codes[first] * (2 * size_b) + seconds[second], minlength=2 * size)
            else:
                table = count_coded_cells(codes[first] * (2 * size_b) + seconds[second], size)
            tables.append(((first, second), table))
        return tables

    def add_prepared(self, origin: BatchOrigin, tables: list[tuple[tuple[str, str], PairPart]]) -> PairCountsAccumulator:
        for pair, table in tables:
            if isinstance(table, np.ndarray):  # dense code counts
                self._add_dense(pair, table)
            else:
                self.pending.setdefault(pair, []).append(table)
                self.pending_rows += table[0].size
        if self.pending_rows > COMPACT_ROWS:
            self.compact()
        return self

    def _add_dense(self, pair: tuple[str, str], counts: np.ndarray) -> None:
        if pair in self.dense:
            self.dense[pair] += counts
        else:
            self.dense[pair] = counts.copy()

    def _tables(self) -> dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]:
        """The partial tables of every pair, the dense counts as one more."""
        parts = {pair: list(tables) for pair, tables in self.pending.items()}
        for pair, counts in self.dense.items():
            parts.setdefault(pair, []).append(coded_table(counts))
        return parts

    def compact(self) -> PairCountsAccumulator:
        for pair, parts in self.pending.items():
            if len(parts) > 1:
                self.pending[pair] = [merge_tables(parts)]
        self.pending_rows = sum(parts[0][0].size for parts in self.pending.values())
        return self

    def merge(self, others: list[PairCountsAccumulator]) -> PairCountsAccumulator:
        for other in others:
            for pair, parts in other.pending.items():
                self.pending.setdefault(pair, []).extend(parts)
            for pair, counts in other.dense.items():
                self._add_dense(pair, counts)
        return self.compact()

    def result(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """Joint table per pair: sorted joint cells and their (n, pos, pos_1..pos_R) counts, int64."""
        tables = self._tables()
        return {pair: merge_tables(tables[pair]) for pair in self.plan.pairs if pair in tables}

    # Beam pickles an accumulator several times (between stages, and to estimate its size): the
    # tables travel narrowed (features.counting.cell_counts.narrowed), most counts in a byte
    def __getstate__(self) -> dict:
        tables = {pair: [narrowed(table) for table in parts] for pair, parts in self._tables().items()}
        rows = sum(table[0].size for parts in tables.values() for table in parts)
        return {**self.__dict__, "pending": tables, "pending_rows": rows, "dense": {}}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.pending = {pair: [widened(table) for table in parts] for pair, parts in self.pending.items()}


@dataclass(frozen=True)
class PairStatistics:
    interaction: dict
    redundancy: dict


def pair_statistics(
    pair: tuple[str, str], table: tuple[np.ndarray, np.ndarray], info: LabelInformation, scored: dict[str, ScoredFeature],
    redundancy_threshold: float,
) -> PairStatistics:
    """Interaction gain and redundancy of one pair from its joint table and what it says about the label."""
    first, second = pair
    size_b = scored[second].codebook.size
    joint, cells = table
    n = cells[:, 0]
    marginal_a = np.bincount(joint // size_b, weights=n, minlength=scored[first].codebook.size)
    marginal_b = np.bincount(joint % size_b, weights=n, minlength=size_b)
    mutual = pair_mutual_information(n, marginal_a, marginal_b)
    smaller = min(entropy(marginal_a), entropy(marginal_b))
    redundancy = mutual / smaller if smaller > 0 else 0.0
    score_a, score_b = scored[first].corrected_mi, scored[second].corrected_mi
    return PairStatistics(
        {
            "feature_a": first, "feature_b": second, "interaction_gain": info.corrected_mi - score_a - score_b,
            "pair_score": info.corrected_mi, "pair_mi": info.mi, "pair_chance_mi": info.chance_mi,
            "corrected_mi_a": score_a, "corrected_mi_b": score_b, "cells": int(joint.size),
        },
        {
            "feature_a": first, "feature_b": second, "mutual_information": mutual,
            "redundancy": redundancy, "redundant": redundancy >= redundancy_threshold,
        },
    )


def pair_frames(
    tables: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], scored: dict[str, ScoredFeature], redundancy_threshold: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """interactions (by gain, descending, ties by names) and redundancy (by redundancy) frames."""
    pairs = sorted(tables)
    informations = label_informations([tables[pair][1] for pair in pairs])
    stats = [pair_statistics(pair, tables[pair], info, scored, redundancy_threshold) for pair, info in zip(pairs, informations)]
    interactions = pl.DataFrame([s.interaction for s in stats], schema={k: v for k, v in INTERACTION_SCHEMA.items() if k != "rank"})
    interactions = interactions.sort(["interaction_gain", "feature_a", "feature_b"], descending=[True, False, False])
    interactions = interactions.with_columns(pl.int_range(1, interactions.height + 1, dtype=pl.Int64).alias("rank"))
    redundancy = pl.DataFrame([s.redundancy for s in stats], schema=REDUNDANCY_SCHEMA)
    redundancy = redundancy.sort(["redundancy", "feature_a", "feature_b"], descending=[True, False, False])
    return interactions.select(list(INTERACTION_SCHEMA)), redundancy
