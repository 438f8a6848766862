"""MLflow tracking: where runs go, and the few calls every stage makes.

Default store: `sqlite:///mlflow.db` in the working directory with artifacts under ./mlruns (MLflow 3's
own default); `MLFLOW_TRACKING_URI` points at a shared server instead.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "featureplex"
MAX_PARAM_LENGTH = 6000  # MLflow 3 rejects longer parameter values


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
    ended even on error with its status."""
    import mlflow

    nested = nested or mlflow.active_run() is not None  # inside `featureplex run`, every stage is a child run
    if not nested:
        configure_tracking()
        mlflow.set_experiment(experiment or os.environ.get("FEATUREPLEX_EXPERIMENT", DEFAULT_EXPERIMENT))
    if run_id is not None:
        with mlflow.start_run(run_id=run_id, nested=nested) as run:
            yield run
        return
    with mlflow.start_run(run_name=run_name, nested=nested, tags=dict(tags or {})) as run:
        yield run


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
