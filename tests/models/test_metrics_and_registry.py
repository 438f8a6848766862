import numpy as np
import pytest

from featureplex.features.errors import InputError
from featureplex.models.assembly import TOWERS, build_tower
from featureplex.models.metrics import ctr_metrics, grouped_auc, reliability_bins


def auc(labels, scores):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return wins / (len(positives) * len(negatives))


def test_grouped_auc_matches_per_group_pairs():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 6, 300)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # rounding makes ties
    groups[groups == 5] = 5
    labels[groups == 5] = 1  # one group with a single class: left out
    expected_parts = [(auc(labels[groups == g], scores[groups == g]), (groups == g).sum()) for g in range(5)]
    expected = sum(a * n for a, n in expected_parts) / sum(n for _, n in expected_parts)
    assert grouped_auc(groups, labels, scores) == pytest.approx(expected)
    assert np.isnan(grouped_auc(np.zeros(3), np.ones(3), np.arange(3.0)))


def test_ctr_metrics_match_sklearn_and_stay_exact_where_the_probability_saturates():
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 2000)
    logits = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: many ties
    metrics = ctr_metrics(labels, logits)
    probabilities = 1 / (1 + np.exp(-logits))
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, logits), abs=1e-12)
    assert metrics["logloss"] == pytest.approx(log_loss(labels, probabilities), rel=1e-9)
    assert metrics["calibration"] == pytest.approx(probabilities.mean() / labels.mean())
    assert (metrics["rows"], metrics["positives"]) == (2000, int(labels.sum())) and "gauc" not in metrics
    # z = 40 for a non-click: sigmoid(z) is 1.0 in float64, the loss is still 40 (not log(0) nor a clipped 16)
    assert ctr_metrics(np.array([0, 1]), np.array([40.0, 40.0]))["logloss"] == pytest.approx(20.0)
    assert "gauc" not in ctr_metrics(labels[:4], logits[:4], np.arange(4))  # no user with both classes


def test_reliability_bins_hold_equal_rows_in_order_of_prediction():
    probabilities = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8])
    labels = np.array([1, 0, 1, 0, 1, 0, 0])
    bins = reliability_bins(labels, probabilities, bins=3)
    assert bins["rows"].to_list() == [3, 2, 2]
    assert bins["mean_prediction"].to_list() == pytest.approx([0.2, 0.6, 0.85])
    assert bins["observed_ctr"].to_list() == pytest.approx([0.0, 1.0, 0.5])
    assert bins["lowest"].to_list() == [0.1, 0.5, 0.8] and bins["highest"].to_list() == [0.3, 0.7, 0.9]
    assert reliability_bins(labels[:2], probabilities[:2], bins=10).height == 2


def test_registry():
    assert {"lr", "dnn", "dcn", "autoint", "autoint+", "deepfm"} <= set(TOWERS)
    assert build_tower("autoint+").get_config()["dnn_units"] == [256, 128]
    with pytest.raises(InputError, match="model 'xgboost': unknown"):
        build_tower("xgboost")
    with pytest.raises(InputError, match="model 'dnn': unknown parameter 'depth'"):
        build_tower("dnn", {"depth": 3})
    with pytest.raises(InputError, match="model 'dcn': bad parameters"):
        build_tower("dcn", {"cross_layers": "three"})
