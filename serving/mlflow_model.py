"""Logging a SavedModel to MLflow as a pyfunc model, registering it, and finding it again by URI."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from featureplex.features.errors import InputError

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
SAVED_MODEL_ARTIFACT = "saved_model"
# What the pyfunc wrapper and the code it ships (serving, models, features) import at load time.
SERVING_DISTRIBUTIONS = ("mlflow", "numpy", "pandas", "polars", "pyarrow", "pydantic", "PyYAML", "tensorflow", "tf-keras")


def serving_requirements() -> list[str]:
    """The serving imports pinned at the versions installed here.

    Given explicitly because MLflow's inference (loading the model in a subprocess to see what it
    imports) takes ~15 s per logged model and gets it wrong for this model: TensorFlow is imported
    lazily, in `load_context`, so it was missed, and the shipped code was listed as `featureplex`,
    a package no index has.
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in SERVING_DISTRIBUTIONS]


def shipped_code(staging: Path) -> Path:
    """`staging/featureplex` holding the packages the pyfunc wrapper imports at load time (serving, models,
    features), laid out as the `featureplex` namespace MLflow puts on sys.path when it loads the model."""
    root = staging / "featureplex"
    source = {package: Path(__import__(f"featureplex.{package}", fromlist=["_"]).__file__).parent
              for package in ("serving", "models", "features")}
    for package, directory in source.items():
        shutil.copytree(directory, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def log_pyfunc_model(saved_model: str | os.PathLike, input_example: pd.DataFrame, registered_name: str | None = None):
    """Log the pyfunc wrapper with the SavedModel as its artifact, a signature inferred from the example,
    and (optionally) register it. Needs an active MLflow run. Returns MLflow's ModelInfo."""
    import mlflow
    from mlflow.models import infer_signature

    from featureplex.serving.predictor import SavedModelPredictor, columns_from_dataframe

    predictions = SavedModelPredictor(str(saved_model)).predict_columns(columns_from_dataframe(input_example))
    with tempfile.TemporaryDirectory() as staging, warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values: the raw-feature signature
        # maps a missing integer to its own value, so the hint does not apply and must not reach the user
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(input_example, pd.DataFrame(predictions))
        shipped = shipped_code(Path(staging))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={SAVED_MODEL_ARTIFACT: str(saved_model)},
            signature=signature,
            input_example=input_example,
            pip_requirements=serving_requirements(),
            registered_model_name=registered_name,
            code_paths=[str(shipped)],
        )


def set_alias(name: str, alias: str, version: str | int | None = None) -> str:
    """Point `alias` (e.g. champion) at a version of a registered model (the newest by default)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if version is None:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise InputError(f"registered model '{name}': no versions")
            version = max(int(v.version) for v in versions)
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as error:
        raise InputError(f"registered model '{name}': {error.message.splitlines()[0]}") from None
    return str(version)


def local_saved_model(uri: str) -> str:
    """A SavedModel directory for a local path or an MLflow model URI (models:/, runs:/).

    MLflow URIs resolve against the tracking URI in force (the caller configures it)."""
    if os.path.isfile(os.path.join(uri, "saved_model.pb")):
        return uri
    if not uri.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        raise InputError(f"{uri}: not a SavedModel directory (no saved_model.pb) nor an MLflow model URI")
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        root = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except MlflowException as error:
        raise InputError(f"{uri}: {error.message.splitlines()[0]}") from None
    found = sorted(Path(root).rglob("saved_model.pb"))
    if not found:
        raise InputError(f"{uri}: the MLflow model holds no SavedModel")
    return str(found[0].parent)


def served_version(uri: str) -> tuple[int, dict[str, int]]:
    """(version, {label: version}) a server reports for `uri`: the registry's version and alias for a
    models:/ URI (models:/ctr@champion -> (3, {"champion": 3})), version 1 and no label otherwise.

    The caller configures the tracking URI, as for `local_saved_model`."""
    if not uri.startswith("models:/"):
        return 1, {}
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    try:
        _, version = get_model_name_and_version(MlflowClient(), uri)
    except MlflowException as error:
        raise InputError(f"{uri}: {error.message.splitlines()[0]}") from None
    alias = uri.split("@", 1)[1] if "@" in uri else None
    return int(version), ({alias: int(version)} if alias else {})
