"""train.embedding_l2: lambda * sum(T^2) over the whole embedding table joins the training loss."""

import numpy as np
import pytest
from pydantic import ValidationError

import models  # noqa: F401
import tensorflow as tf

from features.config import TrainParams
from models.ctr_model import CtrModel
from models.dnn import DnnTower
from models.field_encoder import FieldEncoder
from pipelines.train_flow import _embedding
from tests.models.sequence_fixtures import field_encoder, raw_features


def tiny_model(embedding_l2: float) -> CtrModel:
    encoder = field_encoder()
    tf.keras.utils.set_random_seed(0)
    embedding = _embedding(encoder.preprocessing.layout, TrainParams(embedding_l2=embedding_l2))
    return CtrModel(FieldEncoder(encoder.preprocessing, embedding), DnnTower([4]))


def test_the_penalty_is_lambda_times_the_squared_table_and_joins_the_loss():
    features = raw_features([[1, 2], [3], [], [4, 5, 1]])
    labels = tf.constant([1.0, 0.0, 1.0, 0.0])
    model = tiny_model(0.01)
    model(features)
    table = model.encoder.embedding.embeddings.numpy()
    assert float(tf.add_n(model.losses)) == pytest.approx(0.01 * float(np.square(table).sum()), rel=1e-5)

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
