"""The train artifact: a trained CTR model exported with what describes it, written all or nothing.

    saved_model/          the SavedModel whose serving_default takes raw features (serving.export)
    model_card.json       model, features, inputs, layout, data fingerprint, metrics, MLflow ids
    metrics.json          best validation metrics and the best epoch
    history.json          one record per epoch
    input_example.jsonl   a few raw rows, for MLflow's input example and `featureplex register`
    training_curve.png    AUC and logloss per epoch
    model_summary.txt     the Keras summary
    manifest.json

`checkpoints/` beside these files is the training's own (kept across kills, so `--resume` continues)
and is carried over when the artifact is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featureplex.features.data.artifact_dir import Manifest, atomic_artifact_dir, write_json
from featureplex.pipelines.reports.training_curve import plot_training_curve

STAGE = "train"
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class TrainArtifact:
    saved_model: Path  # where the SavedModel is (a staging copy until written, then out/saved_model)
    card: dict
    history: list[dict]
    input_example: list[dict]
    model_summary: str
    manifest: Manifest
    model: Any = field(default=None, compare=False)  # the trained Keras model (in memory only)
    raw_specs: dict = field(default_factory=dict, compare=False)  # its raw inputs: name -> tf.TypeSpec

    SAVED_MODEL = "saved_model"
    CARD = "model_card.json"
    METRICS = "metrics.json"
    HISTORY = "history.json"
    INPUT_EXAMPLE = "input_example.jsonl"
    CURVE = "training_curve.png"
    SUMMARY = "model_summary.txt"

    @property
    def metrics(self) -> dict:
        return self.card["metrics"]

    @property
    def run_id(self) -> str:
        return self.card["mlflow_run_id"]

    @property
    def model_uri(self) -> str:
        return self.card["mlflow_model_uri"]

    @property
    def best_epoch(self) -> int:
        return self.metrics["best_epoch"]

    def write(self, out: str | os.PathLike) -> TrainArtifact:
        """All files into `out` (its checkpoints kept); the SavedModel is moved in. Returns the written artifact."""
        out = Path(out)
        with atomic_artifact_dir(out, keep=(CHECKPOINTS,)) as staging:
            os.replace(self.saved_model, staging / self.SAVED_MODEL)
            write_json(staging / self.CARD, self.card)
            write_json(staging / self.METRICS, self.metrics)
            write_json(staging / self.HISTORY, self.history)
            (staging / self.INPUT_EXAMPLE).write_text("".join(json.dumps(row) + "\n" for row in self.input_example))
            (staging / self.SUMMARY).write_text(self.model_summary)
            plot_training_curve(self.history, staging / self.CURVE)
            self.manifest.with_outputs((self.SAVED_MODEL, self.CARD, self.METRICS, self.HISTORY, self.INPUT_EXAMPLE,
                                        self.CURVE, self.SUMMARY)).write(staging)
        return TrainArtifact(out / self.SAVED_MODEL, self.card, self.history, self.input_example, self.model_summary,
                             self.manifest, self.model, self.raw_specs)

    @classmethod
    def read(cls, path: str | os.PathLike) -> TrainArtifact:
        root = Path(path)
        manifest = Manifest.read(root, STAGE)
        example = [json.loads(line) for line in (root / cls.INPUT_EXAMPLE).read_text().splitlines() if line.strip()]
        return cls(root / cls.SAVED_MODEL, json.loads((root / cls.CARD).read_text()),
                   json.loads((root / cls.HISTORY).read_text()), example, (root / cls.SUMMARY).read_text(), manifest)

    def run_metrics(self) -> dict[str, float]:
        """What a tracked run records of this artifact (its training run has the rest)."""
        return {f"final_{name}": float(value) for name, value in self.metrics.items()}

    def logged_files(self, root: Path) -> list[Path]:
        """What a tracked run logs of this artifact (the SavedModel goes in as the pyfunc model)."""
        return [root / name for name in (self.CURVE, self.SUMMARY, self.CARD, self.HISTORY)]
