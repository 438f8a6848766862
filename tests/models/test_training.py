"""The training loop on a real (tiny) numeric CTR model: learning, determinism, resume, corrupted checkpoints."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import models  # noqa: F401
import tensorflow as tf

from features.dataset import open_dataset
from features.errors import InputError
from features.schema import resolve_schema
from models.ctr_model import CtrModel
from models.dnn import DnnTower
from models.input import InputOptions, Split, split_streams
from models.numeric_fields import NumericFields
from models.training import TrainingOptions, seed_everything, train


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


def run(data, directory, epochs, resume=False, patience=5, callbacks=None):
    dataset, schema = data
    seed_everything(3)
    model = CtrModel(NumericFields(["x", "z"], [0.0, 0.0], [1.0, 1.0], 4), DnnTower([8]))
    options = InputOptions(batch_size=256, shuffle_rows=2000, seed=3)
    split = Split(0.25, seed=1)
    return train(
        model,
        *split_streams(dataset, schema, split, options),
        directory,
        TrainingOptions(epochs=epochs, learning_rate=0.02, patience=patience, seed=3),
        resume=resume,
        callbacks=callbacks,
    )


def test_learns_and_is_deterministic(data, tmp_path):
    first = run(data, tmp_path / "a", epochs=3)
    second = run(data, tmp_path / "b", epochs=3)
    assert first.best_metrics["val_auc"] > 0.8
    assert first.history == second.history
    assert [r["epoch"] for r in first.history] == [0, 1, 2]
    assert first.history[1]["learning_rate"] == pytest.approx(0.02 * 0.9)


def test_resume_matches_an_uninterrupted_run(data, tmp_path):
    straight = run(data, tmp_path / "straight", epochs=4)
    run(data, tmp_path / "resumed", epochs=2)
    resumed = run(data, tmp_path / "resumed", epochs=4, resume=True)
    assert resumed.history == straight.history
    assert resumed.best_epoch == straight.best_epoch


def test_early_stopping_keeps_the_best_epoch(data, tmp_path):
    result = run(data, tmp_path / "early", epochs=12, patience=1)
    assert result.stopped_early and len(result.history) < 12
    assert result.best_metrics["val_auc"] == max(r["val_auc"] for r in result.history)


def test_corrupted_checkpoint_is_a_clear_error(data, tmp_path):
    run(data, tmp_path / "broken", epochs=1)
    for shard in (tmp_path / "broken" / "latest").glob("*.data-*"):
        shard.write_bytes(b"garbage")
    with pytest.raises(InputError, match="checkpoint cannot be resumed"):
        run(data, tmp_path / "broken", epochs=2, resume=True)


def test_the_progress_bar_counts_each_epochs_batches_and_examples(data, tmp_path):
    import io

    from rich.console import Console

    from pipelines.progress import training_progress_callback

    screen = io.StringIO()
    progress = training_progress_callback(batch_size=256, display=Console(file=screen, force_terminal=True, color_system=None, width=140))
    run(data, tmp_path / "shown", epochs=2, callbacks=[progress])
    shown = screen.getvalue()
    # 3,000 training rows in tables of up to 2,000: 8 + 4 batches of at most 256 rows per epoch
    assert "epoch 0" in shown and "epoch 1" in shown and "examples/s" in shown
    assert "12/12 batches, 3,072 examples" in shown
