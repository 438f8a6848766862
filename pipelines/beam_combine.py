"""One Beam pass over a dataset: record batches -> `features` accumulators -> results back in the driver.

The accumulators (features.contingency, features.interactions, features.anomalies) share one protocol,
add_batch(origin, batch) / merge(others) / compact() / result(), and are picklable, so one CombineFn wraps any of
them; several accumulators fed by the same read become one `SingleInputTupleCombineFn`. The merged
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

from features.dataset import ParquetDataset
from pipelines.beam_io import ReadParquetBatches, pipeline_options


class AccumulatorCombineFn(beam.CombineFn):
    """A CombineFn over (BatchOrigin, RecordBatch) elements around a `features` accumulator factory."""

    def __init__(self, make_accumulator: Callable[[], Any]):
        super().__init__()
        self._make_accumulator = make_accumulator

    def create_accumulator(self):
        return self._make_accumulator()

    def add_input(self, accumulator, element):
        origin, batch = element
        return accumulator.add_batch(origin, batch)

    def merge_accumulators(self, accumulators):
        first, *rest = accumulators
        return first.merge(rest)

    def compact(self, accumulator):
        # before an accumulator is encoded for the merge step: ship one table per key, not one per batch
        return accumulator.compact()

    def extract_output(self, accumulator):
        return accumulator.result()


def _save(result: Any, path: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


class CombineBatches(beam.PTransform):
    """Read the columns, feed every batch to each accumulator, merge, and save the tuple of results."""

    def __init__(self, dataset: ParquetDataset, columns: Sequence[str], batch_rows: int,
                 factories: Sequence[Callable[[], Any]], result_path: str):
        super().__init__()
        self._dataset = dataset
        self._columns = list(columns)
        self._batch_rows = batch_rows
        self._factories = list(factories)
        self._result_path = result_path

    def expand(self, pbegin):
        combine = beam.combiners.SingleInputTupleCombineFn(*(AccumulatorCombineFn(f) for f in self._factories))
        return (
            pbegin
            | "ReadBatches" >> ReadParquetBatches(self._dataset, self._columns, self._batch_rows)
            | "Count" >> beam.CombineGlobally(combine)
            | "SaveResult" >> beam.Map(_save, self._result_path)
        )


def combine_batches(
    dataset: ParquetDataset,
    columns: Sequence[str],
    batch_rows: int,
    factories: Sequence[Callable[[], Any]],
    beam_args: Sequence[str] = (),
    step: str = "Pass",
) -> tuple:
    """Run one pass and return the results of the accumulators made by `factories`, in order."""
    options = pipeline_options(beam_args)
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    local = temp_location is None
    scratch = tempfile.mkdtemp(prefix="featureplex-") if local else FileSystems.join(temp_location, f"featureplex-{uuid.uuid4().hex}")
    path = FileSystems.join(scratch, "result.pickle")
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = pipeline | step >> CombineBatches(dataset, columns, batch_rows, factories, path)
        with FileSystems.open(path) as handle:
            return tuple(pickle.loads(handle.read()))
    finally:
        if local:
            shutil.rmtree(scratch, ignore_errors=True)
        elif FileSystems.exists(path):
            FileSystems.delete([path])
