"""Every artifact class: what `write` puts on disk, `read` gives back; and a directory featureplex did not
write is never replaced."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.embedding.pruning import KeepRatio
from featureplex.features.errors import InputError
from featureplex.pipelines.artifacts.profile import ProfileArtifact
from featureplex.pipelines.artifacts.rank import RankArtifact
from featureplex.pipelines.artifacts.registration import RegistrationArtifact
from featureplex.pipelines.artifacts.selection import SelectionArtifact
from featureplex.pipelines.artifacts.train import CHECKPOINTS, TrainArtifact
from featureplex.pipelines.inputs import resolve_inputs
from featureplex.pipelines.stages import profile, rank


def test_profile_artifact_round_trip(tmp_path, small_parquet):
    inputs = resolve_inputs(small_parquet, None)
    written = profile.run(inputs, inputs.config.rank, tmp_path / "profile")
    again = ProfileArtifact.read(tmp_path / "profile")
    assert again.frame.equals(written.frame)
    assert again.details == json.loads(json.dumps(written.details))
    assert again.manifest.stage == "profile" and ProfileArtifact.PROFILE in again.manifest.outputs


def test_rank_artifact_round_trip(tmp_path, small_parquet):
    inputs = resolve_inputs(small_parquet, None)
    written = rank.run(inputs, inputs.config.rank, tmp_path / "rank")
    again = RankArtifact.read(tmp_path / "rank")
    for name in ("ranking", "interactions", "redundancy"):
        assert getattr(again, name).equals(getattr(written, name)), name
    assert again.selection == written.selection and again.recommended == written.recommended
    assert (again.pool, again.rows, again.positives, again.heuristic) == (written.pool, written.rows, written.positives,
                                                                          written.heuristic)
    assert again.anomalies == json.loads(json.dumps(written.anomalies))


def test_train_artifact_keeps_checkpoints_and_round_trips(tmp_path):
    out = tmp_path / "train"
    (out / CHECKPOINTS).mkdir(parents=True)
    (out / CHECKPOINTS / "latest").write_text("epoch 3")
    model = tmp_path / "export"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"pb")
    card = {"metrics": {"val_auc": 0.75, "best_epoch": 2}, "mlflow_run_id": "r1", "mlflow_model_uri": "models:/m-1"}
    history = [{"epoch": 0, "train_auc": 0.6, "val_auc": 0.7, "train_logloss": 0.6, "val_logloss": 0.5},
               {"epoch": 1, "train_auc": 0.7, "val_auc": 0.75, "train_logloss": 0.5, "val_logloss": 0.45}]
    written = TrainArtifact(model, card, history, [{"city": "x", "price": None}], "summary\n", Manifest("train")).write(out)
    assert written.saved_model == out / TrainArtifact.SAVED_MODEL and not model.exists()
    assert (out / CHECKPOINTS / "latest").read_text() == "epoch 3"  # carried over, not lost
    again = TrainArtifact.read(out)
    assert (again.card, again.history, again.input_example, again.model_summary) == (card, history, written.input_example, "summary\n")
    assert (again.metrics["val_auc"], again.best_epoch, again.run_id, again.model_uri) == (0.75, 2, "r1", "models:/m-1")
    assert (out / TrainArtifact.CURVE).stat().st_size > 0 and (out / "saved_model" / "saved_model.pb").read_bytes() == b"pb"


def test_selection_and_registration_round_trip(tmp_path):
    ratios = {"city": KeepRatio("city", 3, 2, 2 / 3, 0.9, 2, 3, True, False)}
    table = pl.DataFrame({"feature": ["city"], "rank_score": [0.1]})
    written = SelectionArtifact(np.array([0.0, 1.5, -0.5, 2.0]), ratios, ["device"], {"gates": 3}, table,
                                Manifest("select"))
    written.write(tmp_path / "selection")
    again = SelectionArtifact.read(tmp_path / "selection")
    assert np.array_equal(again.logits, written.logits) and again.keep_ratios == ratios
    assert (again.dropped, again.summary) == (["device"], {"gates": 3}) and again.rank_vs_optfs.equals(table)
    RegistrationArtifact("models:/ctr@champion", Manifest("register", key="k")).write(tmp_path / "register")
    registered = RegistrationArtifact.read(tmp_path / "register")
    assert registered.model_uri == "models:/ctr@champion" and registered.manifest.key == "k"


def test_a_directory_featureplex_did_not_write_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds files featureplex did not write \\(notes.txt\\)"):
        RegistrationArtifact("models:/a@b", Manifest("register")).write(mine)
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    RegistrationArtifact("models:/a@b", Manifest("register")).write(tmp_path / "empty")  # new: fine
    RegistrationArtifact("models:/c@d", Manifest("register")).write(tmp_path / "empty")  # an artifact: replaced
    assert RegistrationArtifact.read(tmp_path / "empty").model_uri == "models:/c@d"
