"""Artifact directories: written to a temporary sibling, renamed into place at the end.

A crash leaves either the previous artifact or none, never half of one (DESIGN.md section 2).
Every artifact carries a `manifest.json` describing the stage that made it. On an object store
(gs://, s3://), which has no atomic rename, the artifact is staged locally and published with its
manifest last: an artifact without a manifest is incomplete, and readers treat it as absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pyarrow.fs as pafs

from features.dataset import filesystem_of, is_uri

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@contextlib.contextmanager
def atomic_artifact_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh local staging directory; on success it replaces `out`, on error it is removed."""
    if is_uri(os.fspath(out)):
        with _staged_for_upload(os.fspath(out)) as staging:
            yield staging
        return
    final = Path(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in (*final.parent.glob(f".{final.name}.tmp-*"), *final.parent.glob(f".{final.name}.old-*")):
        shutil.rmtree(stale, ignore_errors=True)  # left by a writer that was killed: never a whole artifact
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    if final.exists():
        retired = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        final.rename(retired)
    staging.rename(final)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def _staged_for_upload(out: str) -> Iterator[Path]:
    staging = Path(tempfile.mkdtemp(prefix="featureplex-artifact-"))
    try:
        yield staging
        filesystem, inner = filesystem_of(out)
        if filesystem.get_file_info(inner).type != pafs.FileType.NotFound:
            filesystem.delete_dir(inner)
        filesystem.create_dir(inner)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        for path in sorted(files, key=lambda p: p.name == MANIFEST):  # the manifest last: it marks completion
            target = f"{inner}/{path.relative_to(staging).as_posix()}"
            filesystem.create_dir(target.rsplit("/", 1)[0])
            pafs.copy_files(str(path), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=filesystem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Stable JSON (sorted keys, fixed indent) so equal content gives equal bytes."""
    Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def file_fingerprint(path: str | os.PathLike) -> str:
    """Content hash of one file: what a manifest records about its inputs."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(
    artifact_dir: str | os.PathLike,
    *,
    stage: str,
    inputs: dict[str, Any],
    parameters: dict[str, Any],
    outputs: list[str],
    timings: dict[str, float] | None = None,
) -> None:
    """The manifest of an artifact. Timings are kept apart from everything that must be reproducible."""
    write_json(
        Path(artifact_dir) / MANIFEST,
        {
            "stage": stage,
            "format_version": FORMAT_VERSION,
            "inputs": inputs,
            "parameters": parameters,
            "outputs": sorted(outputs),
            "timings": timings or {},
        },
    )


class Stopwatch:
    """Named wall-clock timings for a manifest."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)
