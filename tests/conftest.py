"""Shared fixtures: small Parquet datasets and a way to run the real CLI."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featureplex.models  # noqa: F401  (Keras 2 before any test module imports tensorflow)

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def _cli_invocation(args, env: dict | None) -> tuple[list[str], dict]:
    """The command line and environment of `featureplex ARGS` run from a source checkout."""
    return [sys.executable, "-m", "featureplex.pipelines.cli", *map(str, args)], {**os.environ, **(env or {})}


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 600) -> CliResult:
    """Run `featureplex ARGS` in a fresh interpreter, as a user would."""
    command, environment = _cli_invocation(args, env)
    completed = subprocess.run(command, cwd=cwd or REPO, env=environment, capture_output=True, text=True, timeout=timeout)
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def start_cli(*args: str, cwd: str | os.PathLike, env: dict | None = None) -> subprocess.Popen:
    """Start `featureplex ARGS` in the background, output discarded: for the tests that kill it midway."""
    command, environment = _cli_invocation(args, env)
    return subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def small_table(rows: int = 500, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "label": pa.array(rng.integers(0, 2, rows), pa.int8()),
            "item_id": pa.array(rng.integers(0, 40, rows), pa.int64()),
            "city": pa.array([f"c{i}" for i in rng.integers(0, 7, rows)]),
            "price": pa.array(rng.normal(size=rows)),
            "history_item_ids": pa.array(
                [list(rng.integers(0, 40, k)) for k in rng.integers(0, 5, rows)], pa.list_(pa.int64())
            ),
            "event_time": pa.array(np.arange(rows), pa.timestamp("s")),
        }
    )


@pytest.fixture
def small_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "small.parquet"
    pq.write_table(small_table(), path, row_group_size=200)
    return path


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """`run_cli` from a scratch directory: an MLflow SQLite store puts its artifacts under ./mlruns of the
    working directory, which must not be the repository."""
    return functools.partial(run_cli, cwd=tmp_path_factory.mktemp("cwd"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, timeout: float = 120) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a temporary SQLite store; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{uri}/health", process)
        yield uri
    finally:
        process.terminate()
        process.wait(timeout=30)
