"""Model names users pass to `featureplex train --model NAME`, and the tower each builds."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from features.errors import InputError
from models.autoint import AutoIntTower
from models.dcn import DcnTower
from models.dnn import DnnTower
from models.logistic import LogisticTower

TOWERS: dict[str, Callable[..., tf.keras.layers.Layer]] = {
    "lr": LogisticTower,
    "dnn": DnnTower,
    "dcn": DcnTower,
    "autoint": AutoIntTower,
    "autoint+": lambda **kwargs: AutoIntTower(**{"dnn_units": (256, 128), **kwargs}),
}


def build_tower(name: str, parameters: dict[str, Any] | None = None) -> tf.keras.layers.Layer:
    """The tower for `name` with its parameters; unknown names and parameters are input errors."""
    if name not in TOWERS:
        raise InputError(f"model '{name}': unknown (choose one of {', '.join(TOWERS)})")
    try:
        return TOWERS[name](**(parameters or {}))
    except TypeError as error:
        raise InputError(f"model '{name}': bad parameters ({error})") from None
