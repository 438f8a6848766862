"""The vocab pipeline end to end: determinism across workers, the CLI, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featureplex.features.data.config import FeatureplexConfig, VocabParams
from featureplex.features.embedding.layout import EmptyVocabularyWarning
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.vocab import build_vocabulary
from tests.conftest import run_cli

DETERMINISTIC = ["layout.json", "counts.parquet"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vocab") / "data"
    generate_synthetic(out, rows=4000, seed=3, row_group_rows=1000, files=2)
    return out


def artifact_files(path: Path) -> dict[str, bytes]:
    names = DETERMINISTIC + [str(file.relative_to(path)) for file in sorted((path / "vocab").iterdir())]
    return {name: (path / name).read_bytes() for name in names}


def test_one_and_two_workers_write_identical_artifacts(synthetic, tmp_path):
    config = FeatureplexConfig(vocab=VocabParams(budget_parameters=50_000))
    with pytest.warns(EmptyVocabularyWarning, match="noise_row_id"):
        single = build_vocabulary(synthetic, config, tmp_path / "one", batch_rows=500)
    with pytest.warns(EmptyVocabularyWarning):
        double = build_vocabulary(
            synthetic, config, tmp_path / "two", batch_rows=500,
            beam_args=["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        )
    assert single == double
    assert artifact_files(tmp_path / "one") == artifact_files(tmp_path / "two")
    assert single.parameters == 50_000 // 16 * 16
    assert single.sequences == {"history_item_ids": "item_id", "history_item_categories": "item_category"}
    artifact = VocabArtifact.read(tmp_path / "one")
    layout, vocabularies = artifact.layout, artifact.vocabularies
    assert layout == single and len(vocabularies["item_id"]) == single.features["item_id"].head_rows > 0
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["stage"] == "vocab" and manifest["parameters"]["vocab"]["budget_parameters"] == 50_000


def test_two_threads_in_one_process_write_the_same_artifact(synthetic, tmp_path):
    # the accumulators then pass through the runner's grouping stream inside one process
    config = FeatureplexConfig(vocab=VocabParams(budget_parameters=50_000))
    with pytest.warns(EmptyVocabularyWarning):
        build_vocabulary(synthetic, config, tmp_path / "one", batch_rows=500)
        build_vocabulary(synthetic, config, tmp_path / "threads", batch_rows=500,
                         beam_args=["--direct_num_workers", "2", "--direct_running_mode", "multi_threading"])
    assert artifact_files(tmp_path / "one") == artifact_files(tmp_path / "threads")


def test_cli_writes_the_artifact_and_passes_beam_flags_through(synthetic, tmp_path):
    result = run_cli("vocab", synthetic, "--allow-suspect-columns", "--out", tmp_path / "vocab", "--mode", "separate", "--dimension", "8",
                     "--budget-parameters", "8000", "--direct_num_workers", "1")
    assert result.returncode == 0, result.stderr
    assert "separate: 1,000 rows x 8 = 8,000 parameters" in result.stdout
    layout = json.loads((tmp_path / "vocab" / "layout.json").read_text())
    assert (layout["mode"], layout["parameters"]) == ("separate", 8000)


def test_cli_collisionless_with_min_count_one_reports_its_parameters(synthetic, tmp_path):
    result = run_cli("vocab", synthetic, "--allow-suspect-columns", "--out", tmp_path / "vocab", "--mode", "collisionless",
                     "--min-count", "1", "--dimension", "4")
    assert result.returncode == 0, result.stderr
    layout = json.loads((tmp_path / "vocab" / "layout.json").read_text())
    kept = sum(spec["distinct"] + (spec["missing_row"] is not None) for spec in layout["features"].values())
    assert layout["rows"] == 1 + kept + len(layout["features"]) and layout["tail_rows"] == len(layout["features"])
    assert f"collisionless: {layout['rows']:,} rows x 4 = {layout['parameters']:,} parameters" in result.stdout


@pytest.mark.parametrize(
    "arguments, config, message",
    [
        ([], {"features": {"not_a_column": {"min_count": 3}}}, "features.not_a_column: column 'not_a_column' is not in the data"),
        (["--budget-parameters", "64"], {}, "vocab.budget_parameters: 64 gives 4 rows of dimension 16"),
        (["--dimension", "0"], {}, "--dimension: Input should be greater than or equal to 1"),
        (["--mode", "collisionless", "--budget-parameters", "8000"], {}, "vocab.budget_parameters: mode 'collisionless' takes no budget"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(synthetic, tmp_path, arguments, config, message):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(json.dumps(config))
    result = run_cli("vocab", synthetic, "--allow-suspect-columns", "--out", tmp_path / "vocab", "--config", config_path, *arguments)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "vocab").exists()
