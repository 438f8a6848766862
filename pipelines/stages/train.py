"""The train stage: a vocab artifact and Parquet data -> a trained CTR model, exported and tracked
(the steps are pipelines.training).

Stage contract: `run(inputs, params, out) -> TrainArtifact`, with `inputs.vocab` the vocab artifact (and
`inputs.rank`, when given, linked to the run). Python API::

    outcome = train_ctr_model(resolve_inputs("data/clicks", "config.yaml"), "artifacts/vocab", "artifacts/train",
                              TrainParams(model="dcn"))
    outcome.metrics["val_auc"], outcome.saved_model
"""

from __future__ import annotations

import os
from typing import Callable

from featureplex.features.data.config import TrainParams
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.pipelines.artifacts.rank import RankArtifact
from featureplex.pipelines.artifacts.train import TrainArtifact
from featureplex.pipelines.inputs import StageInputs
from featureplex.pipelines.training import train_and_export

TrainOutcome = TrainArtifact  # what the Python API returns: the artifact, with the trained model in memory


def run(inputs: StageInputs, params: TrainParams, out: str | os.PathLike, resume: bool = False,
        on_epoch_end: Callable[[int, dict], None] | None = None, callbacks: list | None = None) -> TrainArtifact:
    """Train `params.model` on `inputs.vocab`; export, write the artifact and track the run.

    `callbacks`: Keras callbacks for the training loop (the CLI's progress bar).
    """
    return train_and_export(inputs, params, out, resume, on_epoch_end, callbacks)


def train_ctr_model(
    inputs: StageInputs,
    vocab_dir: str | os.PathLike,
    out: str | os.PathLike,
    params: TrainParams,
    resume: bool = False,
    ranking_dir: str | os.PathLike | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    callbacks: list | None = None,
) -> TrainArtifact:
    """`run` with the vocab artifact (and, when given, the rank artifact linked to the run) read from disk."""
    rank = RankArtifact.read(ranking_dir) if ranking_dir else None
    return run(inputs.with_artifacts(vocab=VocabArtifact.read(vocab_dir), rank=rank), params, out, resume,
               on_epoch_end, callbacks)
