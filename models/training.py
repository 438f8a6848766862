"""The training loop: evaluation every epoch (and every `eval_steps` steps), early stopping on validation
AUC, a learning rate cut on plateaus, checkpoints every epoch and resume after a kill.

Everything that decides the next step lives in the checkpoint (weights, optimizer slots, epoch, global
step, best AUC, evaluations without improvement, learning-rate cuts) and the data of epoch k depends
only on (seed, k), so a run killed and resumed (from the start of the epoch it was in) ends with the same
metrics as an uninterrupted one. The learning rate is a function of the epoch and the number of cuts:

    lr = max(lr_0 * decay^epoch * factor^cuts, min(min_lr, lr_0 * decay^epoch))

a cut coming after every `plateau_patience` evaluations without a better validation AUC (FuxiCTR's
reduce_lr_on_plateau: factor 0.1 after every such evaluation, floor 1e-6).

An evaluation comes after every `eval_steps` global steps (FuxiCTR's `eval_steps`) and at the end of
every epoch; each writes one record to the history: the epoch, the global step, the training metrics
of the steps since the previous evaluation, the validation metrics, the learning rate those steps
used, and `train_examples_per_second` (training rows / wall-clock seconds of those steps, the one field
that is not reproducible).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import tensorflow as tf
from tf_keras.src.utils import tf_utils

from featureplex.features.errors import InputError
from featureplex.models.input import EpochStream

LATEST = "latest"
BEST = "best"
HISTORY = "history.json"
THROUGHPUT = "train_examples_per_second"


@dataclass(frozen=True)
class TrainingOptions:
    """How `train` trains; TrainParams (features.data.config) documents each for users.

    `early_stopping` False is the fixed-epoch mode: all `epochs` run and the last weights are kept.
    `plateau_factor` 1 turns the plateau cuts off; `eval_steps` None evaluates once per epoch;
    `gradient_clip_norm` None does not clip (else the global norm of all gradients is clipped to it,
    as FuxiCTR's clip_grad_norm_ at 10). `adam_epsilon`: Adam's epsilon (module FusedAdam).
    """

    epochs: int = 5
    learning_rate: float = 1e-3
    learning_rate_decay: float = 0.9
    patience: int = 2
    seed: int = 0
    plateau_factor: float = 1.0
    plateau_patience: int = 1
    min_learning_rate: float = 1e-6
    early_stopping: bool = True
    eval_steps: int | None = None
    gradient_clip_norm: float | None = None
    adam_epsilon: float = 1e-7

    @classmethod
    def from_params(cls, params) -> TrainingOptions:
        """The options of a config's `train:` section (features.data.config.TrainParams), field by field."""
        return cls(**{name: getattr(params, name) for name in cls.__dataclass_fields__})

    def learning_rate_at(self, epoch: int, cuts: int) -> float:
        """The learning rate of `epoch` after `cuts` plateau cuts (module docstring)."""
        scheduled = self.learning_rate * self.learning_rate_decay**epoch
        return max(scheduled * self.plateau_factor**cuts, min(self.min_learning_rate, scheduled))


@dataclass
class TrainingResult:
    """The history (one record per evaluation) and the evaluation whose weights the model ends with:
    the best validation AUC's, or the last one's in the fixed-epoch mode."""

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

    PyTorch's Adam (FuxiCTR's) adds its eps to the bias-corrected sqrt(v / (1 - b2^t)): that is eps
    sqrt(1 - b2^t) here, so its default 1e-8 tends to eps 1e-8 as t grows, against Keras' 1e-7.

    A sparse gradient (a gathered table's, such as HSTU's position biases) is summed into a dense one
    first, as dense Adam defines it (rows not looked up still decay their moments and move). Keras'
    own sparse path computes the same with about ten passes over the table per step; the fused
    kernel makes one, which halves the time of a training step on CPU when the table dominates the
    parameters. The multiplexed embedding's table gradient arrives dense already, summed by its own
    XLA scatter in training (`models.layers.multiplexed_embedding.gather_parts_densely`).
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


class BatchProgress(tf.keras.callbacks.Callback):
    """Calls `on_epoch_start(epoch, steps)` and `on_batch(done)` from the training loop: a display (the
    CLI's progress bar) follows training without importing TensorFlow itself."""

    def __init__(self, on_epoch_start: Callable[[int, int | None], None], on_batch: Callable[[int], None],
                 on_epoch_done: Callable[[], None]):
        super().__init__()
        self._on_epoch_start, self._on_batch, self._on_epoch_done = on_epoch_start, on_batch, on_epoch_done

    def on_epoch_begin(self, epoch, logs=None):
        self._on_epoch_start(epoch, self.params.get("steps"))

    def on_train_batch_end(self, batch, logs=None):
        self._on_batch(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._on_epoch_done()


def seed_everything(seed: int) -> None:
    """Same seed, same data -> same metrics: seeded initialisers and deterministic kernels."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class _State(tf.Module):
    def __init__(self):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.evaluations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_auc = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.plateau_wait = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.cuts = tf.Variable(0, dtype=tf.int64, trainable=False)


def _write_history(directory: Path, result: TrainingResult) -> None:
    temporary = directory / f".{HISTORY}.tmp"
    temporary.write_text(json.dumps(asdict(result), indent=2, sort_keys=True))
    os.replace(temporary, directory / HISTORY)


def _steps(stream: EpochStream, epoch: int, subset: str) -> int:
    steps = stream.steps(epoch)
    if steps == 0:
        raise InputError(f"{subset}: no rows in the {subset} split (see train.validation_fraction / split_time)")
    return steps


def _evaluate(model: tf.keras.Model, stream: EpochStream, evaluation: int) -> dict:
    """`model.evaluate` on the stream's running iterator (every pass of an unshuffled stream is the same, so
    the n-th evaluation reads pass n and the iterator runs on from one evaluation to the next)."""
    steps = _steps(stream, evaluation, "validation")
    batches = stream.epoch(evaluation)
    model.reset_metrics()
    for _ in range(steps):
        logs = model.test_function(batches)
    stream.finished(evaluation)
    return _metrics_result(model, logs)


def _metrics_result(model: tf.keras.Model, logs: dict) -> dict:
    """The step's logs, with the metrics read from their variables under a strategy: a replica's own
    logs hold its shard's AUC (which Keras sums across workers), the variables the cluster's counts."""
    if model.distribute_strategy.num_replicas_in_sync > 1:
        logs = {**logs, **model.get_metrics_result()}
    return model._validate_and_get_metrics_result(tf_utils.sync_to_numpy_or_python_type(logs))


class _Loop:
    """One training run's loop state outside the checkpoint: the model, its streams, checkpoints and history."""

    def __init__(self, model, train_data, validation_data, options, state, best, result, on_epoch_end):
        self.model, self.train_data, self.validation_data = model, train_data, validation_data
        self.options, self.state, self.best, self.result = options, state, best, result
        self.on_epoch_end = on_epoch_end

    def run_epoch(self, epoch: int, callbacks: tf.keras.callbacks.CallbackList) -> None:
        """One epoch of `model.fit`'s loop on the stream's running iterator, evaluating as the options say.

        `fit` builds a new iterator per call, so each epoch waited for its first table and for the end of
        its data; here the steps are counted ahead and the next epoch's batches are already on their way.
        Callbacks see what `fit(epochs=1)` shows them: a training run per epoch.
        """
        model, options = self.model, self.options
        batch_rows = self.train_data.batch_rows(epoch)
        steps = _steps(self.train_data, epoch, "training")
        batches = self.train_data.epoch(epoch)
        model.optimizer.learning_rate.assign(options.learning_rate_at(epoch, int(self.state.cuts.numpy())))
        model.reset_metrics()
        callbacks.set_params({"verbose": 0, "epochs": 1, "steps": steps})
        callbacks.on_train_begin()
        callbacks.on_epoch_begin(epoch)
        logs, segment_start, segment_started = None, 0, time.perf_counter()
        global_step = int(self.state.step.numpy())  # counted here, stored at evaluations: no read-back per step
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            logs = model.train_function(batches)
            callbacks.on_train_batch_end(step, logs)
            global_step += 1
            if (options.eval_steps is not None and global_step % options.eval_steps == 0) or step == steps - 1:
                self.state.step.assign(global_step)
                seconds = time.perf_counter() - segment_started
                train_logs = _metrics_result(model, logs)
                throughput = float(batch_rows[segment_start:step + 1].sum()) / max(seconds, 1e-9)
                self.evaluate(epoch, train_logs, {THROUGHPUT: throughput, "train_seconds": seconds})
                if self.result.stopped_early:
                    break
                segment_start, segment_started = step + 1, time.perf_counter()
        else:
            self.train_data.finished(epoch)
        callbacks.on_epoch_end(epoch, logs)
        callbacks.on_train_end(logs)

    def evaluate(self, epoch: int, train_logs: dict, timing: dict) -> None:
        """Validate, record, checkpoint the best weights, count towards early stopping and plateau cuts."""
        state, options, model = self.state, self.options, self.model
        started = time.perf_counter()
        metrics = {f"train_{k}": float(v) for k, v in train_logs.items()}
        metrics.update({f"val_{k}": float(v) for k, v in
                        _evaluate(model, self.validation_data, int(state.evaluations.numpy())).items()})
        validation_seconds = time.perf_counter() - started
        state.evaluations.assign_add(1)
        metrics["learning_rate"] = float(model.optimizer.learning_rate.numpy())
        step = int(state.step.numpy())
        if metrics["val_auc"] > state.best_auc.numpy():
            state.best_auc.assign(metrics["val_auc"])
            state.best_step.assign(step)
            state.wait.assign(0)
            state.plateau_wait.assign(0)
            if options.early_stopping:
                self.best.save(checkpoint_number=step)
        else:
            state.wait.assign_add(1)
            state.plateau_wait.assign_add(1)
            if options.plateau_factor < 1 and state.plateau_wait.numpy() >= options.plateau_patience:
                state.plateau_wait.assign(0)
                state.cuts.assign_add(1)
                model.optimizer.learning_rate.assign(options.learning_rate_at(epoch, int(state.cuts.numpy())))
        stopped = options.early_stopping and bool(state.wait.numpy() >= options.patience)
        record = {"epoch": epoch, "step": step, **metrics, THROUGHPUT: timing[THROUGHPUT], "stopped": stopped}
        self.result.history.append(record)
        kept = record if not options.early_stopping else next(r for r in self.result.history
                                                              if r["step"] == int(state.best_step.numpy()))
        self.result.best_epoch, self.result.best_metrics = kept["epoch"], kept
        if self.on_epoch_end is not None:  # timings are the caller's: wall-clock seconds of this evaluation's steps
            self.on_epoch_end(epoch, {**metrics, "step": step, THROUGHPUT: timing[THROUGHPUT],
                                      "train_seconds": timing["train_seconds"], "validation_seconds": validation_seconds})


def train(
    model: tf.keras.Model,
    train_data: EpochStream,
    validation_data: EpochStream,
    checkpoint_dir: str | os.PathLike,
    options: TrainingOptions = TrainingOptions(),
    resume: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    callbacks: list[tf.keras.callbacks.Callback] | None = None,
    chief: bool = True,
) -> TrainingResult:
    """Train `model` (compiled here with Adam) for up to `options.epochs`; the kept evaluation's weights end
    in the model (the best validation AUC's, or the last ones in the fixed-epoch mode).

    `train_data` gives the training batches of each epoch, `validation_data` the validation batches
    (unshuffled). With `resume`, training continues from the latest checkpoint in `checkpoint_dir` (an
    error if it is corrupted). `on_epoch_end(epoch, metrics)` comes after every evaluation (once per
    epoch unless `eval_steps` is set) with its metrics, the global `step`, `train_examples_per_second`,
    and the wall-clock `train_seconds` (the steps since the previous evaluation) and `validation_seconds`.

    Under a multi-worker strategy (models.distributed) every worker saves every checkpoint (reading the
    strategy's variables takes all of them), the chief to `checkpoint_dir` and the others (`chief` False)
    to a scratch directory removed at the end, as TensorFlow's multi-worker guide prescribes; all resume
    from `checkpoint_dir`, and only the chief writes the history.
    """
    if chief:
        return _train(model, train_data, validation_data, Path(checkpoint_dir), Path(checkpoint_dir), options, resume,
                      on_epoch_end, callbacks)
    with tempfile.TemporaryDirectory(prefix="featureplex-worker-checkpoints-") as scratch:
        return _train(model, train_data, validation_data, Path(checkpoint_dir), Path(scratch), options, resume,
                      on_epoch_end, callbacks)


def _train(model, train_data, validation_data, directory: Path, written: Path, options: TrainingOptions,
           resume: bool, on_epoch_end, callbacks) -> TrainingResult:
    """`train`, resuming from `directory` and saving to `written` (the same but on a worker other than the chief)."""
    written.mkdir(parents=True, exist_ok=True)
    with model.distribute_strategy.scope():  # the optimizer's slots mirror the model's variables
        optimizer = FusedAdam(options.learning_rate, epsilon=options.adam_epsilon,
                              global_clipnorm=options.gradient_clip_norm)
        model.compile(optimizer=optimizer)
    state = _State()
    latest = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=optimizer, state=state), written / LATEST, max_to_keep=1
    )
    best = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), written / BEST, max_to_keep=1)
    result = TrainingResult()
    resumed_from = tf.train.latest_checkpoint(directory / LATEST) if resume else None
    if resumed_from:
        try:
            latest.checkpoint.restore(resumed_from).expect_partial()
            result = TrainingResult(**json.loads((directory / HISTORY).read_text()))
            if any("step" not in record for record in result.history):
                raise KeyError("step: a history written before evaluations had steps")
        except (tf.errors.OpError, ValueError, OSError, IndexError, KeyError, TypeError) as error:
            raise InputError(
                f"{directory}: checkpoint cannot be resumed ({type(error).__name__}: {str(error).splitlines()[0][:160]}); "
                "remove it or train without --resume"
            ) from None

    model.train_function = model.make_train_function()
    model.test_function = model.make_test_function()
    callback_list = tf.keras.callbacks.CallbackList(callbacks or [], model=model, epochs=1, verbose=0)
    loop = _Loop(model, train_data, validation_data, options, state, best, result, on_epoch_end)
    for epoch in range(int(state.epoch.numpy()), options.epochs):
        if result.stopped_early:
            break
        loop.run_epoch(epoch, callback_list)
        state.epoch.assign(epoch + 1)
        latest.save(checkpoint_number=epoch)
        if written == directory:
            _write_history(directory, result)
    if options.early_stopping and best.latest_checkpoint:
        best.checkpoint.restore(best.latest_checkpoint).expect_partial()
    return result
