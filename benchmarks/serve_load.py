"""Bounded load test on 127.0.0.1: `featureplex serve` vs `mlflow models serve` on the same model.

For each server and request size (1 and 256 rows), `--clients` concurrent clients send requests for
`--seconds` seconds, then stop. Prints requests/s, rows/s, p50 / p99 latency and errors, and the
ratios ours / MLflow's. Both servers run one worker process; the load generator shares the machine
with them, equally for both.

    .venv/bin/python benchmarks/serve_load.py                      # trains a small model first
    .venv/bin/python benchmarks/serve_load.py --train-dir DIR      # a `featureplex train --out` directory
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port, wait_for_http  # noqa: E402


def train_small_model(root: Path) -> Path:
    from pipelines.command_inputs import resolve_inputs
    from pipelines.synth import generate_synthetic
    from pipelines.train_flow import train_ctr_model
    from pipelines.vocab_pipeline import build_vocabulary

    generate_synthetic(root / "data", rows=20_000, seed=0)
    (root / "config.yaml").write_text("features: {leak_label: {role: ignore}}\n")
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    inputs = resolve_inputs(str(root / "data"), str(root / "config.yaml"), None)
    train_ctr_model(inputs, str(root / "vocab"), root / "train", inputs.config.train.model_copy(update={"epochs": 1}))
    return root / "train"


def request_rows(train_dir: Path, size: int) -> list[dict]:
    card = json.loads((train_dir / "model_card.json").read_text())
    example = [json.loads(line) for line in (train_dir / "input_example.jsonl").read_text().splitlines()]
    names = list(card["inputs"])
    rows = example * (size // len(example) + 1)
    return [{name: row[name] for name in names} for row in rows[:size]]


async def load(url: str, body: dict, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    payload = json.dumps(body).encode()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                response = await http.post(url, content=payload, headers={"content-type": "application/json"})
                if response.status_code != 200:
                    errors += 1
                    continue
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latency = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": float(np.percentile(latency, 50)) if latencies else float("nan"),
            "p99": float(np.percentile(latency, 99)) if latencies else float("nan")}


def start(command: list[str], health: str, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(health, process, timeout=300)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-dir", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sizes", default="1,256")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    tracking = f"sqlite:///{work}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    train_dir = args.train_dir or train_small_model(work)
    card = json.loads((train_dir / "model_card.json").read_text())
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": path, "MLFLOW_TRACKING_URI": tracking}

    servers = {
        "featureplex": lambda port: ([sys.executable, "-m", "pipelines.cli", "serve", str(train_dir / "saved_model"),
                                      "--port", str(port)], "/healthz", "/v1/models/default:predict", "instances"),
        "mlflow": lambda port: ([sys.executable, "-m", "mlflow", "models", "serve", "-m", card["mlflow_model_uri"],
                                 "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                                "/ping", "/invocations", "dataframe_records"),
    }
    results: dict[tuple[str, int], dict] = {}
    for name, make in servers.items():
        port = free_port()
        command, health, predict, key = make(port)
        process = start(command, f"http://127.0.0.1:{port}{health}", env)
        try:
            for size in map(int, args.sizes.split(",")):
                body = {key: request_rows(train_dir, size)}
                asyncio.run(load(f"http://127.0.0.1:{port}{predict}", body, args.clients, 2.0))  # warm-up
                results[(name, size)] = asyncio.run(load(f"http://127.0.0.1:{port}{predict}", body, args.clients, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)

    print(f"{args.clients} clients, {args.seconds:.0f} s per measurement, 127.0.0.1")
    print(f"{'server':<12} {'rows':>5} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for (name, size), r in results.items():
        print(f"{name:<12} {size:>5} {r['rps']:>9.1f} {r['rps'] * size:>10.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['errors']:>7}")
    for size in map(int, args.sizes.split(",")):
        ours, theirs = results[("featureplex", size)], results[("mlflow", size)]
        print(f"{size}-row requests: throughput x{ours['rps'] / theirs['rps']:.2f} of MLflow's, "
              f"p99 {ours['p99'] / theirs['p99']:.2f} of MLflow's (goal: >= 2x, <= 0.5)")


if __name__ == "__main__":
    main()
