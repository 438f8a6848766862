"""The closed-form chance MI (E[MI], sd[MI] under label permutations) against enumeration, exact
hypergeometric sums computed here in plain Python, and the mean and spread of many shuffled labels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import featureplex.features.scoring.chance_mi as chance_module
from featureplex.features.scoring.chance_mi import chance_mi
from featureplex.features.scoring.information import mutual_information
from tests.features.rank_fixtures import impressions, pass_one


def table_mi(sizes: list[int], positives_per_cell: list[int], positives: int) -> float:
    """MI (nats) of a table from its cell sizes and positives, by the definition."""
    rows = sum(sizes)
    total = 0.0
    for n, a in zip(sizes, positives_per_cell):
        for count, label_count in ((a, positives), (n - a, rows - positives)):
            if count > 0:
                total += count / rows * math.log(count * rows / (n * label_count))
    return total


def enumerated(sizes: list[int], positives: int) -> tuple[float, float]:
    """Mean and sd of the MI over every placement of the positives on the rows (all permutations)."""
    cell_of_row = np.repeat(np.arange(len(sizes)), sizes)
    values = [
        table_mi(sizes, np.bincount(cell_of_row[list(rows)], minlength=len(sizes)).tolist(), positives)
        for rows in itertools.combinations(range(sum(sizes)), positives)
    ]
    return float(np.mean(values)), float(np.std(values))


@pytest.mark.parametrize(
    "sizes, positives",
    [([2, 3, 4], 4), ([1, 1, 1, 1, 1, 5], 3), ([5, 5], 5), ([1, 2, 3, 4, 5, 6], 7), ([7, 1, 1, 9], 2), ([3, 3, 3, 3, 6], 9)],
)
def test_small_tables_match_enumeration(sizes, positives):
    moments = chance_mi([np.array(sizes)], positives)
    mean, sd = enumerated(sizes, positives)
    assert moments.mean[0] == pytest.approx(mean, rel=1e-12, abs=1e-15)
    assert moments.std[0] == pytest.approx(sd, rel=1e-12, abs=1e-15)


def divergence(a: int, n: int, rows: int, positives: int) -> float:
    """D(a; n): the cell's term of N MI."""
    p, q = positives / rows, 1 - positives / rows
    return (a * math.log(a / (n * p)) if a else 0.0) + ((n - a) * math.log((n - a) / (n * q)) if n - a else 0.0)


def exact_moments(sizes: list[int], positives: int) -> tuple[float, float]:
    """E[MI] (Vinh et al.: a hypergeometric sum per cell) and Var[MI] (Romano et al.: E[MI^2] from the
    joint law of every pair of cells), with probabilities as exact integer ratios."""
    rows = sum(sizes)
    ways = math.comb(rows, positives)

    def support(n: int) -> range:
        return range(max(0, n - (rows - positives)), min(n, positives) + 1)

    def single(n: int, a: int) -> float:
        return math.comb(n, a) * math.comb(rows - n, positives - a) / ways

    def joint(n: int, a: int, m: int, b: int) -> float:
        rest = rows - n - m
        return math.comb(n, a) * math.comb(m, b) * math.comb(rest, positives - a - b) / ways if 0 <= positives - a - b <= rest else 0.0

    mean = sum(single(n, a) * divergence(a, n, rows, positives) for n in sizes for a in support(n))
    square = sum(single(n, a) * divergence(a, n, rows, positives) ** 2 for n in sizes for a in support(n))
    for x, y in itertools.permutations(range(len(sizes)), 2):
        n, m = sizes[x], sizes[y]
        square += sum(
            joint(n, a, m, b) * divergence(a, n, rows, positives) * divergence(b, m, rows, positives)
            for a in support(n) for b in support(m)
        )
    return mean / rows, math.sqrt(square - mean * mean) / rows


def test_moderate_tables_match_exact_sums():
    for sizes, positives in (([1, 2, 5, 12, 40, 60], 37), ([30, 30, 30, 30], 11), ([1] * 20 + [80], 50)):
        mean, sd = exact_moments(sizes, positives)
        moments = chance_mi([np.array(sizes)], positives)
        assert moments.mean[0] == pytest.approx(mean, rel=1e-10)
        assert moments.std[0] == pytest.approx(sd, rel=1e-8)


def hypergeometric_mean_divergence(n: int, rows: int, positives: int) -> float:
    """E_h[D(a; n)] summed outward from the mode with the pmf's ratio, in plain Python floats."""
    mode = (n + 1) * (positives + 1) // (rows + 2)
    low, high = max(0, n - (rows - positives)), min(n, positives)
    weights = {mode: 1.0}
    for a in range(mode, high):
        weights[a + 1] = weights[a] * (positives - a) * (n - a) / ((a + 1) * (rows - positives - n + a + 1))
        if weights[a + 1] < 1e-20:
            break
    for a in range(mode, low, -1):
        weights[a - 1] = weights[a] * a * (rows - positives - n + a) / ((positives - a + 1) * (n - a + 1))
        if weights[a - 1] < 1e-20:
            break
    total = sum(weights.values())
    return sum(w * divergence(a, n, rows, positives) for a, w in weights.items()) / total


def test_large_cells_on_the_coarse_grid_match_unit_sums(monkeypatch):
    """Cells with a wide spread are summed on a grid coarser than the integers: the same values."""
    rows, positives = 10_000_000, 2_500_000
    sizes = np.array([3_000, 50_000, 1_000_000, 4_000_000, 4_947_000])
    coarse = chance_mi([sizes], positives)
    expected = sum(hypergeometric_mean_divergence(int(n), rows, positives) for n in sizes) / rows
    assert coarse.mean[0] == pytest.approx(expected, rel=1e-9)
    monkeypatch.setattr(chance_module, "COARSE_SD", float("inf"))
    unit = chance_mi([sizes], positives)
    assert coarse.mean[0] == pytest.approx(unit.mean[0], rel=1e-9)
    assert coarse.std[0] == pytest.approx(unit.std[0], rel=1e-9)


def test_edge_cases():
    one_class = chance_mi([np.array([3, 4]), np.array([7])], 0)
    assert one_class.mean.tolist() == [0.0, 0.0] and one_class.std.tolist() == [0.0, 0.0]
    single = chance_mi([np.array([0, 10, 0])], 4)
    assert single.mean[0] == 0.0 and single.std[0] == 0.0
    # a value per row: every cell is pure whatever the permutation, so MI = H(label) exactly
    ids = chance_mi([np.ones(1000, dtype=np.int64)], 300)
    assert ids.mean[0] == pytest.approx(-(0.3 * math.log(0.3) + 0.7 * math.log(0.7)), rel=1e-12) and ids.std[0] < 1e-8
    with pytest.raises(ValueError, match="different numbers of rows"):
        chance_mi([np.array([3, 4]), np.array([5])], 2)


def test_closed_form_agrees_with_many_shuffles():
    """Cardinalities from 2 to 100,000 and Zipf values: mean and variance over 300 label permutations
    within 4 standard errors of the closed form."""
    rng = np.random.default_rng(11)
    rows, shuffles = 200_000, 300
    labels = (rng.random(rows) < 0.2).astype(np.int64)
    features = {
        "2": rng.integers(0, 2, rows),
        "10": rng.integers(0, 10, rows),
        "1000": rng.integers(0, 1_000, rows),
        "100000": rng.integers(0, 100_000, rows),
        "zipf": np.minimum(rng.zipf(1.3, rows), 100_000),
    }
    sizes = {name: np.bincount(values) for name, values in features.items()}
    closed = chance_mi(list(sizes.values()), int(labels.sum()))
    draws = {name: np.empty(shuffles) for name in features}
    for r in range(shuffles):
        shuffled = rng.permutation(labels)
        for name, values in features.items():
            table = np.stack([sizes[name], np.bincount(values, weights=shuffled)], axis=1)
            draws[name][r] = mutual_information(table)[0]
    for index, (name, values) in enumerate(draws.items()):
        mean_se = values.std(ddof=1) / math.sqrt(shuffles)
        variance = values.var(ddof=1)
        variance_se = math.sqrt(np.mean((values - values.mean()) ** 4) - variance**2) / math.sqrt(shuffles)
        assert abs(values.mean() - closed.mean[index]) < 4 * mean_se, name
        assert abs(variance - closed.std[index] ** 2) < 4 * variance_se, name


def test_counted_shuffles_agree_with_the_closed_form():
    """rank.chance: shuffles (64 label copies counted in the passes) estimates what the closed form computes."""
    table = impressions(20_000)
    _, estimated = pass_one(table, shuffles=64)
    _, exact = pass_one(table)
    for name, feature in estimated.items():
        shuffled = mutual_information(feature.cells)[1:]
        assert feature.information.chance_mi == pytest.approx(shuffled.mean())
        closed = exact[name].information
        assert abs(feature.information.chance_mi - closed.chance_mi) <= 4 * closed.chance_mi_std / 8 + 1e-12, name
