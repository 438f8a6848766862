"""`featureplex run`: profile -> rank -> select -> vocab -> train (+ export) -> register, as one MLflow run.

Each stage writes its artifact under `out/<stage>` and, once it is complete, a key file holding the
hash of everything the stage depends on (data fingerprint, its parameters, the keys of the stages it
reads). A stage whose artifact carries the current key is skipped; `force` redoes everything. The
train stage also writes its key before it starts, so a killed run resumes its checkpoints instead of
starting over. Stage artifacts are written atomically, so a kill at any point leaves whole artifacts
or none.

Feature selection: the rank stage's recommended list, plus both features of every pair whose
interaction gain reaches `run.interaction_gain` (an XOR pair means nothing alone), minus features
flagged as leakage, constant or ID-like. The rank stage cannot score a history, so every sequence is
kept, with the feature whose rows it shares (the model, or OptFS, decides what it is worth).
`run.features` in the config replaces all of this with an explicit list.

With `run.select: optfs` the train stage is `featureplex train --select optfs`: OptFS learns a gate per
feature value on the vocab stage's layout, the pruned layout is written under `train/pruned_vocab`
and the exported model (`train/final`) is trained on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from features.artifacts import write_json
from features.config import FeatureConfig, FeatureplexConfig
from features.errors import InputError
from features.schema import Kind, resolve_schema
from pipelines.command_inputs import CommandInputs, resolve_inputs
from pipelines.optfs_flow import FINAL, PRUNED_VOCAB, SELECTION

KEY_FILE = ".featureplex-key"
PENDING_KEY_FILE = ".featureplex-key.pending"
EXCLUDING_ANOMALIES = ("label_leakage", "constant", "id_like")


@dataclass
class RunSummary:
    out: Path
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "ran" | "skipped"
    top_features: list[tuple[str, float]] = field(default_factory=list)
    kept_features: list[str] = field(default_factory=list)
    parameters: int = 0
    parameters_before_optfs: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str = ""
    run_id: str = ""


def stage_key(stage: str, payload: dict) -> str:
    text = json.dumps({"stage": stage, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def is_current(directory: Path, key: str, marker: str = KEY_FILE) -> bool:
    path = directory / marker
    return path.is_file() and path.read_text().strip() == key


def mark(directory: Path, key: str, marker: str = KEY_FILE) -> None:
    temporary = directory / f"{marker}.tmp"
    temporary.write_text(key)
    os.replace(temporary, directory / marker)


def select_features(inputs: CommandInputs, rank_dir: Path) -> list[str]:
    """The features the model trains on, from the rank artifact (see the module docstring)."""
    import polars as pl

    run = inputs.config.run
    if run.features is not None:
        return list(run.features)
    recommended = json.loads((rank_dir / "selection.json").read_text())["recommended"]
    interactions = pl.read_parquet(rank_dir / "interactions.parquet")
    pairs = interactions.filter(pl.col("interaction_gain") >= run.interaction_gain)
    chosen = list(dict.fromkeys(recommended + [f for a, b in pairs.select("feature_a", "feature_b").iter_rows() for f in (a, b)]))
    anomalies = json.loads((rank_dir / "anomalies.json").read_text())["features"]
    excluded = {name for name, entry in anomalies.items() if set(entry["anomalies"]) & set(EXCLUDING_ANOMALIES)}
    chosen = [name for name in chosen if name not in excluded]
    sequences = [spec for spec in inputs.schema.features if spec.kind == Kind.SEQUENCE]
    shared = [spec.shares_with for spec in sequences if spec.shares_with]
    return list(dict.fromkeys(chosen + shared + [spec.name for spec in sequences]))


def restricted_config(config: FeatureplexConfig, schema, kept: Sequence[str]) -> FeatureplexConfig:
    """The config with every feature outside `kept` ignored: what vocab and train then see."""
    features = dict(config.features)
    for spec in schema.features:
        if spec.name not in kept:
            features[spec.name] = FeatureConfig(role="ignore")
    return config.model_copy(update={"features": features})


def _register(model_uri: str, name: str, alias: str) -> str:
    import mlflow

    from serving.mlflow_model import set_alias

    version = mlflow.register_model(model_uri, name).version
    set_alias(name, alias, version)
    return f"models:/{name}@{alias}"


def run_pipeline(
    config_path: str,
    out: str | None = None,
    data: str | None = None,
    label: str | None = None,
    force: bool = False,
    beam_args: Sequence[str] = (),
    on_stage: Callable[[str, str], None] = lambda stage, status: None,
) -> RunSummary:
    """Run every stage for the config at `config_path`; `on_stage(stage, 'start' | 'ran' | 'skipped')`."""
    import mlflow

    from pipelines.profile_pipeline import profile_columns
    from pipelines.rank_pipeline import rank
    from pipelines.tracking import flatten, log_artifacts, tracked_run
    from pipelines.vocab_pipeline import build_vocabulary

    inputs = resolve_inputs(data, config_path, label)
    config = inputs.config
    root = Path(out or config.run.out)
    root.mkdir(parents=True, exist_ok=True)
    data_path = data or config.dataset
    fingerprint = inputs.dataset.fingerprint()
    common = {"data": fingerprint, "label": inputs.schema.label, "features": config.model_dump(mode="json")["features"]}
    summary = RunSummary(root)

    def stage(name: str, key: str, work: Callable[[Path], Any], artifacts: Callable[[Path], list[Path]]) -> bool:
        directory = root / name
        if not force and is_current(directory, key):
            summary.stages[name] = "skipped"
            on_stage(name, "skipped")
            return False
        on_stage(name, "start")
        with tracked_run(name, tags={"featureplex.stage": name}, nested=True):
            mlflow.log_params(flatten({"key": key[:16]}))
            work(directory)
            log_artifacts(artifacts(directory), name)
        mark(directory, key)
        summary.stages[name] = "ran"
        on_stage(name, "ran")
        return True

    with tracked_run("featureplex-run", tags={"featureplex.stage": "run", "featureplex.data_fingerprint": fingerprint}) as parent:
        summary.run_id = parent.info.run_id
        mlflow.log_params(flatten({"dataset": str(data_path), "config": str(config_path)}))

        profile_key = stage_key("profile", common)
        stage("profile", profile_key,
              lambda d: profile_columns(data_path, config, d, label, beam_args),
              lambda d: [d / "profile.json"])

        rank_key = stage_key("rank", {**common, "rank": config.rank.model_dump(mode="json")})
        stage("rank", rank_key,
              lambda d: rank(data_path, config, d, label, beam_args),
              lambda d: [d / "report.html", d / "ranking.tsv", d / "anomalies.json", d / "selection.json"])
        kept = select_features(inputs, root / "rank")
        if not kept:
            raise InputError(f"{root / 'rank'}: no feature was selected (set `run.features` in the config)")
        selected = restricted_config(config, inputs.schema, kept)
        write_json(root / "selected_features.json", kept)
        (root / "selected_config.yaml").write_text(yaml.safe_dump(selected.model_dump(mode="json"), sort_keys=False))
        summary.kept_features = kept

        vocab_key = stage_key("vocab", {**common, "kept": kept, "vocab": config.vocab.model_dump(mode="json")})
        stage("vocab", vocab_key,
              lambda d: build_vocabulary(data_path, selected, d, beam_args, label),
              lambda d: [d / "layout.json"])

        summary.metrics, summary.model_uri = _train(inputs, selected, root, vocab_key, force, summary, on_stage)

        if config.run.register_name:
            register_key = stage_key("register", {"model": summary.model_uri, "name": config.run.register_name,
                                                  "alias": config.run.alias})
            registered = root / "register"
            registered.mkdir(exist_ok=True)
            if force or not is_current(registered, register_key):
                on_stage("register", "start")
                uri = _register(summary.model_uri, config.run.register_name, config.run.alias)
                (registered / "model_uri.txt").write_text(uri + "\n")
                mark(registered, register_key)
                summary.stages["register"] = "ran"
                on_stage("register", "ran")
            else:
                summary.stages["register"] = "skipped"
                on_stage("register", "skipped")
            summary.model_uri = (registered / "model_uri.txt").read_text().strip()

        import polars as pl

        ranking = pl.read_parquet(root / "rank" / "ranking.parquet")
        summary.top_features = list(ranking.select("feature", "score").head(5).iter_rows())
        summary.parameters = json.loads((root / "vocab" / "layout.json").read_text())["parameters"]
        if selected.run.select == "optfs":
            summary.parameters_before_optfs = summary.parameters
            pruned = root / "train" / PRUNED_VOCAB / "layout.json"
            summary.parameters = json.loads(pruned.read_text())["parameters"]
        mlflow.set_tags({f"featureplex.stage.{name}": status for name, status in summary.stages.items()})
        mlflow.log_metrics({f"final_{k}": float(v) for k, v in summary.metrics.items()})
        log_artifacts([root / "selected_features.json"])
    return summary


def _train(inputs: CommandInputs, selected: FeatureplexConfig, root: Path, vocab_key: str, force: bool,
           summary: RunSummary, on_stage: Callable[[str, str], None]) -> tuple[dict, str]:
    """The train stage: skipped when done for this key, resumed when a run for this key was killed."""
    from pipelines.train_flow import train_ctr_model

    directory = root / "train"
    optfs = selected.run.select == "optfs"
    payload = {"vocab": vocab_key, "train": selected.train.model_dump(mode="json")}
    if optfs:
        payload["optfs"] = selected.optfs.model_dump(mode="json")
    key = stage_key("train", payload)
    if force or not is_current(directory, key):
        resume = not force and is_current(directory, key, PENDING_KEY_FILE)
        if not resume and directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        mark(directory, key, PENDING_KEY_FILE)
        on_stage("train", "start")
        selected_inputs = CommandInputs(inputs.dataset, selected, resolve_schema(inputs.dataset, selected, inputs.schema.label))
        if optfs:
            from pipelines.optfs_flow import select_optfs

            outcome = select_optfs(selected_inputs, str(root / "vocab"), directory, selected.train, selected.optfs,
                                   resume=resume)
            _write_selection_table(root, directory, outcome, summary.kept_features)
        else:
            train_ctr_model(selected_inputs, str(root / "vocab"), directory, selected.train, resume=resume,
                            ranking_dir=str(root / "rank"))
        mark(directory, key)
        summary.stages["train"] = "ran"
        on_stage("train", "ran")
    else:
        summary.stages["train"] = "skipped"
        on_stage("train", "skipped")
    card = json.loads((directory / (FINAL if optfs else ".") / "model_card.json").read_text())
    return card["metrics"], card["mlflow_model_uri"]


def _write_selection_table(root: Path, train_dir: Path, outcome, kept: Sequence[str]) -> None:
    """The rank stage's and OptFS's verdicts side by side: `train/selection/rank_vs_optfs.tsv`."""
    import polars as pl

    from features.layout import LAYOUT_FILE, Layout
    from pipelines.selection_table import selection_table

    layout = Layout.from_json((root / "vocab" / LAYOUT_FILE).read_text(encoding="utf-8"))
    ranking = pl.read_parquet(root / "rank" / "ranking.parquet")
    table = selection_table(ranking, kept, outcome.keep_ratios, outcome.dropped, layout.sequences)
    table.write_csv(train_dir / SELECTION / "rank_vs_optfs.tsv", separator="\t", float_precision=6)
