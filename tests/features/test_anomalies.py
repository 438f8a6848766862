"""Constant, missing, ID-like, leakage, rare values and drift are flagged, with reasons."""

import numpy as np

from features.anomalies import (
    AnomalyThresholds,
    DriftCountsAccumulator,
    DriftPlan,
    drift_codebook,
    drift_windows,
    feature_anomalies,
    jensen_shannon,
    leakage_features,
)
from features.information import label_entropy
from tests.features.rank_fixtures import impressions, pass_one, run_accumulator

THRESHOLDS = AnomalyThresholds(0.99, 0.5, 0.5, 5, 0.5, 0.05)


def test_jensen_shannon():
    assert jensen_shannon(np.array([5, 5]), np.array([50, 50])) == 0.0
    assert np.isclose(jensen_shannon(np.array([1, 0]), np.array([0, 1])), 1.0)


def test_flags():
    table = impressions()
    counts, scored = pass_one(table)
    h = label_entropy(counts.rows, counts.weight_totals["pos"])
    windows = drift_windows(counts.time_range, 0.1)
    plan = DriftPlan({n: drift_codebook(f, 32) for n, f in scored.items()}, "timestamp", *windows)
    drift = run_accumulator(DriftCountsAccumulator(plan), table)
    found = {
        name: feature_anomalies(scored[name], counts.tables[name], counts.rows, h, THRESHOLDS, drift.get(name), 100)
        for name in scored
    }
    flagged = {name: set(entry["anomalies"]) for name, entry in found.items() if entry["anomalies"]}
    assert flagged == {
        "constant": {"constant"},
        "missing": {"missing"},
        "row_id": {"id_like"},  # hashed past the cap: per-value counts (and rare shares) are gone
        "leak": {"label_leakage"},
        "drifting": {"drift"},
    }
    assert "MI/H(label)" in found["leak"]["anomalies"]["label_leakage"]
    assert leakage_features(scored, h, 0.5) == {"leak"}
    assert found["drifting"]["drift_js"] > 0.9 and found["noise"]["drift_js"] < 0.01
