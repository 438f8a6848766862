"""Constant, missing, ID-like, leakage, rare values and drift are flagged, with reasons."""

import numpy as np
import pyarrow.parquet as pq

from featureplex.features.scoring.anomalies import (
    AnomalyThresholds,
    DriftCountsAccumulator,
    DriftPlan,
    drift_codebook,
    drift_windows,
    feature_anomalies,
    jensen_shannon,
    leakage_features,
)
from featureplex.features.scoring.information import label_entropy
from featureplex.pipelines.datasets.synth import generate_synthetic
from tests.features.rank_fixtures import impressions, pass_one, run_accumulator

THRESHOLDS = AnomalyThresholds(0.99, 0.5, 0.5, 5, 0.5, 0.05)


def test_jensen_shannon():
    assert jensen_shannon(np.array([5, 5]), np.array([50, 50])) == 0.0
    assert np.isclose(jensen_shannon(np.array([1, 0]), np.array([0, 1])), 1.0)


def test_leakage_is_judged_beyond_chance():
    """A row ID counted exactly (under the cap) has MI = H(label), all of it chance: not leakage."""
    table = impressions(10_000)
    counts, scored = pass_one(table, cap=100_000)
    h = label_entropy(counts.rows, counts.weight_totals["pos"])
    row_id = feature_anomalies(scored["row_id"], counts.tables["row_id"], counts.rows, h, THRESHOLDS, None, 100)
    assert np.isclose(row_id["mi_over_label_entropy"], 1.0) and abs(row_id["corrected_mi_over_label_entropy"]) < 1e-9
    assert "label_leakage" not in row_id["anomalies"] and "id_like" in row_id["anomalies"]
    leak = feature_anomalies(scored["leak"], counts.tables["leak"], counts.rows, h, THRESHOLDS, None, 100)
    assert leak["corrected_mi_over_label_entropy"] > 0.5 and "label_leakage" in leak["anomalies"]
    assert leakage_features(scored, h, 0.5) == {"leak"}


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
    share = found["leak"]["corrected_mi_over_label_entropy"]
    assert f"(MI - chance MI)/H(label) = {share:.3f}" in found["leak"]["anomalies"]["label_leakage"]
    assert leakage_features(scored, h, 0.5) == {"leak"}
    assert found["drifting"]["drift_js"] > 0.9 and found["noise"]["drift_js"] < 0.01


def test_no_leakage_on_the_synthetic_noise_ids(tmp_path):
    """On the project's synthetic data at 20k rows, noise_row_id and noise_uniform_100k are nearly a value
    per row (raw MI/H(label) >= 0.5, as flagged before chance was taken out); only leak_label leaks."""
    truth = generate_synthetic(tmp_path, rows=20_000, seed=5)
    table = pq.read_table(tmp_path / "part-00000.parquet").drop_columns([name for name, c in truth["columns"].items() if c["kind"] == "sequence"])
    counts, scored = pass_one(table, cap=100_000)
    h = label_entropy(counts.rows, counts.weight_totals["pos"])
    found = {name: feature_anomalies(scored[name], counts.tables[name], counts.rows, h, THRESHOLDS, None, 100) for name in scored}
    assert {name for name, entry in found.items() if "label_leakage" in entry["anomalies"]} == {"leak_label"}
    for noise in ("noise_row_id", "noise_uniform_100k"):
        assert found[noise]["mi_over_label_entropy"] >= 0.5 and abs(found[noise]["corrected_mi_over_label_entropy"]) < 0.01
