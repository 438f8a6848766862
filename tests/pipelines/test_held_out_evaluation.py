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


def test_evaluate_scores_parquet_as_sklearn_does_and_as_train_tested(trained, capsys, tmp_path):
    out = tmp_path / "evaluation"
    assert run_command(["evaluate", str(trained / "model"), str(trained / "test.parquet"), "--out", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == ["note: ignored the columns the model does not use: event_time"]  # user_id: gAUC's column
    metrics = json.loads((out / "metrics.json").read_text())
    labels, logits, users = saved_model_logits(trained, "test")
    probabilities = 1 / (1 + np.exp(-logits))
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, logits), abs=1e-9)
    assert metrics["logloss"] == pytest.approx(log_loss(labels, probabilities), rel=1e-5)
    assert metrics["gauc"] == pytest.approx(per_user_auc(labels, logits, users), abs=1e-9)
    assert metrics["calibration"] == pytest.approx(probabilities.mean() / labels.mean(), rel=1e-5)
    assert (metrics["rows"], metrics["positives"]) == (ROWS["test"], int(labels.sum()))
    tested = json.loads((trained / "model" / "metrics.json").read_text())  # one implementation: the same numbers
    assert {name: metrics[name] for name in ("auc", "gauc")} == {"auc": tested["test_auc"], "gauc": tested["test_gauc"]}
    assert metrics["logloss"] == pytest.approx(tested["test_logloss"], rel=1e-6)

    bins = np.genfromtxt(out / "reliability.csv", delimiter=",", names=True)
    order = np.argsort(probabilities, kind="stable")
    expected = [(len(part), probabilities[part].mean(), labels[part].mean()) for part in np.array_split(order, 10)]
    np.testing.assert_allclose([(b["rows"], b["mean_prediction"], b["observed_ctr"]) for b in bins], expected, rtol=1e-5)
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    again = tmp_path / "again"
    assert run_command(["evaluate", str(trained / "model"), str(trained / "test.parquet"), "--out", str(again)]) == 0
    for name in ("metrics.json", "reliability.csv", "reliability.png"):  # deterministic, byte for byte
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_evaluate_a_registered_model_by_its_alias(trained, monkeypatch, tmp_path, capsys):
    from featureplex.pipelines.artifacts.evaluation import EvaluationArtifact
    from featureplex.pipelines.artifacts.train import TrainArtifact
    from featureplex.pipelines.stages import register

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{trained}/mlflow.db")
    monkeypatch.chdir(trained)
    from featureplex.pipelines.tracking import configure_tracking

    configure_tracking()
    register.run(TrainArtifact.read(trained / "model"), "ctr", "champion", None)
    assert run_command(["evaluate", str(trained / "model"), str(trained / "test.parquet"), "--out", str(tmp_path / "dir")]) == 0
    assert run_command(["evaluate", "models:/ctr@champion", str(trained / "test.parquet"), "--out", str(tmp_path / "uri")]) == 0
    by_uri, by_dir = EvaluationArtifact.read(tmp_path / "uri"), EvaluationArtifact.read(tmp_path / "dir")
    assert "gauc" in by_uri.metrics  # the user column from the model card its training run logged
    assert by_uri.metrics == by_dir.metrics and by_uri.bins.equals(by_dir.bins)
    assert by_uri.manifest.inputs == {"data": by_dir.manifest.inputs["data"], "model": "models:/ctr@champion"}
    assert run_command(["evaluate", "models:/ctr/7", str(trained / "test.parquet")]) == 2
    assert "models:/ctr/7" in capsys.readouterr().err


@pytest.mark.parametrize("change, fragments", [
    (lambda table: table.drop_columns(["city"]), ["column 'city' is missing"]),
    (lambda table: table.set_column(2, "city", pa.array(np.arange(table.num_rows))), ["column 'city' has type int64",
                                                                                      "the model takes text"]),
    (lambda table: table.set_column(0, "label", pa.array(np.zeros(table.num_rows, np.int8))), ["a single class"]),
])
def test_evaluate_bad_data_is_one_line_naming_the_file_and_column(trained, tmp_path, capsys, change, fragments):
    bad = tmp_path / "bad.parquet"
    pq.write_table(change(pq.read_table(trained / "test.parquet")), bad)
    assert run_command(["evaluate", str(trained / "model"), str(bad), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), lines
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert not (tmp_path / "o").exists()


def test_predict_scores_parquet_as_the_saved_model_does(trained, tmp_path, capsys):
    import polars as pl

    labels, logits, _ = saved_model_logits(trained, "test")
    expected = 1 / (1 + np.exp(-logits))
    for output in ("out.parquet", "out.jsonl"):  # batches of 64 rows: several requests, the last one short
        assert run_command(["predict", str(trained / "model" / "saved_model"), "--input", str(trained / "test.parquet"),
                            "--output", str(tmp_path / output), "--batch-size", "64"]) == 0
        read = pl.read_parquet if output.endswith(".parquet") else pl.read_ndjson
        np.testing.assert_allclose(read(tmp_path / output)["probability"].to_numpy(), expected, rtol=1e-5)
        notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
        assert notes == ["note: ignored the columns the model does not use: event_time, label, user_id"]
    bad = tmp_path / "bad.parquet"
    table = pq.read_table(trained / "test.parquet")
    pq.write_table(table.set_column(table.column_names.index("city"), "city", pa.array(np.arange(table.num_rows))), bad)
    assert run_command(["predict", str(trained / "model" / "saved_model"), "--input", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {bad}: column 'city' has type int64; the model takes text"]


def test_a_split_of_data_set_beside_a_validation_file_is_said_to_be_unused(trained, recwarn):
    from featureplex.features.data.config import TrainParams
    from featureplex.pipelines.held_out import UnusedSplitWarning, open_held_out
    from featureplex.pipelines.inputs import resolve_inputs

    inputs = resolve_inputs(str(trained / "train.parquet"), str(trained / "config.yaml"))
    valid = str(trained / "valid.parquet")
    with pytest.warns(UnusedSplitWarning, match="train.validation_fraction 0.3 is not used"):
        held_out = open_held_out(inputs, inputs.config.train.model_copy(update={"validation": valid}))
    assert held_out.validation.num_rows == ROWS["valid"] and held_out.test is None
    for quiet in (TrainParams(validation=valid), TrainParams(validation=valid, validation_fraction=0)):
        open_held_out(inputs, quiet)
    assert not [w for w in recwarn if issubclass(w.category, UnusedSplitWarning)]
