"""`featureplex ui`: the MLflow UI on this project's tracking store."""

from __future__ import annotations

import os
import sys

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the UI binds (loopback unless told otherwise).")
@click.option("--port", default=5000, show_default=True, help="Port of the UI.")
def ui(host: str, port: int) -> None:
    """Open the MLflow UI on the tracking store in force (MLFLOW_TRACKING_URI, else ./mlflow.db)."""
    from featureplex.pipelines.tracking import DEFAULT_TRACKING_URI

    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("http"):
        click.echo(f"runs are on the tracking server {uri}: open it in a browser")
        return
    click.echo(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it", err=True)
    os.execv(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)])
