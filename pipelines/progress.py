"""Progress displays for long CLI work (rich on a terminal, plain lines in logs)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def training_progress_callback():
    """A Keras callback showing examples seen and examples/s within each epoch (terminal only)."""
    import tensorflow as tf

    class TrainingProgress(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._progress = None
            self._examples = 0

        def on_train_begin(self, logs=None):
            if not sys.stderr.isatty():
                return
            self._progress = Progress(SpinnerColumn(), TextColumn("[bold]training"), BarColumn(),
                                      TextColumn("{task.completed:,.0f} examples"),
                                      TextColumn("{task.fields[rate]:,.0f} examples/s"), TimeElapsedColumn(),
                                      console=console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("train", total=None, rate=0.0)
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self._progress is None:
                return
            self._examples = (batch + 1) * self.params.get("batch_size", 0) if self.params.get("batch_size") else batch + 1
            elapsed = max(time.perf_counter() - self._start, 1e-9)
            self._progress.update(self._task, completed=self._examples, rate=self._examples / elapsed)

        def on_train_end(self, logs=None):
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    return TrainingProgress()


def stage_status(message: str):
    """A spinner with a message while a stage runs (a no-op context on non-terminals)."""
    return console.status(message) if sys.stderr.isatty() else _Quiet()


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
