"""DNN, DCN-v2 and AutoInt(+) towers: shapes, config round trips, and that each learns a field interaction."""

import numpy as np
import pytest

import models  # noqa: F401
import tensorflow as tf

from models.autoint import AutoIntTower, FieldSelfAttention
from models.dcn import DcnTower
from models.dnn import DnnTower
from models.logistic import LogisticTower
from models.mlp import Mlp

INTERACTION_TOWERS = [
    lambda: DnnTower([16, 8]),
    lambda: DcnTower(cross_layers=2, projection_dim=4, hidden_units=[16]),
    lambda: AutoIntTower(attention_layers=2, attention_dim=4, heads=2),
    lambda: AutoIntTower(attention_layers=1, attention_dim=4, heads=2, use_scale=True, layer_norm=True, dnn_units=[8]),
]
TOWERS = [LogisticTower, *INTERACTION_TOWERS]


@pytest.mark.parametrize("make", TOWERS)
def test_shape_and_config_round_trip(make):
    tower = make()
    fields = tf.random.stateless_normal([6, 5, 8], seed=[1, 2])
    logits = tower(fields)
    assert logits.shape == (6, 1)
    clone = type(tower).from_config(tower.get_config())
    clone(fields)
    clone.set_weights(tower.get_weights())
    np.testing.assert_allclose(clone(fields).numpy(), logits.numpy(), rtol=1e-6)


def test_attention_layer_output_width():
    layer = FieldSelfAttention(attention_dim=3, heads=4)
    assert layer(tf.zeros([2, 7, 5])).shape == (2, 7, 12)
    assert Mlp([4]).get_config()["hidden_units"] == [4]


def test_attention_layer_computes_the_papers_formula():
    """out = ReLU(concat_h softmax(Q_h K_h^T) V_h + E W_res), computed here head by head in numpy."""
    layer = FieldSelfAttention(attention_dim=3, heads=2)
    fields = tf.random.stateless_normal([4, 5, 6], seed=[3, 4])
    output = layer(fields).numpy()
    e = fields.numpy()
    project = {name: e @ dense.kernel.numpy() for name, dense in
               [("q", layer._query), ("k", layer._key), ("v", layer._value), ("res", layer._residual)]}
    heads = []
    for h in range(2):
        q, k, v = (project[name][..., 3 * h:3 * h + 3] for name in ("q", "k", "v"))
        scores = q @ k.transpose(0, 2, 1)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        heads.append(weights / weights.sum(-1, keepdims=True) @ v)
    np.testing.assert_allclose(output, np.maximum(np.concatenate(heads, -1) + project["res"], 0), rtol=1e-5, atol=1e-6)


def xor_auc(make):
    """Train on label = a XOR b, with a and b given as embedded fields; return the training AUC."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 2048), rng.integers(0, 2, 2048)
    table = rng.normal(size=(2, 2, 4)).astype("float32")
    fields = np.stack([table[0][a], table[1][b]], axis=1)
    labels = (a ^ b).astype("float32")[:, None]
    inputs = tf.keras.Input([2, 4])
    model = tf.keras.Model(inputs, make()(inputs))
    model.compile(tf.keras.optimizers.Adam(0.02), tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.AUC(from_logits=True)])
    model.fit(fields, labels, epochs=30, batch_size=256, verbose=0)
    return model.evaluate(fields, labels, verbose=0)[1]


@pytest.mark.parametrize("make", INTERACTION_TOWERS)
def test_each_interaction_tower_learns_xor(make):
    assert xor_auc(make) > 0.95


def test_logistic_regression_cannot_learn_xor():
    assert xor_auc(LogisticTower) < 0.6
