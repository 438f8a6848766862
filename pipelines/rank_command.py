"""`featureplex rank DATA --out DIR`: rank features, write the rank artifact, print the top features.

Flags the command does not know pass through to Beam (`--runner DataflowRunner --project ...`,
`--direct_num_workers 2 --direct_running_mode multi_processing`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click
import polars as pl
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from features.errors import InputError
from pipelines.command_inputs import data_arguments, resolve_inputs

TOP_ROWS = 20


def _params(config, heuristic, top_k, shuffles):
    from pipelines.rank_pipeline import rank_params

    try:
        return rank_params(config, heuristic=heuristic, top_k_interactions=top_k, shuffles=shuffles)
    except ValidationError as error:
        first = error.errors()[0]
        option = {"top_k_interactions": "--top-k", "shuffles": "--shuffles"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise InputError(f"{option}: {first['msg']} (got {first.get('input')!r})") from None


def top_table(ranking: pl.DataFrame, heuristic: str) -> Table:
    table = Table(title=f"top features ({heuristic})")
    for column in ("rank", "feature", "kind", "score", "MI", "chance MI", "MI/H(y)", "cardinality", "missing", "notes"):
        table.add_column(column, justify="right" if column not in ("feature", "kind", "notes") else "left")
    for row in ranking.head(TOP_ROWS).iter_rows(named=True):
        notes = ", ".join(note for flag, note in ((row["selected"], "selected"), (row["id_like"], "ID-like")) if flag)
        table.add_row(
            str(row["rank"]), row["feature"], row["kind"], f"{row['score']:.5f}", f"{row['mi']:.5f}",
            f"{row['chance_mi']:.5f}", f"{row['mi_over_label_entropy']:.3f}", f"{row['cardinality']:,}",
            f"{row['missing_rate']:.1%}", notes,
        )
    return table


def summary_lines(out: Path) -> list[str]:
    interactions = pl.read_parquet(out / "interactions.parquet").head(3)
    anomalies = json.loads((out / "anomalies.json").read_text())
    selection = json.loads((out / "selection.json").read_text())
    flagged = [f"{name} ({', '.join(entry['anomalies'])})" for name, entry in anomalies["features"].items() if entry["anomalies"]]
    pairs = [f"{a} x {b} ({gain:+.4f})" for a, b, gain in interactions.select("feature_a", "feature_b", "interaction_gain").iter_rows()]
    return [
        f"top interactions: {', '.join(pairs) or 'none'}",
        f"recommended features: {', '.join(selection['recommended']) or 'none'}",
        f"anomalies: {'; '.join(flagged) or 'none'}",
        f"wrote {out} (ranking.parquet, ranking.tsv, interactions.parquet, redundancy.parquet, selection.json, anomalies.json, report.html)",
    ]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@data_arguments
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Artifact directory (replaced whole on success).")
@click.option("--heuristic", type=click.Choice(["mi-chance", "mi", "outrank-compat"]), default=None,
              help="Ranking score (default: the config's, else mi-chance).")
@click.option("--top-k", type=int, default=None, help="Features whose pairs are scored for interactions (default 20).")
@click.option("--shuffles", type=int, default=None, help="Shuffled labels for the chance baseline (default 8).")
@click.pass_context
def rank(ctx: click.Context, data, config_path, label, out, heuristic, top_k, shuffles) -> None:
    """Rank the features of DATA by chance-corrected mutual information with the label.

    Also scores pair interactions and redundancy among the top features, recommends a feature set,
    flags anomalies (constant, missing, ID-like, leakage, rare values, drift) and writes report.html.
    Unknown options are passed to Apache Beam.
    """
    from pipelines.rank_pipeline import ColumnWarning, rank as rank_features

    inputs = resolve_inputs(data, config_path, label)
    params = _params(inputs.config, heuristic, top_k, shuffles)
    console = Console(stderr=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with console.status("ranking features") as status:
            ranking = rank_features(
                data or inputs.config.dataset, inputs.config, out, label, ctx.args, on_stage=status.update, params=params
            )
    for warning in caught:
        if issubclass(warning.category, ColumnWarning):
            click.echo(f"warning: {warning.message}", err=True)
    stdout = Console()
    # piped output gets a width that fits the table instead of rich's 80-column default
    (stdout if stdout.is_terminal else Console(width=140)).print(top_table(ranking, params.heuristic))
    for line in summary_lines(Path(out)):
        click.echo(line)
