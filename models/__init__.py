"""TensorFlow + TFRS models on multiplexed embeddings.

tensorflow-recommenders needs Keras 2: this is the one place that selects it, before TensorFlow is
imported anywhere in the package.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
