"""`featureplex predict MODEL --input rows.jsonl|data.parquet`: batch predictions without a server."""

from __future__ import annotations

import sys
from typing import Iterator

import click

from featureplex.features.errors import InputError


def _jsonl_batches(path: str, predictor, batch_size: int) -> Iterator[tuple[int, dict[str, list], set[str]]]:
    """(first row, the model's columns, the names it does not use) per batch of a JSON-lines file."""
    from featureplex.pipelines.inputs import read_jsonl

    rows = read_jsonl(path)
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        columns = predictor.rows_to_columns(batch)
        yield start, {name: columns.get(name, [None] * len(batch)) for name in predictor.inputs}, set(columns)


def _parquet_batches(path: str, predictor, batch_size: int) -> Iterator[tuple[int, dict[str, list], set[str]]]:
    """The same for a Parquet dataset, reading only the model's columns."""
    from featureplex.features.data.dataset import iter_record_batches, open_dataset
    from featureplex.features.data.sequence_checks import seconds_since_epoch

    dataset = open_dataset(path)
    missing = sorted(set(predictor.inputs) - set(dataset.schema.names))
    if missing:
        raise InputError(f"{path}: column '{missing[0]}' is missing (the model takes {', '.join(predictor.inputs)})")
    start = 0
    for batch in iter_record_batches(dataset, columns=list(predictor.inputs), batch_rows=batch_size):
        yield start, seconds_since_epoch(batch).to_pydict(), set(dataset.schema.names)
        start += batch.num_rows


def _write(outputs: list[dict], output: str | None) -> None:
    import polars as pl

    frame = pl.concat([pl.DataFrame({name: values.astype("float64") for name, values in sorted(part.items())})
                       for part in outputs])
    if output and output.endswith(".parquet"):
        frame.write_parquet(output)
    elif output:
        frame.write_ndjson(output)
    else:
        sys.stdout.write(frame.write_ndjson())


@click.command()
@click.argument("model")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True),
              help="Rows to score: JSON lines (one object of raw feature values per row), or Parquet "
                   "(a .parquet file, a directory or a glob); columns the model does not use are ignored.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Write the predictions here: Parquet when the name ends in .parquet, else JSON lines "
                   "(default: JSON lines on stdout).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True, help="Rows per model call.")
def predict(model: str, input_path: str, output: str | None, batch_size: int) -> None:
    """Score the rows of INPUT with MODEL (a SavedModel directory or an MLflow model URI)."""
    from featureplex.features.data.dataset import is_parquet_input
    from featureplex.pipelines.tracking import configure_tracking
    from featureplex.serving.mlflow_model import local_saved_model
    from featureplex.serving.predictor import RequestError, SavedModelPredictor

    configure_tracking()
    predictor = SavedModelPredictor(local_saved_model(model))
    batches = (_parquet_batches if is_parquet_input(input_path) else _jsonl_batches)(input_path, predictor, batch_size)
    outputs, unused = [], set()
    for start, columns, names in batches:
        unused |= names - set(predictor.inputs)
        try:
            outputs.append(predictor.predict_columns(columns))
        except RequestError as error:
            raise InputError(f"{input_path}: rows {start + 1}-{start + len(next(iter(columns.values())))}: {error}") from None
    if unused:
        click.echo(f"note: ignored the columns the model does not use: {', '.join(sorted(unused))}", err=True)
    _write(outputs, output)
