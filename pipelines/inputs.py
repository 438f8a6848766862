"""What every stage takes: the dataset, the validated config, the schema, and the artifacts of the
stages before it, resolved once (`featureplex run` opens the dataset and resolves the schema once for
all its stages and hands each stage's artifact to the next in memory).

Example::

    inputs = resolve_inputs("data/clicks", "config.yaml")
    ranked = rank.run(inputs, inputs.config.rank, "artifacts/rank")
    vocab = vocab.run(inputs.restricted(ranked.recommended), inputs.config.vocab, "artifacts/vocab")
    train.run(inputs.with_artifacts(vocab=vocab), inputs.config.train, "artifacts/train")
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Sequence

from featureplex.features.data.config import FeatureConfig, FeatureplexConfig, load_config
from featureplex.features.data.dataset import ParquetDataset, open_dataset
from featureplex.features.data.schema import DatasetSchema, check_label_values, resolve_schema
from featureplex.features.errors import InputError

if TYPE_CHECKING:
    from featureplex.features.embedding.vocab_artifact import VocabArtifact
    from featureplex.pipelines.artifacts.rank import RankArtifact


@dataclass(frozen=True)
class StageInputs:
    """A dataset with its config and schema; `vocab` / `rank`: upstream artifacts a stage builds on."""

    dataset: ParquetDataset
    config: FeatureplexConfig
    schema: DatasetSchema
    data_path: str = ""
    beam_args: Sequence[str] = ()
    on_progress: Callable[[str], None] = field(default=lambda message: None, compare=False)
    vocab: VocabArtifact | None = None
    rank: RankArtifact | None = None
    key: str | None = None  # set by `featureplex run`: the stage key its artifact's manifest records

    @cached_property
    def label_counts(self) -> tuple[int, int]:
        """(rows, positives) of the label, every value checked to be 0/1: scanned once per inputs."""
        return check_label_values(self.dataset, self.schema.label)

    def _replaced(self, **changes) -> StageInputs:
        changed = dataclasses.replace(self, **changes)
        if "label_counts" in self.__dict__:  # the same rows: no second scan of the label
            changed.__dict__["label_counts"] = self.label_counts
        return changed

    def with_artifacts(self, **artifacts) -> StageInputs:
        """These inputs with upstream artifacts (`vocab=`, `rank=`) or the stage key (`key=`) set."""
        return self._replaced(**artifacts)

    def restricted(self, kept: Sequence[str]) -> StageInputs:
        """These inputs with every feature outside `kept` ignored: what vocab and train then see."""
        features = dict(self.config.features)
        for spec in self.schema.features:
            if spec.name not in kept:
                features[spec.name] = FeatureConfig(role="ignore")
        config = self.config.model_copy(update={"features": features})
        return self._replaced(config=config, schema=resolve_schema(self.dataset, config, self.schema.label))


def resolve_inputs(data: str | os.PathLike | None, config: str | os.PathLike | FeatureplexConfig | None,
                   label: str | None = None, beam_args: Sequence[str] = (),
                   on_progress: Callable[[str], None] = lambda message: None) -> StageInputs:
    """Open the dataset, validate the config against it and infer the schema."""
    config = config if isinstance(config, FeatureplexConfig) else load_config(config)
    path = data or config.dataset
    if path is None:
        raise InputError("DATA: give a Parquet file, directory or glob (or `dataset:` in the config)")
    dataset = open_dataset(path)
    return StageInputs(dataset, config, resolve_schema(dataset, config, label), os.fspath(path), tuple(beam_args), on_progress)


def read_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not a JSON object ({error.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object of feature values")
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows
