"""HSTU: causality, no softmax, relative position and time biases, padding independence, CTR fields, round trips."""

import json

import numpy as np
import pytest
import tensorflow as tf

from featureplex.features.errors import InputError
from featureplex.models.assembly import build_ctr_model
from featureplex.models.ctr_model import CtrModel
from featureplex.models.sequence.hstu import Hstu, HstuBlock, HstuFields, time_buckets
from tests.models.sequence_fixtures import field_encoder, raw_features


def test_time_buckets_are_logarithmic_and_capped():
    seconds = tf.constant([0, 1, 2, 10, 3600, -3600, 10**12], tf.int64)
    expected = [0, 0, int(np.log(2) / 0.301), int(np.log(10) / 0.301), int(np.log(3600) / 0.301),
                int(np.log(3600) / 0.301), 64]
    np.testing.assert_array_equal(time_buckets(seconds, 64).numpy(), expected)


def test_block_is_causal_and_masks_invalid_keys():
    tf.keras.utils.set_random_seed(0)
    block = HstuBlock(length=5, heads=2, attention_dim=4, linear_dim=3)
    x = tf.random.normal([2, 5, 6])
    valid = tf.constant([[True] * 5, [False, True, True, True, True]])
    y = block(x, valid).numpy()
    later = tf.concat([x[:, :3], x[:, 3:] + 10.0], axis=1)
    np.testing.assert_allclose(block(later, valid).numpy()[:, :3], y[:, :3], rtol=1e-5, atol=1e-6)
    masked = tf.concat([x[:, :1] + 10.0, x[:, 1:]], axis=1)
    np.testing.assert_allclose(block(masked, valid).numpy()[1], y[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y[1, 0], np.zeros(6))


def test_relative_bias_depends_on_position_offset_and_time_gap():
    block = HstuBlock(length=4, attention_dim=2, linear_dim=2, time_buckets=8)
    block(tf.zeros([1, 4, 2]), tf.ones([1, 4], tf.bool))
    block.position_bias.assign(np.arange(7, dtype=np.float32))
    block.time_bias.assign(100 * np.arange(9, dtype=np.float32))
    times = np.array([0, 1, 10, 100])
    following = np.array([1, 10, 100, 100])  # query i measures from event i + 1; the last from itself
    bucket = lambda gap: min(int(np.log(max(abs(gap), 1)) / 0.301), 8)  # noqa: E731
    expected = [[(j - i + 3) + 100 * bucket(following[i] - times[j]) for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(block.relative_bias(tf.constant([times], tf.int64)).numpy()[0], expected)
    np.testing.assert_allclose(block.relative_bias(None).numpy()[0], [[j - i + 3 for j in range(4)] for i in range(4)])


def test_ctr_fields_take_the_candidate_position_and_ignore_padding_width():
    tf.keras.utils.set_random_seed(0)
    model = build_ctr_model("hstu", field_encoder(), {"max_length": 3, "hidden_units": [8]},
                            {"history_item_ids": "history_timestamps"})
    assert isinstance(model.encoder, HstuFields)
    assert model.encoder.input_names[-1] == "history_timestamps"
    histories = [[1, 2, 3, 4, 5], [], [424242, 3]]
    times = [[10, 20, 30, 40, 50], [], [5, 500]]
    logits = model(raw_features(histories, times)).numpy()
    assert np.isfinite(logits).all()
    truncated = model(raw_features([[3, 4, 5], [], [424242, 3]], [[30, 40, 50], [], [5, 500]])).numpy()
    np.testing.assert_allclose(truncated, logits, rtol=1e-5)
    narrower = model(raw_features([[], [], histories[2]], [[], [], times[2]])).numpy()  # the batch padded to 2, not 5
    np.testing.assert_allclose(narrower[2], logits[2], rtol=1e-5)
    shifted = model(raw_features(histories, [[t + 7 for t in row] for row in times])).numpy()
    np.testing.assert_allclose(shifted, logits, rtol=1e-5)  # only gaps matter
    assert not np.allclose(model(raw_features(histories, [[1, 2, 3, 4, 5], [], [5, 6]])).numpy()[2], logits[2])

    clone = CtrModel.from_config(json.loads(json.dumps(model.get_config())))
    clone(raw_features(histories, times))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(raw_features(histories, times)).numpy(), logits, rtol=1e-5)


def test_side_sequences_sharing_the_timestamps_join_the_tokens():
    tf.keras.utils.set_random_seed(0)
    stamps = {"history_item_ids": "history_timestamps", "history_item_categories": "history_timestamps"}
    encoder = field_encoder(categories=True)
    model = build_ctr_model("hstu", encoder, {"max_length": 3, "hidden_units": [8]}, stamps)
    assert (model.encoder.sequence, model.encoder.side_sequences) == ("history_item_categories", ["history_item_ids"])
    histories, times, categories = [[1, 2, 3], [4], [2, 5]], [[10, 20, 30], [5], [7, 9]], [[1, 0, 1], [0], [0, 1]]
    summary = model.encoder.field_names.index("history_item_categories")
    before = model.encoder(raw_features(histories, times, categories)).numpy()[:, summary]
    # Another item at one position of row 0 changes that row's tokens, so its summary, and no other row's.
    after = model.encoder(raw_features([[1, 2, 5], [4], [2, 5]], times, categories)).numpy()[:, summary]
    assert not np.allclose(after[0], before[0], rtol=1e-4)
    np.testing.assert_allclose(after[1:], before[1:], rtol=1e-5)

    features = raw_features(histories, times, categories)
    logits = model(features).numpy()
    clone = CtrModel.from_config(json.loads(json.dumps(model.get_config())))
    clone(features)
    clone.set_weights(model.get_weights())
    assert clone.encoder.side_sequences == ["history_item_ids"]
    np.testing.assert_allclose(clone(features).numpy(), logits, rtol=1e-5)
    # Without a shared timestamp list nothing says the lists are aligned: each keeps its own field.
    unaligned = build_ctr_model("hstu", encoder, {"sequence": "history_item_ids"}, {"history_item_ids": "history_timestamps"})
    assert unaligned.encoder.side_sequences == []


def test_without_timestamps_and_bad_sequence():
    model = build_ctr_model("hstu", field_encoder(), {"max_length": 4, "blocks": 1})
    assert "history_timestamps" not in model.encoder.input_names
    assert model(raw_features([[1], [2, 3]])).shape == (2, 1)
    with pytest.raises(InputError, match="sequence 'clicks' is not in the layout"):
        build_ctr_model("hstu", field_encoder(), {"sequence": "clicks"})
    stack = Hstu(length=4, blocks=1, heads=2, attention_dim=2)
    assert Hstu.from_config(stack.get_config()).get_config() == stack.get_config()
