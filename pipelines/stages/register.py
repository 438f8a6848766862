"""The register stage: a trained model registered in the MLflow model registry, described and tagged,
with an alias on the new version.

Stage contract: `run(trained, name, alias, out) -> RegistrationArtifact` (`out` None: nothing written).
"""

from __future__ import annotations

import os

from featureplex.features.data.artifact_dir import Manifest
from featureplex.pipelines.artifacts.registration import STAGE, RegistrationArtifact
from featureplex.pipelines.artifacts.train import TrainArtifact


def run(trained: TrainArtifact, name: str, alias: str, out: str | os.PathLike | None,
        key: str | None = None) -> RegistrationArtifact:
    """Register the logged model of `trained` (its `models:/m-...` URI, so the version links to the logged
    model and its run) as a new version of `name`, describe and tag it, point `alias` at it."""
    import mlflow
    from mlflow import MlflowClient

    from featureplex.serving.mlflow_model import set_alias

    version = mlflow.register_model(trained.model_uri, name).version
    features = trained.card["features"]
    names = [*features["categorical"], *features["sequence"], *features["numeric"]]
    metrics = trained.metrics
    client = MlflowClient()
    client.update_model_version(name, version, description=(
        f"{trained.card['model']} on {len(names)} features ({', '.join(names)}); validation AUC "
        f"{metrics.get('val_auc', float('nan')):.4f}, logloss {metrics.get('val_logloss', float('nan')):.4f}; "
        f"{trained.card['layout']['parameters']:,} embedding parameters ({trained.card['layout']['mode']} layout)"))
    for tag, value in (("model", trained.card["model"]), ("features", ",".join(names)),
                       ("val_auc", f"{metrics.get('val_auc', float('nan')):.4f}"),
                       ("data_fingerprint", trained.card["data_fingerprint"])):
        client.set_model_version_tag(name, version, f"featureplex.{tag}", value)
    set_alias(name, alias, version)
    artifact = RegistrationArtifact(f"models:/{name}@{alias}", Manifest(
        STAGE, inputs={"model": trained.model_uri}, parameters={"name": name, "alias": alias, "version": str(version)},
        key=key))
    if out is not None:
        artifact.write(out)
    return artifact
