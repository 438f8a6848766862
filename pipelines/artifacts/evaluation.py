"""The evaluate artifact: a model's metrics on labelled data, written all or nothing.

    metrics.json       auc, logloss, gauc (with a user column), calibration, mean_prediction, observed_ctr,
                       rows, positives
    reliability.csv    the equal-count bins: rows, mean prediction, observed CTR, lowest / highest prediction
    reliability.png    the reliability plot (pipelines.reports.reliability)
    manifest.json      the data's fingerprint, the model, the label / user columns
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from featureplex.features.data.artifact_dir import Manifest, atomic_artifact_dir, write_json
from featureplex.pipelines.reports.reliability import plot_reliability

STAGE = "evaluate"


@dataclass(frozen=True)
class EvaluationArtifact:
    metrics: dict
    bins: pl.DataFrame  # models.metrics.reliability_bins
    manifest: Manifest

    METRICS = "metrics.json"
    BINS = "reliability.csv"
    PLOT = "reliability.png"

    def write(self, out: str | os.PathLike) -> EvaluationArtifact:
        with atomic_artifact_dir(out) as staging:
            write_json(staging / self.METRICS, self.metrics)
            self.bins.write_csv(staging / self.BINS)
            plot_reliability(self.bins, self.metrics, staging / self.PLOT)
            self.manifest.with_outputs((self.METRICS, self.BINS, self.PLOT)).write(staging)
        return self

    @classmethod
    def read(cls, path: str | os.PathLike) -> EvaluationArtifact:
        root = Path(path)
        return cls(json.loads((root / cls.METRICS).read_text()), pl.read_csv(root / cls.BINS), Manifest.read(root, STAGE))
