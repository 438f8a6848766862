"""`featureplex synth`: write a synthetic impression log with its ground truth (see pipelines/synth.py)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from featureplex.pipelines.datasets.synth import generate_synthetic


@click.command()
@click.option("--rows", type=int, required=True, help="Rows (impressions) to generate, at least 1.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Output directory: part-*.parquet, ground_truth.json, manifest.json. Replaced atomically; "
    "an existing directory must be empty or an earlier synth output.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; the same arguments give byte-identical files.")
@click.option(
    "--row-group-rows",
    type=int,
    default=100_000,
    show_default=True,
    help="Rows per Parquet row group; also the unit of generation, so it bounds memory.",
)
@click.option("--files", type=int, default=1, show_default=True, help="Number of Parquet files; rows are split evenly.")
def synth(rows: int, out: str, seed: int, row_group_rows: int, files: int) -> None:
    """Generate a synthetic CTR dataset whose informative, noisy, redundant and leaky columns are known."""
    # The bar goes to stderr so that stdout carries only the summary line; off when stderr is not a terminal
    # (logs, CI), where a transient bar would leave only stray newlines.
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("synth", total=rows)
        truth = generate_synthetic(
            out,
            rows=rows,
            seed=seed,
            row_group_rows=row_group_rows,
            files=files,
            on_progress=lambda written: progress.update(task, completed=written),
        )
    click.echo(f"synth: {rows:,} rows in {files} file(s), CTR {truth['ctr']:.4f}, written to {out}")
