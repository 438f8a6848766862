"""The most recent `length` elements of each padded history, right-aligned."""

from __future__ import annotations

import tensorflow as tf


def recent_window(values: tf.Tensor, valid: tf.Tensor, length: int) -> tuple[tf.Tensor, tf.Tensor]:
    """[batch, L, ...] histories (oldest first, padding after the last element) -> [batch, length, ...].

    Row b keeps its last min(n_b, length) elements, in order, in the last positions: position
    length - 1 is always the most recent element, so a fixed position means a fixed distance from
    the candidate whatever the history's length. Longer histories lose their oldest elements (the
    truncation the sequence models need for a fixed attention size); earlier positions are zero and
    invalid. n_b is one past the last valid position, so a missing element inside a history stays
    masked where it was.

    Example:
        >>> values, valid = recent_window(tf.constant([[1, 2, 3], [4, 0, 0]]), tf.constant([[True] * 3, [True, False, False]]), 2)
        >>> values.numpy().tolist(), valid.numpy().tolist()
        ([[2, 3], [0, 4]], [[True, True], [False, True]])
    """
    width = tf.shape(valid)[1]
    positions = tf.range(1, width + 1)[None, :]
    lengths = tf.reduce_max(tf.where(valid, positions, 0), axis=1)
    # most recent first, then pad or cut to `length`, then back to oldest first
    newest_first = tf.reverse_sequence(values, lengths, seq_axis=1, batch_axis=0)
    valid_first = tf.reverse_sequence(valid, lengths, seq_axis=1, batch_axis=0)
    extra = tf.maximum(length - width, 0)
    padding = [[0, 0], [0, extra]] + [[0, 0]] * (values.shape.rank - 2)
    newest_first = tf.pad(newest_first, padding)[:, :length]
    valid_first = tf.pad(valid_first, [[0, 0], [0, extra]])[:, :length]
    return tf.reverse(newest_first, axis=[1]), tf.reverse(valid_first, axis=[1])

