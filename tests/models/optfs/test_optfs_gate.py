"""OptFS gates: index mapping, soft and hard gates, the penalty, the gated embedding, the two optimizers."""

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.optfs.gate import (
    M0,
    GatedEmbedding,
    NoHeadRowsWarning,
    OptFsContinuation,
    OptFsCtrModel,
    OptFsGate,
    gate_indices,
    gate_space,
    penalty_weights,
    rewind,
    save_snapshot,
    temperature,
)
from featureplex.models.towers.dnn import DnnTower
from tests.models.layers.test_preprocessing import raw_rows, small_preprocessing


def test_gate_indices_head_rows_own_gate_tail_per_feature_padding_zero():
    preprocessing, layout = small_preprocessing()
    dedicated, tails = gate_space(layout)
    assert dedicated == layout.features["item"].tail_offset  # padding, two blocks of missing + head rows
    assert tails == {"device": dedicated, "item": dedicated + 1}
    gates = {name: value.numpy() for name, value in gate_indices(layout, preprocessing(raw_rows())).items()}
    # item: 7, 8, 9 head rows 5, 6, 7; 5 and 123456789 tail; missing its missing row 4
    np.testing.assert_array_equal(gates["item"], [5, 6, 7, tails["item"], tails["item"], 4])
    # device: ios, tv head; "a\nb" tail; "" missing row 1; web, smart-fridge tail
    np.testing.assert_array_equal(gates["device"], [2, 3, tails["device"], 1, tails["device"], tails["device"]])
    # history shares item's gates; padding is gate 0
    np.testing.assert_array_equal(gates["history"][0], [5, 6, 0])
    np.testing.assert_array_equal(gates["history"][2], [7, tails["item"], 0])


def test_search_gates_start_at_one_and_the_penalty_counts_every_value_but_padding():
    _, layout = small_preprocessing()
    gate = OptFsGate(layout, penalty=0.01)
    values = gate(gate_indices(layout, {"item": tf.constant([[5, 5], [0, 0]], tf.int64)}))
    np.testing.assert_allclose(values["item"].numpy(), [1.0, 1.0], rtol=1e-6)
    # a tail gate pays for every distinct value outside its feature's head (at least one)
    _, tails = gate_space(layout)
    weights = penalty_weights(layout, gate.size)
    for name, tail in tails.items():
        feature = layout.features[name]
        assert weights[tail] == max(1, feature.distinct - feature.head_rows)
    assert weights[0] == 0 and set(np.delete(weights, [0, *tails.values()])) == {1.0}
    expected = 0.01 * weights.sum() * 1 / (1 + np.exp(-M0))
    assert float(gate.losses[0]) == pytest.approx(expected, rel=1e-5)
    gate.tau.assign(4.0)
    np.testing.assert_allclose(gate.values().numpy()[1], (1 / (1 + np.exp(-2.0))) / (1 / (1 + np.exp(-M0))), rtol=1e-5)


def test_hard_gates_after_freeze_no_penalty_no_training():
    _, layout = small_preprocessing()
    gate = OptFsGate(layout, penalty=0.01)
    logits = np.full(gate.size, 0.3, np.float32)
    logits[[0, 5]] = -1.0  # padding stays 1 even with a negative logit
    gate.logits.assign(logits)
    gate.freeze()
    assert gate.trainable_variables == []
    values = gate({"item": tf.constant([5, 6, 0], tf.int64)})
    np.testing.assert_array_equal(values["item"].numpy(), [0.0, 1.0, 1.0])
    assert float(gate.losses[0]) == 0.0
    assert gate.mask()[0] and not gate.mask()[5]


def test_gated_embedding_multiplies_each_lookup_and_sequence_element_by_its_gate():
    preprocessing, layout = small_preprocessing()
    embedding = MultiplexedEmbedding.from_layout(layout)
    gate = OptFsGate(layout)
    gated = GatedEmbedding(embedding, gate)
    ids = preprocessing(raw_rows())
    plain, _ = embedding(ids)
    same, masks = gated(ids)
    for name in plain:
        np.testing.assert_allclose(same[name].numpy(), plain[name].numpy(), rtol=1e-6)
    assert set(masks) == {"history"}
    logits = np.full(gate.size, 1.0, np.float32)
    logits[5] = -1.0  # item 7
    logits[gate.tail_gates["device"]] = -1.0
    gate.logits.assign(logits)
    gate.freeze()
    out, _ = gated(ids)
    np.testing.assert_array_equal(out["item"].numpy()[0], 0)
    np.testing.assert_allclose(out["item"].numpy()[1], plain["item"].numpy()[1])
    np.testing.assert_array_equal(out["device"].numpy()[[2, 4, 5]], 0)
    np.testing.assert_array_equal(out["history"].numpy()[0, 0], 0)  # item 7 in the history
    np.testing.assert_allclose(out["history"].numpy()[0, 1], plain["history"].numpy()[0, 1])


def test_config_round_trip_and_field_encoder_serialises():
    preprocessing, layout = small_preprocessing()
    gated = GatedEmbedding(MultiplexedEmbedding.from_layout(layout), OptFsGate(layout, penalty=0.5))
    clone = GatedEmbedding.from_config(gated.get_config())
    assert clone.get_config() == gated.get_config()
    encoder = FieldEncoder(preprocessing, gated)
    restored = FieldEncoder.from_config(encoder.get_config())
    assert isinstance(restored.embedding, GatedEmbedding) and restored.embedding.gate.penalty == 0.5
    features = {k: v for k, v in raw_rows().items() if k in encoder.input_names}
    assert restored(features).shape == (6, 3, layout.dimension)


def test_hashing_layout_has_only_tail_gates_with_a_warning():
    _, layout = small_preprocessing(mode="hashing")
    with pytest.warns(NoHeadRowsWarning, match="no head rows"):
        gate = OptFsGate(layout)
    assert gate.size == 1 + len(layout.features)
    masks = gate.feature_masks()
    assert all(mask.head == () and mask.tail for mask in masks.values())


def test_bad_penalty_is_an_error():
    _, layout = small_preprocessing()
    with pytest.raises(ValueError, match="lambda"):
        OptFsGate(layout, penalty=0.0)


def test_temperature_schedule():
    assert temperature(0, 20, 200.0) == 1.0
    assert temperature(19, 20, 200.0) == pytest.approx(200.0)
    assert temperature(25, 20, 200.0) == pytest.approx(200.0)
    assert temperature(1, 3, 4.0) == pytest.approx(2.0)


def _tiny_model():
    preprocessing, layout = small_preprocessing()
    gate = OptFsGate(layout, penalty=1e-3)
    encoder = FieldEncoder(preprocessing, GatedEmbedding(MultiplexedEmbedding.from_layout(layout), gate))
    model = OptFsCtrModel(encoder, DnnTower([4]), gate, gate_learning_rate=0.1)
    rows = raw_rows()
    features = {name: rows[name] for name in encoder.input_names}
    labels = tf.constant([1, 0, 1, 0, 1, 0], tf.float32)
    return model, gate, features, labels


def test_gate_logits_have_their_own_optimizer_and_are_checkpointed(tmp_path):
    tf.keras.utils.set_random_seed(0)
    model, gate, features, labels = _tiny_model()
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0))  # the rest frozen: only the gate optimizer moves anything
    model(features)
    before = [w.numpy().copy() for w in model.trainable_variables if w is not gate.logits]
    model.fit(tf.data.Dataset.from_tensors((features, labels)), epochs=1, verbose=0)
    assert int(model.gate_optimizer.iterations.numpy()) == 1
    assert not np.allclose(gate.logits.numpy()[1:], M0)  # lr 0.1 moves every used gate by ~0.1; the penalty moves all
    for old, new in zip(before, [w.numpy() for w in model.trainable_variables if w is not gate.logits]):
        np.testing.assert_array_equal(old, new)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    names = [name for name, _ in tf.train.list_variables(path)]
    assert any("gate_optimizer" in name for name in names)


def test_continuation_sets_tau_from_the_epoch_counter_and_snapshot_rewinds(tmp_path):
    tf.keras.utils.set_random_seed(0)
    model, gate, features, labels = _tiny_model()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
    model(features)
    callback = OptFsContinuation(gate, search_epochs=3, final_tau=9.0, rewind_epoch=1, rewind_path=tmp_path / "r.npz")
    data = tf.data.Dataset.from_tensors((features, labels))
    model.fit(data, epochs=1, verbose=0, callbacks=[callback])
    assert float(gate.tau.numpy()) == 1.0 and not (tmp_path / "r.npz").exists()
    snapshot = model.tower.weights[0].numpy().copy()  # the weights at the start of epoch 1
    model.fit(data, epochs=1, verbose=0, callbacks=[callback])  # a second fit, as `train` does per epoch
    assert float(gate.tau.numpy()) == pytest.approx(3.0) and (tmp_path / "r.npz").exists()
    model.fit(data, epochs=2, verbose=0, callbacks=[callback])
    assert float(gate.tau.numpy()) == pytest.approx(9.0) and int(gate.epoch.numpy()) == 4
    assert not np.allclose(model.tower.weights[0].numpy(), snapshot)
    logits = gate.logits.numpy().copy()
    rewind(model, gate, tmp_path / "r.npz")
    np.testing.assert_array_equal(model.tower.weights[0].numpy(), snapshot)
    np.testing.assert_array_equal(gate.logits.numpy(), logits)  # the gates are not rewound
    save_snapshot(model, gate, tmp_path / "again.npz")


def test_a_tail_gate_pays_the_penalty_of_every_value_it_covers():
    import pyarrow as pa

    from featureplex.features.data.config import FeatureConfig, VocabParams
    from featureplex.features.embedding.layout import build_layout
    from featureplex.features.embedding.vocabulary import ValueCounts

    counts = ValueCounts(["f", "g"]).add(pa.record_batch({
        "f": pa.array(["a", "a", "b", "b", "c", "d", "e"]),
        "g": pa.array(["x", "x", "x", "y", "y", "y", "y"]),
    }))
    layout = build_layout(counts, VocabParams(dimension=4, min_count=1, tail_share=0.25), {"f": FeatureConfig(top_k=2)})
    weights = penalty_weights(layout, OptFsGate(layout, penalty=0.01).size)
    _, tails = gate_space(layout)
    assert (weights[tails["f"]], weights[tails["g"]]) == (3.0, 1.0)  # f: c, d, e outside the head; g: none
    # collisionless (hybrid without a budget): the out-of-vocabulary row is one row, penalised as one
    layout = build_layout(counts, VocabParams(dimension=4, min_count=1), {"f": FeatureConfig(top_k=2)})
    assert layout.mode == "collisionless"
    weights = penalty_weights(layout, OptFsGate(layout, penalty=0.01).size)
    _, tails = gate_space(layout)
    assert (weights[tails["f"]], weights[tails["g"]]) == (1.0, 1.0)


@pytest.mark.parametrize("name", ["lr", "dnn", "dcn", "autoint+", "din", "hstu"])
def test_every_model_trains_the_gates_of_its_candidates_and_history_values(name):
    from featureplex.models.assembly import build_ctr_model
    from tests.models.sequence_fixtures import field_encoder, raw_features

    plain = field_encoder(categories=True)
    layout = plain.preprocessing.layout
    gate = OptFsGate(layout)
    encoder = FieldEncoder(plain.preprocessing, GatedEmbedding(plain.embedding, gate))
    base = build_ctr_model(name, encoder, {"hidden_units": [8]} if name in ("dnn", "din", "hstu") else None)
    model = OptFsCtrModel(base.encoder, base.tower, gate)
    # candidates are items 1-3; items 4 and 5 are only in the histories
    features = raw_features([[4, 5], [5], [4, 5, 1]], categories=[[0, 1], [1], [0, 1, 1]])
    labels = tf.constant([1.0, 0.0, 1.0])
    with tf.GradientTape() as tape:  # the task loss alone (the penalty, a layer loss, would reach every gate)
        loss = model.compute_loss((features, labels), training=True)
    gradient = tf.convert_to_tensor(tape.gradient(loss, gate.logits)).numpy()
    ids = plain.preprocessing({key: features[key] for key in encoder.categorical_names + encoder.sequence_names})
    gates = {key: set(value.numpy().ravel()) - {0} for key, value in gate_indices(layout, ids).items()}  # 0: padding
    candidates = gates["item_id"] | gates["device"]
    history_only = gates["history_item_ids"] - candidates
    assert len(history_only) == 2  # items 4 and 5
    assert all(gradient[index] != 0 for index in candidates | history_only), (name, gradient)
    unused = set(range(gate.size)) - set().union(*gates.values())
    assert unused and all(gradient[index] == 0 for index in unused)
