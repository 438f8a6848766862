"""`featureplex train --workers N` and `featureplex run --workers N`: N worker processes of one
MultiWorkerMirroredStrategy cluster on this machine, started, watched and stopped by the command.

Each worker is the command again (the same arguments less `--workers`, cli.options.rerun_as_workers)
with its own TF_CONFIG: the cluster of N free ports on 127.0.0.1, worker 0 the chief. The chief's output
is the command's (its progress lines and results); the others' stderr is kept to report why one of them
failed. When a worker fails, the others are stopped (their collectives would wait for it forever) and
the command fails with one line naming the worker: the chief's checkpoints of the last finished epoch
stay, for `--resume` (`run`: the same command again), and the artifact is written only by a chief that
finished.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from featureplex.features.errors import InputError
from featureplex.pipelines.cluster import tf_config

POLL_SECONDS = 0.2
STOP_SECONDS = 10  # a worker stuck in a collective does not see SIGTERM (Python handles it between ops)


class WorkerFailed(Exception):
    """A worker process failed: the one line the command prints."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel gives free on 127.0.0.1 (closed again for the workers to bind)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


FINAL_LINES = ("error: ", "internal error: ", "aborted")  # the CLI's last line when a command fails


class ChiefOutput(threading.Thread):
    """The chief's stderr copied to ours line by line, less a failing command's final line (kept in `last`) and
    all that comes once `muted` is set: after a failure the command prints one line of its own."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.last, self.muted = stream, "", threading.Event()

    def run(self) -> None:
        for line in iter(self.stream.readline, b""):
            text = line.decode(errors="replace").strip()
            if text.startswith(FINAL_LINES):
                self.last = text
            elif text and not self.muted.is_set():
                sys.stderr.write(text + "\n")
                sys.stderr.flush()


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _exit_description(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def run_local_workers(count: int, args: list[str], resume: str) -> None:
    """Run `featureplex ARGS` as `count` workers; returns when all finished, raises InputError (a worker's
    own one-line input error) or WorkerFailed (one line naming the worker, and `resume`: how the command
    continues the training) when one failed."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    command = [sys.executable, "-m", "featureplex.pipelines.cli", *args]
    with tempfile.TemporaryDirectory(prefix="featureplex-workers-") as logs:
        processes, chief = [], None
        for rank in range(count):
            # TF_CPP_MIN_LOG_LEVEL 3: the chief's coordination service logs an ERROR line when a worker that
            # finished its training exits (its heartbeats stop); the command's errors are its own lines
            environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": tf_config(addresses, rank)}
            if rank == 0:
                processes.append(subprocess.Popen(command, env=environ, stderr=subprocess.PIPE))
                chief = ChiefOutput(processes[0].stderr)
                chief.start()
            else:
                with (Path(logs) / f"worker-{rank}.err").open("wb") as sink:
                    processes.append(subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=sink))
        try:
            failed = _wait(processes)
        finally:
            chief.muted.set()
            _stop(processes)
            chief.join()
        if failed is None:
            return
        rank, code = failed
        reason = chief.last if rank == 0 else _last_line(Path(logs) / f"worker-{rank}.err")
    if code == 2 and reason.startswith("error: "):
        raise InputError(reason.removeprefix("error: "))
    detail = f" ({reason})" if reason and code > 0 else ""
    raise WorkerFailed(
        f"worker {rank} of {count} (pid {processes[rank].pid}) {_exit_description(code)}{detail}; the other workers "
        f"were stopped. The checkpoints of the last finished epoch are kept: {resume} to continue")


def _wait(processes: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Until every worker ended (None) or one failed: (its rank, its exit code)."""
    while True:
        codes = [process.poll() for process in processes]
        for rank, code in enumerate(codes):
            if code not in (None, 0):
                return rank, code
        if all(code == 0 for code in codes):
            return None
        time.sleep(POLL_SECONDS)


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every worker still running (the chief unwinds: MLflow run ended, staging removed), SIGKILL
    to those still running `STOP_SECONDS` later."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in running:
        try:
            process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
