"""Tracking against a real `mlflow server` on 127.0.0.1, and the local SQLite default."""

import mlflow
from mlflow.tracking import MlflowClient

from pipelines.tracking import DEFAULT_TRACKING_URI, configure_tracking, flatten, log_artifacts, log_params, tracked_run


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
