"""The pyfunc wrapper, the registry alias, `featureplex serve models:/...` and `mlflow models serve`."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from featureplex.features.errors import InputError
from featureplex.serving.mlflow_model import local_saved_model, log_pyfunc_model, served_version, set_alias
from featureplex.serving.predictor import SavedModelPredictor
from tests.conftest import REPO, free_port, wait_for_http
from tests.serving.conftest import running_server
from tests.serving.test_server import ROWS


@pytest.fixture(scope="module")
def registered(saved_model, mlflow_server):
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("serving-test")
    example = pd.DataFrame(ROWS)
    with mlflow.start_run():
        info = log_pyfunc_model(saved_model, example, registered_name="ctr_test")
    version = set_alias("ctr_test", "champion")
    yield info, version
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_pyfunc_predicts_like_the_saved_model(registered, saved_model):
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
    model = mlflow.pyfunc.load_model("models:/ctr_test@champion")
    predictions = model.predict(pd.DataFrame(ROWS))
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected, rtol=1e-6)
    assert registered[1] == "1"
    assert model.metadata.get_input_schema().input_names() == list(pd.DataFrame(ROWS).columns)


def test_the_model_environment_names_what_serving_imports(registered):
    requirements = mlflow.pyfunc.get_model_dependencies("models:/ctr_test@champion")
    pinned = dict(line.split("==") for line in Path(requirements).read_text().split())
    assert {"tensorflow", "tf-keras", "mlflow", "pandas", "pyarrow"} <= set(pinned)
    assert "featureplex" not in pinned  # shipped as code, not installable from an index
    assert pinned["tensorflow"] == importlib.metadata.version("tensorflow")


def test_uris_resolve_to_the_saved_model(registered):
    path = local_saved_model("models:/ctr_test@champion")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    with pytest.raises(InputError, match="models:/absent@champion"):
        local_saved_model("models:/absent@champion")
    with pytest.raises(InputError, match="registered model 'absent'"):
        set_alias("absent", "champion")


def serve_and_score(command, url, env):
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(url[0], process, timeout=180)
        return httpx.post(url[1], json=url[2], timeout=60).json()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_featureplex_serve_and_mlflow_models_serve_agree(registered, saved_model, mlflow_server):
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
    # `mlflow models serve` runs `uvicorn` from PATH, as in an activated virtual environment
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "PYTHONPATH": str(REPO), "PATH": path}
    ours_port, theirs_port = free_port(), free_port()
    ours = serve_and_score(
        [sys.executable, "-m", "featureplex.pipelines.cli", "serve", "models:/ctr_test@champion", "--port", str(ours_port)],
        (f"http://127.0.0.1:{ours_port}/healthz", f"http://127.0.0.1:{ours_port}/v1/models/default:predict", {"instances": ROWS}),
        env,
    )
    theirs = serve_and_score(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/ctr_test@champion", "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(theirs_port)],
        (f"http://127.0.0.1:{theirs_port}/ping", f"http://127.0.0.1:{theirs_port}/invocations", {"dataframe_records": ROWS}),
        env,
    )
    np.testing.assert_allclose([p["probability"] for p in ours["predictions"]], expected, rtol=1e-6)
    np.testing.assert_allclose([p["probability"] for p in theirs["predictions"]], expected, rtol=1e-6)


def test_a_registry_model_is_served_as_its_version_with_its_alias_as_label(registered, saved_model, mlflow_server, tmp_path):
    with mlflow.start_run():
        log_pyfunc_model(saved_model, pd.DataFrame(ROWS), registered_name="ctr_test")
    assert set_alias("ctr_test", "challenger") == "2"
    assert served_version("models:/ctr_test@challenger") == (2, {"challenger": 2})
    assert served_version("models:/ctr_test/1") == (1, {})
    with pytest.raises(InputError, match="models:/ctr_test@absent"):
        served_version("models:/ctr_test@absent")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    with running_server("models:/ctr_test@challenger", tmp_path / "log", "--name", "ctr", env=env) as running:
        v1 = f"{running.url}/v1/models/ctr"
        body = {"instances": ROWS}
        expected = httpx.post(f"{v1}:predict", json=body).json()
        assert httpx.post(f"{v1}/versions/2:predict", json=body).json() == expected
        assert httpx.post(f"{v1}/labels/challenger:predict", json=body).json() == expected
        assert httpx.post(f"{v1}/versions/1:predict", json=body).status_code == 404
        assert httpx.post(f"{v1}/labels/champion:predict", json=body).json() == {
            "error": "Unrecognized servable version label: champion"}
        assert httpx.get(f"{v1}/labels/challenger").json()["model_version_status"][0]["version"] == "2"
        assert httpx.get(f"{v1}/metadata").json()["model_spec"]["version"] == "2"
    assert "version 2 on http://127.0.0.1" in running.log.read_text()
