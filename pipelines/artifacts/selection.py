"""The OptFS selection artifact: what the gates kept, written all or nothing.

    gate_logits.npy       every gate's logit at the end of the search (the mask keeps m > 0)
    keep_ratios.json/.tsv per feature: values and rows kept, head rows kept, tail kept
    dropped_fields.json   features whose every gate closed
    optfs_metrics.json    search and retrain metrics, parameters before and after, gates kept
    rank_vs_optfs.tsv     the rank stage's verdicts beside OptFS's (when a rank artifact is at hand)
    gate_histogram.png, keep_ratios.png
    manifest.json
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from featureplex.features.data.artifact_dir import Manifest, atomic_artifact_dir, write_json
from featureplex.features.embedding.pruning import KeepRatio
from featureplex.pipelines.reports.optfs_plots import plot_selection

STAGE = "select"


@dataclass(frozen=True)
class SelectionArtifact:
    logits: np.ndarray
    keep_ratios: dict[str, KeepRatio]
    dropped: list[str]
    summary: dict  # optfs_metrics.json
    rank_vs_optfs: pl.DataFrame | None
    manifest: Manifest

    LOGITS = "gate_logits.npy"
    KEEP_RATIOS = "keep_ratios.json"
    KEEP_RATIOS_TSV = "keep_ratios.tsv"
    DROPPED = "dropped_fields.json"
    METRICS = "optfs_metrics.json"
    RANK_VS_OPTFS = "rank_vs_optfs.tsv"
    HISTOGRAM = "gate_histogram.png"
    BARS = "keep_ratios.png"


    def write(self, out: str | os.PathLike) -> Path:
        with atomic_artifact_dir(out) as staging:
            np.save(staging / self.LOGITS, self.logits)
            write_json(staging / self.KEEP_RATIOS, {name: asdict(r) for name, r in self.keep_ratios.items()})
            pl.DataFrame([asdict(ratio) for ratio in self.keep_ratios.values()]).write_csv(staging / self.KEEP_RATIOS_TSV, separator="\t")
            write_json(staging / self.DROPPED, self.dropped)
            write_json(staging / self.METRICS, self.summary)
            outputs = [self.LOGITS, self.KEEP_RATIOS, self.KEEP_RATIOS_TSV, self.DROPPED, self.METRICS, self.HISTOGRAM, self.BARS]
            if self.rank_vs_optfs is not None:
                self.rank_vs_optfs.write_csv(staging / self.RANK_VS_OPTFS, separator="\t", float_precision=6)
                outputs.append(self.RANK_VS_OPTFS)
            plot_selection(self.logits, self.keep_ratios, staging / self.HISTOGRAM, staging / self.BARS)
            self.manifest.with_outputs(tuple(outputs)).write(staging)
        return Path(out)

    @classmethod
    def read(cls, path: str | os.PathLike) -> SelectionArtifact:
        root = Path(path)
        ratios = {name: KeepRatio(**entry) for name, entry in json.loads((root / cls.KEEP_RATIOS).read_text()).items()}
        table = pl.read_csv(root / cls.RANK_VS_OPTFS, separator="\t") if (root / cls.RANK_VS_OPTFS).is_file() else None
        return cls(np.load(root / cls.LOGITS), ratios, json.loads((root / cls.DROPPED).read_text()),
                   json.loads((root / cls.METRICS).read_text()), table, Manifest.read(root, STAGE))
