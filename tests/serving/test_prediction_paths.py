"""A trained model gives the same 1,000 predictions (to 1e-6) from every path a user can take:
the Keras model in memory, the reloaded SavedModel, the REST server, the MLflow pyfunc and
`mlflow models serve`. Also: `saved_model_cli show --all` lists the raw-feature signature."""

import math
import os
import subprocess
import sys

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from featureplex.features.data.dataset import iter_record_batches
from featureplex.models.input import to_feature_dict
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.inputs import resolve_inputs
from featureplex.pipelines.stages.train import train_ctr_model
from featureplex.pipelines.stages.vocab import build_vocabulary
from featureplex.serving.predictor import SavedModelPredictor
from tests.conftest import REPO, free_port, wait_for_http

ROWS = 1000


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_server):
    root = tmp_path_factory.mktemp("paths")
    generate_synthetic(root / "data", rows=6000, seed=3)
    (root / "config.yaml").write_text("features: {leak_label: {role: ignore}}\nvocab: {dimension: 8}\n")
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    inputs = resolve_inputs(str(root / "data"), str(root / "config.yaml"), None)
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
    try:
        outcome = train_ctr_model(inputs, str(root / "vocab"), root / "out",
                                  inputs.config.train.model_copy(update={"epochs": 1, "batch_size": 512}))
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    batch = next(iter_record_batches(inputs.dataset, columns=inputs.schema.columns(), batch_rows=ROWS))
    return outcome, inputs, batch


def json_rows(batch, names):
    rows = batch.select(names).to_pylist()
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def test_every_path_gives_the_same_predictions(trained, mlflow_server):
    outcome, inputs, batch = trained
    features, _ = to_feature_dict(batch, outcome.raw_specs, inputs.schema.label)
    in_memory = tf.sigmoid(outcome.model(features, training=False)[:, 0]).numpy()
    rows = json_rows(batch, list(outcome.raw_specs))

    reloaded = SavedModelPredictor(str(outcome.saved_model)).predict_rows(rows)["probability"]
    np.testing.assert_allclose(reloaded, in_memory, atol=1e-6)

    mlflow.set_tracking_uri(mlflow_server)
    card = outcome.card
    pyfunc = mlflow.pyfunc.load_model(card["mlflow_model_uri"]).predict(pd.DataFrame(rows))["probability"]
    np.testing.assert_allclose(pyfunc.to_numpy(), in_memory, atol=1e-6)

    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "PYTHONPATH": str(REPO), "PATH": path}
    servers = {
        "featureplex": ([sys.executable, "-m", "featureplex.pipelines.cli", "serve", str(outcome.saved_model)], "/healthz",
                        "/v1/models/default:predict", {"instances": rows}),
        "mlflow": ([sys.executable, "-m", "mlflow", "models", "serve", "-m", card["mlflow_model_uri"],
                    "--env-manager", "local", "--host", "127.0.0.1"], "/ping", "/invocations", {"dataframe_records": rows}),
    }
    for name, (command, health, predict, body) in servers.items():
        port = free_port()
        process = subprocess.Popen([*command, "--port", str(port)], cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_http(f"http://127.0.0.1:{port}{health}", process, timeout=180)
            answer = httpx.post(f"http://127.0.0.1:{port}{predict}", json=body, timeout=120).json()
        finally:
            process.terminate()
            process.wait(timeout=30)
        served = [p["probability"] for p in answer["predictions"]]
        np.testing.assert_allclose(served, in_memory, atol=1e-6, err_msg=name)


def test_saved_model_cli_lists_the_raw_signature(trained):
    outcome, _, _ = trained
    shown = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show", "--dir",
                            str(outcome.saved_model), "--all"], capture_output=True, text=True, check=True).stdout
    serving = shown.split("signature_def['serving_default']")[1]
    assert "inputs['item_id']" in serving and "inputs['history_item_ids']" in serving
    assert "outputs['probability']" in serving and "outputs['logit']" in serving
    assert "DT_STRING" in serving and "DT_INT64" in serving and "DT_FLOAT" in serving


def test_model_card_describes_the_model(trained):
    outcome, inputs, _ = trained
    card = outcome.card
    assert card["data_fingerprint"] == inputs.dataset.fingerprint()
    assert card["layout"]["mode"] == "collisionless" and card["layout"]["parameters"] > 0
    assert card["metrics"]["val_auc"] == outcome.metrics["val_auc"]
    assert card["mlflow_run_id"] == outcome.run_id
    assert set(card["inputs"]) == set(outcome.raw_specs)
