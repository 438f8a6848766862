"""The register stage's artifact: the model URI (`models:/NAME@ALIAS`) a registration produced."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from featureplex.features.data.artifact_dir import Manifest, atomic_artifact_dir

STAGE = "register"


@dataclass(frozen=True)
class RegistrationArtifact:
    model_uri: str
    manifest: Manifest

    MODEL_URI = "model_uri.txt"

    def write(self, out: str | os.PathLike) -> Path:
        with atomic_artifact_dir(out) as staging:
            (staging / self.MODEL_URI).write_text(self.model_uri + "\n")
            self.manifest.with_outputs((self.MODEL_URI,)).write(staging)
        return Path(out)

    @classmethod
    def read(cls, path: str | os.PathLike) -> RegistrationArtifact:
        root = Path(path)
        return cls((root / cls.MODEL_URI).read_text().strip(), Manifest.read(root, STAGE))
