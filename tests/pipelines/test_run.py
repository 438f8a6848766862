"""`featureplex run` end to end: stages, caching, MLflow parent and child runs, registration, and a kill."""

import json
import signal
import time

import pytest
from mlflow.tracking import MlflowClient

from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.run import PENDING_KEY
from tests.conftest import start_cli

CONFIG = """dataset: {data}
user: user_id
vocab: {{dimension: 8}}
train: {{model: dnn, epochs: 1, batch_size: 512}}
run: {{out: {out}, register_name: run_test}}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("run-data")
    generate_synthetic(root / "data", rows=8_000, seed=2, row_group_rows=2_000)
    return root / "data"


def write_config(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(data=data, out=tmp_path / "out"))
    return path


def test_run_tracks_every_stage_and_skips_current_ones(cli, data, tmp_path):
    config = write_config(tmp_path, data)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    first = cli("run", config, env=env)
    assert first.returncode == 0, first.stderr
    for stage in ("profile", "rank", "vocab", "train"):
        assert f"{stage}: done" in first.stderr
    assert "models:/run_test@champion" in first.stdout
    kept = json.loads((tmp_path / "out" / "selected_features.json").read_text())
    assert "leak_label" not in kept and "noise_row_id" not in kept
    assert {"xor_a", "xor_b", "history_item_ids"} <= set(kept)

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    parent = client.search_runs(client.get_experiment_by_name("featureplex").experiment_id,
                                "tags.`featureplex.stage` = 'run'")[0]
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {run.data.tags["featureplex.stage"] for run in children} == {"profile", "rank", "vocab", "train"}
    assert "final_val_auc" in parent.data.metrics
    assert_lineage(client, parent, children, "run_test")

    second = cli("run", config, env=env)
    assert second.returncode == 0, second.stderr
    for stage in ("profile", "rank", "vocab", "train", "register"):
        assert f"{stage}: current, skipped" in second.stderr


def test_a_killed_run_completes_when_run_again(cli, data, tmp_path):
    config = write_config(tmp_path, data)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    process = start_cli("run", config, cwd=tmp_path, env=env)
    pending = tmp_path / "out" / "train" / "checkpoints" / PENDING_KEY
    deadline = time.monotonic() + 600
    while not pending.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3)  # into training
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "out" / "train" / "saved_model").exists()

    again = cli("run", config, env=env)
    assert again.returncode == 0, again.stderr
    assert "rank: current, skipped" in again.stderr and "train: done" in again.stderr
    leftovers = [p for p in (tmp_path / "out").rglob(".*") if ".tmp" in p.name or ".old-" in p.name]
    assert leftovers == []
    assert (tmp_path / "out" / "train" / "saved_model" / "saved_model.pb").exists()


def test_run_with_optfs_trains_the_registered_model_on_the_pruned_layout(cli, data, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(data=data, out=tmp_path / "out").replace("register_name: run_test}", (
        "register_name: run_optfs, select: optfs}\n"
        "optfs: {penalty: 0.0001, search_epochs: 2, search_steps: 0, final_tau: 10, gate_learning_rate: 0.05}\n")))
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    result = cli("run", config, env=env)
    assert result.returncode == 0, result.stderr
    train = tmp_path / "out" / "train"
    pruned = json.loads((train / "pruned_vocab" / "layout.json").read_text())["parameters"]
    full = json.loads((tmp_path / "out" / "vocab" / "layout.json").read_text())["parameters"]
    assert pruned < full and f"{pruned:,} (OptFS pruned from {full:,})" in result.stdout
    card = json.loads((train / "final" / "model_card.json").read_text())
    assert card["layout"]["parameters"] == pruned
    assert "models:/run_optfs@champion" in result.stdout
    assert (train / "selection" / "keep_ratios.tsv").exists()
    table = (train / "selection" / "rank_vs_optfs.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["feature", "rank_score", "rank_position", "value_keep_ratio", "row_keep_ratio",
                                     "kept_by_rank", "kept_by_optfs"]
    assert any(line.startswith("history_item_ids\t") for line in table)


def assert_lineage(client, parent, children, registered):
    """What an MLflow user expects to read back: stage metrics, the datasets, the config, one best_epoch,
    per-epoch metrics, no absolute local path in a tag, a described and tagged model version linked to
    its logged model."""
    by_stage = {run.data.tags["featureplex.stage"]: run for run in children}
    assert by_stage["profile"].data.metrics["rows"] == 8_000 and "seconds" in by_stage["profile"].data.metrics
    assert by_stage["rank"].data.metrics["features_recommended"] >= 2
    assert by_stage["vocab"].data.metrics["embedding_parameters"] > 0
    training = client.search_runs([parent.info.experiment_id], "tags.`featureplex.stage` = 'train' and "
                                  "attributes.run_name LIKE 'train-%'")[0]
    assert {tag.value for entry in training.inputs.dataset_inputs for tag in entry.tags} >= {"training", "validation"}
    assert "config.json" in [item.path for item in client.list_artifacts(training.info.run_id)]
    assert "best_epoch" in training.data.metrics and "best_best_epoch" not in training.data.metrics
    assert len(client.get_metric_history(training.info.run_id, "val_auc")) >= 1
    assert len(client.get_metric_history(training.info.run_id, "val_gauc")) >= 1  # the config names a user column
    for run in (parent, training, *children):  # MLflow's own record of the clone's remote may be a local path
        ours = {key: value for key, value in run.data.tags.items() if key != "mlflow.source.git.repoURL"}
        assert not [value for value in ours.values() if value.startswith("/")], ours
    version = client.get_model_version_by_alias(registered, "champion")
    assert "validation AUC" in version.description and version.tags["featureplex.model"] == "dnn"
    assert version.run_id == training.info.run_id and version.source.startswith("models:/m-")  # the logged model
