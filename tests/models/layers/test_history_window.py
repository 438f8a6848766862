"""recent_window: right-aligned most recent elements, truncation, masked holes kept in place."""

import numpy as np
import tensorflow as tf

from featureplex.models.layers.history_window import recent_window


def test_right_aligns_and_keeps_the_most_recent():
    values = tf.constant([[1, 2, 3, 4], [5, 6, 0, 0], [0, 0, 0, 0]])
    valid = values != 0
    window, window_valid = recent_window(values, valid, 3)
    np.testing.assert_array_equal(window.numpy(), [[2, 3, 4], [0, 5, 6], [0, 0, 0]])
    np.testing.assert_array_equal(window_valid.numpy(), [[True] * 3, [False, True, True], [False] * 3])


def test_pads_when_the_window_is_wider_and_keeps_holes_masked():
    values = tf.constant([[[1.0], [9.0], [3.0]]])
    valid = tf.constant([[True, False, True]])  # a missing element inside the history
    window, window_valid = recent_window(values, valid, 5)
    np.testing.assert_array_equal(window.numpy()[0, :, 0], [0, 0, 1, 9, 3])
    np.testing.assert_array_equal(window_valid.numpy()[0], [False, False, True, False, True])
