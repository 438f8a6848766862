"""User histories (each user's items in time order) read from the public sequential-recommendation
files and from impression logs, as one flat, sorted table.

Sources (`format`):
- `user-lines`: one line per user, `user item1 item2 ...` in time order (ICLRec's Amazon Beauty.txt);
- `user-item-pairs`: one `user item` line per interaction, each user's lines in time order
  (SASRec's Amazon Video.txt);
- `parquet`: an impression log such as `featureplex synth` output: a user's history is the items of
  its positive rows (label 1), ordered by the timestamp column (ties in file order);
- `auto`: Parquet for a directory or a .parquet file, otherwise pairs if every line of the first 1,000
  has two fields, lines if not.

The result, `UserHistories.events`, is a polars DataFrame with one row per interaction: `user`
(int64), `item` (int64), `time` (datetime[s], only when the source has times), sorted by user and then
time order; `position` is the index inside the user's history. Everything is vectorised: no Python
loop over lines or rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from featureplex.features.errors import InputError

FORMATS = ("auto", "user-lines", "user-item-pairs", "parquet")
SNIFF_LINES = 1000


@dataclass(frozen=True)
class UserHistories:
    events: pl.DataFrame  # user, item, [time], position; sorted by user then position
    source: str

    @property
    def has_time(self) -> bool:
        return "time" in self.events.columns


def detect_format(path: str | os.PathLike) -> str:
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        return "parquet"
    with open(path) as handle:
        widths = {len(line.split()) for _, line in zip(range(SNIFF_LINES), handle) if line.strip()}
    if not widths:
        raise InputError(f"{path}: empty file; expected user histories")
    return "user-item-pairs" if widths == {2} else "user-lines"


def _integer_tokens(path: Path, tokens: pl.DataFrame, column: str) -> pl.Series:
    parsed = tokens[column].cast(pl.Int64, strict=False)
    bad = parsed.is_null() & tokens[column].is_not_null()
    if bad.any():
        line = int(tokens.filter(bad)["line"][0]) + 1
        raise InputError(f"{path}: {int(bad.sum())} {column} ids are not integers (first on line {line}); "
                         "expected integer user and item ids")
    return parsed


def _read_user_lines(path: Path) -> pl.DataFrame:
    lines = pl.read_csv(path, has_header=False, separator="\x1f", new_columns=["text"], quote_char=None,
                        schema_overrides={"text": pl.String}).with_row_index("line")
    tokens = lines.with_columns(pl.col("text").str.strip_chars().str.split(" ").alias("tokens"))
    tokens = tokens.select("line", pl.col("tokens").list.first().alias("user"),
                           pl.col("tokens").list.slice(1).alias("item")).explode("item")
    tokens = tokens.filter(pl.col("item").is_not_null() & (pl.col("item") != ""))
    return pl.DataFrame({"user": _integer_tokens(path, tokens, "user"), "item": _integer_tokens(path, tokens, "item")})


def _read_pairs(path: Path) -> pl.DataFrame:
    text = pl.read_csv(path, has_header=False, separator="\x1f", new_columns=["text"], quote_char=None,
                       schema_overrides={"text": pl.String}).with_row_index("line")
    fields = text.with_columns(pl.col("text").str.strip_chars().str.split(" ").alias("fields"))
    widths = fields["fields"].list.len()
    if (widths != 2).any():
        line = int(fields.filter(widths != 2)["line"][0]) + 1
        raise InputError(f"{path}: {int((widths != 2).sum())} lines do not have two fields (first: line {line}); "
                         "expected `user item` per line")
    tokens = fields.select("line", pl.col("fields").list.get(0).alias("user"), pl.col("fields").list.get(1).alias("item"))
    return pl.DataFrame({"user": _integer_tokens(path, tokens, "user"), "item": _integer_tokens(path, tokens, "item")})


def _read_parquet(path: Path, user: str, item: str, time: str | None, label: str | None) -> pl.DataFrame:
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no .parquet files")
    frame = pl.scan_parquet(files).with_row_index("order")
    names = frame.collect_schema().names()
    for option, column in (("--user-column", user), ("--item-column", item), ("--time-column", time),
                           ("--label-column", label)):
        if column is not None and column not in names:
            raise InputError(f"{path}: no column '{column}' ({option})")
    if label is not None:
        frame = frame.filter(pl.col(label) == 1)
    columns = [pl.col(user).cast(pl.Int64).alias("user"), pl.col(item).cast(pl.Int64).alias("item")]
    if time is not None:
        columns.append(pl.col(time).alias("time"))
    events = frame.select("order", *columns).collect()
    if time is not None and events["time"].dtype.is_integer():  # integer times are seconds since the epoch
        events = events.with_columns(pl.from_epoch("time", time_unit="s"))
    elif time is not None and not isinstance(events["time"].dtype, pl.Datetime):
        raise InputError(f"{path}: column '{time}' (--time-column) is {events['time'].dtype}; expected a timestamp")
    nulls = events.select(pl.col("user", "item").null_count()).row(0)
    if sum(nulls):
        raise InputError(f"{path}: {sum(nulls)} positive rows have a null user or item id")
    sort_by = ["user", "time", "order"] if time is not None else ["user", "order"]
    return events.sort(sort_by).drop("order")


def read_user_histories(path: str | os.PathLike, format: str = "auto", user: str = "user_id", item: str = "item_id",
                        time: str | None = "timestamp", label: str | None = "label") -> UserHistories:
    """Every user's items in time order; see the module docstring for the formats."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: does not exist")
    if format not in FORMATS:
        raise InputError(f"--format: '{format}' is not one of {', '.join(FORMATS)}")
    chosen = detect_format(path) if format == "auto" else format
    if chosen == "parquet":
        events = _read_parquet(path, user, item, time, label)
    else:
        events = _read_user_lines(path) if chosen == "user-lines" else _read_pairs(path)
        # users' lines keep file order (time order); a stable sort groups a user whose lines are split
        events = events.with_row_index("order").sort("user", "order").drop("order")
    if events.is_empty():
        raise InputError(f"{path}: no interactions found")
    events = events.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("user").alias("position"))
    return UserHistories(events, chosen)
