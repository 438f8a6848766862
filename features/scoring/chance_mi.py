"""Chance mutual information with a binary label, in closed form: E[MI] and sd[MI] under the permutation null.

Null: the label's values are permuted at random over the rows, both marginals fixed (N rows, P
positives, Q = N - P, cells of sizes n_x). The positives a_x of the cells are then multivariate
hypergeometric, and the MI of the table (nats) is a sum of per-cell terms (the G statistic / 2N):

    N MI = sum_x D(a_x; n_x),   D(a; n) = a ln(a / (n p)) + (n - a) ln((n - a) / (n q)) >= 0,
    p = P / N, q = Q / N, 0 ln 0 = 0

Expected MI (Vinh, Epps and Bailey, JMLR 2010: the EMI subtracted by adjusted MI, for two label values):

    E[MI] = (1/N) sum_x E_h[D(a; n_x)],   a ~ Hypergeometric(N, P, n_x)

Variance (Romano, Bailey, Nguyen and Verspoor, ICML 2014: standardized MI):

    Var[MI] = (1/N^2) [ sum_x Var_h(D(a; n_x)) + sum_{x != y} Cov(D_x, D_y) ]

The per-cell sums run over each cell's hypergeometric distribution. The cross terms need the joint
law of two cells, whose direct sums (Romano et al.) grow like N^3; instead, independent
a_x ~ Binomial(n_x, p) conditioned on T = sum_x a_x = P are exactly the multivariate hypergeometric,
and the condition is inverted by Fourier. With w(t) = q e^{-ipt} + p e^{iqt} (the characteristic
function of a centred Bernoulli(p)), D~_x = D_x - E_h[D_x] and
rho_x(t) = E_bin[D~_x e^{it(a_x - n_x p)}] / w(t)^{n_x}:

    sum_{x != y} Cov(D_x, D_y) = I[ w^N ((sum_x rho_x)^2 - sum_x rho_x^2) ] / I[ w^N ],
    I[f] = (1/2pi) int_{-pi}^{pi} f(t) dt

Both integrands are trigonometric polynomials whose coefficient at frequency m is an expectation on
the event T = P + m, so the trapezoidal rule on M equispaced points is exact up to the coefficients
at multiples of M; M is taken where Bernstein's inequality puts P(|T - P| >= M) below e^-50, and
points where |w|^N < e^-50 are skipped (17 angles t >= 0, t and -t folded, whatever N).

Guarantees and cost: every sum over a is truncated where Bernstein's inequality puts the terms below
e^-45 of the largest (under double precision), so a cell costs about 20 sd of its count, ~sqrt(n)
terms, and cells of one size have the same terms: each distinct size is computed once for all the
tables of a call. Past sd >= COARSE_SD a sum runs on every h-th integer only: by Poisson summation, h
times the sum on that grid equals the sum over all integers up to the Fourier transform of the
summand at 2 pi / h. For a summand of width sd, analytic within sd^2 / 2 of the real axis (pmf x D
is: its nearest singularity, D's at a = 0 or a = n, is at least sd^2 from the mean), that is at
most e^-(w Y - Y^2 / (2 sd^2)) with w = 2 pi / h and Y = min(w sd^2, sd^2 / 2): with h = sd / 2,
e^-(2 pi sd - sd^2 / 8) up to sd = 8 pi (e^-42 at sd = 8) and e^-79 above, for the hypergeometric sums. The Fourier sums' phase e^{ita} moves that frequency down by
t <= t_max, hence their smaller step h = 2 pi sd / (11 + sd t_max). A large cell costs ~40 terms
however large it is.
Log factorials are exact below 256 and Stirling's series (to z^-5) above, with differences taken in a
cancellation-free form. The results agree with enumeration of all permutations to 1e-12 and with
exact integer sums to ~1e-9 relative (tests/features/scoring/test_chance_mi.py).

Example::

    >>> moments = chance_mi([np.array([2, 3, 4])], positives=4)   # one table of 9 rows, 4 positives
    >>> moments.mean.round(6), moments.std.round(6)
    (array([0.158868]), array([0.144812]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# truncation of every sum over a: terms below e^-TAIL of the largest are dropped
TAIL = 45.0
# Fourier grid: aliased coefficients and skipped points are below e^-FOURIER_TAIL
FOURIER_TAIL = 50.0
# a sum whose distribution has at least this sd runs on a coarser grid of integers (module docstring):
# every (sd / 2)-th for the hypergeometric sums, every (2 pi sd / (ALIAS_MARGIN + sd t_max))-th for the
# binomial Fourier sums, whose phase e^{ita} (t <= t_max) shifts the aliased frequencies closer
COARSE_SD = 8.0
HYPERGEOMETRIC_DIVISOR = 2.0
ALIAS_MARGIN = 11.0
# log factorials below this come from a table of math.lgamma, above it from Stirling's series
SMALL_FACTORIAL = 256
_LOG_FACTORIALS = np.array([math.lgamma(k + 1.0) for k in range(SMALL_FACTORIAL + 1)])
_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class ChanceMoments:
    """E[MI] and sd[MI] (nats) under the permutation null, one entry per table."""

    mean: np.ndarray
    std: np.ndarray


def chance_mi(cell_sizes: Sequence[np.ndarray], positives: int) -> ChanceMoments:
    """E[MI] and sd[MI] of each table of cell sizes against a label with `positives` positives.

    Every table must count the same N rows (the cells of one feature, or of one pair, over all rows);
    empty cells are ignored.
    """
    tables = [np.asarray(sizes, dtype=np.int64) for sizes in cell_sizes]
    totals = {int(sizes.sum()) for sizes in tables}
    if len(totals) > 1:
        raise ValueError(f"tables count different numbers of rows: {sorted(totals)}")
    rows = totals.pop() if totals else 0
    if not 0 < positives < rows:
        zeros = np.zeros(len(tables))
        return ChanceMoments(zeros, zeros.copy())
    table_of, size_of, multiplicity, sizes = _size_multiplicities(tables)
    cells = CellMoments.of(sizes, rows, positives)
    mean = np.bincount(table_of, weights=multiplicity * cells.mean[size_of], minlength=len(tables))
    diagonal = np.bincount(table_of, weights=multiplicity * cells.variance[size_of], minlength=len(tables))
    cross = _cross_covariances(cells, table_of, size_of, multiplicity, len(tables))
    variance = np.maximum(diagonal + cross, 0.0)
    return ChanceMoments(mean / rows, np.sqrt(variance) / rows)


def _size_multiplicities(tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(table, size index, multiplicity) of every distinct (table, non-zero cell size), and the sizes."""
    table_ids = np.repeat(np.arange(len(tables), dtype=np.int64), [sizes.size for sizes in tables])
    flat = np.concatenate(tables) if tables else np.zeros(0, np.int64)
    present = flat > 0
    span = int(flat.max()) + 1 if flat.size else 1
    # one sort of (table, size) keys; the distinct sizes are then found among the far fewer pairs
    pairs, multiplicity = np.unique(table_ids[present] * span + flat[present], return_counts=True)
    sizes, size_of = np.unique(pairs % span, return_inverse=True)
    return pairs // span, size_of, multiplicity.astype(np.float64), sizes


@dataclass(frozen=True)
class CellMoments:
    """Per distinct cell size n: E_h[D], Var_h(D), and rho(t) on the Fourier grid (module docstring)."""

    rows: int
    positives: int
    sizes: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    angles: np.ndarray  # t_j >= 0 on the Fourier grid
    angle_weights: np.ndarray  # trapezoid weights of the t_j (t and -t folded together)
    rho: np.ndarray  # (sizes, angles) complex

    @staticmethod
    def of(sizes: np.ndarray, rows: int, positives: int) -> CellMoments:
        p = positives / rows
        n = sizes.astype(np.float64)
        hyper = _hypergeometric_grid(n, rows, positives)
        divergence = _divergence(hyper.points, n[hyper.segment], p)
        mean = hyper.average(divergence)
        variance = hyper.average((divergence - mean[hyper.segment]) ** 2)
        angles, angle_weights = _fourier_grid(rows, positives)
        binomial = _binomial_grid(n, p, rows)
        weighted = binomial.weights * (_divergence(binomial.points, n[binomial.segment], p) - mean[binomial.segment])
        offset = binomial.points - n[binomial.segment] * p
        # the angles are 0, t_1, 2 t_1, ...: e^{i t_j offset} by repeated multiplication, not one exp per angle
        turn = np.exp(1j * (angles[1] if angles.size > 1 else 0.0) * offset)
        phase = np.ones_like(turn)
        log_w = _log_w(angles, p)
        rho = np.empty((sizes.size, angles.size), dtype=np.complex128)
        for j in range(angles.size):
            if j:
                phase *= turn
            psi = np.add.reduceat(weighted * phase, binomial.starts) / binomial.totals
            rho[:, j] = psi * np.exp(-n * log_w[j])
        return CellMoments(rows, positives, sizes, mean, variance, angles, angle_weights, rho)


def _cross_covariances(
    cells: CellMoments, table_of: np.ndarray, size_of: np.ndarray, multiplicity: np.ndarray, tables: int
) -> np.ndarray:
    """sum_{x != y} Cov(D_x, D_y) of each table: the Fourier integrals of the module docstring."""
    p = cells.positives / cells.rows
    power = np.exp(cells.rows * _log_w(cells.angles, p))  # w(t)^N
    numerator = np.zeros(tables)
    for j in range(cells.angles.size):
        rho = cells.rho[size_of, j]
        total = _complex_bincount(table_of, multiplicity * rho, tables)
        squares = _complex_bincount(table_of, multiplicity * rho * rho, tables)
        numerator += cells.angle_weights[j] * (power[j] * (total * total - squares)).real
    return numerator / float(np.sum(cells.angle_weights * power.real))


def _complex_bincount(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index, weights=values.real, minlength=size) + 1j * np.bincount(index, weights=values.imag, minlength=size)


def _log_w(angles: np.ndarray, p: float) -> np.ndarray:
    """ln w(t), w(t) = q e^{-ipt} + p e^{iqt} = e^{-ipt} (q + p e^{it})."""
    return -1j * p * angles + np.log((1 - p) + p * np.exp(1j * angles))


def _fourier_grid(rows: int, positives: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles t_j = 2 pi j / M, j >= 0, where |w(t_j)|^N >= e^-FOURIER_TAIL, and their trapezoid weights."""
    p = positives / rows
    spread = _bernstein_half_width(rows * p * (1 - p), FOURIER_TAIL)
    count = int(min(max(positives, rows - positives) + 1, math.ceil(spread) + 1))  # M
    steps = np.arange(count // 2 + 1)
    angles = 2 * np.pi * steps / count
    # |w(t)| decreases on [0, pi]: the points kept are the first ones, t_0 = 0 included
    kept = (rows * np.log(np.abs((1 - p) + p * np.exp(1j * angles))) >= -FOURIER_TAIL) | (steps == 0)
    # t and -t give complex conjugates: fold them (t = pi, for even M, has no partner)
    weights = np.where((steps == 0) | (2 * steps == count), 1.0, 2.0)
    return angles[kept], weights[kept]


@dataclass(frozen=True)
class Grid:
    """Integer points a of several distributions (segments, contiguous), with unnormalised weights."""

    segment: np.ndarray
    starts: np.ndarray  # first point of each segment
    points: np.ndarray  # float64 (exact integers)
    weights: np.ndarray
    totals: np.ndarray  # sum of the weights per segment

    def average(self, values: np.ndarray) -> np.ndarray:
        """Expectation of `values` (one per point) under each segment's distribution."""
        return np.add.reduceat(self.weights * values, self.starts) / self.totals


def _hypergeometric_grid(n: np.ndarray, rows: int, positives: int) -> Grid:
    """a ~ Hypergeometric(N, P, n): weights proportional to C(P, a) C(Q, n - a)."""
    p, negatives = positives / rows, rows - positives
    smaller = np.minimum(n, rows - n)  # a cell and its complement have the same spread
    sd = np.sqrt(n * p * (1 - p) * (rows - n) / max(rows - 1, 1))
    low, high = np.maximum(0, n - negatives), np.minimum(n, positives)

    def log_weight(anchor: np.ndarray, shift: np.ndarray, size: np.ndarray) -> np.ndarray:
        return -(
            _log_factorial_ratio(anchor, shift) + _log_factorial_ratio(positives - anchor, -shift)
            + _log_factorial_ratio(size - anchor, -shift) + _log_factorial_ratio(negatives - size + anchor, shift)
        )

    def log_step(a: np.ndarray, size: np.ndarray) -> np.ndarray:
        return np.log((positives - a) * (size - a) / ((a + 1) * (negatives - size + a + 1)))

    return _grid(n, n * p, smaller * p * (1 - p), sd, low, high, log_weight, log_step, HYPERGEOMETRIC_DIVISOR)


def _binomial_grid(n: np.ndarray, p: float, rows: int) -> Grid:
    """a ~ Binomial(n, p): weights proportional to C(n, a) (p / q)^a."""
    log_odds = math.log(p / (1 - p))

    def log_weight(anchor: np.ndarray, shift: np.ndarray, size: np.ndarray) -> np.ndarray:
        return shift * log_odds - _log_factorial_ratio(anchor, shift) - _log_factorial_ratio(size - anchor, -shift)

    def log_step(a: np.ndarray, size: np.ndarray) -> np.ndarray:
        return np.log((size - a) / (a + 1)) + log_odds

    variance = n * p * (1 - p)
    # sd t_max = sqrt(2 FOURIER_TAIL n / N): the largest angle the Fourier grid keeps, in units of 1 / sd
    divisor = (ALIAS_MARGIN + np.sqrt(2 * FOURIER_TAIL * n / rows)) / (2 * np.pi)
    return _grid(n, n * p, variance, np.sqrt(variance), np.zeros_like(n), n, log_weight, log_step, divisor)


def _grid(n, centre, variance_bound, sd, low, high, log_weight, log_step, divisor) -> Grid:
    """Points a within the Bernstein window of each distribution, weighted by the pmf up to a factor per
    distribution: on every integer, from the running sum of log_step(a, n) = ln(pmf(a + 1) / pmf(a));
    past COARSE_SD on every (sd / divisor)-th integer, from log_weight(anchor, a - anchor, n) =
    ln(pmf(a) / pmf(anchor)), the anchor being the integer nearest the mean."""
    half = _bernstein_half_width(variance_bound, TAIL)
    first = np.maximum(low, np.ceil(centre - half))
    last = np.minimum(high, np.floor(centre + half))
    step = np.where(sd >= COARSE_SD, np.floor(sd / divisor), 1.0)
    anchor = np.clip(np.round(centre), first, last)
    left = np.floor((anchor - first) / step)
    counts = (left + np.floor((last - anchor) / step) + 1).astype(np.int64)
    segment = np.repeat(np.arange(n.size), counts)
    starts = np.cumsum(counts) - counts
    shift = (np.arange(segment.size) - starts[segment] - left[segment]) * step[segment]
    points = anchor[segment] + shift
    unit = step[segment] == 1.0
    logs = np.empty(points.size)
    logs[~unit] = log_weight(anchor[segment][~unit], shift[~unit], n[segment][~unit])
    with np.errstate(divide="ignore"):  # past a segment's last point the pmf may be 0: that step is not used
        steps = log_step(points[unit], n[segment][unit])
    logs[unit] = _running_sums(steps, segment[unit])
    weights = np.exp(logs)
    return Grid(segment, starts, points, weights, np.add.reduceat(weights, starts))


def _running_sums(steps: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Per run of equal `segment`, the sum of the steps before each point (0 at its first point). Each
    run's last step (unused) is set so that the run sums to 0: the running total does not grow across runs."""
    if steps.size == 0:
        return steps
    first = np.flatnonzero(np.diff(segment, prepend=-1))
    last = np.append(first[1:], segment.size) - 1
    steps[last] = 0.0
    steps[last] = -np.add.reduceat(steps, first)
    return np.cumsum(steps) - steps


def _bernstein_half_width(variance: np.ndarray | float, nats: float) -> np.ndarray | float:
    """t with exp(-t^2 / (2 (variance + t / 3))) = e^-nats: a sum of [0, 1] variables (or a sample
    without replacement, Hoeffding 1963) strays t from its mean with at most that probability."""
    return (2 * nats / 3 + np.sqrt((2 * nats / 3) ** 2 + 8 * nats * np.asarray(variance))) / 2


def _divergence(a: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """D(a; n) = a ln(a / (n p)) + (n - a) ln((n - a) / (n q)), with 0 ln 0 = 0."""
    b = n - a
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(a > 0, a * np.log(a / (n * p)), 0.0)
        second = np.where(b > 0, b * np.log(b / (n * (1 - p))), 0.0)
    return first + second


def _log_factorial(x: np.ndarray) -> np.ndarray:
    """ln x! for integer-valued x >= 0: the table below SMALL_FACTORIAL, Stirling's series above."""
    out = np.empty_like(x)
    small = x < SMALL_FACTORIAL
    out[small] = _LOG_FACTORIALS[x[small].astype(np.int64)]
    z = x[~small] + 1.0
    out[~small] = (z - 0.5) * np.log(z) - z + _HALF_LOG_TWO_PI + _stirling_tail(z)
    return out


def _stirling_tail(z: np.ndarray) -> np.ndarray:
    """ln Gamma(z) - [(z - 1/2) ln z - z + ln(2 pi) / 2] to z^-5 (next term < 1e-20 for z > 256)."""
    inverse = 1.0 / z
    squared = inverse * inverse
    return inverse * (1 / 12 - squared * (1 / 360 - squared / 1260))


def _log_factorial_ratio(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """ln((x + shift)! / x!) for integer-valued x, x + shift >= 0. Where both are large, Stirling's
    difference in a form without cancellation: shift ln z + (z + shift - 1/2) ln(1 + shift / z) - shift
    + tail(z + shift) - tail(z), z = x + 1."""
    x = np.asarray(x, dtype=np.float64)
    moved = x + shift
    out = np.empty_like(x)
    large = np.minimum(x, moved) >= SMALL_FACTORIAL
    z, step = x[large] + 1.0, shift[large]
    out[large] = step * np.log(z) + (z + step - 0.5) * np.log1p(step / z) - step + _stirling_tail(z + step) - _stirling_tail(z)
    out[~large] = _log_factorial(moved[~large]) - _log_factorial(x[~large])
    return out
