"""TensorFlow + TFRS models on multiplexed embeddings.

tensorflow-recommenders needs Keras 2: this is the one place that selects it, before TensorFlow is
imported anywhere in the package.

TensorFlow 2.21 writes start-up chatter (oneDNN notes, CUDA probing on machines without a GPU) to
file descriptor 2 before absl logging exists, ignoring TF_CPP_MIN_LOG_LEVEL; it would break the
CLI's one-line errors. So stderr is silenced while TensorFlow loads and probes its devices, and only
then. FEATUREPLEX_TF_LOGS=1 keeps the chatter.
"""

import contextlib
import os
from typing import Iterator

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null inside (TensorFlow's C++ chatter), unless FEATUREPLEX_TF_LOGS is set."""
    if os.environ.get("FEATUREPLEX_TF_LOGS"):
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _load_tensorflow_quietly() -> None:
    with quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
        if not os.environ.get("TF_CONFIG"):
            # initialises the eager context: the CUDA probe happens here (under TF_CONFIG the multi-worker
            # strategy must configure the context first: models.distributed.Workers starts it, quietly too)
            tf.constant(0)


_load_tensorflow_quietly()
