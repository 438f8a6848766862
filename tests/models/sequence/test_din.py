"""DIN: target attention (masking, empty histories, softmax), DinFields (shared rows, truncation), round trips."""

import json

import numpy as np
import pytest
import tensorflow as tf

from featureplex.features.embedding.layout import Layout
from featureplex.features.errors import InputError
from featureplex.models.assembly import build_ctr_model
from featureplex.models.ctr_model import CtrModel
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.preprocessing import FeaturePreprocessing
from featureplex.models.sequence.din import DinFields, TargetAttention
from tests.models.sequence_fixtures import field_encoder, raw_features


@pytest.mark.parametrize("activation", ["relu", "dice"])
@pytest.mark.parametrize("softmax", [False, True])
def test_padding_is_masked_and_an_empty_history_gives_zero(softmax, activation):
    tf.keras.utils.set_random_seed(0)
    attention = TargetAttention([8], activation=activation, softmax=softmax)
    query = tf.random.normal([2, 4])
    keys = tf.random.normal([2, 3, 4])
    valid = tf.constant([[True, True, False], [False, False, False]])
    interest = attention(query, keys, valid, training=False).numpy()
    noisy = tf.concat([keys[:, :2], keys[:, 2:] + 100.0], axis=1)
    np.testing.assert_allclose(attention(query, noisy, valid, training=False).numpy(), interest, rtol=1e-6)
    np.testing.assert_array_equal(interest[1], np.zeros(4))
    assert np.isfinite(interest).all()


def test_softmax_weights_form_a_convex_combination():
    tf.keras.utils.set_random_seed(0)
    attention = TargetAttention([8], softmax=True)
    keys = tf.ones([1, 5, 3]) * tf.constant([1.0, 2.0, 3.0])
    interest = attention(tf.ones([1, 3]), keys, tf.constant([[True, True, True, False, False]]), training=False)
    np.testing.assert_allclose(interest.numpy(), [[1.0, 2.0, 3.0]], rtol=1e-5)
    clone = TargetAttention.from_config(attention.get_config())
    assert clone.softmax and clone.hidden_units == [8]


def test_din_fields_share_rows_truncate_to_the_most_recent_and_round_trip():
    tf.keras.utils.set_random_seed(0)
    model = build_ctr_model("din", field_encoder(), {"max_length": 3, "hidden_units": [8]})
    assert isinstance(model.encoder, DinFields) and model.encoder.candidates == {"history_item_ids": "item_id"}
    long = raw_features([[1, 2, 3, 4, 5], [], [424242, 3]])  # a too-long history, an empty one, an unseen item
    short = raw_features([[3, 4, 5], [], [424242, 3]])
    logits = model(long).numpy()
    assert logits.shape == (3, 1) and np.isfinite(logits).all()
    np.testing.assert_allclose(model(short).numpy(), logits, rtol=1e-6)
    fields = model.encoder(long)
    assert fields.shape == (3, len(model.encoder.field_names), 8)

    clone = CtrModel.from_config(json.loads(json.dumps(model.get_config())))
    clone(long)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(long).numpy(), logits, rtol=1e-6)
    assert clone.encoder.get_config()["max_length"] == 3


def test_a_sequence_whose_shared_feature_is_missing_is_an_input_error():
    encoder = field_encoder()
    payload = encoder.preprocessing.layout.to_dict()
    payload["sequences"] = {"history_item_ids": "item_id", "history_shop_ids": "shop_id"}
    layout = Layout.from_dict(payload)
    broken = FieldEncoder(FeaturePreprocessing(layout, encoder.preprocessing.vocabularies),
                          MultiplexedEmbedding.from_layout(layout))
    with pytest.raises(InputError, match="sequence 'history_shop_ids': its shared feature 'shop_id' is not in the layout"):
        DinFields(broken)
    payload["sequences"] = {}
    plain = FieldEncoder(FeaturePreprocessing(Layout.from_dict(payload), encoder.preprocessing.vocabularies),
                         MultiplexedEmbedding.from_layout(Layout.from_dict(payload)))
    with pytest.raises(InputError, match="model 'din': the layout has no sequence feature"):
        build_ctr_model("din", plain)
    with pytest.raises(InputError, match="model 'din': unknown parameter 'heads'"):
        build_ctr_model("din", field_encoder(), {"heads": 2})
