"""Shared fixtures: small Parquet datasets and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 600) -> CliResult:
    """Run `featureplex ARGS` in a fresh interpreter, as a user would."""
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        cwd=cwd or REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


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
def cli():
    return run_cli
