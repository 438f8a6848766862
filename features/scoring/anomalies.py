"""Data anomalies found while ranking: per-feature checks and time drift (anomalies.json).

Checks on the pass-1 counts of each feature (N rows, n_k rows of key k, missing as its own value):
- constant: at most one distinct non-missing value (an all-null column is constant);
- near_constant: top value share max_k n_k / N >= near_constant_share (missing counts as a value);
- missing: missing rate >= missing_rate_threshold;
- id_like: hashed past the cardinality cap, or distinct values >= id_like_ratio of non-missing rows;
- label_leakage: (MI(X; Y) - chance_mi) / H(Y) >= leakage_threshold: beyond what chance gives a
  feature with its cells, the feature alone removes that share of the label's uncertainty, which a
  feature known at impression time rarely does. The raw MI would flag pure-noise IDs: a column with
  a value per row has MI = H(Y) and chance MI = H(Y) too;
- rare_values: share of rows whose value occurs fewer than `rare_count` times >= rare_share_threshold
  (exact categorical keys only: once hashed, per-value counts are gone);
- drift (when a timestamp exists): Jensen-Shannon divergence (base 2, in [0, 1])

      JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M),   M = (P + Q) / 2

  between the feature's cell distributions in the first and last `drift_window` share of the time
  range (pass-1 min/max), over its scored cells with categorical values folded into the
  `drift_cells` most frequent + "other" + missing, so the estimate's small-sample bias stays tiny.
Skipped columns (sequences, unsupported types) are listed with their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.counting.contingency import Codebook, KeyedCounts, KeyMode, time_values
from featureplex.features.data.dataset import BatchOrigin
from featureplex.features.scoring.ranking import ScoredFeature

ANOMALY_ORDER = ("constant", "near_constant", "missing", "id_like", "label_leakage", "rare_values", "drift")


@dataclass(frozen=True)
class AnomalyThresholds:
    near_constant_share: float
    missing_rate: float
    leakage: float
    rare_count: int
    rare_share: float
    drift_js: float


def drift_codebook(feature: ScoredFeature, drift_cells: int) -> Codebook:
    """The feature's cells for drift: categorical values folded to the most frequent + other + missing."""
    return feature.codebook.folded(feature.cells[:, 0], drift_cells)


@dataclass(frozen=True)
class DriftPlan:
    """What pass 2 counts for drift: each feature's drift codebook and the two time windows."""

    codebooks: dict[str, Codebook]
    timestamp: str
    first_window: tuple[int, int]
    last_window: tuple[int, int]


@dataclass
class DriftCountsAccumulator:
    """Per feature, rows per drift cell in the first and last window: (cells, 2) int64, added on merge."""

    plan: DriftPlan
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def add_batch(self, origin: BatchOrigin, batch: pa.RecordBatch) -> DriftCountsAccumulator:
        return self.add_prepared(origin, self.prepare(origin, batch))

    def prepare(self, origin: BatchOrigin, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """The batch's window counts per feature, not yet added: no state read or written, so reading threads run it."""
        ticks = time_values(batch.column(self.plan.timestamp))
        (first_low, first_high), (last_low, last_high) = self.plan.first_window, self.plan.last_window
        first = (ticks >= first_low) & (ticks <= first_high)
        last = (ticks >= last_low) & (ticks <= last_high)
        rows = first | last
        if not rows.any():
            return {}
        mask = pa.array(rows)
        first, last = first[rows], last[rows]
        counts = {}
        for name, book in self.plan.codebooks.items():
            cells = book.encode(pc.filter(batch.column(name), mask))
            counts[name] = np.stack(
                [np.bincount(cells[first], minlength=book.size), np.bincount(cells[last], minlength=book.size)], axis=1
            )
        return counts

    def add_prepared(self, origin: BatchOrigin, counts: dict[str, np.ndarray]) -> DriftCountsAccumulator:
        for name, window_counts in counts.items():
            self.counts[name] = self.counts.get(name, 0) + window_counts
        return self

    def merge(self, others: list[DriftCountsAccumulator]) -> DriftCountsAccumulator:
        for other in others:
            for name, window_counts in other.counts.items():
                self.counts[name] = self.counts.get(name, 0) + window_counts
        return self

    def compact(self) -> DriftCountsAccumulator:
        return self

    def result(self) -> dict[str, np.ndarray]:
        return dict(sorted(self.counts.items()))


def drift_windows(time_range: tuple[int, int], share: float) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The first and last `share` of [t_min, t_max] (inclusive tick bounds), or None for a point range."""
    low, high = time_range
    width = int((high - low) * share)
    if width <= 0:
        return None
    return (low, low + width), (high - width, high)


def jensen_shannon(first: np.ndarray, second: np.ndarray) -> float:
    """JS divergence (base 2) of two count vectors over the same cells."""
    p = first / first.sum()
    q = second / second.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(max(0.5 * kl_p + 0.5 * kl_q, 0.0))


def rare_value_share(table: KeyedCounts, rows: int, rare_count: int) -> float | None:
    """Share of rows whose (non-missing) value occurs fewer than `rare_count` times; None once hashed."""
    if table.mode == KeyMode.HASHED or rows == 0:
        return None
    present = table.frame.filter(table.frame["key"].is_not_null())
    n = present["n"].to_numpy()
    return float(n[n < rare_count].sum() / rows)


def feature_anomalies(
    feature: ScoredFeature,
    table: KeyedCounts,
    rows: int,
    label_entropy: float,
    thresholds: AnomalyThresholds,
    drift_counts: np.ndarray | None,
    drift_min_rows: int,
) -> dict:
    """The measured values and the list of anomalies (with a reason each) of one feature."""
    top_share = float(table.frame["n"].max() / rows) if rows and table.frame.height else 1.0
    raw_share = feature.information.mi / label_entropy if label_entropy > 0 else 0.0
    leakage = leakage_share(feature, label_entropy)
    rare = rare_value_share(table, rows, thresholds.rare_count) if feature.kind == "categorical" else None
    drift = None
    if drift_counts is not None and drift_counts[:, 0].sum() >= drift_min_rows and drift_counts[:, 1].sum() >= drift_min_rows:
        drift = jensen_shannon(drift_counts[:, 0], drift_counts[:, 1])
    found = {
        "constant": (feature.cardinality <= 1, f"{feature.cardinality} distinct non-missing value(s)"),
        "near_constant": (
            feature.cardinality > 1 and top_share >= thresholds.near_constant_share,
            f"the most frequent value covers {top_share:.2%} of rows",
        ),
        "missing": (feature.missing_rate >= thresholds.missing_rate, f"{feature.missing_rate:.2%} of rows missing"),
        "id_like": (
            feature.id_like,
            f"{feature.cardinality} distinct values"
            + (" (hashed past the cardinality cap)" if table.mode == KeyMode.HASHED else " for the non-missing rows"),
        ),
        "label_leakage": (
            leakage >= thresholds.leakage,
            f"(MI - chance MI)/H(label) = {leakage:.3f}: beyond chance, the feature alone removes {leakage:.0%} of the"
            " label's uncertainty; check it is not derived from the label or recorded after the impression",
        ),
        "rare_values": (
            rare is not None and rare >= thresholds.rare_share,
            f"{(rare or 0):.2%} of rows have a value seen fewer than {thresholds.rare_count} times",
        ),
        "drift": (
            drift is not None and drift >= thresholds.drift_js,
            f"Jensen-Shannon divergence {(drift or 0):.3f} between the first and last time windows",
        ),
    }
    return {
        "kind": feature.kind,
        "top_value_share": top_share,
        "missing_rate": feature.missing_rate,
        "cardinality": feature.cardinality,
        "mi_over_label_entropy": raw_share,
        "corrected_mi_over_label_entropy": leakage,
        "rare_value_share": rare,
        "drift_js": drift,
        "anomalies": {name: reason for name in ANOMALY_ORDER for flagged, reason in [found[name]] if flagged},
    }


def leakage_share(feature: ScoredFeature, label_entropy: float) -> float:
    """(MI - chance MI) / H(label): the share of the label's uncertainty the feature removes beyond chance."""
    return feature.corrected_mi / label_entropy if label_entropy > 0 else 0.0


def leakage_features(scored: dict[str, ScoredFeature], label_entropy: float, threshold: float) -> set[str]:
    """Features whose corrected share reaches the leakage threshold: kept out of interactions and selection."""
    return {name for name, feature in scored.items() if leakage_share(feature, label_entropy) >= threshold}
