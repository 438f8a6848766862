"""The rank artifact (DESIGN.md section 2): everything the rank stage found, written atomically:

    ranking.parquet / ranking.tsv   one row per feature, best first (features.scoring.ranking.RANKING_SCHEMA)
    interactions.parquet            one row per pool pair, by interaction gain (features.scoring.interactions)
    redundancy.parquet              one row per pool pair, by MI(a;b)/min(H(a),H(b))
    selection.json                  the greedy selection: recommended features in order, redundant drops
    anomalies.json                  per-feature checks, drift windows, skipped columns (features.scoring.anomalies)
    report.html                     self-contained report with embedded PNG plots (pipelines.reports.rank_report)
    manifest.json                   stage, input fingerprint, parameters, outputs, timings

Everything but the manifest's timings is a pure function of the counts, so equal inputs give
byte-identical files whatever the number of workers.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from featureplex.features.data.artifact_dir import MANIFEST, Manifest, atomic_artifact_dir, write_json
from featureplex.features.scoring.selection import Choice
from featureplex.pipelines.artifacts.parquet import write_parquet

STAGE = "rank"


@dataclass(frozen=True)
class RankArtifact:
    ranking: pl.DataFrame
    interactions: pl.DataFrame
    redundancy: pl.DataFrame
    anomalies: dict
    selection: list[Choice]
    recommended: list[str]  # features.scoring.selection.recommended_features: the selection and top pairs
    pool: list[str]
    rows: int
    positives: int
    heuristic: str
    manifest: Manifest

    RANKING = "ranking.parquet"
    RANKING_TSV = "ranking.tsv"
    INTERACTIONS = "interactions.parquet"
    REDUNDANCY = "redundancy.parquet"
    SELECTION = "selection.json"
    ANOMALIES = "anomalies.json"
    REPORT = "report.html"

    def selection_payload(self) -> dict:
        return {
            "recommended": self.recommended,
            "choices": [asdict(choice) for choice in self.selection],
            "interaction_pool": self.pool,
        }

    def write(self, out: str | os.PathLike) -> Path:
        """All files into `out` (replaced whole on success, untouched on failure)."""
        from featureplex.pipelines.reports.rank_report import render_report

        with atomic_artifact_dir(out) as staging:
            write_parquet(self.ranking, staging / self.RANKING)
            self.ranking.write_csv(staging / self.RANKING_TSV, separator="\t")
            write_parquet(self.interactions, staging / self.INTERACTIONS)
            write_parquet(self.redundancy, staging / self.REDUNDANCY)
            write_json(staging / self.SELECTION, self.selection_payload())
            write_json(staging / self.ANOMALIES, self.anomalies)
            (staging / self.REPORT).write_text(render_report(self))
            self.manifest.with_outputs((self.RANKING, self.RANKING_TSV, self.INTERACTIONS, self.REDUNDANCY,
                                        self.SELECTION, self.ANOMALIES, self.REPORT, MANIFEST)).write(staging)
        return Path(out)

    @classmethod
    def read(cls, path: str | os.PathLike) -> RankArtifact:
        root = Path(path)
        manifest = Manifest.read(root, STAGE)
        selection = json.loads((root / cls.SELECTION).read_text())
        anomalies = json.loads((root / cls.ANOMALIES).read_text())
        return cls(
            pl.read_parquet(root / cls.RANKING), pl.read_parquet(root / cls.INTERACTIONS),
            pl.read_parquet(root / cls.REDUNDANCY), anomalies, [Choice(**choice) for choice in selection["choices"]],
            selection["recommended"], selection["interaction_pool"], anomalies["label"]["rows"], anomalies["label"]["positives"],
            manifest.parameters["heuristic"], manifest,
        )

    def run_metrics(self) -> dict[str, float]:
        """What a tracked run records of this artifact."""
        return {"rows": self.rows, "features": self.ranking.height, "features_recommended": len(self.recommended)}

    def logged_files(self, root: Path) -> list[Path]:
        """What a tracked run logs of this artifact."""
        return [root / name for name in (self.REPORT, self.RANKING_TSV, self.ANOMALIES, self.SELECTION)]
