"""The featureplex YAML config, validated by pydantic.

Unknown keys and wrong types are errors naming the key (`rank.shuffles: ...`). Columns named here
are checked against the data by `features.data.schema.resolve_schema`.

Example::

    dataset: data/clicks/*.parquet
    label: label
    timestamp: timestamp
    user: user_id
    features:
      history_item_ids: {kind: sequence, shares_with: item_id, timestamps: history_timestamps}
      noise_row_id: {role: ignore}
    rank: {heuristic: mi-chance, chance: closed-form}
    vocab: {mode: hybrid, dimension: 16}
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from featureplex.features.errors import InputError


class StrictModel(BaseModel):
    """Rejects unknown keys: a typo in a config must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FeatureConfig(StrictModel):
    """Overrides for one column: its kind, whether to use it, and its vocabulary options."""

    kind: Literal["categorical", "numeric", "sequence"] | None = None
    role: Literal["feature", "ignore"] = "feature"
    shares_with: str | None = Field(None, description="sequence only: the categorical feature whose vocabulary it uses")
    timestamps: str | None = Field(None, description="sequence only: the list<timestamp> column paired with it")
    min_count: int | None = Field(None, ge=1)
    top_k: int | None = Field(None, ge=0)
    chunks: int | None = Field(None, ge=1)


DEFAULT_SHUFFLES = 8


class RankParams(StrictModel):
    """Parameters of the rank stage (DESIGN.md section 3)."""

    heuristic: Literal["mi-chance", "mi", "outrank-compat"] = "mi-chance"
    chance: Literal["closed-form", "shuffles"] = Field(
        "closed-form",
        description="chance MI baseline: exact from the counts (features.scoring.chance_mi), or the mean and spread over "
        "`shuffles` shuffled labels",
    )
    # declared after `chance`, which its validator reads; always an int once validated
    shuffles: int | None = Field(
        None, ge=0, le=64, validate_default=True,
        description=f"R: shuffled copies of the label counted for the chance baseline; only with chance: shuffles "
        f"(default {DEFAULT_SHUFFLES} there), 0 with the closed form, whose passes count none",
    )
    top_k_interactions: int = Field(20, ge=0)
    numeric_bins: int = Field(32, ge=2)
    cardinality_cap: int = Field(100_000, ge=1, description="exact counts up to this many values, then hashed")
    hash_buckets: int = Field(65_536, ge=2)
    batch_rows: int = Field(65_536, ge=1)
    seed: int = 0
    id_like_ratio: float = Field(0.5, gt=0, le=1, description="categorical with distinct values >= this share of rows is ID-like")
    significance_z: float = Field(3.0, ge=0, description="informative alone: score > z * std of the shuffled-label MI")
    pair_cardinality_cap: int = Field(1024, ge=2, description="features with more cells stay out of the interaction pool")
    redundancy_threshold: float = Field(0.5, gt=0, le=1, description="MI(a;b)/min(H(a),H(b)) from which a pair is redundant")
    max_selected: int = Field(50, ge=1, description="most features the greedy selection recommends")
    interaction_gain: float = Field(0.005, ge=0, description="both features of a pair with this interaction gain "
                                    "(nats) join the recommended features (an XOR pair means nothing alone)")
    near_constant_share: float = Field(0.99, gt=0, le=1)
    missing_rate_threshold: float = Field(0.5, gt=0, le=1)
    leakage_threshold: float = Field(0.5, gt=0, le=1, description="MI/H(label) from which a feature is flagged as leakage")
    rare_count: int = Field(5, ge=1, description="a value seen fewer times than this is rare")
    rare_share_threshold: float = Field(0.5, gt=0, le=1)
    drift_window: float = Field(0.1, gt=0, le=0.5, description="share of the time range in each drift window")
    drift_cells: int = Field(32, ge=1, description="most frequent values kept apart when measuring drift")
    drift_threshold: float = Field(0.05, gt=0, le=1, description="Jensen-Shannon divergence (base 2) flagged as drift")
    drift_min_rows: int = Field(100, ge=1, description="rows each window needs for a drift estimate")

    @field_validator("shuffles")
    @classmethod
    def _shuffles_only_to_estimate_chance(cls, value: int | None, info: ValidationInfo) -> int:
        """The passes count `shuffles` label copies: none unless the chance baseline is estimated from them."""
        if info.data.get("chance") != "shuffles":
            if value:
                raise PydanticCustomError(
                    "shuffles_unused",
                    "rank.shuffles counts shuffled labels only with rank.chance: shuffles; the default closed-form chance "
                    "baseline needs none (drop rank.shuffles, or set rank.chance: shuffles)",
                )
            return 0
        if value is None:
            return DEFAULT_SHUFFLES
        if value < 1:
            raise PydanticCustomError("shuffles_missing", "rank.chance: shuffles needs rank.shuffles >= 1")
        return value


class VocabParams(StrictModel):
    """Parameters of the vocab stage (DESIGN.md section 4)."""

    mode: Literal["hybrid", "hashing", "separate", "collisionless"] = Field(
        "hybrid", description="hybrid: under a budget (or with tail_share), a head of the most frequent values and a hashed "
                              "tail; with neither, laid out collisionless. collisionless: a row per value seen min_count times "
                              "and an out-of-vocabulary row per feature, no budget")
    dimension: int = Field(16, ge=1)
    min_count: int = Field(2, ge=1, description="occurrences a value needs for a row of its own (1: every value seen)")
    top_k: int | None = Field(None, ge=0)
    chunks: int = Field(2, ge=1)
    budget_rows: int | None = Field(None, ge=1)
    budget_parameters: int | None = Field(None, ge=1)
    tail_share: float | None = Field(
        None, gt=0, lt=1,
        description="hybrid: the share of the budget's rows kept for the hashed tail; null: the head size that serves the "
                    "most occurrences, from the counts (features.embedding.head_budget)")
    seed: int = 0


# The models `train.model` names (models.assembly builds each; a test keeps the two lists equal).
MODEL_NAMES = ("lr", "dnn", "dcn", "autoint", "autoint+", "deepfm", "din", "hstu")
# train.embedding_l2's default where every kept value has its own row (benchmarks/README.md, "The default
# embedding L2": the value whose largest shortfall against each real data set's best was smallest)
OWN_ROWS_EMBEDDING_L2 = 3e-3


class TrainParams(StrictModel):
    """Parameters of the train stage (DESIGN.md section 6); FuxiCTR's name or value where it has one."""

    model: Literal[MODEL_NAMES] = "dnn"
    model_parameters: dict[str, Any] = Field(
        default_factory=dict, description="the model's own arguments (README: model parameters); an unknown key is an error")
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(1024, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    learning_rate_decay: float = Field(0.9, gt=0, le=1, description="per-epoch factor: lr_0 * decay^epoch")
    plateau_factor: float = Field(
        1.0, gt=0, le=1,
        description="multiply the learning rate by this after every `plateau_patience` evaluations without a better "
                    "validation AUC (FuxiCTR's reduce_lr_on_plateau: 0.1); 1: no plateau cuts")
    plateau_patience: int = Field(1, ge=1, description="evaluations without a better validation AUC before a plateau cut (FuxiCTR: 1)")
    min_learning_rate: float = Field(1e-6, ge=0, description="plateau cuts stop at this learning rate (FuxiCTR: 1e-6)")
    patience: int = Field(2, ge=1, description="evaluations without a better validation AUC before stopping (FuxiCTR's early_stop_patience)")
    early_stopping: bool = Field(
        True, description="false: fixed-epoch mode, every epoch runs and the last weights are kept (not the best evaluation's)")
    eval_steps: int | None = Field(
        None, ge=1,
        description="also evaluate every this many training steps (FuxiCTR's eval_steps): early stopping, best weights "
                    "and plateau cuts then act on those evaluations too; null: at the end of each epoch only")
    gradient_clip_norm: float | None = Field(
        None, gt=0, description="clip the global norm of all gradients to this (FuxiCTR clips at 10); null: no clipping")
    adam_epsilon: float = Field(1e-7, gt=0, description="Adam's epsilon (Keras 1e-7; PyTorch's, FuxiCTR's, 1e-8)")
    validation: str | None = Field(
        None, description="a Parquet file, directory or glob to validate on (early stopping, best weights, plateau cuts): "
                          "the whole of the training data then trains, and validation_fraction / split_time are not used")
    test: str | None = Field(
        None, description="a Parquet file, directory or glob evaluated once after training with the kept weights: "
                          "test_auc, test_logloss, test_gauc, test_calibration in metrics.json, the model card and MLflow")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="the share of the data's rows validated on (0: only with `validation`)")
    split_time: datetime | None = Field(None, description="validate on rows at or after this time instead")
    shuffle_rows: int = Field(262_144, ge=1)
    embedding_l2: float | None = Field(
        None, ge=0, lt=1,
        description="lambda of (lambda / 2) * sum(T^2) over the whole embedding table, every step: FuxiCTR's "
                    "embedding_regularizer (its (lambda / p) * ||T||_p^p with p = 2), so the same number means the same penalty. "
                    "null (the default): 3e-3 when every kept value has a row of its own (the collisionless layout, which a "
                    "hybrid layout without a budget is), pulling the rows of rare values towards zero where the model can "
                    "tell them apart (without it the synthetic and Amazon models memorised rare IDs); 0 when values share "
                    "hashed rows (a budget, tail_share, hashing, separate), where it cost hybrid its lead over hashing",
    )
    embedding_initializer: Literal["normal", "uniform"] = Field(
        "uniform", description="normal: N(0, scale^2), FuxiCTR's; uniform: U(-scale, scale), Keras'. The padding row starts at zero")
    embedding_init_scale: float | None = Field(
        None, gt=0, description="std of `normal` or bound of `uniform`; null: 1e-4 for normal (FuxiCTR), 0.05 for uniform (Keras)")
    seed: int = 0

    def embedding_l2_on(self, layout_mode: str) -> float:
        """The embedding penalty on a layout of this mode: `embedding_l2`, or its default (the field's description)."""
        if self.embedding_l2 is not None:
            return self.embedding_l2
        return OWN_ROWS_EMBEDDING_L2 if layout_mode == "collisionless" else 0.0

    @field_validator("validation_fraction")
    @classmethod
    def _rows_to_validate_on(cls, value: float, info: ValidationInfo) -> float:
        """A validation fraction of 0 leaves no rows to validate on unless a validation file is given."""
        if value == 0 and not info.data.get("validation"):
            raise PydanticCustomError("no_validation_rows", "0 leaves no rows to validate on; give train.validation (a validation file) or a fraction above 0")
        return value


class OptFsParams(StrictModel):
    """OptFS feature selection (DESIGN.md section 5): `featureplex train --select optfs` or `run.select: optfs`."""

    penalty: float = Field(1e-4, gt=0, le=1, description="lambda: weight of the sum of all gates in the search loss")
    final_tau: float = Field(200.0, gt=1, description="temperature at the last search epoch (tau starts at 1)")
    search_epochs: int = Field(20, ge=2)
    search_steps: int = Field(
        0, ge=0, description="at least this many gate updates: on small data the search runs more epochs than search_epochs "
                             "(a gate the data does not hold up closes after m0 / gate_learning_rate = 500 updates); with the "
                             "default penalty 1,000 pruned 80-95% of the embedding on the real data sets and cost 0.005-0.13 "
                             "test AUC: lower optfs.penalty with it")
    rewind_epoch: int = Field(0, ge=0, description="the other weights rewind to their values at the start of this search epoch")
    gate_learning_rate: float = Field(1e-3, gt=0, description="Adam (no weight decay) on the gate logits")

    @model_validator(mode="after")
    def _rewind_within_search(self) -> "OptFsParams":
        if self.rewind_epoch >= self.search_epochs:
            raise ValueError(f"optfs.rewind_epoch {self.rewind_epoch} must be less than optfs.search_epochs {self.search_epochs}")
        return self


class RunParams(StrictModel):
    """Parameters of `featureplex run` (the end-to-end flow)."""

    out: str = "featureplex-run"
    features: list[str] | None = Field(None, description="train on exactly these; default: chosen from the rank stage")
    register_name: str | None = Field("featureplex-ctr", description="registered model name; null: do not register")
    alias: str = "champion"
    select: Literal["none", "optfs"] = Field(
        "none", description="optfs: learn gates on every feature value (section `optfs`), prune the layout, train on it")


class FeatureplexConfig(StrictModel):
    """A whole config file. Every section is optional; defaults apply."""

    dataset: str | None = None
    label: str | None = None
    timestamp: str | None = None
    user: str | None = Field(None, description="user column for grouped AUC")
    features: dict[str, FeatureConfig] = Field(default_factory=dict)
    rank: RankParams = Field(default_factory=RankParams)
    vocab: VocabParams = Field(default_factory=VocabParams)
    train: TrainParams = Field(default_factory=TrainParams)
    run: RunParams = Field(default_factory=RunParams)
    optfs: OptFsParams = Field(default_factory=OptFsParams)


def _error_line(source: str, error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    return f"{source}: key '{key}': {first['msg']} (got {first.get('input')!r})"


def parse_config(payload: object, source: str = "config") -> FeatureplexConfig:
    """Validate an already-parsed mapping."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InputError(f"{source}: expected a mapping of keys at the top level, got {type(payload).__name__}")
    try:
        return FeatureplexConfig.model_validate(payload)
    except ValidationError as error:
        raise InputError(_error_line(source, error)) from None


def load_config(path: str | Path | None) -> FeatureplexConfig:
    """Read and validate a YAML config (safe loader); no path gives the defaults."""
    if path is None:
        return FeatureplexConfig()
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: config file not found")
    try:
        payload = yaml.safe_load(source.read_text())
    except yaml.YAMLError as error:
        raise InputError(f"{source}: not valid YAML ({str(error).splitlines()[0]})") from None
    return parse_config(payload, str(source))
