"""`featureplex evaluate MODEL DATA [--out DIR]`: AUC, logloss, gAUC, calibration and a reliability plot."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.argument("data")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write metrics.json, reliability.csv and reliability.png here, all or nothing (default: print only).")
@click.option("--label", default=None,
              help="Label column (default: the model card's label, else 'label' or 'click').")
@click.option("--user", default=None,
              help="Column to group gAUC by (default: the model card's user column; none: no gAUC).")
@click.option("--bins", type=click.IntRange(min=1), default=10, show_default=True,
              help="Equal-count bins of the reliability plot.")
def evaluate(model: str, data: str, out: str | None, label: str | None, user: str | None, bins: int) -> None:
    """Score the labelled rows of DATA (Parquet file, directory or glob) with MODEL (a train artifact directory,
    a SavedModel directory, or models:/name/version | models:/name@alias) and report how well it ranks and
    how well its predicted click rate matches the observed one."""
    from rich.table import Table

    from featureplex.pipelines.evaluation import evaluate_model
    from featureplex.pipelines.progress import console

    evaluation = evaluate_model(model, data, label, user, bins, on_note=lambda note: click.echo(f"note: {note}", err=True))
    table = Table(title=f"{model} on {data}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in evaluation.metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    console.print(table)
    if out:
        evaluation.write(out)
        click.echo(f"written: {out}/metrics.json, {out}/reliability.png")
