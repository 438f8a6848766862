"""`featureplex serve MODEL`: the TensorFlow-Serving-compatible REST server."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback unless told otherwise).")
@click.option("--port", default=8501, show_default=True, help="TF Serving's REST port by default.")
@click.option("--name", default="default", show_default=True, help="Model name in /v1/models/<name>.")
@click.option("--max-body-mb", default=16.0, show_default=True, help="Requests larger than this get HTTP 413.")
@click.option("--batch-window-ms", default=0.0, show_default=True,
              help="Answer requests arriving within this window with one model call (0: off).")
def serve(model: str, host: str, port: int, name: str, max_body_mb: float, batch_window_ms: float) -> None:
    """Serve MODEL over TensorFlow Serving's REST API.

    MODEL is a SavedModel directory or an MLflow model URI such as models:/ctr@champion.
    """
    from pipelines.tracking import configure_tracking
    from serving.mlflow_model import local_saved_model
    from serving.server import serve as run_server

    configure_tracking()
    path = local_saved_model(model)
    click.echo(f"serving {model} as '{name}' on http://{host}:{port}/v1/models/{name}", err=True)
    run_server(path, host, port, name, int(max_body_mb * (1 << 20)), batch_window_ms)
