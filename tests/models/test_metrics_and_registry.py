import numpy as np
import pytest

from featureplex.features.errors import InputError
from featureplex.models.assembly import TOWERS, build_tower
from featureplex.models.metrics import grouped_auc


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


def test_registry():
    assert {"lr", "dnn", "dcn", "autoint", "autoint+", "deepfm"} <= set(TOWERS)
    assert build_tower("autoint+").get_config()["dnn_units"] == [256, 128]
    with pytest.raises(InputError, match="model 'xgboost': unknown"):
        build_tower("xgboost")
    with pytest.raises(InputError, match="model 'dnn': unknown parameter 'depth'"):
        build_tower("dnn", {"depth": 3})
    with pytest.raises(InputError, match="model 'dcn': bad parameters"):
        build_tower("dcn", {"cross_layers": "three"})
