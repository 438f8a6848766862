"""Streaming moments of numeric features, the normalisation constants a model bakes into its graph.

Values are compressed with the signed log, s(x) = sign(x) * log(1 + |x|), before the moments are
taken: CTR numerics are often heavy-tailed counts (Criteo's I1..I13) and s is monotonic, so nothing a
model could use is lost. NaN and null are missing and left out of the moments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass
class NumericMoments:
    """Count, sum and sum of squares of s(x) per feature; mergeable."""

    names: tuple[str, ...]
    count: np.ndarray = field(default=None)
    total: np.ndarray = field(default=None)
    squares: np.ndarray = field(default=None)

    def __post_init__(self) -> None:
        size = len(self.names)
        self.count = np.zeros(size) if self.count is None else self.count
        self.total = np.zeros(size) if self.total is None else self.total
        self.squares = np.zeros(size) if self.squares is None else self.squares

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        for index, name in enumerate(self.names):
            values = pc.cast(batch.column(name), pa.float64()).to_numpy(zero_copy_only=False)
            values = signed_log(values[np.isfinite(values)])
            self.count[index] += values.size
            self.total[index] += values.sum()
            self.squares[index] += np.square(values).sum()

    def merge(self, other: "NumericMoments") -> "NumericMoments":
        return NumericMoments(self.names, self.count + other.count, self.total + other.total, self.squares + other.squares)

    def mean_and_std(self) -> tuple[list[float], list[float]]:
        """Per-feature mean and standard deviation of s(x); a constant or empty feature gets std 1."""
        count = np.maximum(self.count, 1)
        mean = self.total / count
        variance = np.maximum(self.squares / count - mean**2, 0)
        std = np.where(variance > 1e-12, np.sqrt(variance), 1.0)
        return mean.tolist(), std.tolist()
