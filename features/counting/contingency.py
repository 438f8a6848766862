"""Contingency counts: per feature, a table key -> (n, w_1, ..., w_W), merged by adding counts.

The one count machinery of the rank and profile stages. For ranking, the weights are the label `pos`
and R shuffled copies of it `pos_1..pos_R`, so one table gives, per key, the rows n, the positives and
the positives under each shuffle: everything MI and its chance baseline need (features.scoring.information).

Keys (`KeyRule.keys`):
- categorical: the value itself (string or Int64); null is the missing key.
- numeric float: the log-bucket sketch key of features.counting.numeric_sketch; NaN and null are missing.
- numeric integer: the value itself, exact.

Cardinality cap: a table with more than `cap` distinct non-missing keys is coarsened, categorical keys
hashed into `hash_buckets` buckets with a seeded polars hash (identical across processes, unlike
Python's hash()), integer numeric keys turned into sketch keys. Coarsening is a function of the key, so
a merge coarsens whichever side is still exact and the final table is coarse exactly when the global
distinct count exceeds the cap, whatever order partial tables merge in. The exact keys of every part
coarsened go into a distinct-count sketch first (features.counting.distinct_sketch), so a coarse
table still estimates how many distinct values it had. Tables are sorted by key when a result is
taken, so results do not depend on how a runner split the work.

Example::

    acc = FeatureCountsAccumulator(CountPlan(rules, label="label", shuffles=8, seed=0))
    for origin, batch in iter_origin_batches(dataset, columns, 65536):
        acc.add_batch(origin, batch)
    counts = acc.result()            # FeatureCounts: rows, tables[name] -> KeyedCounts
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.counting.cell_counts import PackedWeights, count_cells
from featureplex.features.counting.column_cells import ColumnCells, dictionary_cells, filled, integer_cells
from featureplex.features.counting.distinct_sketch import distinct_estimate, key_sketch, merged_sketch
from featureplex.features.counting.numeric_sketch import equal_frequency_bins, log_bucket_keys
from featureplex.features.data.dataset import BatchOrigin

HASH_SEED = 0x5EED_F00D
# regroup adds integer keys densely (bincount) when they span at most this many times the rows
DENSE_REGROUP_FACTOR = 4
# pending per-batch pair tables are merged once they hold this many rows in all, which bounds memory
# without re-sorting a large table after every batch (features.scoring.interactions)
COMPACT_ROWS = 1 << 20
# a feature's pending batch tables are merged into its first table once they hold more rows than it and
# more than this (FeatureCountsAccumulator.add_prepared)
FEATURE_COMPACT_ROWS = 1 << 17
# a codebook of integer keys is looked up through a dense table when its keys span fewer values (8 MB)
DENSE_LOOKUP_SPAN = 1 << 20


class KeyMode(str, Enum):
    EXACT = "exact"
    HASHED = "hashed"
    LOG_BUCKET = "log_bucket"


@dataclass(frozen=True)
class KeyRule:
    """How one feature's values become keys, and how its keys are coarsened past the cap."""

    name: str
    kind: str  # "categorical" or "numeric"
    integer: bool  # numeric stored as integers: exact keys until the cap
    cap: int
    hash_buckets: int

    @property
    def initial_mode(self) -> KeyMode:
        if self.kind == "numeric" and not self.integer:
            return KeyMode.LOG_BUCKET
        return KeyMode.EXACT

    @property
    def coarse_mode(self) -> KeyMode:
        return KeyMode.HASHED if self.kind == "categorical" else KeyMode.LOG_BUCKET

    def keys(self, column: pa.Array | pa.ChunkedArray) -> pl.Series:
        """Key of every row in the initial mode; null for missing."""
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if self.initial_mode == KeyMode.LOG_BUCKET:
            values = pc.fill_null(pc.cast(column, pa.float64()), float("nan"))
            return log_bucket_keys(values.to_numpy(zero_copy_only=False))
        if pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
            column = pc.cast(column, pa.int64())
        return pl.Series("key", column)

    def cells(self, column: pa.Array | pa.ChunkedArray) -> tuple[ColumnCells | None, pl.Series | None]:
        """(cells, None) when the column has small cells in the initial mode (features.counting.column_cells), else
        (None, keys): dictionary indices and narrow integer keys are counted by bincount, the rest hashed."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            return dictionary_cells(column.indices, self.keys(column.dictionary)), None
        keys = self.keys(column)
        # a bincount over a few times the rows' span beats a hash group_by of the keys (as in `regroup`)
        cells = integer_cells(keys, max_span=DENSE_REGROUP_FACTOR * len(keys)) if keys.dtype == pl.Int64 else None
        return (cells, None) if cells is not None else (None, keys)

    def coarsen(self, keys: pl.Series) -> pl.Series:
        """Exact keys -> coarse keys (hash buckets, or sketch keys for integers); missing stays missing."""
        if self.coarse_mode == KeyMode.LOG_BUCKET:
            return log_bucket_keys(keys.cast(pl.Float64).fill_null(float("nan")).to_numpy())
        bucket = (keys.hash(HASH_SEED) % self.hash_buckets).cast(pl.Int64)
        return pl.select(pl.when(keys.is_null()).then(None).otherwise(bucket).alias("key")).to_series()


def regroup(frame: pl.DataFrame) -> pl.DataFrame:
    """Add up the counts of equal keys.

    Integer keys spanning no more than a few times the rows (ids, hash buckets, sketch keys) are added
    by one bincount per count column, several times cheaper than a hash group_by; the sums are exact
    (integers below 2^53 in float64).
    """
    keys = frame["key"]
    cells = integer_cells(keys, max_span=DENSE_REGROUP_FACTOR * len(keys)) if keys.dtype == pl.Int64 else None
    if cells is None:
        return frame.group_by("key").agg(pl.all().sum())
    rows = np.bincount(cells.cells, minlength=cells.size)
    present = np.flatnonzero(rows)
    sums = [
        pl.Series(name, np.bincount(cells.cells, weights=frame[name].to_numpy(), minlength=cells.size)[present].astype(np.int64))
        for name in frame.columns[1:]
    ]
    return pl.DataFrame([cells.keys.gather(present).alias("key"), *sums])


def count_rows(keys: pl.Series, weights: dict[str, np.ndarray]) -> pl.DataFrame:
    """Per distinct key: n = rows, and the sum of each weight column over those rows (a hash group_by)."""
    frame = pl.DataFrame([keys.alias("key"), *(pl.Series(name, values) for name, values in weights.items())])
    return frame.group_by("key").agg(
        pl.len().cast(pl.Int64).alias("n"), *(pl.col(name).sum().cast(pl.Int64) for name in weights)
    )


def count_column_cells(cells: ColumnCells, packed: PackedWeights, names: tuple[str, ...]) -> pl.DataFrame:
    """count_rows by bincount over a column's cells: the same table, but keys may repeat (see features.counting.column_cells)."""
    present, counts = count_cells(cells.cells, cells.size, packed)
    return pl.DataFrame([
        cells.keys.gather(present).alias("key"), pl.Series("n", counts[:, 0]),
        *(pl.Series(name, counts[:, 1 + index]) for index, name in enumerate(names)),
    ])


_COUNT_TYPES = tuple((dtype, np.iinfo(dtype).max) for dtype in (np.uint8, np.uint16, np.uint32, np.int64))


@dataclass
class KeyedCounts:
    """One feature's table: key (nullable: null = missing) and Int64 columns n, w_1..w_W; once coarsened
    past the cap, the distinct-count sketch of the exact keys it was made from."""

    mode: KeyMode
    frame: pl.DataFrame
    sketch: np.ndarray | None = None

    def sorted(self) -> KeyedCounts:
        return KeyedCounts(self.mode, self.frame.sort("key", nulls_last=True), self.sketch)

    @property
    def distinct(self) -> int:
        """Distinct non-missing keys."""
        return self.frame.height - int(self.frame["key"].null_count())

    @property
    def distinct_estimate(self) -> int:
        """Distinct non-missing values before coarsening: exact, or the sketch's estimate once coarsened."""
        return self.distinct if self.sketch is None else distinct_estimate(self.sketch)

    # Beam pickles an accumulator several times (between stages, and to estimate its size), so bytes
    # shipped are time. A polars frame pickles through its own serializer, 3-4x slower than an Arrow
    # table, whose buffers pickle as they are; and counts travel in the narrowest integer type that
    # holds them (n bounds every count of its row; a byte, for most keys of a wide table). The round
    # trip gives back the same frame. The casts are numpy's: a polars query per table (38 a pass, each
    # pickled four times on its way to the driver) cost more than the bytes it saved.
    def __getstate__(self) -> dict:
        largest = self.frame["n"].max() or 0
        narrow = next(dtype for dtype, bound in _COUNT_TYPES if largest <= bound)
        counts = {name: pa.array(self.frame[name].to_numpy().astype(narrow, copy=False)) for name in self.frame.columns[1:]}
        frame = pa.table({"key": self.frame["key"].to_arrow(), **counts})
        return {"mode": self.mode, "frame": frame, "sketch": self.sketch}

    def __setstate__(self, state: dict) -> None:
        table = state["frame"]
        self.mode = state["mode"]
        self.frame = pl.DataFrame([
            pl.Series("key", table["key"]),
            *(pl.Series(name, table[name].to_numpy().astype(np.int64)) for name in table.column_names[1:]),
        ])
        self.sketch = state["sketch"]


def merge_counts(parts: list[KeyedCounts], rule: KeyRule) -> KeyedCounts:
    """Sum tables of one feature, coarsening every part if any is coarse or the union passes the cap;
    the exact keys of the parts coarsened here join the coarse parts' distinct-count sketches."""
    coarse = any(part.mode == rule.coarse_mode != rule.initial_mode for part in parts)
    sketches = [part.sketch for part in parts if part.sketch is not None]
    frames = []
    for part in parts:
        if coarse and part.mode != rule.coarse_mode:
            sketches.append(key_sketch(part.frame["key"]))
            frames.append(part.frame.with_columns(rule.coarsen(part.frame["key"])))
        else:
            frames.append(part.frame)
    merged = regroup(pl.concat(frames))
    mode = rule.coarse_mode if coarse else rule.initial_mode
    if mode == KeyMode.EXACT and merged.height - merged["key"].null_count() > rule.cap:
        sketches = [key_sketch(merged["key"])]
        merged = regroup(merged.with_columns(rule.coarsen(merged["key"])))
        mode = rule.coarse_mode
    return KeyedCounts(mode, merged, merged_sketch(sketches) if mode != rule.initial_mode else None)


def label_weights(labels: np.ndarray, origin: BatchOrigin, shuffles: int, seed: int) -> dict[str, np.ndarray]:
    """`pos` = the label, `pos_r` = the r-th shuffle of it within the batch.

    One generator per batch, seeded from the batch's identity, shared by all features: the shuffles do
    not depend on which worker reads the batch, and every feature sees the same shuffled labels.
    """
    rng = np.random.default_rng(origin.seed(seed))
    weights = {"pos": labels}
    for r in range(1, shuffles + 1):
        weights[f"pos_{r}"] = rng.permutation(labels)
    return weights


def label_array(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """0/1 labels as uint8 (validated beforehand by features.data.schema.check_label_values)."""
    return pc.cast(column, pa.uint8()).to_numpy(zero_copy_only=False)


def time_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Timestamps (or dates, or integers) as int64 ticks, nulls as int64 minimum."""
    if pa.types.is_date32(column.type):
        column = pc.cast(column, pa.int32())
    return pc.fill_null(pc.cast(column, pa.int64()), np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class CountPlan:
    """What pass 1 counts: the features, the label (None: rows only, as for profiling) and its shuffles."""

    rules: tuple[KeyRule, ...]
    label: str | None
    shuffles: int = 0
    seed: int = 0
    timestamp: str | None = None

    @property
    def weight_names(self) -> tuple[str, ...]:
        if self.label is None:
            return ()
        return ("pos", *(f"pos_{r}" for r in range(1, self.shuffles + 1)))

    def columns(self) -> list[str]:
        head = [name for name in (self.label, self.timestamp) if name]
        return head + [rule.name for rule in self.rules]


@dataclass(frozen=True)
class FeatureCounts:
    """Pass-1 result: rows, label totals (pos, pos_1..pos_R), per-feature sorted tables, time range."""

    rows: int
    weight_totals: dict[str, int]
    tables: dict[str, KeyedCounts]
    time_range: tuple[int, int] | None


@dataclass(frozen=True)
class BatchCounts:
    """One batch's pass-1 counts (FeatureCountsAccumulator.prepare): rows, label sums, timestamps, a table per feature."""

    rows: int
    weight_totals: dict[str, int]
    ticks: np.ndarray
    tables: list[tuple[str, KeyedCounts]]


@dataclass
class FeatureCountsAccumulator:
    """add_batch / merge / result over record batches; picklable, so a Beam CombineFn can carry it."""

    plan: CountPlan
    rows: int = 0
    weight_totals: dict[str, int] = field(default_factory=dict)
    pending: dict[str, list[KeyedCounts]] = field(default_factory=dict)
    time_min: int | None = None
    time_max: int | None = None

    def add_batch(self, origin: BatchOrigin, batch: pa.RecordBatch) -> FeatureCountsAccumulator:
        return self.add_prepared(origin, self.prepare(origin, batch))

    def prepare(self, origin: BatchOrigin, batch: pa.RecordBatch) -> BatchCounts:
        """The batch's counts, not yet added: no state read or written, so reading threads run it."""
        plan = self.plan
        weights = {}
        if plan.label is not None:
            weights = label_weights(label_array(batch.column(plan.label)), origin, plan.shuffles, plan.seed)
        ticks = time_values(batch.column(plan.timestamp)) if plan.timestamp is not None else np.empty(0, np.int64)
        packed = PackedWeights.of(weights, batch.num_rows)
        tables = []
        for rule in plan.rules:
            cells, keys = rule.cells(batch.column(rule.name))
            frame = count_rows(keys, weights) if cells is None else count_column_cells(cells, packed, plan.weight_names)
            tables.append((rule.name, KeyedCounts(rule.initial_mode, frame)))
        totals = {name: int(values.sum(dtype=np.int64)) for name, values in weights.items()}
        return BatchCounts(batch.num_rows, totals, ticks, tables)

    def add_prepared(self, origin: BatchOrigin, counts: BatchCounts) -> FeatureCountsAccumulator:
        for name, total in counts.weight_totals.items():
            self.weight_totals[name] = self.weight_totals.get(name, 0) + total
        self._add_times(counts.ticks)
        for rule, (name, table) in zip(self.plan.rules, counts.tables):
            parts = self.pending.setdefault(name, [])
            parts.append(table)
            # each feature on its own, geometrically: a wide table is merged about once per its size in new
            # rows, and a narrow one (a few hundred keys a batch) rarely, not at every merge of the wide
            # ones (each merge has a fixed cost of a few polars calls). Memory: per feature, its merged table
            # and about as many rows again (at least FEATURE_COMPACT_ROWS) of batch tables. Merges are exact
            # in any grouping (module docstring).
            if sum(part.frame.height for part in parts[1:]) > max(FEATURE_COMPACT_ROWS, parts[0].frame.height):
                self.pending[name] = [merge_counts(parts, rule)]
        self.rows += counts.rows
        return self

    def _add_times(self, ticks: np.ndarray) -> None:
        present = ticks[ticks != np.iinfo(np.int64).min]
        if present.size:
            low, high = int(present.min()), int(present.max())
            self.time_min = low if self.time_min is None else min(self.time_min, low)
            self.time_max = high if self.time_max is None else max(self.time_max, high)

    def compact(self) -> FeatureCountsAccumulator:
        """Merge each feature's pending tables into one."""
        for rule in self.plan.rules:
            parts = self.pending.get(rule.name, [])
            if len(parts) > 1:
                self.pending[rule.name] = [merge_counts(parts, rule)]
        return self

    def merge(self, others: list[FeatureCountsAccumulator]) -> FeatureCountsAccumulator:
        for other in others:
            self.rows += other.rows
            for name, total in other.weight_totals.items():
                self.weight_totals[name] = self.weight_totals.get(name, 0) + total
            for name, parts in other.pending.items():
                self.pending.setdefault(name, []).extend(parts)
            if other.time_min is not None:
                self._add_times(np.array([other.time_min, other.time_max], dtype=np.int64))
        return self.compact()

    def result(self) -> FeatureCounts:
        self.compact()
        tables = {}
        for rule in self.plan.rules:
            parts = self.pending.get(rule.name)
            if parts:
                tables[rule.name] = merge_counts(parts, rule).sorted()
            else:
                empty = count_rows(pl.Series("key", [], dtype=pl.Int64), {w: np.zeros(0, np.uint8) for w in self.plan.weight_names})
                tables[rule.name] = KeyedCounts(rule.initial_mode, empty)
        totals = {name: self.weight_totals.get(name, 0) for name in self.plan.weight_names}
        time_range = None if self.time_min is None else (self.time_min, self.time_max)
        return FeatureCounts(self.rows, totals, tables, time_range)


def looked_up(keys: pl.Series, book: pl.Series, codes: np.ndarray, default: int) -> np.ndarray:
    """codes[i] for each key equal to book[i] (book's keys distinct), `default` for a key not in the book;
    a null key gets any value (callers mask them).

    Pass 2 looks up some 58 columns per batch, mostly small ones: polars' replace_strict builds a hash
    table of the book at every call (0.2-0.6 ms each, most of pass 2's encoding), so Int64 keys are looked
    up in a dense table over the book's key range (one gather; a binary search where the range is wider
    than DENSE_LOOKUP_SPAN), text keys by Arrow's index_in; other types by replace_strict.
    """
    if not len(book):  # an all-null column's codebook
        return np.full(len(keys), default, dtype=np.int64)
    if keys.dtype == book.dtype == pl.Int64:
        return _integer_looked_up(filled(keys, 0), book.to_numpy(), codes, default)
    if keys.dtype == book.dtype == pl.String:
        index = pc.fill_null(pc.index_in(keys.to_arrow(), value_set=book.to_arrow()), -1).to_numpy(zero_copy_only=False)
        return np.where(index >= 0, codes[np.maximum(index, 0)], default)
    return keys.replace_strict(book, pl.Series(codes), default=default, return_dtype=pl.Int64).to_numpy()


def _integer_looked_up(keys: np.ndarray, book: np.ndarray, codes: np.ndarray, default: int) -> np.ndarray:
    low, high = int(book.min()), int(book.max())
    inside = (keys >= low) & (keys <= high)  # compared before subtracting: no int64 overflow
    if high - low < DENSE_LOOKUP_SPAN:
        table = np.full(high - low + 1, default, dtype=np.int64)
        table[book - low] = codes
        return np.where(inside, table[np.where(inside, keys, low) - low], default)
    order = np.argsort(book, kind="stable")
    position = np.minimum(np.searchsorted(book[order], keys), book.size - 1)
    found = inside & (book[order][position] == keys)
    return np.where(found, codes[order[position]], default)


@dataclass(frozen=True)
class Codebook:
    """A feature's scored cells after pass 1: key -> code, with the missing code last.

    Categorical (exact or hashed) keys each get a code, listed in `keys` / `codes`; a key not listed
    gets `other_code` (a folded codebook keeps only the most frequent keys). Numeric keys are grouped
    into equal-frequency bins, and `keys` holds only each bin's smallest key: a numeric key's code is
    the last bin starting at or below it. Pass 2 encodes rows with it, so pair tables and drift windows
    use exactly the cells the feature was scored on, and the codebook stays small to ship to workers.
    """

    rule: KeyRule
    mode: KeyMode
    keys: pl.Series
    codes: np.ndarray
    size: int
    other_code: int | None = None

    @property
    def missing_code(self) -> int:
        return self.size - 1

    def codes_of_keys(self, keys: pl.Series) -> np.ndarray:
        """Code of each key (already in this codebook's mode); null keys get the missing code."""
        missing = keys.is_null().to_numpy()
        if self.rule.kind == "numeric":
            bounds = self.keys.to_numpy()
            values = filled(keys, 0)
            codes = np.maximum(np.searchsorted(bounds, values, side="right") - 1, 0)
        else:
            codes = looked_up(keys, self.keys, self.codes, self.missing_code if self.other_code is None else self.other_code)
        return np.where(missing, self.missing_code, codes).astype(np.int64)

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Code of every row (int64); missing rows get the missing code. A column with cells looks up
        each cell's key once, then the rows' codes by cell."""
        cells, keys = self.rule.cells(column)
        if cells is not None:
            keys = cells.keys
        if self.mode != self.rule.initial_mode:
            keys = self.rule.coarsen(keys)
        codes = self.codes_of_keys(keys)
        return codes if cells is None else codes[cells.cells]

    def cell_counts(self, table: KeyedCounts) -> np.ndarray:
        """(size, columns) int64 matrix: the table's count columns summed per code."""
        cells = self.codes_of_keys(table.frame["key"])
        counts = table.frame.drop("key").to_numpy().astype(np.int64)
        out = np.zeros((self.size, counts.shape[1]), dtype=np.int64)
        np.add.at(out, cells, counts)
        return out

    def folded(self, cell_rows: np.ndarray, limit: int) -> Codebook:
        """A categorical codebook keeping the `limit` cells with the most rows (ties: lower code), then
        one "other" cell and the missing cell; numeric codebooks are already small and stay as they are."""
        if self.rule.kind == "numeric":
            return self
        present = np.asarray(cell_rows[: self.missing_code])
        kept = np.sort(np.lexsort((np.arange(present.size), -present))[:limit])
        return Codebook(self.rule, self.mode, self.keys.gather(kept), np.arange(kept.size), kept.size + 2, kept.size)


def build_codebook(rule: KeyRule, table: KeyedCounts, numeric_bins: int) -> Codebook:
    """Codes for a sorted pass-1 table: one per key, or equal-frequency bins for numeric features."""
    present = table.frame.filter(pl.col("key").is_not_null())
    if rule.kind == "numeric":
        bins = equal_frequency_bins(present["n"].to_numpy(), numeric_bins)
        starts = np.flatnonzero(np.diff(bins, prepend=-1)) if bins.size else np.zeros(0, dtype=np.int64)
        return Codebook(rule, table.mode, present["key"].gather(starts), np.arange(starts.size), starts.size + 1)
    return Codebook(rule, table.mode, present["key"], np.arange(present.height), present.height + 1)
