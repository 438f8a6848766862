"""The embedding table's initialisers (FuxiCTR's N(0, 1e-4) and Keras' uniform, padding row zero) and its L2
penalty with FuxiCTR's scaling."""

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.layers.embedding_table import ZeroPaddingRow, table_initializer, table_regularizer
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding


def test_padding_row_is_zero_and_the_rest_is_the_base():
    table = ZeroPaddingRow("ones")([3, 2]).numpy()
    np.testing.assert_array_equal(table, [[0, 0], [1, 1], [1, 1]])


@pytest.mark.parametrize("kind, scale, std", [("normal", None, 1e-4), ("normal", 0.01, 0.01),
                                              ("uniform", None, 0.05 / np.sqrt(3)), ("uniform", 0.2, 0.2 / np.sqrt(3))])
def test_scales(kind, scale, std):
    tf.keras.utils.set_random_seed(0)
    table = table_initializer(kind, scale)([20_001, 10]).numpy()
    assert not table[0].any()
    assert table[1:].std() == pytest.approx(std, rel=0.02) and abs(table[1:].mean()) < std / 50
    if kind == "uniform":
        assert np.abs(table).max() <= (scale or 0.05)


def test_the_penalty_is_half_lambda_times_the_sum_of_squares():
    table = tf.constant([[1.0, 2.0], [3.0, 0.0]])
    assert float(table_regularizer(0.05)(table)) == pytest.approx(0.05 / 2 * 14)
    assert table_regularizer(0.0) is None


def test_the_embedding_round_trips_its_initializer_and_regularizer():
    embedding = MultiplexedEmbedding(rows=6, dimension=4, embeddings_initializer=table_initializer("normal", 0.5),
                                     embeddings_regularizer=table_regularizer(0.1))
    config = embedding.get_config()
    clone = MultiplexedEmbedding.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.embeddings_initializer, ZeroPaddingRow)
    assert clone.embeddings_initializer.base.get_config()["stddev"] == 0.5
    assert clone.embeddings_regularizer.get_config()["l2"] == pytest.approx(0.05)
    tf.keras.utils.set_random_seed(1)
    embedding.build(None)
    tf.keras.utils.set_random_seed(1)
    clone.build(None)
    np.testing.assert_array_equal(clone.embeddings.numpy(), embedding.embeddings.numpy())
    assert not embedding.embeddings.numpy()[0].any()
