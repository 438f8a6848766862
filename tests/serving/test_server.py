"""The REST server through real HTTP on 127.0.0.1: TF Serving's formats and routes, versions, start-up."""

import subprocess
import sys

import httpx
import numpy as np
import pytest
import tensorflow as tf

from featureplex.serving.predictor import SavedModelPredictor
from tests.conftest import REPO
from tests.serving.conftest import running_server

ROWS = [
    {"city": "paris", "item_id": 3, "price": 9.5, "history": [1, 2, 3]},
    {"city": "never-seen-before", "item_id": 12345, "price": None, "history": []},
    {"city": "rome", "item_id": 7, "price": -2.0, "history": [7]},
]


def columns_of(rows):
    return {name: [row[name] for row in rows] for name in rows[0]}


def test_predictions_match_the_saved_model_in_both_formats(server, saved_model):
    url = server.url
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)
    rows = httpx.post(f"{url}/v1/models/ctr:predict", json={"instances": ROWS}).json()["predictions"]
    np.testing.assert_allclose([r["probability"] for r in rows], expected["probability"], rtol=1e-6)
    outputs = httpx.post(f"{url}/v1/models/ctr:predict", json={"inputs": columns_of(ROWS)}).json()["outputs"]
    np.testing.assert_allclose(outputs["probability"], expected["probability"], rtol=1e-6)
    np.testing.assert_allclose(outputs["logit"], expected["logit"], rtol=1e-6)
    direct = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    padded = direct(city=tf.constant(["paris"]), item_id=tf.constant([3], tf.int64), price=tf.constant([9.5]),
                    history=tf.constant([[1, 2, 3]], tf.int64))
    assert rows[0]["probability"] == pytest.approx(float(padded["probability"][0]), rel=1e-6)


def test_status_metadata_and_health(server):
    url = server.url
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    status = httpx.get(f"{url}/v1/models/ctr").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    signature = httpx.get(f"{url}/v1/models/ctr/metadata").json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["city"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["history"]["dtype"] == "DT_INT64"
    assert len(signature["inputs"]["history"]["tensor_shape"]["dim"]) == 2
    assert set(signature["outputs"]) == {"probability", "logit"}


def test_tf_serving_version_routes(server):
    """The served version (1 for a SavedModel directory) answers under /versions/1 as under the bare name."""
    url = server.url
    bare = httpx.post(f"{url}/v1/models/ctr:predict", json={"instances": ROWS}).json()
    versioned = httpx.post(f"{url}/v1/models/ctr/versions/1:predict", json={"instances": ROWS}).json()
    assert versioned == bare
    assert httpx.get(f"{url}/v1/models/ctr/versions/1").json()["model_version_status"][0]["version"] == "1"
    assert httpx.get(f"{url}/v1/models/ctr/versions/1/metadata").json()["model_spec"]["version"] == "1"


def test_openapi_is_served_only_when_asked_for(saved_model, tmp_path):
    with running_server(saved_model, tmp_path / "log", "--openapi") as running:
        assert "/v1/{path}" in httpx.get(f"{running.url}/openapi.json").json()["paths"]
        assert httpx.get(f"{running.url}/docs").status_code == 200


def test_a_busy_port_is_one_line_and_exit_2_before_serving(server, saved_model):
    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "featureplex.pipelines.cli", "serve", str(saved_model), "--port", port],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --port {port}: 127.0.0.1:{port} is already in use (is another server running?)"]
    assert "serving" not in result.stdout + result.stderr


def test_not_a_saved_model_is_a_usage_error(cli, tmp_path):
    result = cli("serve", tmp_path)
    assert result.returncode == 2 and "not a SavedModel directory (no saved_model.pb) nor an MLflow model URI" in result.stderr


@pytest.mark.parametrize("option, value", [("--max-rows", "0"), ("--max-queue", "-1"), ("--max-queue-rows", "0"), ("--max-body-mb", "0"),
                                           ("--max-sequence-items", "x"), ("--port", "70000")])
def test_bad_serve_options_are_usage_errors(cli, saved_model, option, value):
    result = cli("serve", saved_model, option, value)
    assert result.returncode == 2 and option in result.stderr and "Traceback" not in result.stderr


def test_micro_batching_answers_each_request_and_sigterm_stops_gracefully(saved_model, tmp_path):
    """Concurrent requests inside one window share a model call, and each gets its own rows back."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    with running_server(saved_model, tmp_path / "log", "--batch-window-ms", "50") as running:
        expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
        requests = [[ROWS[i % 3]] * (1 + i % 4) for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda rows: httpx.post(f"{running.url}/v1/models/default:predict",
                                                            json={"instances": rows}).json(), requests))
        for index, (rows, answer) in enumerate(zip(requests, answers)):
            assert len(answer["predictions"]) == len(rows)
            assert answer["predictions"][0]["probability"] == pytest.approx(expected[index % 3], rel=1e-6)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=30) == 0
