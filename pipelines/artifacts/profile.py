"""The profile artifact: profile.parquet (one flat row per column), profile.json (with top values and
quantiles), manifest.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from featureplex.features.data.artifact_dir import MANIFEST, Manifest, atomic_artifact_dir, write_json
from featureplex.pipelines.artifacts.parquet import write_parquet

STAGE = "profile"


@dataclass(frozen=True)
class ProfileArtifact:
    frame: pl.DataFrame  # one row per column (the label first)
    details: dict  # rows, timestamp range, per-column entries, skipped columns
    manifest: Manifest

    PROFILE = "profile.parquet"
    PROFILE_JSON = "profile.json"

    def write(self, out: str | os.PathLike) -> Path:
        with atomic_artifact_dir(out) as staging:
            write_parquet(self.frame, staging / self.PROFILE)
            write_json(staging / self.PROFILE_JSON, self.details)
            self.manifest.with_outputs((self.PROFILE, self.PROFILE_JSON, MANIFEST)).write(staging)
        return Path(out)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ProfileArtifact:
        root = Path(path)
        manifest = Manifest.read(root, STAGE)
        return cls(pl.read_parquet(root / cls.PROFILE), json.loads((root / cls.PROFILE_JSON).read_text()), manifest)

    def run_metrics(self) -> dict[str, float]:
        """What a tracked run records of this artifact."""
        return {"rows": self.details["rows"], "columns": self.frame.height}

    def logged_files(self, root: Path) -> list[Path]:
        """What a tracked run logs of this artifact."""
        return [root / self.PROFILE_JSON]
