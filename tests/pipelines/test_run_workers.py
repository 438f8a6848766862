"""`featureplex run --workers 2`: worker 0 runs the Beam stages once and tracks the run, worker 1 waits for
their artifacts and trains its share; the model matches the train stage in one process; what a run on
workers cannot do is one line."""

import json

import pytest
from mlflow.tracking import MlflowClient

from featureplex.pipelines.cli import run_command
from featureplex.pipelines.cluster import tf_config
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.inputs import resolve_inputs
from featureplex.pipelines.run import SELECTED_CONFIG
from featureplex.pipelines.stages.train import train_ctr_model
from featureplex.pipelines.tracking import OWNER_PID

# the global batch, epochs and learning rate of tests/pipelines/stages/test_train_workers.py's 1-vs-2 comparison
CONFIG = """dataset: {data}
user: user_id
vocab: {{dimension: 8}}
train: {{model: dnn, epochs: 2, batch_size: 512, learning_rate: 0.003}}
run: {{out: {out}, select: {select}}}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("run-workers-data")
    generate_synthetic(root / "data", rows=12_000, seed=0, row_group_rows=2_000)  # 6 row groups: 3 per worker
    return root / "data"


def write_config(tmp_path, data, select="none"):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(data=data, out=tmp_path / "out", select=select))
    return path


def test_run_on_two_workers_tracks_one_run_and_matches_one_process(cli, data, tmp_path, monkeypatch):
    config = write_config(tmp_path, data)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    first = cli("run", config, "--workers", "2", env=env)
    assert first.returncode == 0, first.stderr
    for stage in ("profile", "rank", "vocab", "train"):
        assert f"{stage}: done" in first.stderr
    assert "waiting for the chief" not in first.stderr  # worker 1's lines are not the command's

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("featureplex").experiment_id])
    [parent] = [run for run in runs if run.data.tags["featureplex.stage"] == "run"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {run.data.tags["featureplex.stage"] for run in children} == {"profile", "rank", "vocab", "train"}
    assert "final_val_auc" in parent.data.metrics
    assert len({run.data.tags[OWNER_PID] for run in runs}) == 1  # the chief tracks; worker 1 logs nothing

    # the train stage in one process on the run's selection and vocab: the same global batch and epochs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    out = tmp_path / "out"
    inputs = resolve_inputs(data, out / SELECTED_CONFIG)
    one = train_ctr_model(inputs, out / "vocab", tmp_path / "one", inputs.config.train)
    two = json.loads((out / "train" / "metrics.json").read_text())["val_auc"]
    assert abs(two - one.metrics["val_auc"]) < 0.005

    again = cli("run", config, "--workers", "2", env=env)
    assert again.returncode == 0, again.stderr
    for stage in ("profile", "rank", "vocab", "train", "register"):
        assert f"{stage}: current, skipped" in again.stderr


@pytest.mark.parametrize("select, flags, environ, expected", [
    ("optfs", ["--workers", "2"], {}, "--workers: run.select optfs trains in one process"),
    ("none", ["--workers", "2", "--force"], {}, "--workers: --force: the workers other than the chief"),
    ("optfs", [], {"TF_CONFIG": tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1)}, "TF_CONFIG: run.select optfs"),
    ("none", ["--workers", "2"], {"TF_CONFIG": tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0)},
     "--workers: TF_CONFIG already names a cluster"),
])
def test_what_a_run_on_workers_cannot_do_is_one_line(data, tmp_path, monkeypatch, capsys, select, flags, environ,
                                                     expected):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert run_command(["run", str(write_config(tmp_path, data, select)), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
