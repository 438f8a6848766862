"""DNN, DCN-v2, AutoInt(+), DeepFM and the wide part: shapes, config round trips, the DeepFM and wide formulas by
hand, and that each learns a field interaction."""

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.layers.mlp import Mlp
from featureplex.models.towers.autoint import AutoIntTower, FieldSelfAttention
from featureplex.models.towers.dcn import DcnTower
from featureplex.models.towers.deepfm import DeepFmTower
from featureplex.models.towers.dnn import DnnTower
from featureplex.models.towers.logistic import LogisticTower
from featureplex.models.towers.wide import WideTower

INTERACTION_TOWERS = [
    lambda: DnnTower([16, 8]),
    lambda: DcnTower(cross_layers=2, projection_dim=4, hidden_units=[16]),
    lambda: AutoIntTower(attention_layers=2, attention_dim=4, heads=2),
    lambda: AutoIntTower(attention_layers=1, attention_dim=4, heads=2, use_scale=True, layer_norm=True, dnn_units=[8]),
    lambda: DeepFmTower([16, 8]),
    lambda: WideTower(DnnTower([16, 8])),
]
BATCH_NORM_TOWERS = [  # the DNN part of every tower takes batch norm and dropout
    lambda: DnnTower([8], dropout=0.2, batch_norm=True, batch_norm_momentum=0.8),
    lambda: DcnTower(cross_layers=1, hidden_units=[8], dropout=0.2, batch_norm=True, batch_norm_momentum=0.8),
    lambda: AutoIntTower(attention_layers=1, attention_dim=2, dnn_units=[8], dropout=0.2, batch_norm=True,
                         batch_norm_momentum=0.8),
    lambda: DeepFmTower([8], dropout=0.2, batch_norm=True, batch_norm_momentum=0.8),
]
TOWERS = [LogisticTower, *INTERACTION_TOWERS]


@pytest.mark.parametrize("make", TOWERS + BATCH_NORM_TOWERS)
def test_shape_and_config_round_trip(make):
    tower = make()
    fields = tf.random.stateless_normal([6, 5, 8], seed=[1, 2])
    tower(fields, training=True)  # moves the batch-norm statistics away from their start
    logits = tower(fields)
    assert logits.shape == (6, 1)
    clone = type(tower).from_config(tower.get_config())
    assert clone.get_config() == tower.get_config()
    clone(fields)
    clone.set_weights(tower.get_weights())
    np.testing.assert_allclose(clone(fields).numpy(), logits.numpy(), rtol=1e-6)


@pytest.mark.parametrize("make", BATCH_NORM_TOWERS)
def test_the_dnn_part_of_every_tower_has_batch_norm_with_its_momentum_and_dropout(make):
    tower = make()
    tower(tf.zeros([2, 5, 8]))
    norms = [layer for layer in tower._flatten_layers() if isinstance(layer, tf.keras.layers.BatchNormalization)]
    dropouts = [layer for layer in tower._flatten_layers() if isinstance(layer, tf.keras.layers.Dropout)]
    assert [norm.momentum for norm in norms] == [0.8] and [d.rate for d in dropouts] == [0.2]


def test_deepfm_is_the_dnn_logit_plus_the_pairwise_products():
    fields = tf.constant([[[1.0, 2.0], [3.0, 4.0], [0.5, 0.0]]])  # sum over pairs of <e_i, e_j> = 13
    deepfm, dnn = DeepFmTower([4]), DnnTower([4])
    deepfm(fields), dnn(fields)
    dnn.set_weights(deepfm.get_weights())
    np.testing.assert_allclose(deepfm(fields).numpy(), dnn(fields).numpy() + 13.0, rtol=1e-6)
    assert type(deepfm).from_config(deepfm.get_config()).get_config() == deepfm.get_config()


def test_the_wide_part_adds_a_linear_term_of_the_flattened_fields():
    fields = tf.constant([[[1.0, 2.0], [3.0, 4.0]]])
    wide = WideTower(LogisticTower())
    wide(fields)
    wide.tower._logit.kernel.assign(tf.zeros([4, 1]))
    wide.tower._logit.bias.assign([0.5])
    wide._wide.kernel.assign([[1.0], [-1.0], [0.0], [2.0]])  # 1 - 2 + 0 + 8
    np.testing.assert_allclose(wide(fields).numpy(), [[7.5]])


def test_attention_layer_output_width():
    layer = FieldSelfAttention(attention_dim=3, heads=4)
    assert layer(tf.zeros([2, 7, 5])).shape == (2, 7, 12)
    assert Mlp([4]).get_config()["hidden_units"] == [4]


@pytest.mark.parametrize("width", [6, 5])
def test_attention_layer_computes_the_papers_formula(width):
    """out = ReLU(concat_h softmax(Q_h K_h^T) V_h + R(E)), computed here head by head in numpy; R(E) = E when
    the input is as wide as the output (2 heads x 3), E W_res otherwise (FuxiCTR's residual)."""
    layer = FieldSelfAttention(attention_dim=3, heads=2)
    fields = tf.random.stateless_normal([4, 5, width], seed=[3, 4])
    output = layer(fields).numpy()
    e = fields.numpy()
    project = {name: e @ dense.kernel.numpy() for name, dense in
               [("q", layer._query), ("k", layer._key), ("v", layer._value)]}
    project["res"] = e if width == 6 else e @ layer._residual.kernel.numpy()
    assert (layer._residual is None) == (width == 6)
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


def test_the_config_knows_every_model_the_assembly_builds():
    from featureplex.features.data.config import MODEL_NAMES
    from featureplex.models.assembly import MODEL_NAMES as BUILT

    assert list(MODEL_NAMES) == list(BUILT)
