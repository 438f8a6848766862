"""`featureplex train --workers 2`: two local worker processes under MultiWorkerMirroredStrategy (gRPC on
127.0.0.1) against one process, a worker killed midway and the run resumed, early stopping with evaluations
every few steps and gradient clipping, TF_CONFIG errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featureplex.features.embedding.layout import Layout
from featureplex.features.errors import InputError
from featureplex.pipelines.cli import run_command
from featureplex.pipelines.cluster import WorkerCluster, check_cluster_fits, parse_tf_config, tf_config
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.vocab import build_vocabulary
from featureplex.serving.predictor import SavedModelPredictor
from tests.conftest import REPO

CONFIG = "user: user_id\nfeatures:\n  leak_label: {role: ignore}\n  noise_row_id: {role: ignore}\nvocab: {dimension: 8}\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    generate_synthetic(root / "data", rows=12_000, seed=0, row_group_rows=2_000)  # 6 row groups: 3 per worker
    (root / "config.yaml").write_text(CONFIG)
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    return root


def train_args(root, out, *extra):
    # the same global batch and epochs for 1 and 2 workers. The two see the rows in different orders: at 0.003
    # both are best at epoch 1 and 0.0035 apart; at 0.01 (best at epoch 0, overfitting after) 0.008 apart
    return ["train", str(root / "data"), "--allow-suspect-columns", "--config", str(root / "config.yaml"), "--vocab",
            str(root / "vocab"), "--out", str(out), "--batch-size", "512", "--model", "dnn", "--epochs", "2",
            "--learning-rate", "0.003", *extra]


def worker_pid(parent: int, rank: int) -> int:
    """The pid of the child of `parent` whose TF_CONFIG gives it `rank` (Linux's /proc)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for child in map(int, children):
        environ = dict(item.split("=", 1) for item in Path(f"/proc/{child}/environ").read_text().split("\0") if "=" in item)
        if json.loads(environ["TF_CONFIG"])["task"]["index"] == rank:
            return child
    raise AssertionError(f"no worker {rank} among {children}")


def val_auc(out) -> float:
    return json.loads((out / "metrics.json").read_text())["val_auc"]


def test_two_workers_match_one_and_a_killed_worker_resumes(cli, prepared, tmp_path, monkeypatch):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    assert run_command(train_args(prepared, tmp_path / "one")) == 0  # one process: this one (TensorFlow is loaded)

    out = tmp_path / "two"
    command = [sys.executable, "-m", "featureplex.pipelines.cli", *train_args(prepared, out, "--workers", "2")]
    parent = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    saved = out / "checkpoints" / "latest" / "checkpoint"  # epoch 0 done: the workers are in epoch 1
    while not saved.exists() and parent.poll() is None:
        time.sleep(0.1)
    assert parent.poll() is None, parent.communicate()[1]  # still training epoch 1
    second = worker_pid(parent.pid, 1)
    os.kill(second, signal.SIGKILL)
    stderr = parent.communicate(timeout=120)[1]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert parent.returncode == 1 and len(errors) == 1, stderr
    assert errors[0].startswith(f"error: worker 1 of 2 (pid {second}) was killed by SIGKILL") and "--resume" in errors[0]
    assert "Traceback" not in stderr and not (out / "saved_model").exists()

    resumed = cli(*train_args(prepared, out, "--workers", "2", "--resume"), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert [record["epoch"] for record in json.loads((out / "history.json").read_text())] == [0, 1]
    assert abs(val_auc(out) - val_auc(tmp_path / "one")) < 0.005


def test_early_stopping_eval_steps_and_clipping_on_two_workers(cli, prepared, tmp_path):
    # evaluations every 3 steps and patience 1 at a learning rate at which the validation AUC falls within the
    # first epoch (22 steps of 512 rows: never a multiple of 3): both workers stop together in mid-epoch
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG + "train: {patience: 1, eval_steps: 3, gradient_clip_norm: 1.0}\n")
    out = tmp_path / "out"
    args = ["train", prepared / "data", "--allow-suspect-columns", "--config", config, "--vocab", prepared / "vocab",
            "--out", out, "--batch-size", "512", "--model", "dnn", "--epochs", "4", "--learning-rate", "0.05", "--workers", "2"]
    result = cli(*args, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert result.returncode == 0, result.stderr
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["stopped"] and not any(record["stopped"] for record in history[:-1])
    assert len(history) >= 2 and all(record["step"] % 3 == 0 for record in history)  # no epoch's end reached
    best = max(history, key=lambda record: record["val_auc"])
    assert best["step"] < history[-1]["step"] and val_auc(out) == best["val_auc"]  # the best weights kept
    examples = [json.loads(line) for line in (out / "input_example.jsonl").read_text().splitlines()]
    probabilities = SavedModelPredictor(str(out / "saved_model")).predict_rows(examples)["probability"]
    assert len(probabilities) == len(examples) and all(0 < p < 1 for p in probabilities)


@pytest.mark.parametrize("tf_config_text, expected", [
    ("{not json", "TF_CONFIG: not JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}',
     "TF_CONFIG: task.index: expected 0..1 for 2 worker task(s) (got 2)"),
    ('{"cluster": {"worker": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: cluster.ps: not supported"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: cluster.worker: expected a list of 'host:port' strings"),
])
def test_a_bad_tf_config_is_one_line(prepared, tmp_path, monkeypatch, capsys, tf_config_text, expected):
    monkeypatch.setenv("TF_CONFIG", tf_config_text)
    assert run_command(train_args(prepared, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1, err


def test_workers_and_tf_config_together_are_refused(prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0))
    assert run_command(train_args(prepared, tmp_path / "out", "--workers", "2")) == 2
    assert capsys.readouterr().err == "error: --workers: TF_CONFIG already names a cluster; give one or the other\n"


def test_the_chief_comes_first_and_one_task_is_no_cluster():
    text = '{"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}'
    assert parse_tf_config(text) == WorkerCluster(("a:1", "b:1", "c:1"), 2)
    assert WorkerCluster.from_environment({"TF_CONFIG": tf_config(["a:1"], 0)}) is None
    assert WorkerCluster.from_environment({}) is None


def test_a_table_that_does_not_fit_the_workers_is_refused_with_its_bytes():
    cluster = WorkerCluster(("127.0.0.1:1", "127.0.0.1:2"), 0)
    layout = Layout(mode="separate", dimension=16, rows=1_000_000, seed=0, features={})
    with pytest.raises(InputError, match=r"16000000 parameters, 64,000,000 bytes.*256,000,000 bytes.*2 worker.*budget"):
        check_cluster_fits(cluster, 512, 4, layout, available=400_000_000)
    check_cluster_fits(cluster, 512, 4, layout, available=600_000_000)
    with pytest.raises(InputError, match="train.batch_size: 511 rows per step do not split evenly over 2 workers"):
        check_cluster_fits(cluster, 511, 4, layout, available=600_000_000)
    with pytest.raises(InputError, match="DATA: 1 Parquet row group"):
        check_cluster_fits(cluster, 512, 1, layout, available=600_000_000)
