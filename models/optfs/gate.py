"""OptFS (Lyu et al., WWW 2023): a learnable gate on every feature value of the multiplexed embedding.

Gates (DESIGN.md section 5). Gate index space of a layout with R_h collision-free rows (padding,
missing and head rows: `tail_offset` of the hybrid layout, 1 in hashing and separate modes) and F
features (sorted by name):

    gate 0              padding (row 0): always 1, never penalised, never trained
    gate r, 1 <= r < R_h    the missing or head row r: one (feature, value)
    gate R_h + i        the hashed tail of feature i: every value of feature i outside its head

Gating a shared hashed row would switch off other features' values, so tail rows are gated per
feature, never per row. A layout without head rows (hashing, separate) has only the tail gates: the
selection then keeps or drops whole fields (a `NoHeadRowsWarning`).

With logits m (initialised to m0 = 0.5) and temperature tau (a non-trainable variable):

    search:  g = sigmoid(tau * m) / sigmoid(m0)      (every gate starts at 1 when tau = 1)
             loss += lambda * sum over all gates but padding of w * sigmoid(tau * m)

The weight w is 1 for a head or missing gate and, for a hashed tail's gate, the number of the feature's
distinct training values outside its head: a tail gate stands for all of them (they share one gate
because they share hashed rows), so it carries their penalties, as the paper's sum over every value's
gate would. Without it a per-row ID column (only a tail) paid the penalty of one value and was
never dropped. A collisionless layout's tail is one out-of-vocabulary row, a row like any other (the
paper gates FuxiCTR's vocabulary row by row, its OOV row included): w = 1. Weighted by the values on it,
the OOV row's gate closed first on the Amazon CTR rows (thousands of items seen once), and with it what
those rows say most: "this item is rare" (test AUC -0.010 beauty, -0.023 videogames, 2-4 % of the
parameters pruned).
    retrain: g = 1[m > 0]                             (the mask frozen; no penalty, no gradient)

`GatedEmbedding` wraps a `MultiplexedEmbedding` with the same call signature and multiplies each
lookup (sequence elements too, through the rows of the feature they share) by its gate, so every
model built on `FieldEncoder` works unchanged; interactions are gated implicitly (a product of two
gated embeddings carries g_i * g_j).

`OptFsCtrModel` applies the gate logits' gradients with their own Adam (no weight decay) and the
rest with the compiled optimizer; `OptFsContinuation` is the learning-by-continuation schedule
(tau_e = final_tau^(e / (search_epochs - 1)) at the start of epoch e, read from a checkpointed epoch
counter, so a resumed search continues the schedule) and takes the rewind snapshot.

Example::

    gate = OptFsGate.from_layout(layout, penalty=1e-4)
    encoder = FieldEncoder(preprocessing, GatedEmbedding(MultiplexedEmbedding.from_layout(layout), gate))
    base = build_ctr_model("dnn", encoder)
    model = OptFsCtrModel(base.encoder, base.tower, gate)
    train(model, ..., callbacks=[OptFsContinuation(gate, model, search_epochs=20, rewind_path=...)])
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from featureplex.features.embedding.layout import PADDING_ROW, Layout
from featureplex.features.embedding.pruning import FeatureMask
from featureplex.models.ctr_model import CtrModel

M0 = 0.5


class NoHeadRowsWarning(UserWarning):
    """The layout has no head rows (hashing or separate mode): OptFS gates whole fields only."""


def gate_space(layout: Layout) -> tuple[int, dict[str, int]]:
    """(R_h, tail gate of each feature): the gate index space described in the module docstring."""
    dedicated = 1
    for feature in layout.features.values():
        if feature.head_rows:
            dedicated = max(dedicated, feature.head_offset + feature.head_rows)
        if feature.missing_row is not None:
            dedicated = max(dedicated, feature.missing_row + 1)
    tails = {name: dedicated + index for index, name in enumerate(sorted(layout.features))}
    return dedicated, tails


def penalty_weights(layout: Layout, size: int) -> np.ndarray:
    """[size]: 0 for padding, 1 for a head or missing gate, the values outside the head for a hashed tail's
    gate (1 for a collisionless layout's out-of-vocabulary row)."""
    _, tails = gate_space(layout)
    weights = np.ones(size)
    weights[PADDING_ROW] = 0.0
    if layout.mode == "collisionless":
        return weights
    for name, gate in tails.items():
        feature = layout.features[name]
        weights[gate] = max(1, feature.distinct - feature.head_rows)
    return weights


def gate_indices(layout: Layout, ids: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """FeaturePreprocessing's ids {name: [..., chunks]} -> gate indices {name: [...]}.

    Head and missing rows map to their own gate, rows of a feature's tail region to its tail gate,
    padding (row 0, sequences only) to gate 0. A value's chunks share one gate, so chunk 0 decides.
    """
    _, tails = gate_space(layout)
    gates = {}
    for name, feature_ids in ids.items():
        feature = layout.sequences.get(name, name)
        spec = layout.features[feature]
        first = feature_ids[..., 0]
        gates[name] = tf.where(first >= spec.tail_offset, tf.constant(tails[feature], first.dtype), first)
    return gates


@tf.keras.utils.register_keras_serializable(package="featureplex")
class OptFsGate(tf.keras.layers.Layer):
    """Gate logits over the gate index space of a layout; `call(gate_ids)` gives the gate values."""

    def __init__(self, layout: Layout | Mapping[str, Any], penalty: float = 1e-4, m0: float = M0, **kwargs):
        super().__init__(**kwargs)
        self.layout = layout if isinstance(layout, Layout) else Layout.from_dict(layout)
        if not penalty > 0:
            raise ValueError(f"optfs penalty (lambda) must be > 0, got {penalty}")
        self.penalty = float(penalty)
        self.m0 = float(m0)
        self.dedicated, self.tail_gates = gate_space(self.layout)
        self.size = self.dedicated + len(self.layout.features)
        if self.layout.head_rows == 0:
            warnings.warn(
                f"layout mode '{self.layout.mode}' has no head rows: OptFS falls back to one gate per feature "
                "(its hashed values), so it can only keep or drop whole fields", NoHeadRowsWarning, stacklevel=2)
        self.logits = self.add_weight(name="logits", shape=(self.size,),
                                      initializer=tf.keras.initializers.Constant(self.m0), trainable=True)
        self.tau = self.add_weight(name="tau", shape=(), initializer="ones", trainable=False)
        self.hard = self.add_weight(name="hard", shape=(), initializer="zeros", trainable=False)
        self.epoch = self.add_weight(name="epoch", shape=(), dtype=tf.int64, initializer="zeros", trainable=False)
        self.not_padding = tf.constant(np.arange(self.size) != PADDING_ROW, tf.float32)
        self.penalty_weights = tf.constant(penalty_weights(self.layout, self.size), tf.float32)

    @classmethod
    def from_layout(cls, layout: Layout, **kwargs) -> OptFsGate:
        return cls(layout, **kwargs)

    def values(self) -> tf.Tensor:
        """[size]: every gate's value in the current mode (padding always 1)."""
        soft = tf.sigmoid(self.tau * self.logits) / tf.sigmoid(tf.constant(self.m0))
        hard = tf.cast(self.logits > 0, soft.dtype)
        gates = self.hard * tf.stop_gradient(hard) + (1.0 - self.hard) * soft
        return self.not_padding * gates + (1.0 - self.not_padding)

    def call(self, gate_ids: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        values = self.values()
        penalty = self.penalty * tf.reduce_sum(self.penalty_weights * tf.sigmoid(self.tau * self.logits))
        self.add_loss((1.0 - self.hard) * penalty)
        return {name: tf.gather(values, ids) for name, ids in gate_ids.items()}

    def freeze(self) -> None:
        """Retraining: hard gates 1[m > 0], the logits no longer trained."""
        self.hard.assign(1.0)
        self.trainable = False

    def mask(self) -> np.ndarray:
        """[size] bool: the gates kept (m > 0); padding always."""
        kept = self.logits.numpy() > 0
        kept[PADDING_ROW] = True
        return kept

    def feature_masks(self) -> dict[str, FeatureMask]:
        """What the mask keeps of each feature, for `features.embedding.pruning`."""
        kept = self.mask()
        masks = {}
        for name, spec in self.layout.features.items():
            head = kept[spec.head_offset: spec.head_offset + spec.head_rows] if spec.head_rows else np.zeros(0, bool)
            missing = bool(kept[spec.missing_row]) if spec.missing_row is not None else None
            masks[name] = FeatureMask(head=tuple(bool(k) for k in head), missing=missing,
                                      tail=bool(kept[self.tail_gates[name]]))
        return masks

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layout": self.layout.to_dict(), "penalty": self.penalty, "m0": self.m0}


@tf.keras.utils.register_keras_serializable(package="featureplex")
class GatedEmbedding(tf.keras.layers.Layer):
    """A MultiplexedEmbedding whose every lookup is multiplied by its OptFS gate; same input and output."""

    def __init__(self, embedding: tf.keras.layers.Layer, gate: OptFsGate, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.gate = gate

    def call(self, ids: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        embeddings, masks = self.embedding(ids)
        gates = self.gate(gate_indices(self.gate.layout, ids))
        return {name: value * tf.cast(gates[name], value.dtype)[..., None] for name, value in embeddings.items()}, masks

    def get_config(self) -> dict[str, Any]:
        serialize = tf.keras.layers.serialize
        return {**super().get_config(), "embedding": serialize(self.embedding), "gate": serialize(self.gate)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GatedEmbedding:
        config = dict(config)
        config["embedding"] = tf.keras.layers.deserialize(config["embedding"])
        config["gate"] = tf.keras.layers.deserialize(config["gate"])
        return cls(**config)


class OptFsCtrModel(CtrModel):
    """A CtrModel whose gate logits have their own Adam (no weight decay); everything else the compiled optimizer.

    The gate optimizer is an attribute of the model, so `tf.train.Checkpoint(model=model)` saves and
    restores its slots with the rest (resume after a kill continues the search exactly).
    """

    def __init__(self, encoder: tf.keras.layers.Layer, tower: tf.keras.layers.Layer, gate: OptFsGate,
                 gate_learning_rate: float = 1e-3, **kwargs):
        super().__init__(encoder, tower, **kwargs)
        self.gate = gate
        self.gate_optimizer = tf.keras.optimizers.Adam(gate_learning_rate)

    def train_step(self, inputs):
        with tf.GradientTape() as tape:
            loss, regularization_loss, total_loss = self.losses_of(inputs)
        gate_variables = list(self.gate.trainable_variables)
        gate_refs = {variable.ref() for variable in gate_variables}
        others = [variable for variable in self.trainable_variables if variable.ref() not in gate_refs]
        gradients = tape.gradient(total_loss, others + gate_variables)
        self.optimizer.apply_gradients(zip(gradients[: len(others)], others))
        if gate_variables:
            self.gate_optimizer.apply_gradients(zip(gradients[len(others):], gate_variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics


def temperature(epoch: int, search_epochs: int, final_tau: float) -> float:
    """tau at the start of `epoch`: final_tau^(epoch / (search_epochs - 1)), final_tau from the last search epoch on."""
    return float(final_tau ** (min(epoch, search_epochs - 1) / (search_epochs - 1)))


def non_gate_weights(model: tf.keras.Model, gate: OptFsGate) -> list[tf.Variable]:
    gate_refs = {variable.ref() for variable in gate.weights}
    return [variable for variable in model.weights if variable.ref() not in gate_refs]


def save_snapshot(model: tf.keras.Model, gate: OptFsGate, path: str | os.PathLike) -> None:
    """The non-gate weights (trainable and not) to an .npz, written to a temporary file and renamed."""
    path = Path(path)
    arrays = {f"w{index}": variable.numpy() for index, variable in enumerate(non_gate_weights(model, gate))}
    temporary = path.with_name(f".{path.name}.tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def rewind(model: tf.keras.Model, gate: OptFsGate, path: str | os.PathLike) -> None:
    """Assign the snapshot of `save_snapshot` back to the non-gate weights (the gates keep their values)."""
    variables = non_gate_weights(model, gate)
    with np.load(path) as arrays:
        if len(arrays.files) != len(variables):
            raise ValueError(f"{path}: {len(arrays.files)} weights, the model has {len(variables)}")
        for index, variable in enumerate(variables):
            variable.assign(arrays[f"w{index}"])


class OptFsContinuation(tf.keras.callbacks.Callback):
    """Learning by continuation, resume-safe: the epoch comes from the gate's checkpointed counter.

    At the start of search epoch e: tau = final_tau^(e / (search_epochs - 1)), and at e ==
    rewind_epoch the non-gate weights are saved to `rewind_path` (the weights training would rewind
    to: rewind_epoch 0 is the initialisation). At the end of an epoch the counter moves on.
    """

    def __init__(self, gate: OptFsGate, search_epochs: int = 20, final_tau: float = 200.0, rewind_epoch: int = 0,
                 rewind_path: str | os.PathLike | None = None):
        super().__init__()
        self.gate = gate
        self.search_epochs = search_epochs
        self.final_tau = final_tau
        self.rewind_epoch = rewind_epoch
        self.rewind_path = rewind_path

    def on_epoch_begin(self, epoch, logs=None):
        current = int(self.gate.epoch.numpy())
        self.gate.tau.assign(temperature(current, self.search_epochs, self.final_tau))
        if current == self.rewind_epoch and self.rewind_path is not None:
            save_snapshot(self.model, self.gate, self.rewind_path)

    def on_epoch_end(self, epoch, logs=None):
        self.gate.epoch.assign_add(1)
        if logs is not None:
            logs["optfs_tau"] = float(self.gate.tau.numpy())
            logs["optfs_kept_share"] = float(self.gate.mask()[1:].mean())
