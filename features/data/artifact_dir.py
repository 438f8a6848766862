"""Artifact directories: written to a temporary sibling, renamed into place at the end.

This is the one place that writes an artifact: every artifact class (`write`) fills the staging
directory of `atomic_artifact_dir`. A crash leaves either the previous artifact or none, never half of
one (DESIGN.md section 2). Every artifact carries a `manifest.json` (`Manifest`) describing the stage
that made it. On an object store (gs://, s3://), which has no atomic rename, the artifact is staged
locally and published with its manifest last: an artifact without a manifest is incomplete, and
readers treat it as absent.

A directory is replaced only when it is a featureplex artifact (its manifest says so), empty, or holds
nothing but what the writer keeps (`keep`, e.g. a training's checkpoints): a user's own files are
never deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow.fs as pafs

from featureplex.features.data.dataset import filesystem_of, is_uri
from featureplex.features.errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def check_replaceable(out: str | os.PathLike, keep: tuple[str, ...] = ()) -> None:
    """InputError unless `out` is absent, empty, a featureplex artifact, or holds only the `keep` entries."""
    final = Path(out)
    if is_uri(os.fspath(out)) or not final.exists() and not final.is_symlink():
        return
    if not final.is_dir():
        raise InputError(f"{final}: exists and is not a directory; give --out a new or featureplex-written directory")
    if final.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise InputError(f"{final}: is the working directory (or holds it); give --out a directory of its own")
    if (final / MANIFEST).is_file():
        return
    foreign = sorted(entry.name for entry in final.iterdir() if entry.name not in keep)
    if foreign:
        raise InputError(
            f"{final}: holds files featureplex did not write ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
            "give --out an empty or new directory, or an earlier featureplex artifact"
        )


_HELD: dict[Path, int] = {}  # lock files this process holds, with how many holders (the lock is re-entrant)


@contextlib.contextmanager
def artifact_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold the advisory lock of the artifact `out` (a `.NAME.lock` file beside it): a second featureplex
    process writing the same artifact gets an InputError naming the holder's pid, instead of two writers
    interleaving. Re-entrant within a process. On an object store (gs://) there is no lock: give each
    concurrent job its own output path."""
    if is_uri(os.fspath(out)):
        yield
        return
    final = Path(out).resolve()
    path = final.parent / f".{final.name}.lock"
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    handle = _locked(path, out)
    try:
        _HELD[path] = 1
        yield
    finally:
        del _HELD[path]
        path.unlink(missing_ok=True)  # while held: a waiting process then finds its file gone and retries
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _locked(path: Path, out: str | os.PathLike):
    """The lock file `path`, opened and exclusively locked by this process, with its pid written in."""
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise InputError(f"{out}: another featureplex process (pid {holder}) is writing it; "
                             "wait for it to finish, or give another output directory") from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:  # not removed by a holder that finished meanwhile
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            return handle
        handle.close()


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (signal 0 checks without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _owner_alive(staging: Path) -> bool:
    """Whether the process that made a staging folder (`.NAME.tmp-PID-xxxx`) still runs."""
    try:
        return process_alive(int(staging.name.rsplit("-", 2)[-2]))
    except (ValueError, IndexError):
        return False


@contextlib.contextmanager
def atomic_artifact_dir(out: str | os.PathLike, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a fresh local staging directory; on success it replaces `out`, on error it is removed.

    `keep`: entries of the old `out` moved into the new one before the swap (a training's checkpoints).
    A symlinked `out` is written where it points. The artifact's lock is held throughout.
    """
    check_replaceable(out, keep)
    with artifact_lock(out):
        if is_uri(os.fspath(out)):
            with _staged_for_upload(os.fspath(out)) as staging:
                yield staging
            return
        final = Path(out).resolve() if Path(out).is_symlink() else Path(out)
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in (*final.parent.glob(f".{final.name}.tmp-*"), *final.parent.glob(f".{final.name}.old-*")):
            if not _owner_alive(stale):  # left by a writer that was killed: never a whole artifact
                shutil.rmtree(stale, ignore_errors=True)
        staging = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for name in keep:
            if (final / name).exists():
                (final / name).rename(staging / name)
        retired = None
        if final.exists():
            retired = final.parent / f".{final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
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


@dataclass(frozen=True)
class Manifest:
    """What made an artifact: the stage, its inputs (fingerprints), parameters, the files it wrote and
    timings. Timings are kept apart from everything that must be reproducible. `key`, when set, is the
    hash `featureplex run` compares to skip a stage whose artifact is current."""

    stage: str
    inputs: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    key: str | None = None

    def write(self, artifact_dir: str | os.PathLike) -> None:
        payload = {"stage": self.stage, "format_version": FORMAT_VERSION, "inputs": self.inputs,
                   "parameters": self.parameters, "outputs": sorted(self.outputs), "timings": self.timings}
        if self.key is not None:
            payload["key"] = self.key
        write_json(Path(artifact_dir) / MANIFEST, payload)

    @classmethod
    def read(cls, artifact_dir: str | os.PathLike, stage: str | None = None) -> Manifest:
        """The manifest of `artifact_dir`; InputError when there is none, or it is another stage's."""
        path = Path(artifact_dir) / MANIFEST
        if not path.is_file():
            raise InputError(f"{artifact_dir}: not a featureplex artifact (no {MANIFEST})")
        payload = json.loads(path.read_text())
        if stage is not None and payload.get("stage") != stage:
            raise InputError(f"{artifact_dir}: a '{payload.get('stage')}' artifact, expected a '{stage}' artifact")
        return cls(payload["stage"], payload.get("inputs", {}), payload.get("parameters", {}),
                   tuple(payload.get("outputs", ())), payload.get("timings", {}), payload.get("key"))

    def with_key(self, key: str | None) -> Manifest:
        return dataclasses.replace(self, key=key)

    def with_outputs(self, outputs: tuple[str, ...]) -> Manifest:
        return dataclasses.replace(self, outputs=tuple(outputs))


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
