"""`featureplex train` as a user runs it: outputs, the MLflow run on a real server, kill and resume, bad inputs."""

import json
import signal
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.vocab import build_vocabulary
from tests.conftest import start_cli

CONFIG = "user: user_id\nfeatures:\n  leak_label: {role: ignore}\n  noise_row_id: {role: ignore}\nvocab: {dimension: 8}\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    generate_synthetic(root / "data", rows=12_000, seed=0, row_group_rows=4_000)
    (root / "config.yaml").write_text(CONFIG)
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    return root


def train_args(root, out, *extra):
    return ("train", root / "data", "--allow-suspect-columns", "--config", root / "config.yaml", "--vocab", root / "vocab", "--out", out,
            "--batch-size", "512", *extra)


def test_train_writes_results_and_tracks_the_run(cli, prepared, mlflow_server, tmp_path):
    out = tmp_path / "dnn"
    result = cli(*train_args(prepared, out, "--model", "dnn", "--epochs", "2"), env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert result.returncode == 0, result.stderr
    for name in ("saved_model/saved_model.pb", "model_card.json", "metrics.json", "history.json", "input_example.jsonl",
                 "training_curve.png", "model_summary.txt", "manifest.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_auc"] > 0.6 and 0.5 < metrics["val_gauc"] <= 1.0
    card = json.loads((out / "model_card.json").read_text())
    assert "history_item_ids" in card["features"]["sequence"] and "inf_num" in card["features"]["numeric"]
    assert "leak_label" not in card["features"]["categorical"]

    client = MlflowClient(mlflow_server)
    run = client.get_run(card["mlflow_run_id"])
    assert run.data.params["train.model"] == "dnn"
    assert run.data.params["layout.mode"] == "collisionless"  # vocab without a budget (the fixture's)
    # the embedding penalty's default on that layout, logged and written as the number used
    assert run.data.params["train.embedding_l2"] == "0.003"
    assert json.loads((out / "manifest.json").read_text())["parameters"]["embedding_l2"] == 0.003
    assert run.data.params["data.fingerprint"] == run.data.tags["featureplex.data_fingerprint"]
    assert "inf_cat_10" in run.data.params["features"]
    assert len(client.get_metric_history(run.info.run_id, "val_auc")) == 2
    assert run.data.metrics["best_val_auc"] == pytest.approx(metrics["val_auc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"layout.json", "training_curve.png", "model_summary.txt", "model_card.json"} <= artifacts

    import mlflow
    import pandas as pd

    from featureplex.serving.predictor import SavedModelPredictor

    mlflow.set_tracking_uri(mlflow_server)
    logged = mlflow.get_logged_model(card["mlflow_model_uri"].removeprefix("models:/"))
    assert logged.source_run_id == run.info.run_id  # MLflow 3 keeps models beside runs, linked to them
    rows = [json.loads(line) for line in (out / "input_example.jsonl").read_text().splitlines()]
    pyfunc = mlflow.pyfunc.load_model(card["mlflow_model_uri"]).predict(pd.DataFrame(rows))
    direct = SavedModelPredictor(str(out / "saved_model")).predict_rows(rows)
    np.testing.assert_allclose(pyfunc["probability"].to_numpy(), direct["probability"], rtol=1e-6)


def test_killed_training_resumes_to_the_same_metrics(cli, prepared, tmp_path):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    args = ("--model", "dcn", "--epochs", "3", "--seed", "5")
    straight = cli(*train_args(prepared, tmp_path / "straight", *args), env=env)
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    process = start_cli(*train_args(prepared, killed, *args), cwd=tmp_path, env=env)
    history = killed / "checkpoints" / "history.json"
    deadline = time.monotonic() + 300
    while not (history.exists() and len(json.loads(history.read_text())) >= 1):
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "saved_model").exists() and not (killed / "metrics.json").exists()

    resumed = cli(*train_args(prepared, killed, *args, "--resume"), env=env)
    assert resumed.returncode == 0, resumed.stderr
    expected = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert json.loads((killed / "metrics.json").read_text()) == expected
    def reproducible(history_file):  # all but the wall-clock throughput
        return [{k: v for k, v in r.items() if k != "train_examples_per_second"} for r in json.loads(history_file.read_text())]

    assert reproducible(killed / "history.json") == reproducible(tmp_path / "straight" / "history.json")
    assert all(r["train_examples_per_second"] > 0 for r in json.loads((killed / "history.json").read_text()))


def assert_one_line(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_inputs(cli, prepared, tmp_path):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    table = pq.read_table(prepared / "data" / "part-00000.parquet")

    other = tmp_path / "other"
    other.mkdir()
    pq.write_table(table.drop_columns(["device"]), other / "part-00000.parquet")
    result = cli("train", other, "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab", "--out", tmp_path / "o1", env=env)
    assert_one_line(result, "layout.json", "feature 'device' is not a categorical column")

    nulls = tmp_path / "nulls"
    nulls.mkdir()
    label = table.column("label").to_pylist()
    label[3] = None
    pq.write_table(table.set_column(0, "label", pa.array(label, pa.int8())), nulls / "part-00000.parquet")
    result = cli("train", nulls, "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab", "--out", tmp_path / "o2", env=env)
    assert_one_line(result, "label 'label'", "null")

    result = cli(*train_args(prepared, tmp_path / "o3", "--model", "xgboost"), env=env)
    assert_one_line(result, "--model", "'xgboost'")

    single = tmp_path / "single"
    single.mkdir()
    pq.write_table(table.set_column(0, "label", pa.array(np.zeros(table.num_rows, np.int8))), single / "part-00000.parquet")
    result = cli("train", single, "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab", "--out", tmp_path / "o4", env=env)
    assert_one_line(result, "a single class")

    broken = tmp_path / "broken"
    assert cli(*train_args(prepared, broken, "--epochs", "1"), env=env).returncode == 0
    for shard in (broken / "checkpoints" / "latest").glob("*.data-*"):
        shard.write_bytes(b"not a checkpoint")
    result = cli(*train_args(prepared, broken, "--epochs", "2", "--resume"), env=env)
    assert_one_line(result, "checkpoint cannot be resumed")

    result = cli(*train_args(prepared, broken, "--epochs", "2"), env=env)
    assert_one_line(result, "exists from an earlier run")
