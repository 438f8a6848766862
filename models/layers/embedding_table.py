"""How the multiplexed embedding's table starts and how it is penalised: FuxiCTR's conventions as options.

Initialisers (`table_initializer`):
- "normal" (the default): T ~ N(0, scale^2), scale 0.01 by default; FuxiCTR's FeatureEmbedding uses 1e-4
  (`nn.init.normal_(std=1e-4)`). A row starts small against what training makes of it, so rows of values
  trained by a few examples stay close together (the model can read "rare" from them) and an untrained
  row contributes little. 0.01 rather than FuxiCTR's 1e-4: on Criteo 10k 1e-4 cost 0.007-0.010 test AUC
  against 0.01 while the Amazon CTR rows gained 0.002-0.003 from it; 0.01 was within 0.003 of the best
  scale tried on all three real data sets, and 0.05-uniform (Keras', the former default) 0.008 below it on
  the Amazon rows (benchmarks/README.md, ctr_parity.py).
- "uniform": T ~ U(-scale, scale), scale 0.05 by default: Keras' "uniform".
Either way the padding row (row 0) starts at zero, as FuxiCTR's `padding_idx` row.

Regulariser (`table_regularizer`): FuxiCTR's `embedding_regularizer` with p = 2 adds
(lambda / p) * ||T||_p^p = (lambda / 2) * sum(T^2) over the whole table to the loss at every step
(`BaseModel.regularization_loss`), so its gradient is lambda * T: Keras' L2(lambda / 2).
"""

from __future__ import annotations

from typing import Any, Literal

import tensorflow as tf

from featureplex.features.embedding.layout import PADDING_ROW

DEFAULT_SCALES = {"normal": 0.01, "uniform": 0.05}


@tf.keras.utils.register_keras_serializable("featureplex")
class ZeroPaddingRow(tf.keras.initializers.Initializer):
    """T = base(shape) with row 0 (padding) set to zero.

    Example:
        >>> ZeroPaddingRow(tf.keras.initializers.Ones())([3, 2]).numpy()
        array([[0., 0.], [1., 1.], [1., 1.]], dtype=float32)
    """

    def __init__(self, base: Any):
        self.base = tf.keras.initializers.get(base)

    def __call__(self, shape, dtype=None, **kwargs) -> tf.Tensor:
        table = self.base(shape, dtype=dtype, **kwargs)
        keep = tf.cast(tf.range(shape[0]) != PADDING_ROW, table.dtype)[:, None]
        return table * keep

    def get_config(self) -> dict:
        return {"base": tf.keras.initializers.serialize(self.base)}


def table_initializer(kind: Literal["normal", "uniform"], scale: float | None = None) -> ZeroPaddingRow:
    """N(0, scale^2) or U(-scale, scale) with a zero padding row; `scale` None: the kind's default (module docstring)."""
    scale = DEFAULT_SCALES[kind] if scale is None else scale
    if kind == "normal":
        return ZeroPaddingRow(tf.keras.initializers.RandomNormal(0.0, scale))
    return ZeroPaddingRow(tf.keras.initializers.RandomUniform(-scale, scale))


def table_regularizer(l2: float) -> tf.keras.regularizers.Regularizer | None:
    """(l2 / 2) * sum(T^2), FuxiCTR's embedding_regularizer: l2; None when l2 is 0."""
    return tf.keras.regularizers.L2(l2 / 2) if l2 else None
