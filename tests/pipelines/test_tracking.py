"""Tracking against a real `mlflow server` on 127.0.0.1, and the local SQLite default."""

import os
import signal
import subprocess
import sys

import mlflow
from mlflow.tracking import MlflowClient

from featureplex.pipelines.tracking import (
    DEFAULT_TRACKING_URI,
    configure_tracking,
    flatten,
    log_artifacts,
    log_params,
    tracked_run,
)


def test_flatten_nests_and_bounds():
    flat = flatten({"a": {"b": 1, "c": {"d": "x"}}, "long": "y" * 10_000})
    assert flat["a.b"] == "1" and flat["a.c.d"] == "x" and len(flat["long"]) == 6000


def test_runs_reach_a_real_server(mlflow_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    (tmp_path / "layout.json").write_text("{}")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.html").write_text("<html></html>")
    with tracked_run("parent", tags={"featureplex.stage": "run"}) as parent:
        with tracked_run("child", nested=True) as child:
            log_params({"model": {"name": "dnn", "layers": [4, 2]}})
            mlflow.log_metric("val_auc", 0.75, step=1)
            log_artifacts([tmp_path / "layout.json", tmp_path / "report"])
    client = MlflowClient(mlflow_server)
    run = client.get_run(child.info.run_id)
    assert run.data.params["model.name"] == "dnn"
    assert run.data.metrics["val_auc"] == 0.75
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert sorted(a.path for a in client.list_artifacts(child.info.run_id)) == ["layout.json", "report"]
    assert client.get_run(parent.info.run_id).data.tags["featureplex.stage"] == "run"


def test_default_store_is_local_sqlite(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert configure_tracking() == DEFAULT_TRACKING_URI


def _tracked_sleeper(tmp_path):
    """A process holding an MLflow run open, as a stage does, with the CLI's SIGTERM handling."""
    code = ("import signal, time\n"
            "from featureplex.pipelines.cli import _interrupted\n"
            "from featureplex.pipelines.tracking import tracked_run\n"
            "signal.signal(signal.SIGTERM, _interrupted)\n"
            "with tracked_run('sleeper') as run:\n"
            "    print(run.info.run_id, flush=True)\n"
            "    time.sleep(120)\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    return process, process.stdout.readline().strip()


def test_a_terminated_command_ends_its_run_killed_and_a_later_one_fails_runs_of_dead_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    terminated, terminated_id = _tracked_sleeper(tmp_path)
    terminated.send_signal(signal.SIGTERM)
    terminated.wait(timeout=60)
    assert client.get_run(terminated_id).info.status == "KILLED"

    killed, killed_id = _tracked_sleeper(tmp_path)
    killed.kill()  # kill -9: nothing in the process can end its run
    killed.wait(timeout=60)
    assert client.get_run(killed_id).info.status == "RUNNING"
    with tracked_run("next"):
        pass
    assert client.get_run(killed_id).info.status == "FAILED"
