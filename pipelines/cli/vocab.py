"""`featureplex vocab DATA --out DIR`: vocabularies and the multiplexed table layout, as a Beam pipeline.

Flags it does not know pass through to Beam (`--direct_num_workers 2`, `--runner DataflowRunner ...`).
"""

from __future__ import annotations


import click
from rich.console import Console
from rich.table import Table

from featureplex.features.data.config import VocabParams, load_config
from featureplex.features.embedding.layout import EmptyVocabularyWarning, Layout
from featureplex.pipelines.cli.options import (
    BEAM_OPTIONS_HELP, beam_flags, data_arguments, guard_options, guarded, printing_dry_run, warning_lines, with_flags,
)
from featureplex.pipelines.inputs import resolve_inputs

_FLAGS = {"mode": "--mode", "dimension": "--dimension", "budget_parameters": "--budget-parameters", "min_count": "--min-count"}


def vocab_params(base: VocabParams, flags: dict) -> VocabParams:
    """The config's vocab section with the flags given applied (a flag's budget replaces the config's)."""
    if flags.get("budget_parameters") is not None:
        base = base.model_copy(update={"budget_rows": None})
    return with_flags(base, flags, _FLAGS, "vocab")


def summary(layout: Layout) -> Table:
    table = Table(title=f"{layout.mode}: {layout.rows:,} rows x {layout.dimension} = {layout.parameters:,} parameters, "
                        f"{layout.head_rows:,} head rows, {layout.tail_rows:,} hashed rows")
    for column in ("feature", "distinct", "head rows", "chunks", "coverage", "sequences"):
        table.add_column(column, justify="left" if column in ("feature", "sequences") else "right")
    for name, feature in sorted(layout.features.items()):
        sequences = ", ".join(sorted(seq for seq, owner in layout.sequences.items() if owner == name and seq != name))
        table.add_row(name, f"{feature.distinct:,}", f"{feature.head_rows:,}", str(feature.chunks),
                      f"{feature.coverage:.1%}", sequences)
    return table


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, epilog=BEAM_OPTIONS_HELP)
@data_arguments
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Artifact directory to write.")
@click.option("--mode", type=click.Choice(["hybrid", "hashing", "separate", "collisionless"]), default=None,
              help="Table layout (default: config, else hybrid); collisionless: a row per value reaching min-count, "
                   "an out-of-vocabulary row per feature, no budget.")
@click.option("--dimension", type=int, default=None, help="Embedding dimension.")
@click.option("--budget-parameters", type=int, default=None, help="Total embedding parameters (rows x dimension).")
@click.option("--min-count", type=int, default=None, help="Occurrences a value needs for a head row (1: every value seen).")
@guard_options
@click.pass_context
def vocab(ctx: click.Context, data, config_path, label, out, mode, dimension, budget_parameters, min_count, rank_dir,
          allow_suspect_columns) -> None:
    """Count categorical values in DATA and lay out the multiplexed embedding table under a budget."""
    config = load_config(config_path)
    params = vocab_params(config.vocab, {"mode": mode, "dimension": dimension,
                                          "budget_parameters": budget_parameters, "min_count": min_count})
    inputs = guarded(resolve_inputs(data, config, label, beam_flags(ctx)), rank_dir, allow_suspect_columns)
    from featureplex.pipelines.stages import vocab as vocab_stage

    console = Console(stderr=True)
    with printing_dry_run(), warning_lines(EmptyVocabularyWarning), console.status(f"counting values in {inputs.data_path}"):
        layout = vocab_stage.run(inputs, params, out).layout
    Console().print(summary(layout))
    click.echo(f"wrote {out}")
