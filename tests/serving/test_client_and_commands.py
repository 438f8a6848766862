"""The Python client against the real server; `featureplex predict` and `featureplex register`."""

import json

import numpy as np
import pytest

from featureplex.serving.client import ServingClient, ServingError
from featureplex.serving.predictor import SavedModelPredictor
from tests.serving.test_server import ROWS


def test_client_round_trip(server, saved_model):
    url = server.url
    client = ServingClient(url, "ctr")
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
    np.testing.assert_allclose([p["probability"] for p in client.predict(ROWS)], expected, rtol=1e-6)
    columns = {name: [row[name] for row in ROWS] for name in ROWS[0]}
    np.testing.assert_allclose(client.predict_columns(columns)["probability"], expected, rtol=1e-6)
    assert "serving_default" in client.metadata()["metadata"]["signature_def"]["signature_def"]
    with pytest.raises(ServingError, match="HTTP 400: feature 'price'"):
        client.predict([{**ROWS[0], "price": "x"}])
    client.close()


def test_predict_command(cli, saved_model, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(row) for row in ROWS) + "\n")
    out = tmp_path / "out.jsonl"
    result = cli("predict", saved_model, "--input", rows, "--output", out, "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    predicted = [json.loads(line)["probability"] for line in out.read_text().splitlines()]
    expected = SavedModelPredictor(str(saved_model)).predict_rows(ROWS)["probability"]
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)
    rows.write_text(json.dumps({**ROWS[0], "city": 3}) + "\n")
    bad = cli("predict", saved_model, "--input", rows)
    assert bad.returncode == 2 and "feature 'city': expected a string" in bad.stderr


def test_register_command(cli, saved_model, mlflow_server, tmp_path):
    example = tmp_path / "example.jsonl"
    example.write_text(json.dumps(ROWS[0]) + "\n")
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    result = cli("register", saved_model, "--name", "ctr_cli", "--example", example, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["model_uri"] == "models:/ctr_cli@champion"
    again = cli("register", saved_model, "--name", "ctr_cli", "--alias", "challenger", "--example", example, env=env)
    assert json.loads(again.stdout.strip().splitlines()[-1])["version"] == "2"
