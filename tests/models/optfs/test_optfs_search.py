"""OptFS search -> freeze -> rewind -> retrain on a tiny CTR dataset: noise pruned more than signal; resume."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.features.data.config import VocabParams
from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import resolve_schema
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from featureplex.features.embedding.pruning import head_counts, keep_ratios
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.models.input import InputOptions, Split, split_streams
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.preprocessing import FeaturePreprocessing
from featureplex.models.optfs.gate import GatedEmbedding, OptFsCtrModel, OptFsGate
from featureplex.models.optfs.search import OptFsOptions, optfs_search, search_epochs
from featureplex.models.towers.dnn import DnnTower
from featureplex.models.training import TrainingOptions, seed_everything


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = 3000
    signal = rng.integers(0, 20, rows)
    noise = rng.integers(0, 20, rows)
    effect = rng.normal(0, 2, 20)
    label = rng.random(rows) < 1 / (1 + np.exp(-effect[signal]))
    table = pa.table({"label": pa.array(label.astype(np.int8)), "signal": pa.array(signal, pa.int64()),
                      "noise": pa.array([f"n{v}" for v in noise])})
    path = tmp_path_factory.mktemp("optfs") / "d.parquet"
    pq.write_table(table, path, row_group_size=1000)
    dataset = open_dataset(path)
    counts = ValueCounts(["noise", "signal"]).add(table.to_batches()[0])
    layout = build_layout(counts, VocabParams(mode="hybrid", dimension=4, chunks=1))
    return dataset, resolve_schema(dataset), layout, counts


PENALTY = 3e-4


def run(data, directory, resume=False, search_epochs=3, retrain=True, search_steps=0):
    dataset, schema, layout, counts = data
    seed_everything(1)
    gate = OptFsGate(layout, penalty=PENALTY)
    encoder = FieldEncoder(FeaturePreprocessing(layout, head_vocabularies(counts, layout)),
                           GatedEmbedding(MultiplexedEmbedding.from_layout(layout), gate))
    model = OptFsCtrModel(encoder, DnnTower([8]), gate, gate_learning_rate=0.1)
    options = InputOptions(batch_size=256, shuffle_rows=1000, seed=1)
    split = Split(0.25, seed=1)
    result = optfs_search(
        model, gate,
        *split_streams(dataset, schema, split, options),
        directory, TrainingOptions(epochs=2, learning_rate=0.02, patience=1, seed=1),
        OptFsOptions(search_epochs=search_epochs, final_tau=20.0, rewind_epoch=1, retrain=retrain, search_steps=search_steps),
        resume=resume)
    return result, gate, layout, counts


def test_search_prunes_noise_more_than_signal_then_retrains_with_hard_gates(data, tmp_path):
    result, gate, layout, counts = run(data, tmp_path / "a")
    ratios = keep_ratios(layout, head_counts(counts, layout), result.masks)
    assert ratios["noise"].value_ratio < ratios["signal"].value_ratio
    assert len(result.search.history) == 3 and float(gate.tau.numpy()) == pytest.approx(20.0)
    assert result.retrain is not None and result.retrain.best_metrics["val_auc"] > 0.6
    assert float(gate.hard.numpy()) == 1.0 and gate.trainable_variables == []
    np.testing.assert_array_equal(gate.logits.numpy(), result.logits)  # retraining never moved the frozen gates
    assert (tmp_path / "a" / "rewind.npz").exists()
    assert json.loads((tmp_path / "a" / "search_done.json").read_text())["history"] == result.search.history


class Killed(Exception):
    pass


def test_a_killed_search_resumes_to_the_same_gates(data, tmp_path, monkeypatch):
    straight, *_ = run(data, tmp_path / "straight", retrain=False)
    from featureplex.models.optfs import gate as optfs_gate

    original = optfs_gate.OptFsContinuation.on_epoch_end

    def killed_in_epoch_1(self, epoch, logs=None):
        original(self, epoch, logs)
        if int(self.gate.epoch.numpy()) == 2:
            raise Killed  # before `train` checkpoints epoch 1: a kill in the middle of it

    monkeypatch.setattr(optfs_gate.OptFsContinuation, "on_epoch_end", killed_in_epoch_1)
    with pytest.raises(Killed):
        run(data, tmp_path / "resumed", retrain=False)
    monkeypatch.setattr(optfs_gate.OptFsContinuation, "on_epoch_end", original)
    resumed, *_ = run(data, tmp_path / "resumed", resume=True, retrain=False)
    np.testing.assert_allclose(resumed.logits, straight.logits, rtol=1e-6, atol=1e-7)
    assert [r["epoch"] for r in resumed.search.history] == [0, 1, 2]
    assert resumed.search.history[-1]["val_auc"] == pytest.approx(straight.search.history[-1]["val_auc"], abs=1e-6)


def test_on_small_data_the_search_runs_until_search_steps_gate_updates(data, tmp_path):
    dataset, schema, _, _ = data
    steps = split_streams(dataset, schema, Split(0.25, seed=1), InputOptions(batch_size=256, shuffle_rows=1000, seed=1))[0].steps(0)
    assert search_epochs(OptFsOptions(search_epochs=3, search_steps=5 * steps), steps) == 5
    assert search_epochs(OptFsOptions(search_epochs=3, search_steps=5 * steps + 1), steps) == 6
    assert search_epochs(OptFsOptions(search_epochs=3, search_steps=steps), steps) == 3  # never fewer epochs
    result, gate, _, _ = run(data, tmp_path / "long", search_steps=5 * steps, retrain=False)
    assert len(result.search.history) == 5 and float(gate.tau.numpy()) == pytest.approx(20.0)  # tau's schedule spans them
