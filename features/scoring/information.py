"""Entropy and mutual information from count tables, in nats, vectorised over cells and label copies.

A cell table has one row per cell x of a feature (or of a feature pair) and columns
n_x, a_x^(0), a_x^(1), ..., a_x^(R): rows and positives of the label (copy 0) and of R shuffles of it
(R = 0 unless rank.chance is `shuffles`). With b = n - a, N = sum n, P = sum a, Q = N - P and
xlogx(v) = v ln v (0 ln 0 = 0):

    MI(X; Y) = [ sum_x (xlogx(a_x) + xlogx(b_x) - xlogx(n_x)) - xlogx(P) - xlogx(Q) + xlogx(N) ] / N

which equals sum_{x,y} p(x,y) ln(p(x,y) / (p(x) p(y))). The chance baseline is what a feature with
these cell sizes gets against a label it cannot know: its MI's mean and standard deviation under
random permutations of the label. The tables say how it is computed: without shuffled copies, in
closed form from the cell sizes and the label's positives (features.scoring.chance_mi, exact);
with R copies (rank.chance: shuffles), as the mean and standard deviation of their R MIs. The
corrected MI is MI - chance_mi (features.scoring.ranking).

Example::

    >>> table = np.array([[50, 50, 20], [50, 0, 30]])   # two cells; label and one shuffle
    >>> mutual_information(table).round(4)              # MI with the label, with the shuffle
    array([0.6931, 0.0201])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from featureplex.features.scoring.chance_mi import chance_mi


def xlogx(values: np.ndarray | float) -> np.ndarray:
    """v ln v, with 0 ln 0 = 0."""
    values = np.asarray(values, dtype=np.float64)
    return values * np.log(np.where(values > 0, values, 1.0))


def entropy(counts: np.ndarray) -> float:
    """H = ln N - sum n ln n / N of a count vector (nats)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    return float((xlogx(total) - xlogx(counts).sum()) / total)


def mutual_information(table: np.ndarray) -> np.ndarray:
    """MI of the cells with each label copy: table (cells, 1 + copies) -> (copies,) nats, >= 0."""
    table = np.asarray(table, dtype=np.float64)
    n = table[:, :1]
    positives = table[:, 1:]
    total = n.sum()
    if total <= 0:
        return np.zeros(positives.shape[1])
    label_positives = positives.sum(axis=0)
    cells = (xlogx(positives) + xlogx(n - positives) - xlogx(n)).sum(axis=0)
    label = xlogx(label_positives) + xlogx(total - label_positives) - xlogx(total)
    # rounding can leave -1e-17 where MI is exactly 0
    return np.maximum((cells - label) / total, 0.0)


def pair_mutual_information(joint: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """MI(A; B) from the non-empty joint cell counts and the two marginal count vectors.

    MI = [sum xlogx(n_ab) - sum xlogx(n_a) - sum xlogx(n_b) + xlogx(N)] / N.
    """
    total = float(np.sum(joint))
    if total <= 0:
        return 0.0
    value = xlogx(joint).sum() - xlogx(first).sum() - xlogx(second).sum() + xlogx(total)
    return max(float(value / total), 0.0)


@dataclass(frozen=True)
class LabelInformation:
    """What one cell table says about the label.

    mi: MI(X; Y); chance_mi / chance_mi_std: mean and standard deviation of the MI under the
    permutation null (exact, or over the R shuffles); corrected_mi = mi - chance_mi; entropy: H(X).
    """

    mi: float
    chance_mi: float
    chance_mi_std: float
    entropy: float

    @property
    def corrected_mi(self) -> float:
        return self.mi - self.chance_mi


def label_informations(tables: Sequence[np.ndarray]) -> list[LabelInformation]:
    """MI with the label (column 1) of each table and its chance baseline: from the shuffles (columns
    2..) when the tables have them, else in closed form (module docstring). The tables count the same rows."""
    tables = [np.asarray(table) for table in tables]
    values = [mutual_information(table) for table in tables]
    if not tables or tables[0].shape[1] > 2:
        shuffled = [mi[1:] for mi in values]
        chance = [float(s.mean()) if s.size else 0.0 for s in shuffled]
        spread = [float(s.std(ddof=1)) if s.size > 1 else 0.0 for s in shuffled]
    else:
        moments = chance_mi([table[:, 0] for table in tables], int(tables[0][:, 1].sum()))
        chance, spread = moments.mean.tolist(), moments.std.tolist()
    return [
        LabelInformation(float(mi[0]), mean, sd, entropy(table[:, 0]))
        for mi, mean, sd, table in zip(values, chance, spread, tables)
    ]


def label_entropy(rows: int, positives: int) -> float:
    """H(Y) of a binary label (nats)."""
    return entropy(np.array([positives, rows - positives]))
