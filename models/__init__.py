"""TensorFlow + TFRS models on multiplexed embeddings.

tensorflow-recommenders needs Keras 2: this is the one place that selects it, before TensorFlow is
imported anywhere in the package. TensorFlow's C++ start-up chatter is silenced unless asked for.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
