"""`featureplex register`: log a SavedModel as an MLflow pyfunc model, register it, set an alias."""

from __future__ import annotations

import json
import os

import click

from featureplex.features.errors import InputError


@click.command()
@click.argument("saved_model", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="Registered model name.")
@click.option("--alias", default="champion", show_default=True, help="Alias pointing at the new version.")
@click.option("--example", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON lines of raw rows for the input example (default: input_example.jsonl beside the model).")
def register(saved_model: str, name: str, alias: str, example: str | None) -> None:
    """Register SAVED_MODEL in the MLflow model registry under NAME, with ALIAS on the new version."""
    import pandas as pd

    from featureplex.pipelines.artifacts.train import TrainArtifact
    from featureplex.pipelines.inputs import read_jsonl
    from featureplex.pipelines.tracking import tracked_run
    from featureplex.serving.mlflow_model import log_pyfunc_model, set_alias

    if not os.path.isfile(os.path.join(saved_model, "saved_model.pb")):
        raise InputError(f"{saved_model}: not a SavedModel directory (no saved_model.pb)")
    example = example or os.path.join(os.path.dirname(os.path.abspath(saved_model)), TrainArtifact.INPUT_EXAMPLE)
    if not os.path.isfile(example):
        raise InputError(f"--example: {example} not found (JSON lines of raw rows for MLflow's input example)")
    with tracked_run(f"register-{name}", tags={"featureplex.stage": "register"}) as run:
        info = log_pyfunc_model(saved_model, pd.DataFrame(read_jsonl(example)), registered_name=name)
    version = set_alias(name, alias, info.registered_model_version)
    click.echo(json.dumps({"model_uri": f"models:/{name}@{alias}", "version": version, "run_id": run.info.run_id}))
