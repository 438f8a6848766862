"""The protocol every pass accumulator implements: what a Beam CombineFn (pipelines.beam) drives.

An accumulator counts record batches into mergeable integer tables. Work on one batch alone
(`prepare`, run on the reading threads) is split from folding it in (`add_prepared`), so reads and
counting overlap; `add_batch` is the two in one. Merging adds counts, so the merged result is the same
whatever the order and grouping of batches: that is what makes artifacts byte-identical whatever the
runner and the number of workers. Accumulators are picklable (they travel between Beam workers).

Implemented by contingency.FeatureCountsAccumulator (feature x label cells), scoring.interactions.
PairCountsAccumulator (pair x label cells), scoring.anomalies.DriftCountsAccumulator (cells per time
window) and embedding.vocabulary.ValueCounts (value counts for the vocabularies).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

Self = TypeVar("Self", bound="BatchAccumulator")


@runtime_checkable
class BatchAccumulator(Protocol):
    def prepare(self, origin: Any, batch: pa.RecordBatch) -> Any:
        """The batch's counts, computed from the batch alone (thread-safe, no mutation)."""

    def add_prepared(self: Self, origin: Any, prepared: Any) -> Self:
        """This accumulator with a prepared batch folded in."""

    def add_batch(self: Self, origin: Any, batch: pa.RecordBatch) -> Self:
        """`add_prepared(origin, prepare(origin, batch))`."""

    def merge(self: Self, others: list[Self]) -> Self:
        """This accumulator's counts plus the others'."""

    def compact(self: Self) -> Self:
        """The same counts in their smallest form, before the accumulator is shipped to another worker."""

    def result(self) -> Any:
        """What the pass hands on: count tables, sorted by key."""
