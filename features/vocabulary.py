"""Per-feature value counts for the multiplexed vocabulary, fed by Arrow record batches.

`ValueCounts` is the accumulator of the vocab stage: each worker adds record batches (one Arrow
`value_counts` per column and batch, the rest of the batch's work one polars query, never a loop over
rows), accumulators merge by summing counts
per token, and the ranked result (count descending, ties by token) is the same whatever the order of
batches and merges, so vocabularies are byte-identical with any number of workers.

Tokens (what the model's lookup sees, DESIGN.md section 4):
- integers are their decimal strings (`42` -> "42"), booleans "0" / "1", strings are themselves,
  binary values their UTF-8 text;
- missing is one value per feature: a null, an empty string (it carries the same information) or
  `MISSING_INT` in an integer column. Missing is counted apart from the tokens and the layout gives it
  a dedicated row in hybrid mode (`features.layout`), so a vocabulary file never needs an empty line
  (TensorFlow's text-file tables reject empty lines);
- values that the one-token-per-line text format cannot hold, those containing a line break ("\\n"
  or "\\r") and binary values that are not valid UTF-8, are not escaped but routed to the hashed
  tail: they are counted as `unrepresentable` occurrences of their feature and never get a head row,
  so every vocabulary file loads unchanged into a Keras lookup layer. In the model they hash with
  their feature's salt like any other value outside the head.

Sequence columns (list<string|int>) count their elements toward the feature whose vocabulary they
share. In a sequence a null element, an empty string or `MISSING_INT` is padding, not a value, and is
not counted.

Example::

    counts = ValueCounts(["item_id", "device"], sequences={"history_item_ids": "item_id"})
    for batch in batches:
        counts.add(batch)
    merged = ValueCounts.merge_all([counts, other_worker_counts])
    merged.ranked("item_id")  # polars frame (token, count), most frequent first, ties by token
"""

from __future__ import annotations

from typing import Iterable, Mapping

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from features.errors import InputError

# How a dense integer tensor carries a missing value: an Arrow null has no tensor form.
MISSING_INT = -(2**63)

TOKEN = "token"
COUNT = "count"
_EMPTY = pl.DataFrame(schema={TOKEN: pl.String, COUNT: pl.Int64})
# Pending per-batch counts are merged once they outgrow the merged ones: amortised linear work.
_COMPACT_MIN_ROWS = 1 << 20
# A compaction that keeps this share of its rows found (almost) no value twice: merging again saves
# little memory, so the feature's next compaction waits for `_DISTINCT_PATIENCE` times more pending rows
# (an ID-like column is then merged about once, when the accumulator is shipped, not at every doubling).
_DISTINCT_SHARE = 0.9
_DISTINCT_PATIENCE = 4


def _invalid_utf8(values: pa.Array) -> pa.Array:
    """Which large_binary values are not UTF-8: one validation when all are (the usual case), bisection otherwise."""
    try:
        values.view(pa.large_string()).validate(full=True)
        return pa.nulls(len(values), pa.bool_()).fill_null(False)
    except pa.ArrowInvalid:
        if len(values) == 1:
            return pa.array([True])
        half = len(values) // 2
        return pa.concat_arrays([_invalid_utf8(values[:half]), _invalid_utf8(values[half:])])


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)


def token_kind(column: str, arrow_type: pa.DataType) -> str:
    """How a column's values become tokens: "integer", "binary" or "string"; other types are an InputError."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "integer"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return "binary"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    raise InputError(f"column '{column}': type {arrow_type} cannot have a vocabulary (expected string, binary or integer)")


def _distinct_counts(column: str, values: pa.Array) -> tuple[pl.LazyFrame, pl.Expr, pl.Expr]:
    """Distinct values of one array with their counts (token as text), and which rows are missing / unrepresentable.

    Lazy: `ValueCounts.add` runs every column's counting, casts, flags, totals and filter as one query
    (polars spreads the columns over its threads and the per-call overhead is paid once per batch).
    """
    kind = token_kind(column, values.type)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_boolean(values.type):  # as the model's input does: True -> "1"
        values = pc.cast(values, pa.int8())
    if kind == "binary":  # UTF-8 validation needs the distinct keys at hand
        counts = pl.from_arrow(values).alias(TOKEN).value_counts(name=COUNT)
        keys = counts[TOKEN].to_arrow().cast(pa.large_binary())
        invalid = _invalid_utf8(keys)
        text = pc.if_else(invalid, pa.scalar(None, pa.large_binary()), keys).view(pa.large_string())
        counts = pl.DataFrame({TOKEN: pl.from_arrow(text).cast(pl.String), COUNT: counts[COUNT].cast(pl.Int64),
                               "invalid": invalid})
        missing = pl.col(TOKEN).is_null() & ~pl.col("invalid") | (pl.col(TOKEN) == "")
        return counts.lazy(), missing, pl.col("invalid") | pl.col(TOKEN).str.contains("[\r\n]")
    distinct = pc.value_counts(values)  # Arrow's hash kernel: faster than polars' on a batch of tokens
    counts = pl.from_arrow(pa.table({TOKEN: distinct.field("values"), COUNT: distinct.field("counts")})).lazy()
    counts = counts.with_columns(pl.col(TOKEN).cast(pl.String), pl.col(COUNT).cast(pl.Int64))
    if kind == "integer":
        return counts, pl.col(TOKEN).is_null() | (pl.col(TOKEN) == str(MISSING_INT)), pl.lit(False)
    return counts, pl.col(TOKEN).is_null() | (pl.col(TOKEN) == ""), pl.col(TOKEN).str.contains("[\r\n]")


def _counting_queries(column: str, values: pa.Array) -> list[pl.LazyFrame]:
    """Two queries over one array: (missing, unrepresentable) occurrence totals, and the counts of the other values."""
    counts, missing, unrepresentable = _distinct_counts(column, values)
    flagged = counts.with_columns(missing.fill_null(False).alias("_missing"),
                                  unrepresentable.fill_null(False).alias("_unrepresentable"))
    missing, unrepresentable = pl.col("_missing"), pl.col("_unrepresentable")
    return [
        flagged.select(
            pl.col(COUNT).filter(missing).sum().alias("missing"),
            pl.col(COUNT).filter(unrepresentable & ~missing).sum().alias("unrepresentable"),
        ),
        flagged.filter(~missing & ~unrepresentable).select(TOKEN, COUNT),
    ]


class ValueCounts:
    """Mergeable counts of each categorical feature's values; sequence elements count toward their shared feature."""

    def __init__(self, categorical: Iterable[str], sequences: Mapping[str, str] | None = None) -> None:
        """`categorical`: scalar columns, each its own feature; `sequences`: list column -> feature it shares with."""
        self.categorical = tuple(sorted(categorical))
        self.sequences = dict(sorted((sequences or {}).items()))
        self.features = tuple(sorted(set(self.categorical) | set(self.sequences.values())))
        self._merged = {feature: _EMPTY for feature in self.features}
        self._pending: dict[str, list[pl.DataFrame]] = {feature: [] for feature in self.features}
        self._missing = dict.fromkeys(self.features, 0)
        self._unrepresentable = dict.fromkeys(self.features, 0)
        self._ranked: dict[str, pl.DataFrame] = {}  # sorted merged counts, until the next change
        self._distinct = dict.fromkeys(self.features, False)  # the last compaction found no repeats

    def _same_sources(self, other: ValueCounts) -> bool:
        return (self.categorical, self.sequences) == (other.categorical, other.sequences)

    def check_schema(self, schema: pa.Schema) -> None:
        """Every counted column exists with a type that has tokens; InputError naming the column otherwise."""
        for column in (*self.categorical, *self.sequences):
            if column not in schema.names:
                raise InputError(f"column '{column}' is not in the data")
            arrow_type = schema.field(column).type
            if column in self.sequences:
                if not _is_list(arrow_type):
                    raise InputError(f"column '{column}': type {arrow_type} is not a list (a sequence feature needs list<string|int>)")
                arrow_type = arrow_type.value_type
            token_kind(column, arrow_type)

    def add(self, batch: pa.RecordBatch) -> ValueCounts:
        """Count one record batch (every categorical and sequence column of it) in one polars query."""
        self.check_schema(batch.schema)
        sources = [(column, column, batch.column(column), False) for column in self.categorical]
        # a sequence's missing elements are padding, not values: they are not counted as missing
        sources += [(feature, column, pc.list_flatten(batch.column(column)), True)
                    for column, feature in self.sequences.items()]
        queries = [query for _, column, values, _ in sources for query in _counting_queries(column, values)]
        results = pl.collect_all(queries)
        for index, (feature, _, _, padding) in enumerate(sources):
            missing, unrepresentable = results[2 * index].row(0)
            if not padding:
                self._missing[feature] += missing or 0
            self._unrepresentable[feature] += unrepresentable or 0
            self._pending[feature].append(results[2 * index + 1])
        for feature, parts in self._pending.items():
            limit = max(_COMPACT_MIN_ROWS, self._merged[feature].height)
            if sum(part.height for part in parts) > limit * (_DISTINCT_PATIENCE if self._distinct[feature] else 1):
                self._compact(feature)
        return self

    def _compact(self, feature: str) -> pl.DataFrame:
        parts = self._pending[feature]
        if parts:
            rows = self._merged[feature].height + sum(part.height for part in parts)
            # lazy: polars' query engine groups (and, in `ranked`, sorts) large frames about twice as
            # fast as the eager calls
            self._merged[feature] = (
                pl.concat([self._merged[feature], *parts]).lazy().group_by(TOKEN).agg(pl.col(COUNT).sum()).collect()
            )
            self._pending[feature] = []
            self._distinct[feature] = self._merged[feature].height >= _DISTINCT_SHARE * rows
            self._ranked.pop(feature, None)
        return self._merged[feature]

    @classmethod
    def merge_all(cls, accumulators: Iterable[ValueCounts]) -> ValueCounts:
        """Sum several accumulators over the same columns: order-independent, exact."""
        accumulators = list(accumulators)
        first = accumulators[0]
        if not all(first._same_sources(other) for other in accumulators):
            raise ValueError("cannot merge value counts over different columns")
        merged = cls(first.categorical, first.sequences)
        for other in accumulators:
            for feature in merged.features:
                parts = [other._merged[feature], *other._pending[feature]]
                merged._pending[feature].extend(part for part in parts if part.height)
                merged._missing[feature] += other._missing[feature]
                merged._unrepresentable[feature] += other._unrepresentable[feature]
        for feature in merged.features:
            parts = merged._pending[feature]
            if len(parts) == 1 and any(parts[0] is other._merged[feature] for other in accumulators):
                # one accumulator holds all of this feature's counts, already merged: nothing to sum
                merged._merged[feature], merged._pending[feature] = parts[0], []
            merged._compact(feature)
        return merged

    def estimated_bytes(self) -> int:
        """Approximate size of the counts held, without encoding them (Beam's coders ask for it)."""
        frames = [*self._merged.values(), *(part for parts in self._pending.values() for part in parts)]
        return 64 + sum(int(frame.estimated_size()) for frame in frames)

    def __getstate__(self) -> dict:
        for feature in self.features:  # ship merged counts, not per-batch pieces
            self._compact(feature)
        return {**self.__dict__, "_ranked": {}}

    def ranked(self, feature: str) -> pl.DataFrame:
        """(token, count) of a feature's representable values, most frequent first, ties by token."""
        merged = self._compact(feature)
        if feature not in self._ranked:
            self._ranked[feature] = merged.lazy().sort([COUNT, TOKEN], descending=[True, False]).collect()
        return self._ranked[feature]

    def missing(self, feature: str) -> int:
        """Occurrences of the missing value."""
        return self._missing[feature]

    def unrepresentable(self, feature: str) -> int:
        """Occurrences of values the vocabulary file cannot hold (routed to the hashed tail)."""
        return self._unrepresentable[feature]

    def occurrences(self, feature: str) -> int:
        """All occurrences: values, missing and unrepresentable."""
        return int(self._compact(feature)[COUNT].sum()) + self._missing[feature] + self._unrepresentable[feature]

    def to_arrow(self) -> pa.Table:
        """Every feature's ranked counts as one table (feature, token, count), features in name order."""
        frames = [self.ranked(feature).select(pl.lit(feature).alias("feature"), TOKEN, COUNT) for feature in self.features]
        table = pl.concat(frames) if frames else _EMPTY.select(pl.lit("").alias("feature"), TOKEN, COUNT).clear()
        return table.to_arrow()
