"""`featureplex train --select optfs` as a user runs it: nested runs, selection outputs, pruned layout; bad config."""

import json

import pytest

from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.vocab import build_vocabulary

CONFIG = """features:
  leak_label: {role: ignore}
  history_item_ids: {role: ignore}
  history_timestamps: {role: ignore}
vocab: {dimension: 4}
optfs: {penalty: %s, search_epochs: 2, search_steps: 0, final_tau: 10, gate_learning_rate: 0.05}
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("optfs")
    generate_synthetic(root / "data", rows=4_000, seed=0, row_group_rows=2_000)
    (root / "config.yaml").write_text(CONFIG % "0.001")
    build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
    return root


def test_select_optfs_writes_the_selection_and_trains_on_the_pruned_layout(cli, prepared, tmp_path):
    out = tmp_path / "optfs"
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    result = cli("train", prepared / "data", "--allow-suspect-columns", "--config", prepared / "config.yaml", "--vocab", prepared / "vocab",
                 "--out", out, "--epochs", "1", "--batch-size", "512", "--select", "optfs", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OptFS keep ratios" in result.stderr + result.stdout
    for name in ("gate_logits.npy", "keep_ratios.json", "keep_ratios.tsv", "dropped_fields.json", "gate_histogram.png",
                 "keep_ratios.png", "optfs_metrics.json"):
        assert (out / "selection" / name).exists(), name
    original = VocabArtifact.read(prepared / "vocab").layout
    pruned = VocabArtifact.read(out / "pruned_vocab").layout
    assert pruned.parameters <= original.parameters
    summary = json.loads((out / "selection" / "optfs_metrics.json").read_text())
    assert summary["parameters_after"] == pruned.parameters and "val_auc" in summary["retrain"]
    assert (out / "final" / "saved_model" / "saved_model.pb").exists()
    card = json.loads((out / "final" / "model_card.json").read_text())
    assert set(card["features"]["categorical"]) == set(pruned.features)


@pytest.mark.parametrize("section, key", [("{penalty: 2}", "optfs.penalty"), ("{search_epochs: 1}", "optfs.search_epochs"),
                                          ("{search_epochs: 2, rewind_epoch: 2}", "optfs.rewind_epoch"),
                                          ("{final_tau: 0.5}", "optfs.final_tau")])
def test_bad_optfs_config_is_one_line_exit_2(cli, prepared, tmp_path, section, key):
    config = tmp_path / "bad.yaml"
    config.write_text(f"optfs: {section}\n")
    result = cli("train", prepared / "data", "--allow-suspect-columns", "--config", config, "--vocab", prepared / "vocab", "--out", tmp_path / "o",
                 "--select", "optfs")
    assert result.returncode == 2 and key in result.stderr and "Traceback" not in result.stderr
