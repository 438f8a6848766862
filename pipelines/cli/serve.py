"""`featureplex serve MODEL`: the TensorFlow-Serving-compatible REST server."""

from __future__ import annotations

import click

POSITIVE = click.IntRange(min=1)


@click.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback unless told otherwise).")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535), help="TF Serving's REST port by default.")
@click.option("--name", default="default", show_default=True, help="Model name in /v1/models/<name>.")
@click.option("--max-body-mb", default=16.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Larger request bodies get HTTP 413.")
@click.option("--max-rows", default=1024, show_default=True, type=POSITIVE,
              help="Rows per request (and per model call); more get HTTP 413.")
@click.option("--max-sequence-items", default=1000, show_default=True, type=POSITIVE,
              help="Elements of one sequence as sent, before the cut to the model's history window; more get HTTP 413.")
@click.option("--max-string-chars", default=4096, show_default=True, type=POSITIVE,
              help="Characters of one string value; more get HTTP 413.")
@click.option("--max-queue", default=16, show_default=True, type=POSITIVE,
              help="Predict requests in progress at once (read, checked, waiting for or in a model call); more get "
                   "HTTP 503 with Retry-After. Raise it to trade latency for throughput.")
@click.option("--max-queue-rows", default=None, type=POSITIVE,
              help="Rows waiting for or in a model call at once (default: 2 x --max-rows); a request that would pass "
                   "it gets HTTP 503 with Retry-After (a request alone always passes). Once the rows in progress "
                   "reach it, every request is refused before its body is decoded.")
@click.option("--batch-window-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Wait this long after a request for others to share its model call (requests that wait "
                   "while the model is busy share the next call anyway).")
@click.option("--openapi", is_flag=True, help="Serve /openapi.json and /docs (off by default).")
def serve(model: str, host: str, port: int, name: str, max_body_mb: float, max_rows: int, max_sequence_items: int,
          max_string_chars: int, max_queue: int, max_queue_rows: int | None, batch_window_ms: float,
          openapi: bool) -> None:
    """Serve MODEL over TensorFlow Serving's REST API.

    MODEL is a SavedModel directory or an MLflow model URI such as models:/ctr@champion (served as that
    registry version, with the alias as its version label).
    """
    from featureplex.pipelines.tracking import configure_tracking
    from featureplex.serving.mlflow_model import local_saved_model, served_version
    from featureplex.serving.predictor import SavedModelPredictor
    from featureplex.serving.request_limits import RequestLimits
    from featureplex.serving.server import ServerOptions, bind_socket, create_app
    from featureplex.serving.server import serve as run_server

    configure_tracking()
    path = local_saved_model(model)
    version, labels = served_version(model)
    sock = bind_socket(host, port)
    limits = RequestLimits(int(max_body_mb * (1 << 20)), max_rows, max_sequence_items, max_string_chars)
    options = ServerOptions(name, limits, batch_window_ms, max_queue, max_queue_rows, version, labels, openapi)
    app = create_app(SavedModelPredictor(path, limits), options)
    click.echo(f"serving {model} as '{name}' version {version} on http://{host}:{sock.getsockname()[1]}/v1/models/{name}",
               err=True)
    run_server(app, sock)
