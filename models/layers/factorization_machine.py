"""The factorization machine's pairwise term over field embeddings (Rendle, ICDM 2010)."""

from __future__ import annotations

import tensorflow as tf


def pairwise_interaction(fields: tf.Tensor) -> tf.Tensor:
    """y = sum_{i<j} <e_i, e_j> = 1/2 sum_d [(sum_f e_fd)^2 - sum_f e_fd^2].

    The second form costs O(fields * dim) instead of O(fields^2 * dim); it is FuxiCTR's
    `InnerProductInteraction(output="product_sum")`. No weights, so a function rather than a layer.
    Input: field embeddings [batch, fields, dim]. Output: [batch, 1].

    Example:
        >>> pairwise_interaction(tf.constant([[[1.0, 2.0], [3.0, 4.0], [0.5, 0.0]]])).numpy()
        array([[13.]], dtype=float32)

    (<e_1, e_2> = 11, <e_1, e_3> = 0.5, <e_2, e_3> = 1.5.)
    """
    square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
    sum_of_squares = tf.reduce_sum(tf.square(fields), axis=1)
    return 0.5 * tf.reduce_sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)
