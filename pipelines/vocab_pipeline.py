"""The vocab stage as a Beam pipeline: Parquet row groups -> merged value counts -> layout -> artifact.

The transform is thin: counting, merging and laying out are `features.vocabulary` and
`features.layout`, unit-tested without Beam. Counts merge exactly and the layout is built once from
the merged counts, so the artifact is byte-identical whatever the runner and number of workers.
`out` must be a path the step that writes it can reach (local, or a filesystem mounted on the workers).
"""

from __future__ import annotations

import os
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import apache_beam as beam

from features.artifacts import Stopwatch
from features.config import FeatureConfig, FeatureplexConfig, VocabParams, load_config
from features.dataset import DEFAULT_BATCH_ROWS, ParquetDataset, mostly_plain, open_dataset, text_columns
from features.errors import InputError
from features.layout import EmptyVocabularyWarning, Layout, LAYOUT_FILE, build_layout, write_vocab_artifact
from features.schema import DatasetSchema, Kind, resolve_schema
from features.vocabulary import ValueCounts
from pipelines.beam_combine import AccumulatorCombineFn, PassResults
from pipelines.beam_io import pipeline_options
from pipelines.pass_spec import PassSpec


def _write_artifact(results: PassResults, out: str, params: VocabParams, overrides: Mapping[str, FeatureConfig],
                    manifest: Mapping[str, Any]) -> str:
    (counts,) = results.values
    stopwatch = Stopwatch()
    with stopwatch.time("layout_and_write"), warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyVocabularyWarning)  # the driver reports them from layout.json
        layout = build_layout(counts, params, overrides)
        write_vocab_artifact(out, layout, counts, timings=stopwatch.timings, **manifest)
    return out


class BuildVocabulary(beam.PTransform):
    """Read the categorical and sequence columns, count values, lay out the table and write the artifact."""

    def __init__(self, dataset: ParquetDataset, schema: DatasetSchema, params: VocabParams,
                 overrides: Mapping[str, FeatureConfig], out: str | os.PathLike,
                 manifest: Mapping[str, Any], batch_rows: int = DEFAULT_BATCH_ROWS):
        super().__init__()
        self._dataset = dataset
        self._counts = vocabulary_columns(schema)
        self._params = params
        self._overrides = dict(overrides)
        self._out = os.fspath(out)
        self._manifest = dict(manifest)
        self._batch_rows = batch_rows

    def expand(self, pbegin):
        # without_defaults: the one combined value flows straight into the write instead of being
        # materialised as a side input (an extra encode and decode); `[None]` keeps an input without
        # row groups producing its (empty) artifact. Create spreads the row groups over the workers itself.
        count_pass = PassSpec((*self._counts.categorical, *self._counts.sequences),
                              (partial(ValueCounts, self._counts.categorical, self._counts.sequences),),
                              tuple(dictionary_columns(self._counts, self._dataset)))
        return (
            pbegin
            | "ListRowGroups" >> beam.Create(self._dataset.row_groups() or [None])
            | "CountValues" >> beam.CombineGlobally(AccumulatorCombineFn(count_pass, self._batch_rows)).without_defaults()
            | "LayOutAndWrite" >> beam.Map(_write_artifact, self._out, self._params, self._overrides, self._manifest)
        )


def dictionary_columns(counts: ValueCounts, dataset: ParquetDataset) -> list[str]:
    """The categorical text columns read as Parquet dictionaries (counting indices is cheaper than hashing
    strings), less the ID-like ones (hashing them into a dictionary would be the same work as counting them)."""
    text = text_columns(dataset, counts.categorical)
    plain = mostly_plain(dataset, text)
    return [column for column in text if column not in plain]


def vocabulary_columns(schema: DatasetSchema) -> ValueCounts:
    """An empty accumulator over the schema's categorical columns and sequences (each sharing a vocabulary)."""
    sequences = {spec.name: spec.shares_with or spec.name for spec in schema.features if spec.kind == Kind.SEQUENCE}
    return ValueCounts(schema.names(Kind.CATEGORICAL), sequences)


def build_vocabulary(
    data_path: str | os.PathLike,
    config: FeatureplexConfig | str | os.PathLike | None,
    out: str | os.PathLike,
    beam_args: Sequence[str] = (),
    label: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Layout:
    """Run the vocab pipeline on `data_path` and return the layout it wrote to `out`.

    Every check that does not need the counts (columns, types, budgets, feature options) runs before
    the pipeline starts, so bad input fails fast with an InputError and writes nothing. Features whose
    vocabulary came out empty are reported as `EmptyVocabularyWarning`s.
    """
    config = config if isinstance(config, FeatureplexConfig) else load_config(config)
    dataset = open_dataset(data_path)
    schema = resolve_schema(dataset, config, label)
    empty = vocabulary_columns(schema)
    if not empty.features:
        raise InputError(f"{data_path}: no categorical or sequence feature to build a vocabulary for")
    empty.check_schema(dataset.schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyVocabularyWarning)
        build_layout(empty, config.vocab, config.features)  # budget and option errors, before any work
    manifest = {
        "inputs": {"data": os.fspath(data_path), "fingerprint": dataset.fingerprint(), "rows": dataset.num_rows},
        "parameters": {
            "vocab": config.vocab.model_dump(),
            "features": {name: spec.model_dump(exclude_none=True) for name, spec in sorted(config.features.items())},
            "batch_rows": batch_rows,
        },
    }
    with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
        _ = pipeline | "Vocabulary" >> BuildVocabulary(dataset, schema, config.vocab, config.features, out, manifest, batch_rows)
    layout = Layout.from_json((Path(out) / LAYOUT_FILE).read_text(encoding="utf-8"))
    for name in layout.empty_vocabularies():
        warnings.warn(layout.empty_vocabulary_message(name), EmptyVocabularyWarning, stacklevel=2)
    return layout
