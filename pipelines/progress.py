"""Progress displays for long CLI work (rich on a terminal, plain lines in logs)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def training_progress_callback(batch_size: int, display: Console = console):
    """A bar per epoch: batches done of the epoch's, examples, examples/s (terminal only).

    The steps come from the training loop (`models.training` counts each epoch's batches ahead); the
    examples count every batch as full, the last one of a table may be smaller.
    """
    from featureplex.models.training import BatchProgress

    state: dict = {}

    def start(epoch: int, steps: int | None) -> None:
        if not display.is_terminal:
            return
        progress = Progress(SpinnerColumn(), TextColumn(f"[bold]epoch {epoch}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("batches, {task.fields[examples]:,} examples"),
                            TextColumn("{task.fields[rate]:,.0f} examples/s"), TimeElapsedColumn(),
                            console=display, transient=True)
        progress.start()
        state.update(progress=progress, task=progress.add_task("train", total=steps, examples=0, rate=0.0),
                     start=time.perf_counter())

    def batch(done: int) -> None:
        if "progress" in state:
            examples = done * batch_size
            rate = examples / max(time.perf_counter() - state["start"], 1e-9)
            state["progress"].update(state["task"], completed=done, examples=examples, rate=rate)

    def finish() -> None:
        if "progress" in state:
            state.pop("progress").stop()

    return BatchProgress(start, batch, finish)


def stage_status(message: str):
    """A spinner with a message while a stage runs (a no-op context on non-terminals)."""
    return console.status(message) if sys.stderr.isatty() else _Quiet()


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
