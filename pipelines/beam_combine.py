"""One Beam pass over a dataset: record batches -> `features` accumulators -> results back in the driver.

The accumulators (features.contingency, features.interactions, features.anomalies) share one protocol,
add_batch(origin, batch) / merge(others) / compact() / result(), and are picklable, so one CombineFn wraps a
tuple of them. The elements are row group references, and the CombineFn reads each row group's batches
itself: record batches never pass through Beam's coders, which pickle the first elements of every
step to estimate their size (a 65,536-row batch is tens of MB) and would pickle them again between
stages. Batches and their origins are those of features.dataset.read_row_group whatever the runner, so
the counts (and the label shuffles seeded from the origins) do not depend on how the work is split. The merged
result is pickled to a scratch file by the last step and read back by the driver: it is the driver's
own intermediate (never user data), written under `--temp_location` when one is given (Dataflow:
gs://...) and under a private local temporary directory otherwise.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import uuid
from typing import Any, Callable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions

from features.dataset import ParquetDataset, RowGroupRef, read_ahead, read_row_group
from pipelines.beam_io import pipeline_options


class AccumulatorCombineFn(beam.CombineFn):
    """A CombineFn over RowGroupRef elements: reads the row group's batches and feeds each to every
    accumulator of a tuple made by `factories` (one read for all of them)."""

    def __init__(self, factories: Sequence[Callable[[], Any]], columns: Sequence[str], batch_rows: int,
                 dictionary_columns: Sequence[str]):
        super().__init__()
        self._factories = list(factories)
        self._columns = list(columns)
        self._batch_rows = batch_rows
        self._dictionary_columns = list(dictionary_columns)

    def create_accumulator(self):
        return tuple(factory() for factory in self._factories)

    def add_input(self, accumulators, ref: RowGroupRef):
        for origin, batch in read_ahead(read_row_group(ref, self._columns, self._batch_rows, self._dictionary_columns)):
            accumulators = tuple(accumulator.add_batch(origin, batch) for accumulator in accumulators)
        return accumulators

    def merge_accumulators(self, accumulators):
        first, *rest = accumulators
        return tuple(part.merge([other[index] for other in rest]) for index, part in enumerate(first))

    def compact(self, accumulators):
        # before an accumulator is encoded for the merge step: ship one table per key, not one per batch
        return tuple(accumulator.compact() for accumulator in accumulators)

    def extract_output(self, accumulators):
        return tuple(accumulator.result() for accumulator in accumulators)


def _save(result: Any, path: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


class CombineBatches(beam.PTransform):
    """Read the columns, feed every batch to each accumulator, merge, and save the tuple of results.

    `dictionary_columns` come as dictionaries: the accumulators count and encode dictionary indices
    rather than strings (features.column_cells).
    """

    def __init__(self, dataset: ParquetDataset, columns: Sequence[str], batch_rows: int,
                 factories: Sequence[Callable[[], Any]], result_path: str, dictionary_columns: Sequence[str] = ()):
        super().__init__()
        self._dataset = dataset
        self._columns = list(columns)
        self._batch_rows = batch_rows
        self._factories = list(factories)
        self._result_path = result_path
        self._dictionary_columns = list(dictionary_columns)

    def expand(self, pbegin):
        combine = AccumulatorCombineFn(self._factories, self._columns, self._batch_rows, self._dictionary_columns)
        return (
            pbegin
            | "ListRowGroups" >> beam.Create(self._dataset.row_groups())
            | "Spread" >> beam.Reshuffle()
            | "ReadAndCount" >> beam.CombineGlobally(combine)
            | "SaveResult" >> beam.Map(_save, self._result_path)
        )


def combine_batches(
    dataset: ParquetDataset,
    columns: Sequence[str],
    batch_rows: int,
    factories: Sequence[Callable[[], Any]],
    beam_args: Sequence[str] = (),
    step: str = "Pass",
    dictionary_columns: Sequence[str] = (),
) -> tuple:
    """Run one pass and return the results of the accumulators made by `factories`, in order; the
    `dictionary_columns` (text features: features.dataset.text_columns) are read as dictionaries."""
    options = pipeline_options(beam_args)
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    local = temp_location is None
    scratch = tempfile.mkdtemp(prefix="featureplex-") if local else FileSystems.join(temp_location, f"featureplex-{uuid.uuid4().hex}")
    path = FileSystems.join(scratch, "result.pickle")
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = pipeline | step >> CombineBatches(dataset, columns, batch_rows, factories, path, dictionary_columns)
        with FileSystems.open(path) as handle:
            return tuple(pickle.loads(handle.read()))
    finally:
        if local:
            shutil.rmtree(scratch, ignore_errors=True)
        elif FileSystems.exists(path):
            FileSystems.delete([path])
