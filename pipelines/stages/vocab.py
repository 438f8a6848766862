"""The vocab stage: Parquet row groups -> merged value counts (one Beam pass) -> layout -> vocab artifact.

Counting, merging and laying out are `features.embedding.vocabulary` and `features.embedding.layout`,
unit-tested without Beam. Counts merge exactly and the layout is built once from the merged counts in
the driver, so the artifact (features.embedding.vocab_artifact) is byte-identical whatever the runner
and number of workers.

Stage contract: `run(inputs, params, out) -> VocabArtifact`. Python API::

    layout = build_vocabulary("data/clicks", "config.yaml", "artifacts/vocab")
"""

from __future__ import annotations

import os
import warnings
from functools import partial
from typing import Sequence

from featureplex.features.data.artifact_dir import Manifest, Stopwatch
from featureplex.features.data.config import FeatureplexConfig, VocabParams
from featureplex.features.data.dataset import DEFAULT_BATCH_ROWS, ParquetDataset, mostly_plain, text_columns
from featureplex.features.data.schema import DatasetSchema, Kind
from featureplex.features.embedding.layout import EmptyVocabularyWarning, Layout, build_layout
from featureplex.features.embedding.vocab_artifact import STAGE, VocabArtifact
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.features.errors import InputError
from featureplex.pipelines.beam.pass_spec import PassSpec
from featureplex.pipelines.inputs import StageInputs, resolve_inputs

VALUE_COUNTS = "value_counts"


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


def run(inputs: StageInputs, params: VocabParams, out: str | os.PathLike | None,
        batch_rows: int = DEFAULT_BATCH_ROWS) -> VocabArtifact:
    """Count the values, lay out the table and write the artifact to `out` (when given).

    Every check that does not need the counts (columns, types, budgets, feature options) runs before
    the pipeline starts, so bad input fails fast with an InputError and writes nothing. Features whose
    vocabulary came out empty are reported as `EmptyVocabularyWarning`s.
    """
    dataset, overrides = inputs.dataset, inputs.config.features
    # a vocabulary needs no label, but labels that are not 0/1, or no rows at all, are data the user did not mean
    _rows, _positives = inputs.label_counts
    empty = vocabulary_columns(inputs.schema)
    if not empty.features:
        raise InputError(f"{inputs.data_path}: no categorical or sequence feature to build a vocabulary for")
    empty.check_schema(dataset.schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyVocabularyWarning)
        build_layout(empty, params, overrides)  # budget and option errors, before any work
    from featureplex.pipelines.beam.passes import run_passes  # Beam logs to stderr on import: only for good input

    count = PassSpec("CountVocabulary", (*empty.categorical, *empty.sequences),
                     ((VALUE_COUNTS, partial(ValueCounts, empty.categorical, empty.sequences)),),
                     tuple(dictionary_columns(empty, dataset)))
    stopwatch = Stopwatch()
    inputs.on_progress(f"counting values in {inputs.data_path}")
    with stopwatch.time("count"):
        counts = run_passes(dataset, batch_rows, count, beam_args=inputs.beam_args, step="Vocabulary").first[VALUE_COUNTS]
    with stopwatch.time("layout"):
        layout = build_layout(counts, params, overrides)
    manifest = Manifest(STAGE, inputs={"data": inputs.data_path, "fingerprint": dataset.fingerprint(), "rows": dataset.num_rows},
                        parameters={"vocab": params.model_dump(),
                                    "features": {name: spec.model_dump(exclude_none=True) for name, spec in sorted(overrides.items())},
                                    "batch_rows": batch_rows},
                        timings=stopwatch.timings, key=inputs.key)
    artifact = VocabArtifact.from_counts(counts, layout, manifest)
    if out is not None:
        artifact.write(out)
    return artifact


def build_vocabulary(
    data_path: str | os.PathLike,
    config: FeatureplexConfig | str | os.PathLike | None,
    out: str | os.PathLike,
    beam_args: Sequence[str] = (),
    label: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Layout:
    """Run the vocab stage on `data_path` and return the layout it wrote to `out`."""
    inputs = resolve_inputs(data_path, config, label, beam_args)
    return run(inputs, inputs.config.vocab, out, batch_rows).layout
