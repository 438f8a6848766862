"""MLflow tracking: where runs go, and the few calls every stage makes.

Default store: `sqlite:///mlflow.db` in the working directory with artifacts under ./mlruns (MLflow 3's
own default); `MLFLOW_TRACKING_URI` points at a shared server instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

from featureplex.features.data.artifact_dir import process_alive

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "featureplex"
MAX_PARAM_LENGTH = 6000  # MLflow 3 rejects longer parameter values
OWNER_HOST, OWNER_PID = "featureplex.host", "featureplex.pid"  # the process that owns a run


def configure_tracking() -> str:
    """Use MLFLOW_TRACKING_URI when set, else the local SQLite store; returns the URI in force."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    return uri


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow's flat `a.b.c` keys, values as bounded strings."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


@contextlib.contextmanager
def tracked_run(run_name: str, *, tags: Mapping[str, str] | None = None, nested: bool = False,
                experiment: str | None = None, run_id: str | None = None) -> Iterator[Any]:
    """An MLflow run (nested under the active one when `nested`; `run_id` continues an earlier one),
    ended even on error with its status: FAILED on an error, KILLED on Ctrl-C or SIGTERM. Each run is
    tagged with the process that owns it, so a later command can mark runs left RUNNING by a process
    that was killed outright (kill -9) as FAILED."""
    import mlflow

    nested = nested or mlflow.active_run() is not None  # inside `featureplex run`, every stage is a child run
    if not nested:
        configure_tracking()
        experiment_id = mlflow.set_experiment(experiment or os.environ.get("FEATUREPLEX_EXPERIMENT", DEFAULT_EXPERIMENT)).experiment_id
        fail_orphaned_runs(experiment_id)
    # the owner, and the program by name: MLflow would record the entry script's absolute local path
    owner = {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid()), "mlflow.source.name": "featureplex"}
    if run_id is not None:
        run = mlflow.start_run(run_id=run_id, nested=nested)
        mlflow.set_tags(owner)
    else:
        run = mlflow.start_run(run_name=run_name, nested=nested, tags={**dict(tags or {}), **owner})
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def fail_orphaned_runs(experiment_id: str) -> int:
    """Mark as FAILED the runs still RUNNING whose owner process on this host is gone; how many."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    host = socket.gethostname()
    runs = client.search_runs([experiment_id], f"attributes.status = 'RUNNING' and tags.`{OWNER_HOST}` = '{host}'")
    orphaned = [run for run in runs if not process_alive(int(run.data.tags.get(OWNER_PID, "0")))]
    for run in orphaned:
        client.set_terminated(run.info.run_id, "FAILED")
    return len(orphaned)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params(flatten(params))


def log_artifacts(paths: list[str | os.PathLike], artifact_path: str | None = None) -> None:
    """Files and directories as run artifacts."""
    import mlflow

    for path in map(Path, paths):
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=f"{artifact_path}/{path.name}" if artifact_path else path.name)
        elif path.exists():
            mlflow.log_artifact(str(path), artifact_path=artifact_path)


def git_commit(directory: str | os.PathLike = ".") -> str | None:
    """The commit checked out where the command runs, when it is a git checkout (None otherwise)."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def log_dataset(dataset, schema, context: str, name: str) -> None:  # a ParquetDataset and its DatasetSchema
    """The dataset as an MLflow input of the active run: its fingerprint as the digest, the columns the
    model reads as its schema, `context` training / validation / test (MLflow's dataset lineage)."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, Schema

    columns = [spec.name for spec in schema.features] + [schema.label]
    arrow = dataset.schema
    kinds = {"int": "long", "uin": "long", "flo": "double", "dou": "double", "boo": "boolean"}
    specs = [ColSpec(kinds.get(str(arrow.field(name).type)[:3], "string"), name) for name in columns]
    with warnings.catch_warnings():  # MLflow warns that it guessed the source's kind from the path: it did right
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(dataset.files[0] if len(dataset.files) == 1 else os.path.dirname(dataset.files[0]))
    # a split is its own dataset (MLflow keeps one input per digest): the data's fingerprint with the split
    digest = hashlib.sha256(f"{dataset.fingerprint()}:{context}".encode()).hexdigest()[:36]
    mlflow.log_input(MetaDataset(source, name=f"{name}-{context}", digest=digest, schema=Schema(specs)), context=context)
