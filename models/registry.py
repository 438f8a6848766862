"""Model names users pass to `featureplex train --model NAME`, and what each builds.

A tower model is `CtrModel(FieldEncoder, tower)`: the tower sees the fields with every sequence
mean-pooled. A sequence model replaces that pooling with a model of the history (`SequenceFields`)
and puts a DNN head on top: `din` (target attention) and `hstu` (the candidate appended to the
history in an HSTU stack).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from features.errors import InputError
from models.autoint import AutoIntTower
from models.ctr_model import CtrModel
from models.dcn import DcnTower
from models.din import DinFields
from models.dnn import DnnTower
from models.hstu import HstuFields
from models.logistic import LogisticTower

TOWERS: dict[str, Callable[..., tf.keras.layers.Layer]] = {
    "lr": LogisticTower,
    "dnn": DnnTower,
    "dcn": DcnTower,
    "autoint": AutoIntTower,
    "autoint+": lambda **kwargs: AutoIntTower(**{"dnn_units": (256, 128), **kwargs}),
}


def build_din(encoder, sequence_timestamps: Mapping[str, str], hidden_units: Sequence[int] = (256, 128),
              activation: str = "relu", dropout: float = 0.0, **attention) -> CtrModel:
    """DIN: target-attention fields, then the DNN's head (256-128, ReLU) to the logit.

    The paper's head is 200-80 with Dice (`hidden_units: [200, 80], activation: dice`); the DNN's
    head by default keeps the comparison with it about the attention alone (models/din.py says why
    ReLU is the default activation).
    """
    return CtrModel(DinFields(encoder, **attention), DnnTower(hidden_units, dropout, activation=activation))


def build_hstu(encoder, sequence_timestamps: Mapping[str, str], hidden_units: Sequence[int] = (256, 128),
               dropout: float = 0.0, sequence: str | None = None, **stack) -> CtrModel:
    """HSTU for CTR: the candidate's HSTU output among the fields, then the DNN head.

    The sequences sharing `sequence`'s timestamp list are its side information (summed into its tokens).
    """
    sequence = sequence or (encoder.sequence_names[0] if encoder.sequence_names else None)
    timestamps = sequence_timestamps.get(sequence)
    side = [name for name in encoder.sequence_names if name != sequence and timestamps
            and sequence_timestamps.get(name) == timestamps]
    fields = HstuFields(encoder, sequence, timestamps, dropout=dropout, side_sequences=side, **stack)
    return CtrModel(fields, DnnTower(hidden_units, dropout))


SEQUENCE_MODELS: dict[str, Callable[..., CtrModel]] = {"din": build_din, "hstu": build_hstu}
MODEL_NAMES = [*TOWERS, *SEQUENCE_MODELS]


def check_model_name(name: str) -> None:
    if name not in TOWERS and name not in SEQUENCE_MODELS:
        raise InputError(f"model '{name}': unknown (choose one of {', '.join(MODEL_NAMES)})")


def build_tower(name: str, parameters: dict[str, Any] | None = None) -> tf.keras.layers.Layer:
    """The tower for `name` with its parameters; unknown names and parameters are input errors."""
    if name not in TOWERS:
        raise InputError(f"model '{name}': unknown (choose one of {', '.join(TOWERS)})")
    try:
        return TOWERS[name](**(parameters or {}))
    except TypeError as error:
        raise InputError(f"model '{name}': bad parameters ({error})") from None


def build_ctr_model(name: str, encoder, parameters: dict[str, Any] | None = None,
                    sequence_timestamps: Mapping[str, str] | None = None) -> CtrModel:
    """The whole model for `name` over a FieldEncoder; `sequence_timestamps` maps a sequence to its timestamp list."""
    check_model_name(name)
    if name in TOWERS:
        return CtrModel(encoder, build_tower(name, parameters))
    try:
        return SEQUENCE_MODELS[name](encoder, dict(sequence_timestamps or {}), **(parameters or {}))
    except TypeError as error:
        raise InputError(f"model '{name}': bad parameters ({error})") from None
