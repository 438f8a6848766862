"""`featureplex profile DATA --out DIR`: per-column counts, missing rate, cardinality, top values, quantiles.

Flags the command does not know pass through to Beam, as for `featureplex rank`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from featureplex.pipelines.cli.options import BEAM_OPTIONS_HELP, beam_flags, data_arguments, printing_dry_run
from featureplex.pipelines.inputs import resolve_inputs


def profile_table(profile: pl.DataFrame) -> Table:
    table = Table(title=f"{profile['rows'][0]:,} rows" if profile.height else "profile")
    for column in ("column", "kind", "missing", "cardinality", "top value (share)", "p01", "p50", "p99"):
        table.add_column(column, justify="left" if column in ("column", "kind", "top value (share)") else "right")
    for row in profile.iter_rows(named=True):
        top = f"{row['top_value']} ({row['top_share']:.1%})" if row["top_value"] is not None else ""
        quantiles = [f"{row[name]:.4g}" if row[name] is not None else "" for name in ("p01", "p50", "p99")]
        cardinality = f"{row['cardinality']:,}" + ("" if row["cardinality_exact"] else "~")
        table.add_row(row["column"], row["kind"], f"{row['missing_rate']:.1%}", cardinality, top, *quantiles)
    return table


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, epilog=BEAM_OPTIONS_HELP)
@data_arguments
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Artifact directory (replaced whole on success).")
@click.pass_context
def profile(ctx: click.Context, data, config_path, label, out) -> None:
    """Profile the columns of DATA: missing rate, cardinality, top values and quantiles.

    Unknown options are passed to Apache Beam.
    """
    from featureplex.pipelines.stages import profile as profile_stage

    inputs = resolve_inputs(data, config_path, label, beam_flags(ctx))
    with printing_dry_run(), Console(stderr=True).status("profiling columns") as status:
        profiled = profile_stage.run(dataclasses.replace(inputs, on_progress=status.update), inputs.config.rank, out)
    frame = profiled.frame
    stdout = Console()
    (stdout if stdout.is_terminal else Console(width=140)).print(profile_table(frame))
    click.echo(f"wrote {out} ({', '.join(sorted(path.name for path in Path(out).iterdir()))})")
