"""Held-out evaluation as a user runs it: `train DATA --validation V --test T` (the whole of DATA trains,
V validates, T is scored once with the kept weights), checked against sklearn on the exported model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import log_loss, roc_auc_score

from featureplex.pipelines.cli import run_command
from tests.conftest import small_table

CONFIG = "user: user_id\nfeatures: {user_id: {role: ignore}}\nvocab: {dimension: 4}\ntrain: {validation_fraction: 0.3, learning_rate: 0.02}\n"
ROWS = {"train": 1200, "valid": 300, "test": 400}


def clicks(rows: int, seed: int) -> pa.Table:
    """small_table's columns, a user per row and a label that depends on the item (AUC well above 0.5)."""
    table = small_table(rows, seed)
    rng = np.random.default_rng(seed + 100)
    item = table.column("item_id").to_numpy()
    label = (rng.random(rows) < np.where(item % 3 == 0, 0.6, 0.15)).astype(np.int8)
    return table.set_column(0, "label", pa.array(label)).append_column("user_id", pa.array(rng.integers(0, 25, rows)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("held_out")
    for seed, (name, rows) in enumerate(ROWS.items()):
        pq.write_table(clicks(rows, seed), root / f"{name}.parquet", row_group_size=500)
    (root / "config.yaml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        patch.chdir(root)
        assert run_command(["vocab", "train.parquet", "--config", "config.yaml", "--out", "vocab"]) == 0
        assert run_command(["train", "train.parquet", "--config", "config.yaml", "--vocab", "vocab", "--out", "model",
                            "--validation", "valid.parquet", "--test", "test.parquet", "--epochs", "3",
                            "--batch-size", "128"]) == 0
    return root


def saved_model_logits(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, logits of the exported model, users) of a file: an independent path to the same predictions."""
    from featureplex.serving.predictor import SavedModelPredictor

    predictor = SavedModelPredictor(str(root / "model" / "saved_model"))
    table = pq.read_table(root / f"{name}.parquet")
    rows = table.select([n for n in predictor.inputs if n in table.column_names]).to_pylist()
    return (table.column("label").to_numpy(), predictor.predict_rows(rows)["logit"].astype(np.float64),
            table.column("user_id").to_numpy())


def per_user_auc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> float:
    """GAUC the slow, obvious way: sklearn's AUC per user with both classes, weighted by the user's rows."""
    total = weighted = 0.0
    for user in np.unique(users):
        mine = users == user
        if 0 < labels[mine].sum() < mine.sum():
            weighted += mine.sum() * roc_auc_score(labels[mine], scores[mine])
            total += mine.sum()
    return weighted / total


def test_the_whole_of_data_trains_and_the_test_file_is_scored_with_the_kept_weights(trained, capsys):
    card = json.loads((trained / "model" / "model_card.json").read_text())
    assert card["rows"] == {"train": ROWS["train"], "validation": ROWS["valid"], "test": ROWS["test"]}
    assert set(card["held_out_fingerprints"]) == {"validation", "test"}
    metrics = json.loads((trained / "model" / "metrics.json").read_text())
    assert metrics == card["metrics"]

    labels, logits, users = saved_model_logits(trained, "test")
    probabilities = 1 / (1 + np.exp(-logits))
    assert metrics["test_auc"] == pytest.approx(roc_auc_score(labels, logits), abs=1e-9)
    assert metrics["test_auc"] > 0.65
    assert metrics["test_logloss"] == pytest.approx(log_loss(labels, probabilities), rel=1e-5)
    assert metrics["test_gauc"] == pytest.approx(per_user_auc(labels, logits, users), abs=1e-9)
    assert metrics["test_calibration"] == pytest.approx(probabilities.mean() / labels.mean(), rel=1e-5)
    assert metrics["test_rows"] == ROWS["test"]

    # the kept weights are the best validation AUC's (restored before the test), on the validation file's rows
    history = json.loads((trained / "model" / "history.json").read_text())
    assert metrics["best_epoch"] == max(history, key=lambda record: record["val_auc"])["epoch"]
    labels, logits, _ = saved_model_logits(trained, "valid")
    assert metrics["val_auc"] == pytest.approx(roc_auc_score(labels, logits), abs=0.01)  # Keras' AUC: 2000 thresholds

    client = MlflowClient(f"sqlite:///{trained}/mlflow.db")
    run = client.get_run(card["mlflow_run_id"])
    for name in ("test_auc", "test_logloss", "test_gauc", "test_calibration"):
        assert run.data.metrics[name] == pytest.approx(metrics[name])
    assert run.data.params["data.train_rows"] == str(ROWS["train"])
    assert {(i.dataset.name, i.tags[0].value) for i in run.inputs.dataset_inputs} == {
        ("data-training", "training"), ("validation-validation", "validation"), ("test-test", "test")}
