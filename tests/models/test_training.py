"""The training loop on a real (tiny) numeric CTR model: learning, determinism, resume, corrupted checkpoints,
the learning-rate plateau cuts, the fixed-epoch mode, evaluation every N steps, gradient clipping, throughput."""

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from featureplex.features.data.config import TrainParams
from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import resolve_schema
from featureplex.features.errors import InputError
from featureplex.models.ctr_model import CtrModel
from featureplex.models.input import InputOptions, Split, split_streams
from featureplex.models.layers.numeric_fields import NumericFields
from featureplex.models.towers.dnn import DnnTower
from featureplex.models.training import THROUGHPUT, FusedAdam, TrainingOptions, seed_everything, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = 4000
    x, z = rng.normal(size=rows), rng.normal(size=rows)
    label = rng.random(rows) < 1 / (1 + np.exp(-(2 * x - 1.5 * z * x)))
    path = tmp_path_factory.mktemp("train") / "d.parquet"
    pq.write_table(pa.table({"label": pa.array(label.astype(np.int8)), "x": x, "z": z}), path, row_group_size=1000)
    dataset = open_dataset(path)
    return dataset, resolve_schema(dataset)


def build(data):
    dataset, schema = data
    seed_everything(3)
    model = CtrModel(NumericFields(["x", "z"], [0.0, 0.0], [1.0, 1.0], 4), DnnTower([8]))
    options = InputOptions(batch_size=256, shuffle_rows=2000, seed=3)
    return model, split_streams(dataset, schema, Split(0.25, seed=1), options)


def run(data, directory, epochs, resume=False, patience=5, callbacks=None, on_epoch_end=None, **options):
    model, streams = build(data)
    result = train(model, *streams, directory,
                   TrainingOptions(epochs=epochs, learning_rate=0.02, patience=patience, seed=3, **options),
                   resume=resume, callbacks=callbacks, on_epoch_end=on_epoch_end)
    result.model, (result.training, result.validation) = model, streams
    return result


def reproducible(history):
    """The history without its wall-clock throughput, the one field two runs do not share."""
    return [{k: v for k, v in record.items() if k != THROUGHPUT} for record in history]


def validation_auc(result) -> float:
    model, stream = result.model, result.validation
    model.reset_metrics()
    batches = stream.epoch(99)
    for _ in range(stream.steps(99)):
        logs = model.test_function(batches)
    stream.finished(99)
    return float(logs["auc"])


def test_learns_and_is_deterministic(data, tmp_path):
    first = run(data, tmp_path / "a", epochs=3)
    second = run(data, tmp_path / "b", epochs=3)
    assert first.best_metrics["val_auc"] > 0.8
    assert reproducible(first.history) == reproducible(second.history)
    assert [r["epoch"] for r in first.history] == [0, 1, 2]
    assert [r["step"] for r in first.history] == [12, 24, 36]  # 3,000 training rows: 12 batches of up to 256
    assert first.history[1]["learning_rate"] == pytest.approx(0.02 * 0.9)


def test_each_record_carries_the_training_throughput(data, tmp_path):
    reported = []
    result = run(data, tmp_path / "t", epochs=2, on_epoch_end=lambda epoch, metrics: reported.append(metrics))
    assert all(record[THROUGHPUT] > 0 for record in result.history)
    assert [m[THROUGHPUT] for m in reported] == [r[THROUGHPUT] for r in result.history]
    # the epoch's training rows (about 3,000) in the train_seconds the callback was told
    rows = result.training.batch_rows(1).sum()
    assert reported[1][THROUGHPUT] * reported[1]["train_seconds"] == pytest.approx(rows, rel=1e-6)


def test_resume_matches_an_uninterrupted_run(data, tmp_path):
    straight = run(data, tmp_path / "straight", epochs=4)
    run(data, tmp_path / "resumed", epochs=2)
    resumed = run(data, tmp_path / "resumed", epochs=4, resume=True)
    assert reproducible(resumed.history) == reproducible(straight.history)
    assert resumed.best_epoch == straight.best_epoch


def test_early_stopping_keeps_the_best_epoch(data, tmp_path):
    result = run(data, tmp_path / "early", epochs=12, patience=1)
    assert result.stopped_early and len(result.history) < 12
    assert result.best_metrics["val_auc"] == max(r["val_auc"] for r in result.history)
    assert validation_auc(result) == pytest.approx(result.best_metrics["val_auc"], abs=1e-6)


def test_plateau_cuts_follow_every_evaluation_without_improvement(data, tmp_path):
    """FuxiCTR's rule (factor 0.1, patience 1, floor), replayed here on the recorded validation AUCs; with an
    evaluation every 5 steps as well, so cuts come inside epochs too."""
    options = dict(plateau_factor=0.1, plateau_patience=1, min_learning_rate=1e-5, learning_rate_decay=0.9)
    result = run(data, tmp_path / "plateau", epochs=4, patience=20, eval_steps=5, **options)
    schedule = TrainingOptions(learning_rate=0.02, **options)
    best, cuts, expected = -1.0, 0, []
    for record in result.history:
        expected.append(schedule.learning_rate_at(record["epoch"], cuts))
        if record["val_auc"] > best:
            best = record["val_auc"]
        else:
            cuts += 1
    assert cuts >= 2  # the rule was exercised
    assert [r["learning_rate"] for r in result.history] == pytest.approx(expected, rel=1e-6)
    assert min(expected) >= 1e-5 * 0.9**3


def test_the_learning_rate_formula():
    options = TrainingOptions(learning_rate=1e-3, learning_rate_decay=0.5, plateau_factor=0.1, min_learning_rate=1e-6)
    assert options.learning_rate_at(0, 0) == pytest.approx(1e-3)
    assert options.learning_rate_at(2, 1) == pytest.approx(1e-3 * 0.25 * 0.1)
    assert options.learning_rate_at(0, 5) == pytest.approx(1e-6)  # 1e-8 floored
    assert options.learning_rate_at(20, 0) == pytest.approx(1e-3 * 0.5**20)  # the decay alone is never raised


def test_fixed_epochs_run_every_epoch_and_keep_the_last(data, tmp_path):
    result = run(data, tmp_path / "fixed", epochs=5, patience=1, early_stopping=False)
    assert [r["epoch"] for r in result.history] == [0, 1, 2, 3, 4] and not result.stopped_early
    assert result.best_epoch == 4 and result.best_metrics == result.history[-1]
    assert validation_auc(result) == pytest.approx(result.history[-1]["val_auc"], abs=1e-6)
    assert not (tmp_path / "fixed" / "best").exists()


def test_evaluation_every_n_steps_stops_restores_and_resumes(data, tmp_path):
    options = dict(eval_steps=5, patience=4)
    straight = run(data, tmp_path / "steps", epochs=8, **options)
    steps = [r["step"] for r in straight.history]
    assert steps[:6] == [5, 10, 12, 15, 20, 24]  # every 5 global steps, and each epoch's end (12 steps)
    assert straight.stopped_early and straight.history[-1]["step"] % 12 != 0  # stopped inside an epoch
    assert validation_auc(straight) == pytest.approx(straight.best_metrics["val_auc"], abs=1e-6)
    run(data, tmp_path / "resumed", epochs=3, **options)
    resumed = run(data, tmp_path / "resumed", epochs=8, resume=True, **options)
    assert reproducible(resumed.history) == reproducible(straight.history)
    assert validation_auc(resumed) == pytest.approx(validation_auc(straight), abs=1e-6)


def test_gradient_clipping_scales_the_gradient_before_adam():
    """One step of FusedAdam with the global norm clipped at 1 (epsilon large, so the step is ~ g)."""
    variable = tf.Variable([1.0, 2.0])
    gradient = np.array([3.0, 4.0])  # norm 5
    FusedAdam(0.1, epsilon=10.0, global_clipnorm=1.0).apply_gradients([(tf.constant(gradient, tf.float32), variable)])
    g = gradient / 5.0
    m, v = 0.1 * g, 0.001 * g**2
    step = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 10.0)
    np.testing.assert_allclose(variable.numpy(), [1.0, 2.0] - step, rtol=1e-6)


def test_the_options_reach_the_optimizer_and_come_from_the_config(data, tmp_path):
    result = run(data, tmp_path / "optimizer", epochs=1, gradient_clip_norm=10.0, adam_epsilon=1e-8)
    config = result.model.optimizer.get_config()
    assert config["global_clipnorm"] == 10.0 and config["epsilon"] == 1e-8
    params = TrainParams(plateau_factor=0.1, eval_steps=50, early_stopping=False, gradient_clip_norm=10.0)
    options = TrainingOptions.from_params(params)
    assert dataclasses.asdict(options) == {name: getattr(params, name) for name in dataclasses.asdict(options)}
    assert (options.plateau_factor, options.eval_steps, options.early_stopping) == (0.1, 50, False)


def test_corrupted_checkpoint_is_a_clear_error(data, tmp_path):
    run(data, tmp_path / "broken", epochs=1)
    for shard in (tmp_path / "broken" / "latest").glob("*.data-*"):
        shard.write_bytes(b"garbage")
    with pytest.raises(InputError, match="checkpoint cannot be resumed"):
        run(data, tmp_path / "broken", epochs=2, resume=True)


def test_a_history_without_steps_is_a_clear_error(data, tmp_path):
    import json

    run(data, tmp_path / "old", epochs=1)
    history = tmp_path / "old" / "history.json"
    payload = json.loads(history.read_text())
    for record in payload["history"]:
        del record["step"]
    history.write_text(json.dumps(payload))
    with pytest.raises(InputError, match="checkpoint cannot be resumed .KeyError"):
        run(data, tmp_path / "old", epochs=2, resume=True)


def test_the_progress_bar_counts_each_epochs_batches_and_examples(data, tmp_path):
    import io

    from rich.console import Console

    from featureplex.pipelines.progress import training_progress_callback

    screen = io.StringIO()
    progress = training_progress_callback(batch_size=256, display=Console(file=screen, force_terminal=True, color_system=None, width=140))
    run(data, tmp_path / "shown", epochs=2, callbacks=[progress])
    shown = screen.getvalue()
    # 3,000 training rows in tables of up to 2,000: 8 + 4 batches of at most 256 rows per epoch
    assert "epoch 0" in shown and "epoch 1" in shown and "examples/s" in shown
    assert "12/12 batches, 3,072 examples" in shown
