"""Beam plumbing shared by the feature pipelines: reading Parquet record batches and pipeline options.

`ReadParquetBatches` emits (BatchOrigin, pa.RecordBatch) pairs, one row group per work item, so the
batches (and the random streams seeded from their origins) are the same whatever the runner or the
number of workers. It reads with pyarrow per row group rather than `ReadFromParquetBatched`, which
splits by byte ranges and does not say which file and row a batch came from.
"""

from __future__ import annotations

from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from features.dataset import DEFAULT_BATCH_ROWS, ParquetDataset, RowGroupRef, read_row_group


class _ReadRowGroup(beam.DoFn):
    def __init__(self, columns: Sequence[str] | None, batch_rows: int):
        self._columns = list(columns) if columns is not None else None
        self._batch_rows = batch_rows

    def process(self, ref: RowGroupRef):
        yield from read_row_group(ref, self._columns, self._batch_rows)


class ReadParquetBatches(beam.PTransform):
    """Row groups of a dataset -> (BatchOrigin, RecordBatch), spread across workers."""

    def __init__(self, dataset: ParquetDataset, columns: Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS):
        super().__init__()
        self._dataset = dataset
        self._columns = columns
        self._batch_rows = batch_rows

    def expand(self, pbegin):
        return (
            pbegin
            | "ListRowGroups" >> beam.Create(self._dataset.row_groups())
            | "Spread" >> beam.Reshuffle()
            | "ReadRowGroup" >> beam.ParDo(_ReadRowGroup(self._columns, self._batch_rows))
        )


def pipeline_options(beam_args: Sequence[str] = ()) -> PipelineOptions:
    """Options from pass-through flags; the in-process DirectRunner unless `--runner` is given.

    Beam 2.7x would otherwise pick the Prism runner, which downloads a binary at start.
    """
    args = list(beam_args)
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in args):
        args = ["--runner=DirectRunner", *args]
    return PipelineOptions(args)
