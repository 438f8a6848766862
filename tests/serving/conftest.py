"""A small exported model with string, integer, float and sequence inputs, and a real server over it."""

import contextlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tensorflow as tf

from featureplex.models.ctr_model import CtrModel
from featureplex.models.layers.numeric_fields import NumericFields
from featureplex.models.towers.dnn import DnnTower
from featureplex.serving.export import export_saved_model
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


# The limits the `server` fixture runs with, small enough for tests to cross each one.
LIMITS = {"--max-body-mb": "1", "--max-rows": "64", "--max-sequence-items": "100", "--max-string-chars": "200"}


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen
    log: Path


@contextlib.contextmanager
def running_server(saved_model, log: Path, *options: str, env: dict | None = None):
    """`featureplex serve SAVED_MODEL OPTIONS` as a user runs it, on a free loopback port, output in `log`."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "featureplex.pipelines.cli", "serve", str(saved_model), "--port", str(port), *options],
        cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", process)
        yield RunningServer(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(saved_model, tmp_path_factory):
    """The server named 'ctr' with the test LIMITS."""
    options = [item for pair in LIMITS.items() for item in pair]
    with running_server(saved_model, tmp_path_factory.mktemp("server") / "server.log", "--name", "ctr", *options) as running:
        yield running
