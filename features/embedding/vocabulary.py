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
  a dedicated row in hybrid mode (`features.embedding.layout`), so a vocabulary file never needs an empty line
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

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.errors import InputError

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
# Non-negative integers below this bound (or the batch length, if larger) are counted by bincount.
_BINCOUNT_SPAN = 1 << 20
# The token types a feature's counts can hold, widest last: mixed sources widen to the widest.
_WIDTH = {pl.Int64: 0, pl.String: 1, pl.Binary: 2}


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


def _native_values(values: pa.Array) -> pa.Array:
    """Values in the type their counts keep: int64, large_string or large_binary (booleans as 0 / 1)."""
    kind = token_kind("", values.type)
    target = {"integer": pa.int64(), "string": pa.large_string(), "binary": pa.large_binary()}[kind]
    if pa.types.is_uint64(values.type):  # beyond int64: counted as their decimal text
        target = pa.large_string()
    return values if values.type == target else pc.cast(values, target)


def _counts_table(tokens: pa.Array, counts: np.ndarray | pa.Array, nulls: int = 0) -> pa.Table:
    """(token, count) as an Arrow table, with a null token row when `nulls`."""
    table = pa.table({TOKEN: tokens, COUNT: pa.array(counts, pa.int64())})
    if not nulls:
        return table
    return pa.concat_tables([table, pa.table({TOKEN: pa.nulls(1, tokens.type), COUNT: pa.array([nulls], pa.int64())})])


def _bincounts(indices: pa.Array, minlength: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(values present, their counts) of non-negative integers, nulls left out."""
    bins = np.bincount((indices.drop_null() if indices.null_count else indices).to_numpy(), minlength=minlength)
    present = np.flatnonzero(bins)
    return present, bins[present]


def _value_counts(values: pa.Array, distinct: bool = False) -> pa.Table:
    """(token, count) of one array's values, tokens in their native type (null included); no loop over rows.

    Dictionary arrays (text read as Parquet dictionaries) and small non-negative integers (categorical
    ids) are counted by `np.bincount`, several times faster than hashing; everything else by Arrow's
    hash kernel, or, when `distinct` (the feature's values did not repeat so far), not at all: one row
    per value, summed by the next compaction.
    """
    if pa.types.is_dictionary(values.type):
        present, counts = _bincounts(values.indices, len(values.dictionary))
        # Arrow allows a value twice in a dictionary: the token then comes twice, and compaction sums it
        # (checking every batch's dictionary for repeats cost as much as counting it).
        return _counts_table(_native_values(values.dictionary.take(pa.array(present))), counts, values.null_count)
    values = _native_values(values)
    if pa.types.is_integer(values.type) and len(values) > values.null_count:
        low, high = pc.min_max(values).values()
        if low.as_py() >= 0 and high.as_py() < max(_BINCOUNT_SPAN, 2 * len(values)):
            present, counts = _bincounts(values)
            return _counts_table(pa.array(present, pa.int64()), counts, values.null_count)
    if distinct:  # values (nearly) all distinct so far: the next compaction sums them, one hash instead of two
        return _counts_table(values, np.ones(len(values), np.int64))
    counted = pc.value_counts(values)
    return _counts_table(counted.field("values"), counted.field("counts"))


def _without_padding(counts: pa.Table) -> pa.Table:
    """A sequence's counts less its padding (null, empty string, `MISSING_INT`): padding is not a value."""
    tokens = counts.column(TOKEN)
    padding = pc.equal(tokens, MISSING_INT if pa.types.is_integer(tokens.type) else pa.scalar(b"", tokens.type))
    return counts.filter(pc.invert(pc.fill_null(padding, True)))


def _as_frames(parts: list[pa.Table | pl.DataFrame]) -> list[pl.DataFrame]:
    """Polars frames of the parts, the Arrow tables concatenated per token type first (one conversion each)."""
    frames = [part for part in parts if isinstance(part, pl.DataFrame)]
    tables = [part for part in parts if isinstance(part, pa.Table)]
    for token_type in sorted({table.schema.field(TOKEN).type for table in tables}, key=str):
        frames.append(pl.from_arrow(pa.concat_tables([t for t in tables if t.schema.field(TOKEN).type == token_type])))
    return frames


def _widened(parts: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """Parts of one feature in one token type: integers as decimal text, text as UTF-8 bytes when binary joins in."""
    widest = max((part.schema[TOKEN] for part in parts), key=lambda dtype: _WIDTH[dtype])
    widened = []
    for part in parts:
        token = pl.col(TOKEN)
        if part.schema[TOKEN] == pl.Int64 and widest != pl.Int64:
            token = token.cast(pl.String)
        if widest == pl.Binary and part.schema[TOKEN] != pl.Binary:
            token = token.cast(pl.String).cast(pl.Binary)
        widened.append(part.with_columns(token))
    return widened


def _split_tokens(merged: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Merged native counts -> (text tokens of the representable values, missing, unrepresentable occurrences)."""
    dtype = merged.schema[TOKEN]
    if dtype == pl.Int64:
        missing = pl.col(TOKEN).is_null() | (pl.col(TOKEN) == MISSING_INT)
        text = merged.with_columns(pl.col(TOKEN).cast(pl.String), missing.alias("_missing"), pl.lit(False).alias("_bad"))
    else:
        if dtype == pl.Binary:  # UTF-8 validation on the distinct keys only
            keys = merged[TOKEN].to_arrow().cast(pa.large_binary())
            invalid = _invalid_utf8(keys)
            tokens = pc.if_else(invalid, pa.scalar(None, pa.large_binary()), keys).view(pa.large_string())
            merged = merged.with_columns(pl.Series(TOKEN, tokens).cast(pl.String), pl.Series("_invalid", invalid))
            invalid_expr = pl.col("_invalid")
        else:
            invalid_expr = pl.lit(False)
        missing = ((pl.col(TOKEN).is_null() & ~invalid_expr) | (pl.col(TOKEN) == "")).fill_null(False)
        bad = invalid_expr | pl.col(TOKEN).str.contains_any(["\r", "\n"]).fill_null(False)
        text = merged.with_columns(missing.alias("_missing"), (bad & ~missing).alias("_bad"))
    totals = text.select(pl.col(COUNT).filter("_missing").sum().alias("missing"),
                         pl.col(COUNT).filter("_bad").sum().alias("bad")).row(0)
    values = text.filter(~pl.col("_missing") & ~pl.col("_bad")).select(TOKEN, COUNT)
    return values, int(totals[0] or 0), int(totals[1] or 0)


def _ranked(values: pl.DataFrame) -> pl.DataFrame:
    """Most frequent first, ties by token.

    Tokens seen once are most of a large vocabulary (an ID-like column: all of it): they are sorted
    as one column, several times faster than the frame's two-key sort, and go last; not at all when
    they arrive sorted, as an ID-like feature's counts do (`ValueCounts._compact`).
    """
    once = pl.col(COUNT) == 1
    rest = values.lazy().filter(~once).sort([COUNT, TOKEN], descending=[True, False]).collect()
    singles = values.filter(once)
    if not singles[TOKEN].is_sorted():  # a linear check; polars does not know a frame unpickled sorted is
        singles = singles.select(pl.col(TOKEN).sort(), COUNT)
    return pl.concat([rest, singles], rechunk=False)  # two chunks: no copy of millions of tokens


def _compressed(frame: pl.DataFrame) -> pa.Buffer:
    """A frame as Arrow IPC, zstd level 1, chunks compressed on Arrow's threads (twice as fast as polars' IPC writer)."""
    table = frame.to_arrow()
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", 1), use_threads=True)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=1 << 20)
    return sink.getvalue()


def _decompressed(data: pa.Buffer) -> pl.DataFrame:
    return pl.from_arrow(pa.ipc.open_stream(data).read_all())


class ValueCounts:
    """Mergeable counts of each categorical feature's values; sequence elements count toward their shared feature.

    Counts are kept per native value (integers as integers) while batches are added and merged, and
    become text tokens, with missing and unrepresentable values set apart, once, when asked for.
    """

    def __init__(self, categorical: Iterable[str], sequences: Mapping[str, str] | None = None) -> None:
        """`categorical`: scalar columns, each its own feature; `sequences`: list column -> feature it shares with."""
        self.categorical = tuple(sorted(categorical))
        self.sequences = dict(sorted((sequences or {}).items()))
        self.features = tuple(sorted(set(self.categorical) | set(self.sequences.values())))
        self._merged: dict[str, pl.DataFrame | None] = dict.fromkeys(self.features)
        self._packed: dict[str, pa.Buffer] = {}  # merged counts as unpickled, decompressed on first use
        self._pending: dict[str, list[pa.Table | pl.DataFrame]] = {feature: [] for feature in self.features}
        self._split: dict[str, tuple[pl.DataFrame, int, int]] = {}  # text tokens, until the next change
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
        """Count one record batch: every categorical and sequence column, one vectorised count each."""
        return self.add_prepared(None, self.prepare(None, batch))

    def prepare(self, origin: object, batch: pa.RecordBatch) -> list[tuple[str, pa.Table]]:
        """The batch's counts, (feature, counts) per column, not yet added: reads no state but the features'
        distinct flags, so reading threads can count their batches while this accumulator adds others."""
        self.check_schema(batch.schema)
        parts = [(column, _value_counts(batch.column(column), self._distinct[column])) for column in self.categorical]
        for column, feature in self.sequences.items():
            elements = pc.list_flatten(batch.column(column))
            parts.append((feature, _without_padding(_value_counts(elements, self._distinct[feature]))))
        return parts

    def add_prepared(self, origin: object, parts: list[tuple[str, pa.Table]]) -> ValueCounts:
        """Add a batch's counts from `prepare`; compact the features whose pending counts outgrew their merged ones."""
        for feature, counts in parts:
            self._pending[feature].append(counts)
        for feature, pending in self._pending.items():
            self._split.pop(feature, None)
            merged = self._merged_counts(feature)
            limit = max(_COMPACT_MIN_ROWS, 0 if merged is None else merged.height)
            if sum(len(part) for part in pending) > limit * (_DISTINCT_PATIENCE if self._distinct[feature] else 1):
                self._compact(feature)
        return self

    def _merged_counts(self, feature: str) -> pl.DataFrame | None:
        """The feature's merged counts (None: none yet), decompressed here if they arrived pickled."""
        packed = self._packed.pop(feature, None)
        if packed is not None:
            self._merged[feature] = _decompressed(packed)
        return self._merged[feature]

    def _compact(self, feature: str) -> pl.DataFrame:
        """Sum the pending counts (Arrow tables, a token possibly twice) into the merged ones (a polars frame, distinct)."""
        merged = self._merged_counts(feature)
        if not self._pending[feature]:
            return _EMPTY if merged is None else merged
        parts = [part for part in (merged, *self._pending[feature]) if part is not None]
        rows = sum(len(part) for part in parts)
        frames = _widened(_as_frames(parts))
        if all(frame[COUNT].max() == 1 for frame in frames):
            # one occurrence per row, as an ID-like feature's: counting a sorted column is a linear scan, so
            # sorting costs about what hashing would, and the counts come out sorted for `_ranked`
            tokens = pl.concat([frame[TOKEN] for frame in frames], rechunk=False).sort()
            merged = tokens.value_counts(sort=False, name=COUNT).with_columns(pl.col(COUNT).cast(pl.Int64))
        else:  # lazy: polars' query engine groups large frames about twice as fast as the eager calls
            merged = pl.concat(frames).lazy().group_by(TOKEN).agg(pl.col(COUNT).sum()).collect()
        self._distinct[feature] = merged.height >= _DISTINCT_SHARE * rows
        self._merged[feature], self._pending[feature] = merged, []
        return merged

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
                summed = other._merged_counts(feature)
                if summed is not None and len(summed):
                    if merged._merged[feature] is None:  # already distinct: a lone one needs no grouping
                        merged._merged[feature] = summed
                    else:
                        merged._pending[feature].append(summed)
                merged._pending[feature].extend(part for part in other._pending[feature] if len(part))
        for feature in merged.features:
            merged._compact(feature)
        return merged

    # The accumulator protocol of pipelines.beam.passes: add_batch / merge / compact / result, and
    # prepare / add_prepared, the counting done on the reading threads.
    def add_batch(self, origin: object, batch: pa.RecordBatch) -> ValueCounts:
        return self.add(batch)

    def merge(self, others: list[ValueCounts]) -> ValueCounts:
        return ValueCounts.merge_all([self, *others])

    def compact(self) -> ValueCounts:
        for feature in self.features:
            if self._pending[feature]:
                self._compact(feature)
        return self

    def result(self) -> ValueCounts:
        return self

    def estimated_bytes(self) -> int:
        """Approximate size of the counts held, without encoding them (Beam's coders ask for it)."""
        merged = sum(int(frame.estimated_size()) for frame in self._merged.values() if frame is not None)
        merged += sum(int(packed.size) for packed in self._packed.values())
        return 64 + merged + sum(part.nbytes if isinstance(part, pa.Table) else int(part.estimated_size())
                                 for parts in self._pending.values() for part in parts)

    def __getstate__(self) -> dict:
        self.compact()  # ship merged counts, not per-batch pieces
        # as zstd-compressed Arrow IPC: a third of polars' own pickle, and Beam copies what it ships several
        # times. Counts still packed as they arrived ship as they are: a local runner's grouping unpickles
        # and pickles again every accumulator it passes on, which would otherwise cost a round trip of both.
        shipped = {feature: None if frame is None else _compressed(frame) for feature, frame in self._merged.items()}
        return {**self.__dict__, "_merged": {**shipped, **self._packed}, "_packed": {}, "_split": {}}

    def __setstate__(self, state: dict) -> None:
        packed = {feature: data for feature, data in state["_merged"].items() if data is not None}
        self.__dict__.update(state, _merged=dict.fromkeys(state["_merged"]), _packed=packed)

    def _tokens(self, feature: str) -> tuple[pl.DataFrame, int, int]:
        """(ranked text tokens, missing, unrepresentable) of a feature, computed once per change."""
        if feature not in self._split:
            values, missing, unrepresentable = _split_tokens(self._compact(feature))
            self._split[feature] = _ranked(values), missing, unrepresentable
        return self._split[feature]

    def ranked(self, feature: str) -> pl.DataFrame:
        """(token, count) of a feature's representable values, most frequent first, ties by token."""
        return self._tokens(feature)[0]

    def missing(self, feature: str) -> int:
        """Occurrences of the missing value (null, empty string or `MISSING_INT`; never sequence padding)."""
        return self._tokens(feature)[1]

    def unrepresentable(self, feature: str) -> int:
        """Occurrences of values the vocabulary file cannot hold (routed to the hashed tail)."""
        return self._tokens(feature)[2]

    def occurrences(self, feature: str) -> int:
        """All occurrences: values, missing and unrepresentable."""
        return int(self._compact(feature)[COUNT].sum())

    def frame(self) -> pl.DataFrame:
        """Every feature's ranked counts as one frame (feature, token, count), features in name order."""
        frames = [self.ranked(feature).select(pl.lit(feature).alias("feature"), TOKEN, COUNT) for feature in self.features]
        return pl.concat(frames) if frames else _EMPTY.select(pl.lit("").alias("feature"), TOKEN, COUNT).clear()

    def to_arrow(self) -> pa.Table:
        return self.frame().to_arrow()
