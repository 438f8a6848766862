"""`featureplex vocab DATA --out DIR`: vocabularies and the multiplexed table layout, as a Beam pipeline.

Flags it does not know pass through to Beam (`--direct_num_workers 2`, `--runner DataflowRunner ...`).
"""

from __future__ import annotations

import warnings

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from features.config import VocabParams, load_config
from features.errors import InputError
from features.layout import EmptyVocabularyWarning, Layout
from pipelines.command_inputs import data_arguments

_FLAGS = {"mode": "--mode", "dimension": "--dimension", "budget_parameters": "--budget-parameters", "min_count": "--min-count"}


def vocab_params(base: VocabParams, flags: dict) -> VocabParams:
    """The config's vocab section with the flags given on the command line applied (a flag's budget replaces the config's)."""
    given = {key: value for key, value in flags.items() if value is not None}
    if "budget_parameters" in given:
        given["budget_rows"] = None
    try:
        return VocabParams.model_validate({**base.model_dump(), **given})
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0])
        raise InputError(f"{_FLAGS.get(key, 'vocab.' + key)}: {first['msg']} (got {first.get('input')!r})") from None


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


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@data_arguments
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Artifact directory to write.")
@click.option("--mode", type=click.Choice(["hybrid", "hashing", "separate"]), default=None, help="Table layout (default: config, else hybrid).")
@click.option("--dimension", type=int, default=None, help="Embedding dimension.")
@click.option("--budget-parameters", type=int, default=None, help="Total embedding parameters (rows x dimension).")
@click.option("--min-count", type=int, default=None, help="Occurrences a value needs for a head row.")
@click.pass_context
def vocab(ctx: click.Context, data, config_path, label, out, mode, dimension, budget_parameters, min_count) -> None:
    """Count categorical values in DATA and lay out the multiplexed embedding table under a budget."""
    config = load_config(config_path)
    params = vocab_params(config.vocab, {"mode": mode, "dimension": dimension,
                                          "budget_parameters": budget_parameters, "min_count": min_count})
    config = config.model_copy(update={"vocab": params})
    path = data or config.dataset
    if path is None:
        raise InputError("DATA: give a Parquet file, directory or glob (or `dataset:` in the config)")
    from pipelines.vocab_pipeline import build_vocabulary
    console = Console(stderr=True)
    with warnings.catch_warnings(record=True) as caught, console.status(f"counting values in {path}"):
        warnings.simplefilter("always", EmptyVocabularyWarning)
        layout = build_vocabulary(path, config, out, beam_args=ctx.args, label=label)
    for warning in caught:
        if issubclass(warning.category, EmptyVocabularyWarning):
            click.echo(f"warning: {warning.message}", err=True)
    Console().print(summary(layout))
    click.echo(f"wrote {out}")
