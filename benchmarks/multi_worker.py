"""`featureplex train` on 1 and 2 local workers (MultiWorkerMirroredStrategy over gRPC on 127.0.0.1), side by
side, and the arithmetic of N workers on a cluster.

Both runs train the same model on the same synthetic data with the same global batch and epochs
(`--workers 1` is the single process; `--workers 2` starts two worker processes, each reading half of
the row groups at batch / 2 rows per step). Throughput is the history's `train_examples_per_second`
(every worker's training rows / the wall-clock seconds of the epoch's steps) of the last epoch, when
start-up is over; the wall clock is the whole command (TensorFlow's import and the workers' start-up
included). On a 2-core machine 2 workers cannot be faster than 1: the ratio is the overhead.

The cluster arithmetic: a ring all-reduce of P parameter bytes sends and receives 2 (N - 1) / N * P bytes
per worker per step; at a link of B bytes/s that is a floor on a step's time, against the step's compute
(the single process's seconds per step for the global batch, split N ways).

    nice -n 5 .venv/bin/python benchmarks/multi_worker.py                      # 200k rows into .bench/multi_worker
    nice -n 5 .venv/bin/python benchmarks/multi_worker.py --rows 50000 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CONFIG = "user: user_id\nfeatures:\n  leak_label: {role: ignore}\n  noise_row_id: {role: ignore}\nvocab: {dimension: 16, budget_parameters: 1000000}\n"
LINK_BYTES_PER_SECOND = {"10 Gbit/s": 1.25e9, "100 Gbit/s": 12.5e9}


def prepare(root: Path, rows: int) -> None:
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.stages.vocab import build_vocabulary

    if (root / "vocab").exists():
        return
    generate_synthetic(root / "data", rows=rows, seed=0, row_group_rows=max(rows // 8, 1))
    (root / "config.yaml").write_text(CONFIG)
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")


def train(root: Path, workers: int, epochs: int, batch: int) -> dict:
    """One `featureplex train --workers N` run: its wall clock, last-epoch throughput and parameter count."""
    out = root / f"train-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "featureplex.pipelines.cli", "train", str(root / "data"), "--config",
               str(root / "config.yaml"), "--vocab", str(root / "vocab"), "--out", str(out), "--allow-suspect-columns",
               "--model", "dnn", "--epochs", str(epochs), "--batch-size", str(batch), "--workers", str(workers)]
    environ = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    started = time.perf_counter()
    completed = subprocess.run(command, env=environ, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode:
        raise SystemExit(f"workers={workers}: {completed.stderr.strip().splitlines()[-1]}")
    history = json.loads((out / "history.json").read_text())
    total = re.search(r"Total params: ([\d,]+)", (out / "model_summary.txt").read_text())
    return {"seconds": seconds, "throughput": history[-1]["train_examples_per_second"],
            "val_auc": max(record["val_auc"] for record in history), "parameters": int(total.group(1).replace(",", ""))}


def cluster_arithmetic(parameters: int, single_throughput: float, batch: int) -> list[str]:
    """Per step: all-reduce bytes per worker and their time at each link speed, against the compute share."""
    parameter_bytes = parameters * 4
    step_seconds = batch / single_throughput
    lines = [f"parameters {parameters:,} (float32: {parameter_bytes:,} bytes); one process: {step_seconds * 1e3:.1f} ms "
             f"per step of {batch} rows",
             "| workers | all-reduce bytes per worker per step | " + " | ".join(f"at {name}" for name in LINK_BYTES_PER_SECOND)
             + " | compute per step (1/N of one process's) |",
             "|---:|---:|" + "---:|" * len(LINK_BYTES_PER_SECOND) + "---:|"]
    for workers in (2, 4, 8, 16, 32):
        moved = 2 * (workers - 1) / workers * parameter_bytes
        times = " | ".join(f"{moved / speed * 1e3:.2f} ms" for speed in LINK_BYTES_PER_SECOND.values())
        lines.append(f"| {workers} | {moved:,.0f} | {times} | {step_seconds / workers * 1e3:.1f} ms |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--root", type=Path, default=REPO / ".bench" / "multi_worker")
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    prepare(args.root, args.rows)
    results = {workers: train(args.root, workers, args.epochs, args.batch) for workers in (1, 2)}
    print(f"{args.rows:,} rows, batch {args.batch} (global), {args.epochs} epochs, dnn; load average {os.getloadavg()[0]:.2f}")
    print("| workers | examples/s (last epoch) | wall clock (s) | best val_auc |")
    print("|---:|---:|---:|---:|")
    for workers, result in results.items():
        print(f"| {workers} | {result['throughput']:,.0f} | {result['seconds']:.1f} | {result['val_auc']:.4f} |")
    one, two = results[1], results[2]
    print(f"2 workers / 1: throughput x{two['throughput'] / one['throughput']:.2f}, wall clock x{two['seconds'] / one['seconds']:.2f}")
    print("\n".join(cluster_arithmetic(one["parameters"], one["throughput"], args.batch)))


if __name__ == "__main__":
    main()
