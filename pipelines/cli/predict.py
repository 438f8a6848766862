"""`featureplex predict MODEL --input rows.jsonl|data.parquet`: batch predictions without a server."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterator

import click

from featureplex.features.errors import InputError

if TYPE_CHECKING:
    from featureplex.serving.encoded_request import EncodedRequest


def _rows_error(path: str, start: int, rows: int, error: Exception) -> InputError:
    return InputError(f"{path}: rows {start + 1}-{start + rows}: {error}")


def _jsonl_requests(path: str, predictor, batch_size: int) -> Iterator[tuple[int, int, EncodedRequest, set[str]]]:
    """(first row, rows, the encoded request, the names in the rows) per batch of a JSON-lines file."""
    from featureplex.pipelines.inputs import read_jsonl
    from featureplex.serving.predictor import RequestError

    rows = read_jsonl(path)
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        columns = predictor.rows_to_columns(batch)
        try:
            request = predictor.encode({name: columns.get(name, [None] * len(batch)) for name in predictor.inputs})
        except RequestError as error:
            raise _rows_error(path, start, len(batch), error) from None
        yield start, len(batch), request, set(columns)


def _parquet_requests(path: str, predictor, batch_size: int) -> Iterator[tuple[int, int, EncodedRequest, set[str]]]:
    """The same for a Parquet dataset: only the model's columns read, encoded column by column from Arrow
    (serving.arrow_request, as `featureplex evaluate` does: no Python object per value)."""
    from featureplex.features.data.dataset import iter_record_batches, open_dataset
    from featureplex.serving.arrow_request import arrow_request, check_arrow_types

    dataset = open_dataset(path)
    check_arrow_types(predictor, dataset.schema, path)
    start = 0
    for batch in iter_record_batches(dataset, columns=list(predictor.inputs), batch_rows=batch_size):
        yield start, batch.num_rows, arrow_request(predictor, batch), set(dataset.schema.names)
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
    requests = (_parquet_requests if is_parquet_input(input_path) else _jsonl_requests)(input_path, predictor, batch_size)
    outputs, unused = [], set()
    for start, rows, request, names in requests:
        unused |= names - set(predictor.inputs)
        try:
            outputs.append(predictor.run(request))
        except RequestError as error:  # the graph rejected what passed every check
            raise _rows_error(input_path, start, rows, error) from None
    if unused:
        click.echo(f"note: ignored the columns the model does not use: {', '.join(sorted(unused))}", err=True)
    _write(outputs, output)
