"""Next-item training: sampled softmax with accidental hits masked, HSTU and SASRec encoders learn a
deterministic successor, leave-one-out ranks with history items removed."""

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.sequence.leave_one_out import evaluate_leave_one_out, ranking_metrics, target_ranks
from featureplex.models.sequence.next_item import NextItemModel, sampled_softmax_loss
from featureplex.models.sequence.sasrec import SasRec


def test_accidental_hits_are_masked():
    h = tf.math.l2_normalize(tf.constant([[[1.0, 0.0]]]), axis=-1)
    positive = tf.constant([[[1.0, 0.0]]])
    negatives = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    weights = tf.ones([1, 1])
    masked = sampled_softmax_loss(h, positive, negatives, tf.constant([7, 3], tf.int64), tf.constant([[7]], tf.int64),
                                  weights, 1.0)
    expected = np.log1p(np.exp(0.0 - 1.0))  # only the non-hit negative competes
    assert float(masked) == pytest.approx(expected, rel=1e-4)
    unmasked = sampled_softmax_loss(h, positive, negatives, tf.constant([8, 3], tf.int64), tf.constant([[7]], tf.int64),
                                    weights, 1.0)
    assert float(unmasked) == pytest.approx(np.log(1 + 1 + np.exp(-1.0)), rel=1e-5)


def test_ranks_remove_history_items_but_not_the_target():
    scores = np.array([[9.0, 5.0, 4.0, 3.0, 2.0], [9.0, 1.0, 2.0, 3.0, 4.0]])
    histories = np.array([[0, 1, 3], [0, 4, 2]])
    ranks = target_ranks(scores, np.array([3, 2]), histories)
    np.testing.assert_array_equal(ranks, [1, 1])  # user 0: item 1 removed, 2 ahead; user 1: 4 removed, 3 ahead
    metrics = ranking_metrics(np.array([0, 9, 10]), cutoffs=(10,))
    assert metrics["hr@10"] == pytest.approx(2 / 3)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(11)) / 3)


@pytest.mark.parametrize("encoder", ["hstu", "sasrec"])
def test_each_encoder_learns_a_successor_rule(encoder):
    tf.keras.utils.set_random_seed(0)
    items, length = 30, 6
    rng = np.random.default_rng(0)
    starts = rng.integers(1, items + 1, 512)
    sequences = (starts[:, None] + np.arange(length + 1)[None]) % items + 1  # next = current + 1 (mod items)
    model = NextItemModel(items, length, dimension=16, encoder=encoder, negatives=16,
                          encoder_parameters={"blocks": 1} if encoder == "hstu" else {"blocks": 1, "dropout": 0.0})
    model.compile(tf.keras.optimizers.Adam(0.01))
    model.fit(tf.data.Dataset.from_tensor_slices(sequences.astype(np.int64)).batch(64), epochs=15, verbose=0)
    metrics = evaluate_leave_one_out(lambda ids: model.user_vectors(tf.constant(ids)).numpy(),
                                     model.item_vectors(tf.range(items + 1, dtype=tf.int64)).numpy(),
                                     sequences[:, :length], sequences[:, length], cutoffs=(1, 10))
    assert metrics["hr@1"] > 0.9, metrics
    assert NextItemModel(**model.get_config()).get_config() == model.get_config()


def test_sasrec_is_causal():
    tf.keras.utils.set_random_seed(0)
    layer = SasRec(length=4, blocks=2, heads=2, dropout=0.0)
    x = tf.random.normal([2, 4, 8])
    valid = tf.constant([[True] * 4, [False, True, True, True]])
    y = layer(x, valid).numpy()
    changed = tf.concat([x[:, :2], x[:, 2:] + 5.0], axis=1)
    np.testing.assert_allclose(layer(changed, valid).numpy()[:, :2], y[:, :2], rtol=1e-5, atol=1e-5)
    assert SasRec.from_config(layer.get_config()).get_config() == layer.get_config()
