"""Progress displays for long CLI work (rich on a terminal, plain lines in logs)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def training_progress_callback(batch_size: int, display: Console = console):
    """A Keras callback with a bar per epoch: batches done of the epoch's, examples, examples/s (terminal only).

    The steps come from the training loop's params (`models.training` counts each epoch's batches
    ahead); the examples count every batch as full, the last one of a table may be smaller.
    """
    import models  # noqa: F401  (first: selects Keras 2 before TensorFlow loads)
    import tensorflow as tf

    class TrainingProgress(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._progress = None

        def on_epoch_begin(self, epoch, logs=None):
            if not display.is_terminal:
                return
            self._progress = Progress(SpinnerColumn(), TextColumn(f"[bold]epoch {epoch}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("batches, {task.fields[examples]:,} examples"),
                                      TextColumn("{task.fields[rate]:,.0f} examples/s"), TimeElapsedColumn(),
                                      console=display, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.params.get("steps"), examples=0, rate=0.0)
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self._progress is None:
                return
            examples = (batch + 1) * batch_size
            elapsed = max(time.perf_counter() - self._start, 1e-9)
            self._progress.update(self._task, completed=batch + 1, examples=examples, rate=examples / elapsed)

        def on_epoch_end(self, epoch, logs=None):
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
