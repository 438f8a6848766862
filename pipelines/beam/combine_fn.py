"""Counting one shard of row groups, and the CombineFn that merges the shards' counts into a pass's results.

A pass's row groups are split into shards (pipelines.beam.passes). `count_shard` feeds every batch of a
shard's row groups to the accumulators of the pass, reading the row groups as one stream, and ships them
compacted (`ShardCounts`); `MergeCountsFn` merges the shards' counts. The accumulators implement
features.counting.accumulator.BatchAccumulator and are picklable. The elements are row group
references: record batches never pass through Beam's coders, which pickle the first elements of every
step to estimate their size (a 65,536-row batch is tens of MB). Batches and their origins are those of
features.data.dataset.read_row_group whatever the runner, and counts merge exactly in any order, so the
results (and label shuffles seeded from the origins) do not depend on how the work is split.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
from apache_beam.coders import coder_impl, coders

from featureplex.features.data.dataset import BatchOrigin, RowGroupRef, read_row_groups
from featureplex.pipelines.beam.pass_spec import NamedResult, Passes, PassResults, PassSpec, Planned

# shards' counts a merge takes at once (MergeCountsFn)
MERGE_BATCH = 16


def estimated_bytes(value: Any) -> int:
    """About how many bytes a value holds, found without encoding it: its own `estimated_bytes()`, buffer
    sizes of numpy arrays, Arrow data and polars frames, the sum over containers and dataclass fields."""
    if hasattr(value, "estimated_bytes"):
        return value.estimated_bytes()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (pl.DataFrame, pl.Series)):
        return int(value.estimated_size())
    if isinstance(value, (pa.Array, pa.ChunkedArray, pa.RecordBatch, pa.Table)):
        return value.nbytes
    if isinstance(value, dict):
        return sum(estimated_bytes(key) + estimated_bytes(item) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(estimated_bytes(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(estimated_bytes(getattr(value, field.name)) for field in dataclasses.fields(value))
    return sys.getsizeof(value)


class SizedPickleCoder(coders.FastCoder):
    """Pickles values, always length-prefixed; their size is `estimated_bytes`, not an encoding.

    Beam's operation counters estimate the size of sampled elements, every one of the first ten at
    each step, by encoding them: with its default coder, a full pickle of an accumulator or a pass's
    results (tens of MB: millions of vocabulary tokens, or the joint tables of 190 feature pairs, whose
    numpy arrays it pickles one by one) at every step they pass through. The encoding is
    length-prefixed even where Beam asks for an unnested one: several accumulators share one stream in
    the grouping of a multi-worker run.
    """

    def _create_impl(self) -> coder_impl.CoderImpl:
        return _SizedPickleCoderImpl()

    def is_deterministic(self) -> bool:
        return False


class _SizedPickleCoderImpl(coder_impl.StreamCoderImpl):
    def encode_to_stream(self, value: Any, stream, nested: bool) -> None:
        stream.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), True)

    def decode_from_stream(self, stream, nested: bool) -> Any:
        return pickle.loads(stream.read_all(True))

    def estimate_size(self, value: Any, nested: bool = False) -> int:
        return estimated_bytes(value)


@dataclass(frozen=True)
class ShardCounts:
    """A pass's accumulators over some row groups, compacted, by name (`names[i]` fills `accumulators[i]`)."""

    names: tuple[str, ...]
    accumulators: tuple

    def merged(self, others: list[ShardCounts]) -> ShardCounts:
        """These counts plus the others' (exact, in any order)."""
        return ShardCounts(self.names, tuple(
            part.merge([other.accumulators[index] for other in others]) for index, part in enumerate(self.accumulators)))

    def results(self) -> PassResults:
        return PassResults({name: accumulator.result() for name, accumulator in zip(self.names, self.accumulators)})


for _type in (ShardCounts, PassResults, Planned, PassSpec, Passes, NamedResult):
    beam.coders.registry.register_coder(_type, SizedPickleCoder)


def count_shard(shard: tuple[Sequence[RowGroupRef], PassSpec], batch_rows: int) -> ShardCounts:
    """The counts of one shard, (its row groups in file order, the pass's spec). The row groups are read
    as one stream, the next ones on threads while the current one is counted
    (features.data.dataset.read_row_groups): reads overlap the counting across row-group boundaries,
    and two row groups decode at once."""
    refs, spec = shard
    accumulators = fresh = spec.accumulators()

    def prepare(origin: BatchOrigin, batch: pa.RecordBatch) -> tuple:  # on the reading threads
        return tuple(accumulator.prepare(origin, batch) for accumulator in fresh)

    for origin, parts in read_row_groups(refs, spec.columns, batch_rows, spec.dictionary_columns, prepare=prepare):
        accumulators = tuple(accumulator.add_prepared(origin, part) for accumulator, part in zip(accumulators, parts))
    # compacted before it is shipped to the merge: one table per key, not one per batch
    return ShardCounts(spec.names(), tuple(accumulator.compact() for accumulator in accumulators))


def merged(pending: list[ShardCounts]) -> list[ShardCounts]:
    """The shards' counts as one (an empty list stays empty)."""
    return [pending[0].merged(pending[1:])] if len(pending) > 1 else pending


@beam.typehints.with_output_types(PassResults)  # every step sizes the results with SizedPickleCoder
class MergeCountsFn(beam.CombineFn):
    """Merges the ShardCounts of a pass into its PassResults (every pass has at least one shard: a
    dataset without row groups gives one shard of none).

    The accumulator is a list of counts not merged yet: they are merged MERGE_BATCH at a time, and before
    the accumulator is shipped, because merging k counts is one compaction of them all (a vocabulary's
    ID-like column: one sort of all its tokens), where merging them one by one would sort the growing
    sum k times. Beam lifts the combine where the runner can (Dataflow and the DirectRunner merge the
    shards of a bundle before the shuffle, with the accumulator coder); Beam's Dask runner does not lift
    combines and merges every shard's counts in one task.
    """

    def create_accumulator(self) -> list[ShardCounts]:
        return []

    def add_input(self, pending: list[ShardCounts], counts: ShardCounts) -> list[ShardCounts]:
        pending.append(counts)
        return merged(pending) if len(pending) >= MERGE_BATCH else pending

    def merge_accumulators(self, accumulators: Iterable[list[ShardCounts]]) -> list[ShardCounts]:
        pending = [counts for accumulator in accumulators for counts in accumulator]
        return merged(pending) if len(pending) >= MERGE_BATCH else pending

    def compact(self, pending: list[ShardCounts]) -> list[ShardCounts]:
        return merged(pending)

    def extract_output(self, pending: list[ShardCounts]) -> PassResults:
        return merged(pending)[0].results()

    def get_accumulator_coder(self) -> SizedPickleCoder:
        return SizedPickleCoder()
