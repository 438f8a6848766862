import numpy as np
import tensorflow as tf

from featureplex.models.layers.numeric_fields import NumericFields


def test_present_values_scale_a_vector_and_missing_gets_its_own():
    layer = NumericFields(["a", "b"], means=[0.0, 1.0], stds=[1.0, 2.0], dimension=3)
    out = layer({"a": tf.constant([0.0, np.e - 1, np.nan]), "b": tf.constant([1.0, 1.0, 1.0])}).numpy()
    scale, missing = layer.scale_vectors.numpy(), layer.missing_vectors.numpy()
    np.testing.assert_allclose(out[1, 0], scale[0], rtol=1e-5)  # s(e - 1) = 1
    np.testing.assert_allclose(out[0, 0], 0.0)
    np.testing.assert_allclose(out[2, 0], missing[0])
    np.testing.assert_allclose(out[0, 1], (np.log(2) - 1) / 2 * scale[1], rtol=1e-5)


def test_config_round_trip():
    layer = NumericFields(["a"], [0.5], [2.0], 4)
    clone = NumericFields.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
