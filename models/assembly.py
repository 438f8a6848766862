"""Model assembly: `build_model` turns a vocab artifact's layout, the data's schema and the training
parameters into a CTR model (optionally with OptFS gates), for training and OptFS alike; and the model
names users pass to `featureplex train --model NAME`, what each builds, and the parameters each takes.

A tower model is `CtrModel(FieldEncoder, tower)`: the tower sees the fields with every sequence
mean-pooled; `wide: true` adds a wide (LR) part to any tower (`WideTower`). A sequence model replaces
that pooling with a model of the history (`SequenceFields`) and puts a DNN head on top: `din` (target
attention) and `hstu` (the candidate appended to the history in an HSTU stack).

The parameters a model accepts are read from its constructors' signatures (`model_parameters`), so the
reference users read (`parameter_reference`) and the check of their `model_parameters` (an unknown key
is an input error naming it) cannot drift from the code.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from featureplex.features.data.config import TrainParams
from featureplex.features.data.schema import DatasetSchema
from featureplex.features.embedding.layout import Layout
from featureplex.features.errors import InputError
from featureplex.models.ctr_model import CtrModel
from featureplex.models.layers.embedding_table import table_initializer, table_regularizer
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.numeric_fields import NumericFields
from featureplex.models.layers.preprocessing import FeaturePreprocessing
from featureplex.models.optfs.gate import GatedEmbedding, OptFsGate
from featureplex.models.sequence.din import DinFields
from featureplex.models.sequence.hstu import HstuFields
from featureplex.models.towers.autoint import AutoIntTower
from featureplex.models.towers.dcn import DcnTower
from featureplex.models.towers.deepfm import DeepFmTower
from featureplex.models.towers.dnn import DnnTower
from featureplex.models.towers.logistic import LogisticTower
from featureplex.models.towers.wide import WideTower

TOWERS: dict[str, Callable[..., tf.keras.layers.Layer]] = {
    "lr": LogisticTower,
    "dnn": DnnTower,
    "dcn": DcnTower,
    "autoint": AutoIntTower,
    "autoint+": functools.partial(AutoIntTower, dnn_units=(256, 128)),
    "deepfm": DeepFmTower,
}
WIDE = "wide"
WIDE_BY_DEFAULT = {"deepfm"}  # FuxiCTR's FactorizationMachine is the LR term plus the pairwise one


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
SEQUENCE_FIELDS = {"din": DinFields, "hstu": HstuFields}  # where each builder's **kwargs go
SET_BY_BUILDERS = {"encoder", "sequence_timestamps", "timestamps", "side_sequences"}  # not the user's to give
MODEL_NAMES = [*TOWERS, *SEQUENCE_MODELS]


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # the constructor's annotation
    default: Any


def _signature_parameters(function: Callable, skip: set[str]) -> list[Parameter]:
    return [Parameter(p.name, str(p.annotation).replace("Sequence[", "list[").replace(" | None", " or null"), p.default)
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in skip]


def model_parameters(name: str) -> list[Parameter]:
    """Every parameter model `name` accepts in `model_parameters`, with its type and default, in constructor order."""
    check_model_name(name)
    if name in TOWERS:
        return [*_signature_parameters(TOWERS[name], set()), Parameter(WIDE, "bool", name in WIDE_BY_DEFAULT)]
    own = _signature_parameters(SEQUENCE_MODELS[name], SET_BY_BUILDERS)
    forwarded = _signature_parameters(SEQUENCE_FIELDS[name], SET_BY_BUILDERS | {p.name for p in own})
    return own + forwarded


def _summary(name: str) -> str:
    built = TOWERS.get(name) or SEQUENCE_FIELDS[name]
    if isinstance(built, functools.partial):
        return f"{_summary_line(built.func)} With {json.dumps(built.keywords)}."
    return _summary_line(built)


def _summary_line(built: Callable) -> str:
    return inspect.getdoc(built).splitlines()[0]


def parameter_reference() -> str:
    """The README's table of every model's parameters (Markdown), generated from the constructors."""
    lines = ["| model | parameter | type | default |", "| --- | --- | --- | --- |"]
    for name in MODEL_NAMES:
        for parameter in model_parameters(name):
            default = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
            lines.append(f"| `{name}` | `{parameter.name}` | `{parameter.type}` | `{json.dumps(default)}` |")
    summaries = [f"- `{name}`: {_summary(name)}" for name in MODEL_NAMES]
    return "\n".join(summaries + [""] + lines) + "\n"


def check_model_name(name: str) -> None:
    if name not in TOWERS and name not in SEQUENCE_MODELS:
        raise InputError(f"model '{name}': unknown (choose one of {', '.join(MODEL_NAMES)})")


def check_model_parameters(name: str, parameters: Mapping[str, Any]) -> None:
    """Every key of `parameters` must be one `model_parameters(name)` lists."""
    accepted = [parameter.name for parameter in model_parameters(name)]
    for key in parameters:
        if key not in accepted:
            raise InputError(f"model '{name}': unknown parameter '{key}' (accepted: {', '.join(accepted)})")
    if not isinstance(parameters.get(WIDE, False), bool):
        raise InputError(f"model '{name}': parameter '{WIDE}' must be true or false (got {parameters[WIDE]!r})")


def _bad_parameters(name: str, error: Exception) -> InputError:
    return InputError(f"model '{name}': bad parameters ({error})")


def build_tower(name: str, parameters: Mapping[str, Any] | None = None) -> tf.keras.layers.Layer:
    """The tower for `name` with its parameters; unknown names and parameters are input errors."""
    if name not in TOWERS:
        raise InputError(f"model '{name}': unknown (choose one of {', '.join(TOWERS)})")
    parameters = dict(parameters or {})
    check_model_parameters(name, parameters)
    wide = parameters.pop(WIDE, name in WIDE_BY_DEFAULT)
    try:
        tower = TOWERS[name](**parameters)
    except (TypeError, ValueError) as error:
        raise _bad_parameters(name, error) from None
    return WideTower(tower) if wide else tower


def build_ctr_model(name: str, encoder, parameters: Mapping[str, Any] | None = None,
                    sequence_timestamps: Mapping[str, str] | None = None) -> CtrModel:
    """The whole model for `name` over a FieldEncoder; `sequence_timestamps` maps a sequence to its timestamp list."""
    check_model_name(name)
    if name in TOWERS:
        return CtrModel(encoder, build_tower(name, parameters))
    check_model_parameters(name, parameters or {})
    try:
        return SEQUENCE_MODELS[name](encoder, dict(sequence_timestamps or {}), **(parameters or {}))
    except (TypeError, ValueError) as error:
        raise _bad_parameters(name, error) from None


def build_model(layout: Layout, vocabularies: Mapping[str, Sequence[str]], schema: DatasetSchema, params: TrainParams,
                numeric: NumericFields | None = None, gate: OptFsGate | None = None) -> CtrModel:
    """The CTR model `params.model` over the multiplexed embedding of `layout`, initialised and
    L2-penalised as `params` say.

    `numeric`: the numeric fields with their normalisation (from the training rows' moments). `gate`:
    OptFS gates on every embedding lookup (the embedding is wrapped in `GatedEmbedding`).
    """
    embedding = MultiplexedEmbedding.from_layout(
        layout, embeddings_initializer=table_initializer(params.embedding_initializer, params.embedding_init_scale),
        embeddings_regularizer=table_regularizer(params.embedding_l2_on(layout.mode)))
    if gate is not None:
        embedding = GatedEmbedding(embedding, gate)
    fields = FieldEncoder(FeaturePreprocessing(layout, vocabularies), embedding, numeric)
    timestamps = {spec.name: spec.timestamps for spec in schema.features if spec.timestamps}
    return build_ctr_model(params.model, fields, params.model_parameters, timestamps)
