"""`featureplex train --model din|hstu` end to end on tiny synthetic data: MLflow run, SavedModel taking
the raw history (and its timestamps for HSTU) with the in-memory model's predictions, and bad timestamps."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.features.data.dataset import iter_record_batches
from featureplex.features.data.sequence_checks import seconds_since_epoch
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.inputs import resolve_inputs
from featureplex.pipelines.stages.train import train_ctr_model
from featureplex.pipelines.stages.vocab import build_vocabulary

CONFIG = "user: user_id\nfeatures:\n  leak_label: {role: ignore}\n  noise_row_id: {role: ignore}\nvocab: {dimension: 8}\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequence_train")
    generate_synthetic(root / "data", rows=6000, seed=1, row_group_rows=3000)
    (root / "config.yaml").write_text(CONFIG)
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    return root


def test_din_trains_through_the_cli(cli, prepared, tmp_path):
    out = tmp_path / "din"
    result = cli("train", prepared / "data", "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab",
                 "--out", out, "--model", "din", "--epochs", "1", "--batch-size", "512", "--learning-rate", "0.003",
                 env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_auc"] > 0.6
    card = json.loads((out / "model_card.json").read_text())
    assert card["model"] == "din" and "history_item_ids" in card["inputs"]
    assert "history_timestamps" not in card["inputs"]  # DIN does not read times
    assert (out / "saved_model" / "saved_model.pb").exists() and card["mlflow_model_uri"].startswith("models:/")
    assert "din_fields" in (out / "model_summary.txt").read_text()


def test_hstu_saved_model_takes_the_history_and_its_timestamps(prepared, tmp_path, monkeypatch):
    import tensorflow as tf

    from featureplex.models.input import to_feature_dict
    from featureplex.serving.predictor import SavedModelPredictor

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    inputs = resolve_inputs(str(prepared / "data"), str(prepared / "config.yaml"), None)
    params = inputs.config.train.model_copy(update={"model": "hstu", "epochs": 1, "batch_size": 512,
                                                    "model_parameters": {"max_length": 20, "hidden_units": [32]}})
    outcome = train_ctr_model(inputs, str(prepared / "vocab"), tmp_path / "hstu", params)
    assert {"history_item_ids", "history_timestamps"} <= set(outcome.raw_specs)
    assert outcome.metrics["val_auc"] > 0.6

    batch = next(iter_record_batches(inputs.dataset, columns=inputs.schema.columns(), batch_rows=300))
    features, _ = to_feature_dict(batch, outcome.raw_specs, inputs.schema.label)
    in_memory = tf.sigmoid(outcome.model(features, training=False)[:, 0]).numpy()
    rows = seconds_since_epoch(batch.select(list(outcome.raw_specs))).to_pylist()
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]
    predictor = SavedModelPredictor(str(outcome.saved_model))
    np.testing.assert_allclose(predictor.predict_rows(rows)["probability"], in_memory, atol=1e-5)
    # the times matter: the same rows with every history one day older score differently
    shifted = [{**row, "history_timestamps": [t - 86_400 * (i + 1) for i, t in enumerate(row["history_timestamps"])]}
               for row in rows]
    assert not np.allclose(predictor.predict_rows(shifted)["probability"], in_memory, atol=1e-4)
    example = json.loads((tmp_path / "hstu" / "input_example.jsonl").read_text().splitlines()[0])
    assert all(isinstance(t, int) for t in example["history_timestamps"])


def test_history_and_timestamps_of_different_lengths_is_a_one_line_error(cli, prepared, tmp_path):
    table = pa.concat_tables([pq.read_table(path) for path in sorted((prepared / "data").glob("*.parquet"))])
    times = table.column("history_timestamps").combine_chunks()
    lengths = np.diff(times.offsets.to_numpy())
    broken = [i for i in range(table.num_rows) if lengths[i] > 0][:3]
    values = times.to_pylist()
    for i in broken:
        values[i] = values[i][:-1]
    table = table.set_column(table.schema.get_field_index("history_timestamps"), "history_timestamps",
                             pa.array(values, times.type))
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "part-00000.parquet")
    result = cli("train", tmp_path / "data", "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab",
                 "--out", tmp_path / "out", "--model", "hstu", "--epochs", "1",
                 env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: history_timestamps: 3 of 6000 rows have a different length from history_item_ids (first: part-00000.parquet row")
