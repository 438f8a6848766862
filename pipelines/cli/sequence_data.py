"""`featureplex ctr-rows SOURCE --out DIR` and `featureplex next-item-sequences SOURCE --out DIR`."""

from __future__ import annotations

import json

import click

SOURCE_HELP = ("User histories: an Amazon `user item1 item2 ...` file (Beauty.txt), a `user item` pairs file "
               "(Video.txt), or a Parquet impression log such as `featureplex synth` output (clicked items per user).")


def source_options(command):
    for decorator in reversed([
        click.argument("source", type=click.Path(exists=True)),
        click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory (replaced atomically)."),
        click.option("--format", "source_format", default="auto", show_default=True,
                     type=click.Choice(["auto", "user-lines", "user-item-pairs", "parquet"]),
                     help="How SOURCE is laid out: user-lines (`user item1 item2 ...`), user-item-pairs (`user item` per "
                          "line), parquet, or auto (guessed from the file)."),
        click.option("--max-length", type=int, default=50, show_default=True,
                     help="Longest history kept; longer ones keep their most recent items (counted)."),
        click.option("--user-column", default="user_id", show_default=True, help="Parquet sources: the user column."),
        click.option("--item-column", default="item_id", show_default=True, help="Parquet sources: the item column."),
        click.option("--time-column", default="timestamp", show_default=True,
                     help="Parquet sources: the time column ('' for none)."),
        click.option("--label-column", default="label", show_default=True,
                     help="Parquet sources: rows with label 1 are the interactions ('' for every row)."),
    ]):
        command = decorator(command)
    return command


def _histories(source, source_format, user_column, item_column, time_column, label_column):
    from featureplex.pipelines.datasets.user_histories import read_user_histories

    return read_user_histories(source, source_format, user_column, item_column, time_column or None, label_column or None)


@click.command("ctr-rows")
@source_options
@click.option("--min-history", type=int, default=1, show_default=True, help="Earlier events a target needs (0 keeps empty histories).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the negative sampling.")
def ctr_rows(source, out, source_format, max_length, user_column, item_column, time_column, label_column, min_history, seed):
    """DIN-style CTR rows: history, the real next item (label 1) and an unseen item (label 0); train/ and test/ (last event)."""
    from featureplex.pipelines.datasets.ctr_rows import build_ctr_rows

    histories = _histories(source, source_format, user_column, item_column, time_column, label_column)
    stats = build_ctr_rows(histories, out, max_length, min_history, seed)
    click.echo(json.dumps({"out": out, **stats.__dict__}))


@click.command("next-item-sequences")
@source_options
def next_item_sequences(source, out, source_format, max_length, user_column, item_column, time_column, label_column):
    """Leave-one-out next-item data: each user's items but the last, and the held-out last item."""
    from featureplex.pipelines.datasets.ctr_rows import build_next_item_sequences

    histories = _histories(source, source_format, user_column, item_column, time_column, label_column)
    stats = build_next_item_sequences(histories, out, max_length)
    click.echo(json.dumps({"out": out, **stats.__dict__}))
