"""`featureplex demo`: the whole platform on generated data, then a few predictions from the REST server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
import yaml

EXAMPLE_CONFIG = Path(__file__).with_name("demo_config.yaml")


@click.command()
@click.option("--out", default="demo", show_default=True, help="Directory for the data, the config and every artifact.")
@click.option("--rows", default=200_000, show_default=True, help="Rows of synthetic click log to generate.")
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic data; the same seed gives the same data.")
@click.option("--port", default=8501, show_default=True, help="Port of the REST server started at the end.")
def demo(out: str, rows: int, seed: int, port: int) -> None:
    """Generate a click log, run every stage (featureplex run), serve the registered model and query it."""
    import httpx

    from featureplex.pipelines.artifacts.train import TrainArtifact
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.progress import console
    from featureplex.pipelines.tracking import configure_tracking
    from featureplex.serving.client import ServingClient

    root = Path(out)
    console.print(f"[bold]1/4[/bold] generating {rows:,} rows of synthetic clicks in {root / 'data'}")
    generate_synthetic(root / "data", rows=rows, seed=seed)
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["dataset"] = str(root / "data")
    config["run"]["out"] = str(root / "run")
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    console.print(f"[bold]2/4[/bold] featureplex run {root / 'config.yaml'}")
    from rich.console import Console

    from featureplex.features.embedding.layout import EmptyVocabularyWarning
    from featureplex.pipelines.cli.options import warning_lines
    from featureplex.pipelines.run import run_pipeline
    from featureplex.pipelines.stages.rank import ColumnWarning

    with warning_lines(ColumnWarning, EmptyVocabularyWarning):
        summary = run_pipeline(str(root / "config.yaml"),
                               on_stage=lambda stage, state: state != "start" and console.print(f"{stage}: {state}"))
    Console(width=120).print(summary.table())
    model_uri = summary.model_uri

    console.print(f"[bold]3/4[/bold] featureplex serve {model_uri} --port {port}")
    server = subprocess.Popen([sys.executable, "-m", "featureplex.pipelines.cli", "serve", model_uri, "--port", str(port)])
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise click.ClickException("the server did not start")
                time.sleep(0.5)
        rows_in = TrainArtifact.read(root / "run" / "train").input_example
        predictions = ServingClient(f"http://127.0.0.1:{port}").predict(rows_in)
        console.print(f"[bold]4/4[/bold] POST /v1/models/default:predict with {len(rows_in)} rows:")
        for row, prediction in zip(rows_in, predictions):
            shown = {k: row[k] for k in list(row)[:4]}
            console.print(f"  {shown} ... -> probability {prediction['probability']:.4f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    console.print(f"\nOpen the MLflow UI on the runs: [bold]featureplex ui[/bold] (tracking URI {configure_tracking()})")
