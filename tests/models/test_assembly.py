"""The model parameters users read are the ones the models accept: generated from the constructors, every one
accepted, every other key an input error naming it; `wide` and DeepFM's wide default."""

import re

import pytest

from featureplex.features.errors import InputError
from featureplex.models.assembly import (
    MODEL_NAMES,
    SEQUENCE_MODELS,
    TOWERS,
    build_ctr_model,
    build_tower,
    model_parameters,
    parameter_reference,
)
from featureplex.models.towers.deepfm import DeepFmTower
from featureplex.models.towers.dnn import DnnTower
from featureplex.models.towers.wide import WideTower
from tests.models.sequence_fixtures import field_encoder

TIMESTAMPS = {"history_item_ids": "history_timestamps"}


def build(name, parameters):
    if name in TOWERS:
        return build_tower(name, parameters)
    return build_ctr_model(name, field_encoder(), parameters, TIMESTAMPS)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_documented_parameter_is_accepted_with_its_default(name):
    parameters = {p.name: p.default for p in model_parameters(name)}
    build(name, parameters)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_other_key_is_an_input_error_naming_it(name):
    for key in ("depth", "name", "trainable", "encoder", "timestamps"):  # Keras' and the builders' own included
        with pytest.raises(InputError, match=re.escape(f"model '{name}': unknown parameter '{key}'")):
            build(name, {key: 1})


def test_the_documented_defaults_are_the_constructors():
    dnn = {p.name: p.default for p in model_parameters("dnn")}
    assert dnn == {"hidden_units": (256, 128), "dropout": 0.0, "batch_norm": False, "activation": "relu",
                   "batch_norm_momentum": 0.9, "wide": False}
    assert {p.name: p.default for p in model_parameters("autoint+")}["dnn_units"] == (256, 128)
    assert [p.name for p in model_parameters("din")][:3] == ["hidden_units", "activation", "dropout"]
    assert {"max_length", "blocks", "sequence"} <= {p.name for p in model_parameters("hstu")}
    assert not {"timestamps", "side_sequences", "encoder"} & {p.name for p in model_parameters("hstu")}


def test_the_reference_lists_every_parameter_of_every_model():
    reference = parameter_reference()
    for name in MODEL_NAMES:
        for parameter in model_parameters(name):
            assert f"| `{name}` | `{parameter.name}` | `{parameter.type}` |" in reference
    assert "| `deepfm` | `wide` | `bool` | `true` |" in reference
    assert "| `dcn` | `projection_dim` | `int or null` | `null` |" in reference
    assert set(SEQUENCE_MODELS) <= set(MODEL_NAMES)


def test_wide_wraps_any_tower_and_deepfm_has_it_by_default():
    assert isinstance(build_tower("deepfm"), WideTower) and isinstance(build_tower("deepfm").tower, DeepFmTower)
    assert isinstance(build_tower("deepfm", {"wide": False}), DeepFmTower)
    assert isinstance(build_tower("dnn"), DnnTower) and isinstance(build_tower("dnn", {"wide": True}).tower, DnnTower)
    with pytest.raises(InputError, match="parameter 'wide' must be true or false"):
        build_tower("dnn", {"wide": "yes"})
