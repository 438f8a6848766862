"""MI from count tables agrees with the definition sum p(x,y) ln(p(x,y) / p(x)p(y))."""

import numpy as np

from features.information import entropy, label_information, mutual_information, pair_mutual_information


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
    info = label_information(table)
    assert info.corrected_mi == info.mi - info.chance_mi and info.mi > 10 * info.chance_mi


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
