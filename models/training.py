"""The training loop: one checkpoint per epoch, resume after a kill, early stopping on validation AUC.

Everything that decides the next epoch lives in the checkpoint (weights, optimizer slots, epoch,
best AUC, epochs without improvement) and the data of epoch k depends only on (seed, k), so a run
killed and resumed ends with the same metrics as an uninterrupted one. The learning rate follows a
per-epoch exponential decay, a function of the epoch alone for the same reason.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import models  # noqa: F401
import tensorflow as tf
from tf_keras.src.utils import tf_utils

from features.errors import InputError
from models.input import EpochStream

LATEST = "latest"
BEST = "best"
HISTORY = "history.json"


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int = 5
    learning_rate: float = 1e-3
    learning_rate_decay: float = 0.9
    patience: int = 2
    seed: int = 0


@dataclass
class TrainingResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_metrics: dict = field(default_factory=dict)

    @property
    def stopped_early(self) -> bool:
        return bool(self.history) and self.history[-1].get("stopped", False)


class FusedAdam(tf.keras.optimizers.Adam):
    """Adam, each variable updated by one fused kernel (`ResourceApplyAdam`).

    The same update as `tf.keras.optimizers.Adam` (epsilon outside the square root, not adaptive):

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
        w <- w - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    A sparse gradient (a gathered table's, such as HSTU's position biases) is summed into a dense one
    first, as dense Adam defines it (rows not looked up still decay their moments and move). Keras'
    own sparse path computes the same with about ten passes over the table per step; the fused
    kernel makes one, which halves the time of a training step on CPU when the table dominates the
    parameters. The multiplexed embedding's table gradient arrives dense already, summed by its own
    XLA scatter in training (`models.multiplexed_embedding.gather_parts_densely`).
    """

    def _deduplicate_sparse_grad(self, grads):
        return grads  # summed when densified in update_step

    def update_step(self, gradient, variable):
        key = self._var_key(variable)
        m = self._momentums[self._index_dict[key]]
        v = self._velocities[self._index_dict[key]]
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(self.learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.convert_to_tensor(gradient),
        )


def seed_everything(seed: int) -> None:
    """Same seed, same data -> same metrics: seeded initialisers and deterministic kernels."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class _State(tf.Module):
    def __init__(self):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_auc = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False)


def _write_history(directory: Path, result: TrainingResult) -> None:
    temporary = directory / f".{HISTORY}.tmp"
    temporary.write_text(json.dumps(asdict(result), indent=2, sort_keys=True))
    os.replace(temporary, directory / HISTORY)


def _steps(stream: EpochStream, epoch: int, subset: str) -> int:
    steps = stream.steps(epoch)
    if steps == 0:
        raise InputError(f"{subset}: no rows in the {subset} split (see train.validation_fraction / split_time)")
    return steps


def _train_epoch(model: tf.keras.Model, stream: EpochStream, epoch: int, callbacks: tf.keras.callbacks.CallbackList) -> dict:
    """One epoch of `model.fit`'s loop on the stream's running iterator; the epoch's metrics.

    `fit` builds a new iterator per call, so each epoch waited for its first table and for the end of
    its data; here the steps are counted ahead and the next epoch's batches are already on their way.
    Callbacks see what `fit(epochs=1)` shows them: a training run per epoch.
    """
    steps = _steps(stream, epoch, "training")
    batches = stream.epoch(epoch)
    model.reset_metrics()
    callbacks.set_params({"verbose": 0, "epochs": 1, "steps": steps})
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(epoch)
    logs = None
    for step in range(steps):
        callbacks.on_train_batch_begin(step)
        logs = model.train_function(batches)
        callbacks.on_train_batch_end(step, logs)
    stream.finished(epoch)
    logs = model._validate_and_get_metrics_result(tf_utils.sync_to_numpy_or_python_type(logs))  # as fit reports them
    callbacks.on_epoch_end(epoch, logs)
    callbacks.on_train_end(logs)
    return logs


def _evaluate(model: tf.keras.Model, stream: EpochStream, epoch: int) -> dict:
    """`model.evaluate` on the stream's running iterator (every pass of an unshuffled stream is the same)."""
    steps = _steps(stream, epoch, "validation")
    batches = stream.epoch(epoch)
    model.reset_metrics()
    for _ in range(steps):
        logs = model.test_function(batches)
    stream.finished(epoch)
    return model._validate_and_get_metrics_result(tf_utils.sync_to_numpy_or_python_type(logs))


def train(
    model: tf.keras.Model,
    train_data: EpochStream,
    validation_data: EpochStream,
    checkpoint_dir: str | os.PathLike,
    options: TrainingOptions = TrainingOptions(),
    resume: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    callbacks: list[tf.keras.callbacks.Callback] | None = None,
) -> TrainingResult:
    """Train `model` (compiled here with Adam) for up to `options.epochs`; the best epoch's weights end in the model.

    `train_data` gives the training batches of each epoch, `validation_data` the validation batches
    (unshuffled). With `resume`, training continues
    from the latest checkpoint in `checkpoint_dir` (an error if it is corrupted). `on_epoch_end` gets
    the epoch's metrics and its wall-clock `train_seconds` and `validation_seconds`.
    """
    directory = Path(checkpoint_dir)
    directory.mkdir(parents=True, exist_ok=True)
    optimizer = FusedAdam(options.learning_rate)
    model.compile(optimizer=optimizer)
    state = _State()
    latest = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=optimizer, state=state), directory / LATEST, max_to_keep=1
    )
    best = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), directory / BEST, max_to_keep=1)
    result = TrainingResult()
    if resume and latest.latest_checkpoint:
        try:
            latest.checkpoint.restore(latest.latest_checkpoint).expect_partial()
            result = TrainingResult(**json.loads((directory / HISTORY).read_text()))
        except (tf.errors.OpError, ValueError, OSError, IndexError, KeyError, TypeError) as error:
            raise InputError(
                f"{directory}: checkpoint cannot be resumed ({type(error).__name__}: {str(error).splitlines()[0][:160]}); "
                "remove it or train without --resume"
            ) from None

    model.train_function = model.make_train_function()
    model.test_function = model.make_test_function()
    callback_list = tf.keras.callbacks.CallbackList(callbacks or [], model=model, epochs=1, verbose=0)
    for epoch in range(int(state.epoch.numpy()), options.epochs):
        if result.stopped_early:
            break
        optimizer.learning_rate.assign(options.learning_rate * options.learning_rate_decay**epoch)
        started = time.perf_counter()
        metrics = {f"train_{k}": float(v) for k, v in _train_epoch(model, train_data, epoch, callback_list).items()}
        seconds = {"train_seconds": time.perf_counter() - started}
        metrics.update({f"val_{k}": float(v) for k, v in _evaluate(model, validation_data, epoch).items()})
        seconds["validation_seconds"] = time.perf_counter() - started - seconds["train_seconds"]
        metrics["learning_rate"] = float(optimizer.learning_rate.numpy())
        improved = metrics["val_auc"] > state.best_auc.numpy()
        if improved:
            state.best_auc.assign(metrics["val_auc"])
            state.best_epoch.assign(epoch)
            state.wait.assign(0)
            best.save(checkpoint_number=epoch)
        else:
            state.wait.assign_add(1)
        state.epoch.assign(epoch + 1)
        record = {"epoch": epoch, **metrics, "stopped": bool(state.wait.numpy() >= options.patience)}
        result.history.append(record)
        result.best_epoch = int(state.best_epoch.numpy())
        result.best_metrics = next(r for r in result.history if r["epoch"] == result.best_epoch)
        latest.save(checkpoint_number=epoch)
        _write_history(directory, result)
        if on_epoch_end is not None:
            on_epoch_end(epoch, {**metrics, **seconds})  # timings stay out of the history: it is reproducible
    if best.latest_checkpoint:
        best.checkpoint.restore(best.latest_checkpoint).expect_partial()
    return result
