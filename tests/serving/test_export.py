"""The exported SavedModel takes raw features by name and predicts what the Keras model predicts."""

import numpy as np
import tensorflow as tf

from featureplex.models.ctr_model import CtrModel
from featureplex.models.layers.numeric_fields import NumericFields
from featureplex.models.towers.dnn import DnnTower
from featureplex.serving.export import SIGNATURE, export_saved_model, signature_specs, unpad


class PooledHistory(tf.keras.layers.Layer):
    """Test encoder: numeric fields plus the mean of a ragged int sequence (as a float field)."""

    def __init__(self):
        super().__init__()
        self.numeric = NumericFields(["x"], [0.0], [1.0], 2)

    def call(self, features):
        pooled = tf.reduce_mean(tf.cast(features["history"], tf.float32), axis=1)
        pooled = tf.where(tf.math.is_nan(pooled), 0.0, pooled)
        stamps = tf.cast(features["history_ts"].row_lengths(), tf.float32)
        return tf.concat([self.numeric(features), tf.stack([pooled, stamps], axis=1)[:, None, :]], axis=1)


def test_saved_model_signature_and_predictions(tmp_path):
    raw_specs = {
        "x": tf.TensorSpec([None], tf.float32),
        "history": tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64),
        "history_ts": tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64),
    }
    model = CtrModel(PooledHistory(), DnnTower([4]))
    ragged = {
        "x": tf.constant([0.5, -1.0, np.nan]),
        "history": tf.ragged.constant([[1, 2, 3], [], [7]], dtype=tf.int64, row_splits_dtype=tf.int64),
        "history_ts": tf.ragged.constant([[10, 20, 0], [], [5]], dtype=tf.int64, row_splits_dtype=tf.int64),
    }
    expected = tf.sigmoid(model(ragged)[:, 0]).numpy()
    path = export_saved_model(model, raw_specs, tmp_path / "saved", {"history_ts": "history"})
    serve = tf.saved_model.load(str(path)).signatures[SIGNATURE]
    assert set(serve.structured_input_signature[1]) == {"x", "history", "history_ts"}
    padded = {
        "x": ragged["x"],
        "history": tf.constant([[1, 2, 3], [-(2**63), -(2**63), -(2**63)], [7, -(2**63), -(2**63)]], tf.int64),
        "history_ts": tf.constant([[10, 20, 0], [0, 0, 0], [5, 0, 0]], tf.int64),
    }
    outputs = serve(**padded)
    np.testing.assert_allclose(outputs["probability"].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(tf.sigmoid(outputs["logit"]).numpy(), expected, rtol=1e-6)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_signature_specs_pad_sequences():
    specs = signature_specs({"s": tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)})
    assert specs["s"].shape.as_list() == [None, None] and specs["s"].dtype == tf.string
    unpadded = unpad({"s": tf.constant([["a", ""], ["", ""]])}, {"s": tf.RaggedTensorSpec([None, None], tf.string)}, {})
    assert unpadded["s"].to_list() == [[b"a"], []]
