"""`featureplex predict MODEL --input rows.jsonl`: batch predictions without a server."""

from __future__ import annotations

import json
import sys

import click

from features.errors import InputError


def read_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not a JSON object ({error.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object of feature values")
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


@click.command()
@click.argument("model")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines, one object of raw feature values per row.")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write JSON lines here (default: stdout).")
@click.option("--batch-size", default=4096, show_default=True, help="Rows per model call.")
def predict(model: str, input_path: str, output: str | None, batch_size: int) -> None:
    """Score the rows of a JSON-lines file with MODEL (a SavedModel directory or an MLflow model URI)."""
    from pipelines.tracking import configure_tracking
    from serving.mlflow_model import local_saved_model
    from serving.predictor import RequestError, SavedModelPredictor

    configure_tracking()
    predictor = SavedModelPredictor(local_saved_model(model))
    rows = read_jsonl(input_path)
    lines = []
    for start in range(0, len(rows), batch_size):
        try:
            outputs = predictor.predict_rows(rows[start : start + batch_size])
        except RequestError as error:
            raise InputError(f"{input_path}: rows {start + 1}-{start + batch_size}: {error}") from None
        names = sorted(outputs)
        lines.extend(json.dumps(dict(zip(names, map(float, values)))) for values in zip(*(outputs[n] for n in names)))
    text = "\n".join(lines) + "\n"
    if output:
        with open(output, "w") as stream:
            stream.write(text)
    else:
        sys.stdout.write(text)
