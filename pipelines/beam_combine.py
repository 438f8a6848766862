"""Passes over a dataset in one Beam pipeline: record batches -> `features` accumulators -> results in the driver.

The accumulators (features.contingency, features.interactions, features.anomalies, features.vocabulary)
share one protocol, add_batch(origin, batch) / merge(others) / compact() / result(), and are picklable,
so one CombineFn wraps a tuple of them. add_batch is prepare(origin, batch), the work on the batch
alone, which the reading threads run, then add_prepared(origin, prepared).
A pass (`PassSpec`) says which columns it reads and which accumulators it fills. A second pass may
depend on the first one's results: `then(first_results)` runs on a worker once the first pass is
merged and returns the second pass's `Planned` (what the driver keeps, and the `PassSpec` the
workers need), which reaches the second CombineFn with every row group. Both passes are one
pipeline: one job start-up (minutes on Dataflow, about a second locally), not two.

The elements are row group references, and the CombineFn reads each row group's batches itself: record
batches never pass through Beam's coders, which pickle the first elements of every step to estimate
their size (a 65,536-row batch is tens of MB) and would pickle them again between stages. Batches and
their origins are those of features.dataset.read_row_group whatever the runner, so the counts (and the
label shuffles seeded from the origins) do not depend on how the work is split. The merged results are
pickled to scratch files by the last steps and read back by the driver: the driver's own
intermediates (never user data), written under `--temp_location` when one is given (Dataflow:
gs://...) and under a private local temporary directory otherwise.

Example::

    first = PassSpec(("label", "city"), (partial(FeatureCountsAccumulator, plan),), dictionary_columns=("city",))
    (counts,), kept, (pairs,) = combine_passes(dataset, 65536, first, then=plan_pairs)
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
from apache_beam.coders import coder_impl, coders
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions

from features.dataset import BatchOrigin, ParquetDataset, RowGroupRef, read_row_groups
from pipelines.beam_io import pipeline_options
from pipelines.pass_spec import Planned, PassSpec


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


@dataclass
class Deferred:
    """A pass's accumulators and the row groups added to them but not read yet; no pass yet (`spec` None)
    until the first element of a pass that comes with its elements."""

    spec: PassSpec | None
    accumulators: tuple = ()
    refs: list[RowGroupRef] = field(default_factory=list)


@dataclass(frozen=True)
class PassResults:
    """A pass's results, one per accumulator, in the order of its spec's factories."""

    values: tuple


for _type in (Deferred, PassResults, Planned, PassSpec):
    beam.coders.registry.register_coder(_type, SizedPickleCoder)


@beam.typehints.with_output_types(PassResults)  # every step sizes the results with SizedPickleCoder
class AccumulatorCombineFn(beam.CombineFn):
    """A CombineFn over row groups that feeds every batch of a row group to every accumulator of the pass
    (one read for all of them). The pass is fixed and the elements are RowGroupRefs (None: no row
    group), or (spec=None) each element is (RowGroupRef or None, PassSpec).

    A pass planned from an earlier one comes with its elements, not as a side input: Beam lifts only a
    combine without side inputs (pre-combining with the accumulator coder before the shuffle).

    `add_input` only notes the row group. The noted row groups are read when Beam next needs the
    accumulators (compacted before they are shipped, merged or extracted), as one stream with the next
    row groups read on threads (features.dataset.read_row_groups): a worker's reads then overlap its
    counting across row-group boundaries, and two row groups decode at once.
    """

    def __init__(self, spec: PassSpec | None, batch_rows: int):
        super().__init__()
        self._spec = spec
        self._batch_rows = batch_rows

    def _read(self, deferred: Deferred) -> tuple:
        """The accumulators with the noted row groups added (once: the notes are cleared)."""
        spec, accumulators = deferred.spec, deferred.accumulators

        def prepare(origin: BatchOrigin, batch: pa.RecordBatch) -> tuple:  # on the reading threads
            return tuple(accumulator.prepare(origin, batch) for accumulator in accumulators)

        if deferred.refs:
            for origin, parts in read_row_groups(deferred.refs, spec.columns, self._batch_rows,
                                                 spec.dictionary_columns, prepare=prepare):
                accumulators = tuple(accumulator.add_prepared(origin, part) for accumulator, part in zip(accumulators, parts))
        deferred.accumulators, deferred.refs = accumulators, []
        return accumulators

    def create_accumulator(self) -> Deferred:
        return Deferred(self._spec, self._spec.accumulators() if self._spec is not None else ())

    def add_input(self, deferred: Deferred, element) -> Deferred:
        ref, spec = (element, None) if self._spec is not None else element
        if deferred.spec is None:
            deferred.spec, deferred.accumulators = spec, spec.accumulators()
        if ref is not None:
            deferred.refs.append(ref)
        return deferred

    def merge_accumulators(self, deferreds) -> Deferred:
        started = [deferred for deferred in deferreds if deferred.spec is not None]
        if not started:
            return Deferred(None)
        first, *rest = [self._read(deferred) for deferred in started]
        merged = tuple(part.merge([other[index] for other in rest]) for index, part in enumerate(first))
        return Deferred(started[0].spec, merged)

    def compact(self, deferred: Deferred) -> Deferred:
        # before an accumulator is encoded for the merge step: ship one table per key, not one per batch
        return Deferred(deferred.spec, tuple(accumulator.compact() for accumulator in self._read(deferred)))

    def extract_output(self, deferred: Deferred) -> PassResults:
        return PassResults(tuple(accumulator.result() for accumulator in self._read(deferred)))

    def get_accumulator_coder(self) -> SizedPickleCoder:
        return SizedPickleCoder()


def _save(result: Any, path: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


class CombinePasses(beam.PTransform):
    """Pass 1, and when `then` is given, the plan it makes and pass 2; each result saved under `scratch`."""

    def __init__(self, dataset: ParquetDataset, batch_rows: int, first: PassSpec,
                 then: Callable[[tuple], Planned] | None, scratch: str):
        super().__init__()
        self._dataset = dataset
        self._batch_rows = batch_rows
        self._first = first
        self._then = then
        self._scratch = scratch

    def expand(self, pbegin):
        row_groups = (
            pbegin
            # Create spreads its elements over the workers itself (a Reshuffle when there are several);
            # `[None]` (no row group) still gives every pass its (empty) results
            | "ListRowGroups" >> beam.Create(self._dataset.row_groups() or [None])
        )
        # without_defaults: each combined value flows straight on, not also materialised as a side input
        # for a default that is never needed (one more encoding of the results)
        first = row_groups | "FirstPass" >> beam.CombineGlobally(
            AccumulatorCombineFn(self._first, self._batch_rows)).without_defaults()
        _ = first | "SaveFirst" >> beam.Map(lambda results, path: _save(results.values, path),
                                            FileSystems.join(self._scratch, "first.pickle"))
        if self._then is None:
            return
        planned = first | "PlanSecond" >> beam.Map(lambda results: self._then(results.values)).with_output_types(Planned)
        _ = planned | "SavePlan" >> beam.Map(lambda plan, path: _save(plan.kept, path), FileSystems.join(self._scratch, "plan.pickle"))
        spec = planned | "SecondSpec" >> beam.Map(lambda plan: plan.spec).with_output_types(PassSpec)
        second = (
            row_groups
            | "WithSecondSpec" >> beam.Map(lambda ref, spec: (ref, spec), beam.pvalue.AsSingleton(spec))
            | "SecondPass" >> beam.CombineGlobally(AccumulatorCombineFn(None, self._batch_rows)).without_defaults()
        )
        _ = second | "SaveSecond" >> beam.Map(lambda results, path: _save(results.values, path),
                                              FileSystems.join(self._scratch, "second.pickle"))


def combine_passes(
    dataset: ParquetDataset,
    batch_rows: int,
    first: PassSpec,
    then: Callable[[tuple], Planned] | None = None,
    beam_args: Sequence[str] = (),
    step: str = "Passes",
) -> tuple:
    """Run the passes in one pipeline: (first results, the plan's `kept`, second results), the last two
    None without `then`; each pass's results in the order of its spec's factories."""
    options = pipeline_options(beam_args)
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    local = temp_location is None
    scratch = tempfile.mkdtemp(prefix="featureplex-") if local else FileSystems.join(temp_location, f"featureplex-{uuid.uuid4().hex}")
    names = ["first.pickle"] if then is None else ["first.pickle", "plan.pickle", "second.pickle"]
    paths = [FileSystems.join(scratch, name) for name in names]
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = pipeline | step >> CombinePasses(dataset, batch_rows, first, then, scratch)
        results = []
        for path in paths:
            with FileSystems.open(path) as handle:
                results.append(pickle.loads(handle.read()))
        return tuple(results) if then is not None else (results[0], None, None)
    finally:
        if local:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            FileSystems.delete([path for path in paths if FileSystems.exists(path)])
