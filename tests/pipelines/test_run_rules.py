"""`featureplex run` in process: the feature-selection rule, stage keys, the cache check, and flags
validated exactly as the config keys they override."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.data.config import RankParams, TrainParams, VocabParams
from featureplex.features.errors import InputError
from featureplex.features.scoring.selection import recommended_features
from featureplex.pipelines.cli.options import with_flags
from featureplex.pipelines.cli.vocab import vocab_params
from featureplex.pipelines.run import current_key, stage_key

INTERACTIONS = pl.DataFrame({"feature_a": ["xor_a", "city", "leak"], "feature_b": ["xor_b", "price", "row_id"],
                             "interaction_gain": [0.05, 0.0001, 0.2]})


def anomalies(**flags: list[str]) -> dict:
    names = ["city", "price", "xor_a", "xor_b", "leak", "row_id", "item_id"]
    return {name: {"anomalies": flags.get(name, [])} for name in names}


def test_recommended_features_add_interaction_pairs_and_drop_suspects():
    chosen = recommended_features(["city", "leak", "price"], INTERACTIONS,
                                  anomalies(leak=["label_leakage"], row_id=["id_like"]), 0.001)
    assert chosen == ["city", "price", "xor_a", "xor_b"]
    # the gain threshold decides which pairs join; a pair below it does not
    assert "xor_a" not in recommended_features(["city"], INTERACTIONS, anomalies(), 0.1)


def test_run_and_the_guard_train_on_the_recommendation_plus_every_sequence(small_parquet):
    from featureplex.pipelines.guard import chosen_by_rank
    from featureplex.pipelines.inputs import resolve_inputs

    inputs = resolve_inputs(small_parquet, None)
    rank = SimpleNamespace(recommended=["city", "price"])
    selected, kept = chosen_by_rank(inputs, rank)
    assert kept == ["city", "price", "item_id", "history_item_ids"]  # the history shares item_id's rows
    assert [spec.name for spec in selected.schema.features] == ["item_id", "city", "price", "history_item_ids"]
    assert selected.rank is rank


def test_stage_keys_change_with_what_the_stage_depends_on_only():
    payload = {"data": "abc", "rank": {"top_k": 20}}
    assert stage_key("rank", payload) == stage_key("rank", {"rank": {"top_k": 20}, "data": "abc"})
    assert stage_key("rank", payload) != stage_key("rank", {**payload, "data": "abd"})
    assert stage_key("rank", payload) != stage_key("profile", payload)


def test_the_train_key_follows_the_held_out_files_content(tmp_path):
    import pyarrow.parquet as pq

    from featureplex.features.data.config import parse_config
    from featureplex.pipelines.run import TRAIN
    from tests.conftest import small_table

    pq.write_table(small_table(50), tmp_path / "test.parquet")
    config = parse_config({"train": {"validation": str(tmp_path / "test.parquet"), "test": str(tmp_path / "test.parquet")}})
    before = TRAIN.payload(config, {"vocab": "v"})
    assert before == TRAIN.payload(config, {"vocab": "v"})
    pq.write_table(small_table(60), tmp_path / "test.parquet")  # same path, other rows: the stage is not current
    after = TRAIN.payload(config, {"vocab": "v"})
    assert after["test_data"] != before["test_data"] and after["validation_data"] != before["validation_data"]
    assert "test_data" not in TRAIN.payload(parse_config({}), {"vocab": "v"})


def test_current_key_is_the_artifact_manifest_key(tmp_path):
    assert current_key(tmp_path / "absent") is None
    Manifest("rank", key="k1").write(tmp_path)
    assert current_key(tmp_path) == "k1"
    Manifest("rank").write(tmp_path)
    assert current_key(tmp_path) is None


@pytest.mark.parametrize("params, flags, names, message", [
    (TrainParams(), {"epochs": 0}, {"epochs": "--epochs"}, "--epochs: Input should be greater than"),
    (TrainParams(), {"batch_size": -1}, {"batch_size": "--batch-size"}, "--batch-size: Input should be greater than"),
    (TrainParams(), {"learning_rate": 0.0}, {"learning_rate": "--learning-rate"}, "--learning-rate:"),
    (RankParams(), {"top_k_interactions": -1}, {"top_k_interactions": "--top-k"}, "--top-k:"),
    (RankParams(), {"heuristic": "entropy"}, {"heuristic": "--heuristic"}, "--heuristic:"),
])
def test_flags_are_validated_like_the_config_keys_they_override(params, flags, names, message):
    with pytest.raises(InputError, match=message):
        with_flags(params, flags, names, "section")


def test_flags_not_given_keep_the_config_and_a_budget_flag_replaces_the_config_budget():
    assert with_flags(TrainParams(epochs=7), {"epochs": None, "seed": 3}, {}, "train") == TrainParams(epochs=7, seed=3)
    base = VocabParams(budget_rows=5000)
    assert vocab_params(base, {"budget_parameters": 8000, "dimension": 8}).budget_rows is None
    with pytest.raises(InputError, match="--dimension:"):
        vocab_params(base, {"dimension": 0})
