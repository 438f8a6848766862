"""How the multiplexed embedding's table starts and how it is penalised: FuxiCTR's conventions as options.

Initialisers (`table_initializer`):
- "normal": T ~ N(0, scale^2), scale 1e-4 by default: FuxiCTR's FeatureEmbedding
  (`nn.init.normal_(std=1e-4)`). Rows start near each other, so values trained by a few examples stay
  close together (the model can read "rare" from them) and an untrained row contributes almost nothing.
- "uniform" (the default): T ~ U(-scale, scale), scale 0.05 by default: Keras' "uniform".
Neither is best everywhere (benchmarks/README.md, ctr_parity.py; measured without the embedding L2): on
the Amazon CTR rows, where rare items are mostly negatives, normal (1e-4 to 1e-2) scored 0.004-0.008 test
AUC above uniform; on Criteo 10k normal 1e-4 scored 0.007-0.010 below it; on the project's synthetic data
(the quickstart's DCN and DNN)
normal 0.01 and 0.02 scored up to 0.04 below it, validation AUC falling after the first epoch: small
rows memorise the many rare IDs there. Uniform stays the default; normal is the choice where rare or
unseen values carry the label.
Either way the padding row (row 0) starts at zero, as FuxiCTR's `padding_idx` row.

Regulariser (`table_regularizer`): FuxiCTR's `embedding_regularizer` with p = 2 adds
(lambda / p) * ||T||_p^p = (lambda / 2) * sum(T^2) over the whole table to the loss at every step
(`BaseModel.regularization_loss`), so its gradient is lambda * T: Keras' L2(lambda / 2). The default
lambda on a collisionless layout (train.embedding_l2 null: 3e-3) does for the uniform start what the
small normal start does: a row that few examples train is pulled back towards zero every step, so rare
values end near each other (and "rare" is learnable) instead of keeping random vectors the model
memorises. Where values share hashed rows the default is 0 (TrainParams.embedding_l2_on).
"""

from __future__ import annotations

from typing import Any, Literal

import tensorflow as tf

from featureplex.features.embedding.layout import PADDING_ROW

DEFAULT_SCALES = {"normal": 1e-4, "uniform": 0.05}


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
