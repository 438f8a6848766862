"""train.embedding_l2: (lambda / 2) * sum(T^2) over the whole embedding table (FuxiCTR's scaling) joins the training loss;
train.embedding_initializer reaches the table."""

import numpy as np
import pytest
import tensorflow as tf
from pydantic import ValidationError

from featureplex.features.data.config import TrainParams
from featureplex.models.ctr_model import CtrModel
from featureplex.models.layers.embedding_table import table_initializer, table_regularizer
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.towers.dnn import DnnTower
from tests.models.sequence_fixtures import field_encoder, raw_features


def tiny_model(embedding_l2: float) -> CtrModel:
    encoder = field_encoder()
    tf.keras.utils.set_random_seed(0)
    embedding = MultiplexedEmbedding.from_layout(encoder.preprocessing.layout,
                                                 embeddings_regularizer=table_regularizer(embedding_l2))
    return CtrModel(FieldEncoder(encoder.preprocessing, embedding), DnnTower([4]))


def test_the_penalty_is_half_lambda_times_the_squared_table_and_joins_the_loss():
    features = raw_features([[1, 2], [3], [], [4, 5, 1]])
    labels = tf.constant([1.0, 0.0, 1.0, 0.0])
    model = tiny_model(0.01)
    model(features)
    table = model.encoder.embedding.embeddings.numpy()
    assert float(tf.add_n(model.losses)) == pytest.approx(0.01 / 2 * float(np.square(table).sum()), rel=1e-5)

    model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
    history = model.fit(tf.data.Dataset.from_tensors((features, labels)), verbose=0).history
    assert history["regularization_loss"][0] > 0
    assert history["total_loss"][0] == pytest.approx(history["loss"][0] + history["regularization_loss"][0], rel=1e-5)

    unregularised = tiny_model(0.0)
    unregularised(features)
    assert unregularised.losses == []


def test_out_of_range_is_rejected():
    for value in (-1e-4, 1.0):
        with pytest.raises(ValidationError, match="embedding_l2"):
            TrainParams(embedding_l2=value)


def test_the_configured_initializer_reaches_the_table():
    encoder = field_encoder()
    layout = encoder.preprocessing.layout
    for kind, scale, bound in (("normal", 1e-4, 1e-3), ("uniform", None, 0.05)):
        params = TrainParams(embedding_initializer=kind, embedding_init_scale=scale)
        embedding = MultiplexedEmbedding.from_layout(
            layout, embeddings_initializer=table_initializer(params.embedding_initializer, params.embedding_init_scale))
        embedding.build(None)
        table = embedding.embeddings.numpy()
        assert not table[0].any() and 0 < np.abs(table[1:]).max() <= bound


def test_the_default_penalty_is_for_layouts_whose_values_own_their_rows():
    """null: 3e-3 on a collisionless layout (what hybrid without a budget is built as), 0 where values share
    hashed rows; a value set in the config is used on every layout."""
    default, set_zero, set_value = TrainParams(), TrainParams(embedding_l2=0.0), TrainParams(embedding_l2=0.01)
    assert default.embedding_l2 is None
    assert default.embedding_l2_on("collisionless") == 3e-3
    assert [default.embedding_l2_on(mode) for mode in ("hybrid", "hashing", "separate")] == [0.0, 0.0, 0.0]
    assert set_zero.embedding_l2_on("collisionless") == 0.0
    assert {set_value.embedding_l2_on(mode) for mode in ("collisionless", "hybrid", "hashing")} == {0.01}
