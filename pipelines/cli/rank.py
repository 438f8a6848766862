"""`featureplex rank DATA --out DIR`: rank features, write the rank artifact, print the top features.

Flags the command does not know pass through to Beam (`--runner DataflowRunner --project ...`,
`--direct_num_workers 2 --direct_running_mode multi_processing`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from featureplex.pipelines.cli.options import BEAM_OPTIONS_HELP, beam_flags, data_arguments, printing_dry_run, warning_lines, with_flags
from featureplex.pipelines.inputs import resolve_inputs

TOP_ROWS = 20


def cardinality(row: dict) -> str:
    """The distinct values, and when the count hit the cap (values hashed past it), the sketch's estimate."""
    if row.get("cardinality_capped"):
        return f"{row['cardinality']:,} capped (~{row['distinct_estimate']:,})"
    return f"{row['cardinality']:,}"


def top_table(ranking: pl.DataFrame, heuristic: str) -> Table:
    table = Table(title=f"top features ({heuristic})")
    for column in ("rank", "feature", "kind", "score", "MI", "chance MI", "MI/H(y)", "cardinality", "missing", "notes"):
        table.add_column(column, justify="right" if column not in ("feature", "kind", "notes") else "left")
    for row in ranking.head(TOP_ROWS).iter_rows(named=True):
        notes = ", ".join(note for flag, note in ((row["selected"], "selected"), (row["id_like"], "ID-like")) if flag)
        table.add_row(
            str(row["rank"]), row["feature"], row["kind"], f"{row['score']:.5f}", f"{row['mi']:.5f}",
            f"{row['chance_mi']:.5f}", f"{row['mi_over_label_entropy']:.3f}", cardinality(row),
            f"{row['missing_rate']:.1%}", notes,
        )
    return table


def summary_lines(ranked, out: Path) -> list[str]:
    interactions = ranked.interactions.head(3)
    flagged = [f"{name} ({', '.join(entry['anomalies'])})" for name, entry in ranked.anomalies["features"].items() if entry["anomalies"]]
    pairs = [f"{a} x {b} ({gain:+.4f})" for a, b, gain in interactions.select("feature_a", "feature_b", "interaction_gain").iter_rows()]
    return [
        f"top interactions: {', '.join(pairs) or 'none'}",
        f"recommended features: {', '.join(ranked.recommended) or 'none'}",
        f"anomalies: {'; '.join(flagged) or 'none'}",
        f"wrote {out} ({', '.join(sorted(path.name for path in out.iterdir()))})",
    ]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, epilog=BEAM_OPTIONS_HELP)
@data_arguments
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Artifact directory (replaced whole on success).")
@click.option("--heuristic", type=click.Choice(["mi-chance", "mi", "outrank-compat"]), default=None,
              help="Ranking score (default: the config's, else mi-chance).")
@click.option("--top-k", type=int, default=None, help="Features whose pairs are scored for interactions (default 20).")
@click.option("--chance", type=click.Choice(["closed-form", "shuffles"]), default=None,
              help="The chance MI baseline: exact from the counts (default), or estimated from --shuffles shuffled labels.")
@click.option("--shuffles", type=int, default=None,
              help="Shuffled copies of the label for --chance shuffles (default 8 there; not allowed with closed-form).")
@click.pass_context
def rank(ctx: click.Context, data, config_path, label, out, heuristic, top_k, chance, shuffles) -> None:
    """Rank the features of DATA by chance-corrected mutual information with the label.

    Also scores pair interactions and redundancy among the top features, recommends a feature set,
    flags anomalies (constant, missing, ID-like, leakage, rare values, drift) and writes report.html.
    Unknown options are passed to Apache Beam.
    """
    from featureplex.pipelines.stages import rank as rank_stage

    inputs = resolve_inputs(data, config_path, label, beam_flags(ctx))
    flags = {"heuristic": heuristic, "top_k_interactions": top_k, "chance": chance, "shuffles": shuffles}
    base = inputs.config.rank
    if chance is not None and shuffles is None:  # the config's shuffles went with its own chance: the default for this one
        base = base.model_copy(update={"shuffles": None})
    params = with_flags(base, flags, {"heuristic": "--heuristic", "top_k_interactions": "--top-k",
                                                    "chance": "--chance", "shuffles": "--shuffles"}, "rank")
    console = Console(stderr=True)
    with printing_dry_run(), warning_lines(rank_stage.ColumnWarning), console.status("ranking features") as status:
        ranked = rank_stage.run(dataclasses.replace(inputs, on_progress=status.update), params, out)
    stdout = Console()
    # piped output gets a width that fits the table instead of rich's 80-column default
    (stdout if stdout.is_terminal else Console(width=140)).print(top_table(ranked.ranking, params.heuristic))
    for line in summary_lines(ranked, Path(out)):
        click.echo(line)
