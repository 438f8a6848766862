"""MI from count tables agrees with the definition sum p(x,y) ln(p(x,y) / p(x)p(y)); the chance baseline
comes from the shuffled copies when a table has them, else in closed form."""

import numpy as np

from featureplex.features.scoring.chance_mi import chance_mi
from featureplex.features.scoring.information import (
    entropy,
    label_informations,
    mutual_information,
    pair_mutual_information,
)


def mi_by_definition(x: np.ndarray, y: np.ndarray) -> float:
    total = 0.0
    for a in np.unique(x):
        for b in np.unique(y):
            joint = np.mean((x == a) & (y == b))
            if joint > 0:
                total += joint * np.log(joint / (np.mean(x == a) * np.mean(y == b)))
    return total


def test_mutual_information_matches_the_definition():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 2000)
    y = (rng.random(2000) < 0.2 + 0.1 * x).astype(int)
    shuffled = rng.permutation(y)
    table = np.stack([np.bincount(x), np.bincount(x, weights=y), np.bincount(x, weights=shuffled)], axis=1)
    values = mutual_information(table)
    assert np.isclose(values[0], mi_by_definition(x, y))
    assert np.isclose(values[1], mi_by_definition(x, shuffled))
    (info,) = label_informations([table])
    assert info.chance_mi == values[1] and info.chance_mi_std == 0.0
    assert info.corrected_mi == info.mi - info.chance_mi and info.mi > 10 * info.chance_mi


def test_tables_without_shuffles_get_the_closed_form():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 30, 5000)
    y = (rng.random(5000) < 0.3).astype(int)
    table = np.stack([np.bincount(x), np.bincount(x, weights=y)], axis=1)
    (info,) = label_informations([table])
    moments = chance_mi([table[:, 0]], int(y.sum()))
    assert info.chance_mi == moments.mean[0] and info.chance_mi_std == moments.std[0]
    # a 30-cell feature: chance MI ~ (k - 1) / 2N, about the MI of this label-independent feature
    assert 0.5 < info.chance_mi / (29 / 10_000) < 1.5 and abs(info.corrected_mi) < 4 * info.chance_mi_std


def test_perfect_feature_has_mi_equal_to_label_entropy():
    table = np.array([[30, 30], [70, 0]])
    assert np.isclose(mutual_information(table)[0], entropy(np.array([30, 70])))


def test_pair_mutual_information():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, 5000)
    b = (a + rng.integers(0, 2, 5000)) % 4
    joint = np.bincount(a * 4 + b, minlength=16)
    value = pair_mutual_information(joint[joint > 0], np.bincount(a), np.bincount(b))
    assert np.isclose(value, mi_by_definition(a, b))
