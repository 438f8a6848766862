"""`featureplex run`: profile -> rank -> select features -> vocab -> train (+ export) -> register, as one
MLflow parent run with a child run per stage.

The run is a plain list of stages sharing one cache: the dataset is opened and the schema resolved
once, and each stage's artifact is handed to the next in memory. Each stage writes its artifact under
`out/<stage>` with a key in its manifest: the hash of everything the stage depends on (data
fingerprint, its parameters, the keys of the stages it reads). A stage whose artifact carries the
current key is read instead of run; `force` redoes everything. The train stage also notes its key
beside its checkpoints before it starts, so a killed run resumes them instead of starting over.

Feature selection (pipelines.guard.chosen_by_rank): the rank stage's recommended features (its greedy
selection plus both features of every pair whose interaction gain reaches `rank.interaction_gain`,
no leak, constant or ID-like column), plus every sequence and the feature it shares rows with;
`run.features` in the config replaces all of this with an explicit list.

With `run.select: optfs` the train stage is the select stage (pipelines.stages.select): OptFS gates,
the pruned layout under `train/pruned_vocab`, the exported model under `train/final`.

On several workers (TF_CONFIG names a cluster; `featureplex run --workers N` starts N local ones) every
worker runs the same run. The chief (worker 0) runs it as one process does: the Beam stages (once,
cached as always), the selection files, the MLflow parent run and every stage's child run, the train
artifact and the registration. Every other worker runs no Beam stage and logs nothing: it waits until
each of profile, rank and vocab carries the key it computes itself (the same data, config and rank
artifact give the same keys, and an artifact is renamed into place whole), reads it, and trains its
share under MultiWorkerMirroredStrategy (pipelines.training). `--force` is refused there: the others
could not tell the chief's redone artifacts from the ones they replace, which carry the same keys.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from featureplex.features.data.artifact_dir import Manifest, check_replaceable, write_json
from featureplex.features.data.config import FeatureplexConfig
from featureplex.features.data.dataset import open_dataset
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.errors import InputError
from featureplex.pipelines.artifacts.profile import ProfileArtifact
from featureplex.pipelines.artifacts.rank import RankArtifact
from featureplex.pipelines.artifacts.train import TrainArtifact
from featureplex.pipelines.cluster import WorkerCluster
from featureplex.pipelines.guard import chosen_by_rank
from featureplex.pipelines.inputs import StageInputs, resolve_inputs
from featureplex.pipelines.stages import profile, rank, select, train, vocab

TRAIN_ENTRIES = ("checkpoints", "optfs", "selection", "pruned_vocab", "final")  # what the train stage writes
PENDING_KEY = "run_key"  # beside the train stage's checkpoints: the key of the run they belong to
SELECTED_FEATURES = "selected_features.json"
SELECTED_CONFIG = "selected_config.yaml"
WAIT_SECONDS = 1.0  # how often a worker other than the chief looks for the artifact the chief is writing


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

    def table(self):
        """The run's outcome as a two-column rich table."""
        from rich.table import Table

        table = Table(title=f"featureplex run: {self.out}")
        table.add_column("")
        table.add_column("")
        table.add_row("top features", ", ".join(f"{name} ({score:.4f})" for name, score in self.top_features))
        table.add_row("kept features", f"{len(self.kept_features)}: " + ", ".join(self.kept_features))
        before = f" (OptFS pruned from {self.parameters_before_optfs:,})" if self.parameters_before_optfs else ""
        table.add_row("embedding parameters", f"{self.parameters:,}{before}")
        for name in ("val_auc", "val_logloss", "val_gauc", "test_auc", "test_logloss", "test_gauc", "test_calibration"):
            if name in self.metrics:
                table.add_row(name, f"{self.metrics[name]:.4f}")
        table.add_row("model", self.model_uri)
        table.add_row("mlflow run", self.run_id)
        return table


def stage_key(stage: str, payload: dict) -> str:
    text = json.dumps({"stage": stage, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def current_key(directory: Path) -> str | None:
    """The key in the manifest of the artifact at `directory` (None: no artifact there)."""
    try:
        return Manifest.read(directory).key
    except InputError:
        return None


@dataclass(frozen=True)
class Stage:
    """One step of the run: what its key depends on beyond the data, how it runs into its directory,
    and how a current artifact of it is read instead."""

    name: str
    payload: Callable[[FeatureplexConfig, dict[str, str]], dict]  # (config, keys of earlier stages) -> key payload
    run: Callable[[StageInputs, Path, bool], Any]  # (inputs with the key set, directory, force) -> artifact
    read: Callable[[Path, FeatureplexConfig], Any]
    keyed: str = ""  # the subdirectory whose artifact's manifest carries the key (OptFS: the final model's)


def _section(name: str) -> Callable[[FeatureplexConfig, dict], dict]:
    return lambda config, keys: {name: getattr(config, name).model_dump(mode="json")}


def _train(inputs: StageInputs, directory: Path, force: bool):
    """The train stage under `run`: checkpoints of this key are resumed, any others cleared first (by the
    chief, under workers: the others read the checkpoints only after the first collective, which the chief
    reaches after clearing them)."""
    if _leads(WorkerCluster.from_environment()):
        pending = directory / "checkpoints" / PENDING_KEY
        if (force or not pending.is_file() or pending.read_text() != inputs.key) and directory.exists():
            check_replaceable(directory, keep=TRAIN_ENTRIES)
            shutil.rmtree(directory)
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.write_text(inputs.key)
    if inputs.config.run.select == "optfs":
        return select.run(inputs, inputs.config.train, inputs.config.optfs, directory, resume=True).final
    return train.run(inputs, inputs.config.train, directory, resume=True)


def _train_payload(config: FeatureplexConfig, keys: dict) -> dict:
    payload = {"vocab": keys["vocab"], "train": config.train.model_dump(mode="json")}
    for role in ("validation", "test"):  # a held-out file's content, not only its path, keys the stage
        path = getattr(config.train, role)
        if path:
            payload[f"{role}_data"] = open_dataset(path).fingerprint()
    if config.run.select == "optfs":
        payload["optfs"] = config.optfs.model_dump(mode="json")
    return payload


PROFILE = Stage("profile", lambda config, keys: {}, lambda i, d, force: profile.run(i, i.config.rank, d),
                lambda d, config: ProfileArtifact.read(d))
RANK = Stage("rank", _section("rank"), lambda i, d, force: rank.run(i, i.config.rank, d), lambda d, config: RankArtifact.read(d))
VOCAB = Stage("vocab", lambda config, keys: {"kept": keys["features"], **_section("vocab")(config, keys)},
              lambda i, d, force: vocab.run(i, i.config.vocab, d),
              lambda d, config: VocabArtifact.read(d, with_counts=config.run.select == "optfs"))
TRAIN = Stage("train", _train_payload, _train, lambda d, config: TrainArtifact.read(d))
TRAIN_OPTFS = Stage("train", _train_payload, _train, lambda d, config: TrainArtifact.read(d / select.FINAL), select.FINAL)


def _leads(cluster: WorkerCluster | None) -> bool:
    """Whether this process runs the Beam stages and tracks the run: one process, or a cluster's chief."""
    return cluster is None or cluster.is_chief


def check_workers(config: FeatureplexConfig, force: bool, origin: str) -> None:
    """What a run on several workers (`origin`: --workers or TF_CONFIG) cannot do, refused before any stage."""
    if config.run.select == "optfs":
        raise InputError(f"{origin}: run.select optfs trains in one process (its gates and pruning are not distributed); "
                         "give run.select: none, or run without workers")
    if force:
        raise InputError(f"{origin}: --force: the workers other than the chief could not tell its redone artifacts from "
                         "the current ones (the same keys); remove the stage directories under the run's out to redo them")


class StageCache:
    """Runs a stage, or reads its artifact when the artifact carries the stage's current key.

    `follows` (a worker other than the chief): the chief's artifacts are waited for and read instead of run,
    and the train stage runs untracked (the chief tracks it)."""

    def __init__(self, root: Path, common: dict, force: bool, summary: RunSummary,
                 on_stage: Callable[[str, str], None], follows: bool = False):
        self.root, self.common, self.force, self.summary, self.on_stage = root, common, force, summary, on_stage
        self.follows = follows
        self.keys: dict[str, str] = {}

    def step(self, stage: Stage, inputs: StageInputs) -> Any:
        import mlflow

        from featureplex.pipelines.tracking import flatten, log_artifacts, tracked_run

        directory = self.root / stage.name
        key = self.keys[stage.name] = stage_key(stage.name, {**self.common, **stage.payload(inputs.config, self.keys)})
        if self.follows and stage.name != TRAIN.name:
            self._wait_for_chief(stage.name, directory / stage.keyed, key)
        if not self.force and current_key(directory / stage.keyed) == key:
            self._done(stage.name, "skipped")
            return stage.read(directory, inputs.config)
        if self.follows:
            return stage.run(inputs.with_artifacts(key=key), directory, self.force)  # this worker's share: None
        self.on_stage(stage.name, "start")
        with tracked_run(stage.name, tags={"featureplex.stage": stage.name}, nested=True):
            mlflow.log_params(flatten({"key": key[:16]}))
            started = time.perf_counter()
            artifact = stage.run(inputs.with_artifacts(key=key), directory, self.force)
            mlflow.log_metrics({**artifact.run_metrics(), "seconds": time.perf_counter() - started})
            log_artifacts(artifact.logged_files(directory / stage.keyed), stage.name)
        self._done(stage.name, "ran")
        return artifact

    def _wait_for_chief(self, name: str, directory: Path, key: str) -> None:
        """Until the artifact at `directory`, which the chief runs, carries `key` (a worker other than the chief)."""
        if current_key(directory) != key:
            self.on_stage(name, "waiting")
            while current_key(directory) != key:
                time.sleep(WAIT_SECONDS)

    def _done(self, name: str, state: str) -> None:
        self.summary.stages[name] = state
        self.on_stage(name, state)


def run_pipeline(
    config_path: str,
    out: str | None = None,
    data: str | None = None,
    label: str | None = None,
    force: bool = False,
    beam_args: Sequence[str] = (),
    on_stage: Callable[[str, str], None] = lambda stage, status: None,
) -> RunSummary | None:
    """Run every stage for the config at `config_path`; `on_stage(stage, 'start' | 'ran' | 'skipped' | 'waiting')`.
    Under TF_CONFIG, the chief's summary; None on the other workers (module docstring)."""
    import mlflow

    from featureplex.pipelines.tracking import flatten, log_artifacts, tracked_run

    cluster = WorkerCluster.from_environment()  # a bad TF_CONFIG: one line before any data is read
    inputs = resolve_inputs(data, config_path, label, beam_args)
    config = inputs.config
    if cluster is not None:
        check_workers(config, force, "TF_CONFIG")
    root = Path(out or config.run.out)
    root.mkdir(parents=True, exist_ok=True)
    fingerprint = inputs.dataset.fingerprint()
    summary = RunSummary(root)
    stages = StageCache(root, {"data": fingerprint, "label": inputs.schema.label,
                               "features": config.model_dump(mode="json")["features"]}, force, summary, on_stage,
                        follows=not _leads(cluster))
    if not _leads(cluster):
        _run_stages(stages, inputs, root, summary)  # this worker's share of the training: nothing tracked or reported
        return None
    with tracked_run("featureplex-run", tags={"featureplex.stage": "run", "featureplex.data_fingerprint": fingerprint}) as parent:
        summary.run_id = parent.info.run_id
        mlflow.log_params(flatten({"dataset": inputs.data_path, "config": str(config_path)}))
        ranked, vocabulary, trained = _run_stages(stages, inputs, root, summary)
        optfs = config.run.select == "optfs"
        summary.metrics, summary.model_uri = trained.metrics, trained.model_uri
        summary.parameters = trained.card["layout"]["parameters"]  # the pruned layout's under OptFS
        summary.parameters_before_optfs = vocabulary.layout.parameters if optfs else None
        if config.run.register_name:
            summary.model_uri = _register(root, config, trained, summary, force, on_stage)
        summary.top_features = list(ranked.ranking.select("feature", "score").head(5).iter_rows())
        mlflow.set_tags({f"featureplex.stage.{name}": status for name, status in summary.stages.items()})
        mlflow.log_metrics({f"final_{k}": float(v) for k, v in summary.metrics.items()})
        log_artifacts([root / SELECTED_FEATURES])
    return summary


def _run_stages(stages: StageCache, inputs: StageInputs, root: Path, summary: RunSummary):
    """profile -> rank -> the selection -> vocab -> train: (the rank, vocab and train artifacts; the train
    artifact None on a worker other than the chief)."""
    stages.step(PROFILE, inputs)
    ranked = stages.step(RANK, inputs)
    selected = _selected_inputs(inputs, ranked, root, summary, write=not stages.follows)
    stages.keys["features"] = summary.kept_features
    vocabulary = stages.step(VOCAB, selected)
    trained = stages.step(TRAIN_OPTFS if inputs.config.run.select == "optfs" else TRAIN,
                          selected.with_artifacts(vocab=vocabulary))
    return ranked, vocabulary, trained


def _selected_inputs(inputs: StageInputs, ranked: RankArtifact, root: Path, summary: RunSummary,
                     write: bool = True) -> StageInputs:
    """The inputs of vocab and train: only the chosen features, the rank artifact at hand; the choice is
    written beside the stages (selected_features.json, selected_config.yaml) unless `write` is False (a
    worker other than the chief)."""
    selected, kept = chosen_by_rank(inputs, ranked)
    if write:
        write_json(root / SELECTED_FEATURES, kept)
        (root / SELECTED_CONFIG).write_text(yaml.safe_dump(selected.config.model_dump(mode="json"), sort_keys=False))
    summary.kept_features = kept
    return selected


def _register(root: Path, config: FeatureplexConfig, trained: TrainArtifact, summary: RunSummary, force: bool,
              on_stage: Callable[[str, str], None]) -> str:
    """Register the trained model (skipped when this model is already registered under this name and alias)."""
    from featureplex.pipelines.artifacts.registration import RegistrationArtifact
    from featureplex.pipelines.stages import register

    key = stage_key("register", {"model": summary.model_uri, "name": config.run.register_name, "alias": config.run.alias})
    directory = root / "register"
    if not force and current_key(directory) == key:
        summary.stages["register"] = "skipped"
        on_stage("register", "skipped")
        return RegistrationArtifact.read(directory).model_uri
    on_stage("register", "start")
    registered = register.run(trained, config.run.register_name, config.run.alias, directory, key)
    summary.stages["register"] = "ran"
    on_stage("register", "ran")
    return registered.model_uri
