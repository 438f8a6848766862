"""A small exported model with string, integer, float and sequence inputs, and a real server over it."""

import subprocess
import sys

import pytest

import models  # noqa: F401
import tensorflow as tf

from models.ctr_model import CtrModel
from models.dnn import DnnTower
from models.numeric_fields import NumericFields
from serving.export import export_saved_model
from tests.conftest import REPO, free_port, wait_for_http

RAW_SPECS = {
    "city": tf.TensorSpec([None], tf.string),
    "item_id": tf.TensorSpec([None], tf.int64),
    "price": tf.TensorSpec([None], tf.float32),
    "history": tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64),
}


class HashedFields(tf.keras.layers.Layer):
    """Test encoder: hashed string and integer ids, a numeric field and a mean-pooled history."""

    def __init__(self):
        super().__init__()
        self.table = tf.keras.layers.Embedding(64, 4)
        self.numeric = NumericFields(["price"], [0.0], [1.0], 4)

    def call(self, features):
        city = self.table(tf.strings.to_hash_bucket_fast(features["city"], 64))
        item = self.table(tf.math.floormod(features["item_id"], 64))
        history = tf.reduce_mean(self.table(tf.math.floormod(features["history"], 64)), axis=1)
        history = tf.where(tf.math.is_nan(history), 0.0, history)
        return tf.concat([tf.stack([city, item, history], axis=1), self.numeric(features)], axis=1)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    model = CtrModel(HashedFields(), DnnTower([8]))
    return export_saved_model(model, RAW_SPECS, tmp_path_factory.mktemp("export") / "model")


@pytest.fixture(scope="session")
def server(saved_model, tmp_path_factory):
    """`featureplex serve` as a user runs it, on a free loopback port; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", str(saved_model), "--port", str(port), "--name", "ctr",
         "--max-body-mb", "0.05"],
        cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
