"""The vocab artifact: what ties the data's categorical values to rows of the multiplexed table.

Files (owned here, nowhere else):

    layout.json           the table layout (features.embedding.layout.Layout)
    vocab/<feature>.txt   each feature's head tokens in row order, one per line, most frequent first
    counts.parquet        feature, token, count of every value seen (not in a pruned artifact)
    manifest.json         stage, inputs, parameters, outputs, timings

The vocab stage writes it from merged counts; OptFS writes a pruned one (its kept tokens, no counts);
the model's preprocessing layer and the train stage read it. Equal layouts and counts give equal bytes.

Example::

    artifact = VocabArtifact.from_counts(counts, layout, Manifest("vocab"))
    artifact.write("artifacts/vocab")
    again = VocabArtifact.read("artifacts/vocab")   # again.layout, again.vocabularies
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import polars as pl

from featureplex.features.data.artifact_dir import Manifest, atomic_artifact_dir
from featureplex.features.embedding.layout import Layout, head_tokens
from featureplex.features.embedding.vocabulary import COUNT, TOKEN, ValueCounts
from featureplex.features.errors import InputError

STAGE = "vocab"


@dataclass(frozen=True)
class VocabArtifact:
    """A layout, each feature's head tokens in row order, and (optionally) the counts of every value."""

    layout: Layout
    vocabularies: Mapping[str, Sequence[str] | pl.Series]
    counts: pl.DataFrame | None
    manifest: Manifest

    LAYOUT = "layout.json"
    COUNTS = "counts.parquet"
    VOCAB_DIR = "vocab"

    @classmethod
    def from_counts(cls, counts: ValueCounts, layout: Layout, manifest: Manifest) -> VocabArtifact:
        """The artifact of a layout built from `counts`: the head tokens are each feature's top values."""
        return cls(layout, {name: head_tokens(counts, layout, name) for name in layout.features}, counts.frame(), manifest)

    @staticmethod
    def vocabulary_file(feature: str) -> str:
        if feature in ("", ".", "..") or any(char in feature for char in "/\\\0"):
            raise InputError(f"feature '{feature}': the name cannot be a vocabulary file name (vocab/<feature>.txt)")
        return f"{VocabArtifact.VOCAB_DIR}/{feature}.txt"

    def write(self, out: str | os.PathLike) -> Path:
        """All files into `out`, all or nothing."""
        files = {name: self.vocabulary_file(name) for name in self.layout.features}
        with atomic_artifact_dir(out) as staging, ThreadPoolExecutor(1) as writer:
            (staging / self.VOCAB_DIR).mkdir()
            outputs = [self.LAYOUT, *files.values()]
            counts_written = None
            if self.counts is not None:
                # polars writes twice as fast as pyarrow here, but cuts row groups at chunk boundaries, and
                # those depend on how the counts were grouped: one chunk, so equal counts give equal bytes.
                # Written on a thread (polars releases the GIL) while the vocabulary files are.
                counts = self.counts
                counts_written = writer.submit(
                    lambda: counts.rechunk().write_parquet(staging / self.COUNTS, compression="zstd", compression_level=1))
                outputs.append(self.COUNTS)
            for name, file in files.items():
                with open(staging / file, "wb") as handle:  # one token per line, as they are
                    pl.Series(TOKEN, self.vocabularies[name], dtype=pl.String).to_frame().write_csv(
                        handle, include_header=False, quote_style="never", line_terminator="\n")
            (staging / self.LAYOUT).write_text(self.layout.to_json(), encoding="utf-8")
            if counts_written is not None:
                counts_written.result()
            self.manifest.with_outputs(tuple(outputs)).write(staging)
        return Path(out)

    @classmethod
    def read(cls, path: str | os.PathLike, with_counts: bool = False) -> VocabArtifact:
        """The layout and each feature's head tokens (and the counts when asked) of a vocab artifact."""
        root = Path(path)
        if not (root / cls.LAYOUT).is_file():
            raise InputError(f"{root}: not a vocab artifact (no {cls.LAYOUT})")
        layout = Layout.from_json((root / cls.LAYOUT).read_text(encoding="utf-8"))
        vocabularies = {}
        for feature, spec in layout.features.items():
            file = root / cls.vocabulary_file(feature)
            vocabularies[feature] = file.read_bytes().decode("utf-8").split("\n")[:-1]
            if len(vocabularies[feature]) != spec.head_rows:
                raise InputError(f"{file}: {len(vocabularies[feature])} tokens, {cls.LAYOUT} says {spec.head_rows}")
        counts = None
        if with_counts:
            if not (root / cls.COUNTS).is_file():
                raise InputError(f"{root / cls.COUNTS}: not found (the vocab artifact's counts are needed here)")
            counts = pl.read_parquet(root / cls.COUNTS)
        manifest = Manifest.read(root) if (root / "manifest.json").is_file() else Manifest(STAGE)
        return cls(layout, vocabularies, counts, manifest)

    def run_metrics(self) -> dict[str, float]:
        """What a tracked run records of this artifact."""
        return {"embedding_parameters": self.layout.parameters, "head_rows": self.layout.head_rows,
                "features": len(self.layout.features)}

    def logged_files(self, root: Path) -> list[Path]:
        """What a tracked run logs of this artifact."""
        return [root / self.LAYOUT]

    def layout_sha256(self) -> str:
        """The hash of layout.json's bytes: what ties a trained model to the layout it was built on."""
        return hashlib.sha256(self.layout.to_json().encode("utf-8")).hexdigest()

    def head_counts(self) -> dict[str, list[int]]:
        """Occurrences of each head token, in row order (0 for a token the counts do not hold)."""
        if self.counts is None:
            raise InputError("the vocab artifact's counts are needed for the keep ratios")
        result = {}
        for name, tokens in self.vocabularies.items():
            found = self.counts.filter(pl.col("feature") == name).select(TOKEN, COUNT)
            ordered = pl.DataFrame({TOKEN: pl.Series(list(tokens), dtype=pl.String)}).join(found, on=TOKEN, how="left")
            result[name] = ordered[COUNT].fill_null(0).cast(pl.Int64).to_list()
        return result
