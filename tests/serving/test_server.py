"""The REST server through real HTTP on 127.0.0.1: TF Serving's formats, errors that name the field."""

import json

import httpx
import numpy as np
import pytest

import models  # noqa: F401
import tensorflow as tf

from serving.predictor import SavedModelPredictor

ROWS = [
    {"city": "paris", "item_id": 3, "price": 9.5, "history": [1, 2, 3]},
    {"city": "never-seen-before", "item_id": 12345, "price": None, "history": []},
    {"city": "rome", "item_id": 7, "price": -2.0, "history": [7]},
]


def columns_of(rows):
    return {name: [row[name] for row in rows] for name in rows[0]}


def test_predictions_match_the_saved_model_in_both_formats(server, saved_model):
    url, _ = server
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
    url, _ = server
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    status = httpx.get(f"{url}/v1/models/ctr").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    signature = httpx.get(f"{url}/v1/models/ctr/metadata").json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["city"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["history"]["dtype"] == "DT_INT64"
    assert len(signature["inputs"]["history"]["tensor_shape"]["dim"]) == 2
    assert set(signature["outputs"]) == {"probability", "logit"}


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        (b"{not json", 400, "malformed JSON"),
        (json.dumps({"instances": [{k: v for k, v in ROWS[0].items() if k != "price"}]}).encode(), 400, "feature 'price': missing"),
        (json.dumps({"instances": [{**ROWS[0], "price": "cheap"}]}).encode(), 400, "feature 'price': expected a number"),
        (json.dumps({"instances": [{**ROWS[0], "city": 5}]}).encode(), 400, "feature 'city': expected a string"),
        (json.dumps({"instances": [{**ROWS[0], "history": 5}]}).encode(), 400, "feature 'history': expected a list"),
        (json.dumps({"instances": [{**ROWS[0], "colour": "red"}]}).encode(), 400, "feature 'colour': not an input"),
        (json.dumps({"instances": []}).encode(), 400, "instances: expected a non-empty list"),
        (json.dumps({"inputs": {"city": ["a"], "item_id": [1, 2], "price": [1.0], "history": [[]]}}).encode(), 400, "same, non-zero number"),
        (json.dumps({"instances": ROWS * 400}).encode(), 413, "over the limit"),
    ],
)
def test_bad_requests_name_the_field_and_the_server_keeps_serving(server, body, status, fragment):
    url, _ = server
    response = httpx.post(f"{url}/v1/models/ctr:predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert httpx.post(f"{url}/v1/models/ctr:predict", json={"instances": ROWS[:1]}).status_code == 200


def test_unknown_model_is_404(server):
    url, _ = server
    response = httpx.post(f"{url}/v1/models/other:predict", json={"instances": ROWS})
    assert response.status_code == 404 and "model 'other'" in response.json()["error"]
    assert httpx.get(f"{url}/v1/models/other").status_code == 404


def test_not_a_saved_model_is_a_usage_error(cli, tmp_path):
    result = cli("serve", tmp_path)
    assert result.returncode == 2 and "not a SavedModel directory (no saved_model.pb) nor an MLflow model URI" in result.stderr


def test_micro_batching_answers_each_request_and_sigterm_stops_gracefully(saved_model, tmp_path):
    """Concurrent requests inside one window share a model call, and each gets its own rows back."""
    import signal
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import REPO, free_port, wait_for_http

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", str(saved_model), "--port", str(port), "--batch-window-ms", "50"],
        cwd=REPO, stdout=open(tmp_path / "log", "w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", process)
        expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
        requests = [[ROWS[i % 3]] * (1 + i % 4) for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda rows: httpx.post(f"{url}/v1/models/default:predict", json={"instances": rows}).json(), requests))
        for index, (rows, answer) in enumerate(zip(requests, answers)):
            assert len(answer["predictions"]) == len(rows)
            assert answer["predictions"][0]["probability"] == pytest.approx(expected[index % 3], rel=1e-6)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
