"""Bounded load test on 127.0.0.1: `featureplex serve` vs `mlflow models serve` on the same model.

For each server, number of concurrent clients (`--clients`, 8 and 32) and request mix, the clients
send requests for `--seconds` seconds, then stop. Mixes: `1` and `256` (every request that many
rows) and `long` (each client in turn sends nine 1-row requests and one 100-row request in which
one row has a history of `--long-items` items: issue 23's long-history request, at the server's
default --max-sequence-items). Prints requests/s, rows/s, p50 / p99 latency, errors and 503s (a
client told to Retry-After waits that long), then per mix: ours at 32 clients / ours at 8 (goal: p99
within 2x, throughput not lower) and ours / MLflow's. Both servers run one worker process with
their default options; the load generator shares the machine with them, equally for both.

    .venv/bin/python benchmarks/serve_load.py                      # trains a small model first
    .venv/bin/python benchmarks/serve_load.py --train-dir DIR      # a `featureplex train --out` directory
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port, wait_for_http  # noqa: E402


def train_small_model(root: Path) -> Path:
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.train import train_ctr_model
    from featureplex.pipelines.stages.vocab import build_vocabulary

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


def request_mix(train_dir: Path, mix: str, long_items: int) -> list[list[dict]]:
    """The requests one client sends in turn (a list of rows each)."""
    if mix != "long":
        return [request_rows(train_dir, int(mix))]
    card = json.loads((train_dir / "model_card.json").read_text())
    history = card["features"]["sequence"][0]
    long_request = request_rows(train_dir, 100)
    long_request[0] = {**long_request[0], history: [long_request[0][history][0]] * long_items}
    return [request_rows(train_dir, 1)] * 9 + [long_request]


class KeepAliveConnection:
    """A minimal HTTP/1.1 keep-alive client for the load (POST, Content-Length answers).

    httpx's AsyncClient costs about 3 ms of CPU per request and slows down as connections are
    added: on 2 cores it capped the load at ~300 requests/s with 8 clients and ~130/s with 32,
    even against /healthz, so it measured itself, not the servers."""

    def __init__(self, port: int, path: str):
        self._port, self._path = port, path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, payload: bytes) -> tuple[int, dict[str, str]]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        head = (f"POST {self._path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        self._writer.write(head + payload)
        await self._writer.drain()
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}
        await self._reader.readexactly(int(headers["content-length"]))
        if headers.get("connection") == "close":
            self.close()
        return int(status_line.split()[1]), headers

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def load(port: int, path: str, bodies: list[dict], clients: int, seconds: float) -> dict:
    """`clients` connections, each sending the bodies in turn for `seconds`; a 503 waits its Retry-After."""
    latencies: list[float] = []
    errors = busy = rows = 0
    deadline = time.perf_counter() + seconds
    payloads = [(json.dumps(body).encode(), len(next(iter(body.values())))) for body in bodies]

    async def client(first: int) -> None:
        nonlocal errors, busy, rows
        connection = KeepAliveConnection(port, path)
        turn = first
        while time.perf_counter() < deadline:
            payload, size = payloads[turn % len(payloads)]
            turn += 1
            start = time.perf_counter()
            try:
                status, headers = await connection.post(payload)
            except (OSError, asyncio.IncompleteReadError, KeyError, ValueError):
                connection.close()
                errors += 1
                continue
            if status == 503:
                busy += 1
                await asyncio.sleep(float(headers.get("retry-after", 1)))
                continue
            if status != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)
            rows += size
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    elapsed = time.perf_counter() - started
    latency = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "busy": busy, "rps": len(latencies) / elapsed,
            "rows_per_s": rows / elapsed,
            "p50": float(np.percentile(latency, 50)) if latencies else float("nan"),
            "p99": float(np.percentile(latency, 99)) if latencies else float("nan")}


def start(command: list[str], health: str, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(health, process, timeout=300)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-dir", type=Path, default=None)
    parser.add_argument("--clients", default="8,32", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mixes", default="1,256,long", help="request mixes: a row count, or long")
    parser.add_argument("--long-items", type=int, default=1000, help="the long history of the long mix")
    parser.add_argument("--servers", default="featureplex,mlflow")
    parser.add_argument("--serve-options", default="", help="extra `featureplex serve` options, e.g. '--max-queue 8'")
    args = parser.parse_args()
    client_counts = [int(n) for n in args.clients.split(",")]
    mixes = args.mixes.split(",")

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    # with --train-dir, MLFLOW_TRACKING_URI names the store its model was registered in
    tracking = os.environ.get("MLFLOW_TRACKING_URI") if args.train_dir else f"sqlite:///{work}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    train_dir = args.train_dir or train_small_model(work)
    card = json.loads((train_dir / "model_card.json").read_text())
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": path, "MLFLOW_TRACKING_URI": tracking}

    servers = {
        "featureplex": lambda port: ([sys.executable, "-m", "featureplex.pipelines.cli", "serve", str(train_dir / "saved_model"),
                                      "--port", str(port), *shlex.split(args.serve_options)],
                                     "/healthz", "/v1/models/default:predict", "instances"),
        "mlflow": lambda port: ([sys.executable, "-m", "mlflow", "models", "serve", "-m", card["mlflow_model_uri"],
                                 "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                                "/ping", "/invocations", "dataframe_records"),
    }
    results: dict[tuple[str, str, int], dict] = {}
    for name in args.servers.split(","):
        port = free_port()
        make = servers[name]
        command, health, predict, key = make(port)
        process = start(command, f"http://127.0.0.1:{port}{health}", env)
        try:
            for mix in mixes:
                bodies = [{key: rows} for rows in request_mix(train_dir, mix, args.long_items)]
                for clients in client_counts:
                    asyncio.run(load(port, predict, bodies, clients, 2.0))  # warm-up
                    results[(name, mix, clients)] = asyncio.run(load(port, predict, bodies, clients, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)

    print(f"{args.seconds:.0f} s per measurement, 127.0.0.1")
    print(f"{'server':<12} {'mix':>5} {'clients':>7} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'503s':>6}")
    for (name, mix, clients), r in results.items():
        print(f"{name:<12} {mix:>5} {clients:>7} {r['rps']:>9.1f} {r['rows_per_s']:>10.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
              f"{r['errors']:>7} {r['busy']:>6}")
    low, high = min(client_counts), max(client_counts)
    for mix in mixes:
        if ("featureplex", mix, low) not in results:
            continue
        ours_low, ours_high = results[("featureplex", mix, low)], results[("featureplex", mix, high)]
        print(f"mix {mix}: featureplex at {high} clients / at {low}: p99 x{ours_high['p99'] / ours_low['p99']:.2f} "
              f"(goal <= 2), throughput x{ours_high['rps'] / ours_low['rps']:.2f} (goal >= 1)")
        for clients in client_counts if ("mlflow", mix, low) in results else []:
            ours, theirs = results[("featureplex", mix, clients)], results[("mlflow", mix, clients)]
            print(f"mix {mix}, {clients} clients: throughput x{ours['rps'] / theirs['rps']:.2f} of MLflow's, "
                  f"p99 {ours['p99'] / theirs['p99']:.2f} of MLflow's")


if __name__ == "__main__":
    main()
