"""Training input: Parquet record batches streamed into `tf.data` as dicts of raw features.

Memory is bounded by the shuffle buffer (`shuffle_rows`), never by the dataset. Row groups are
visited in a seeded order per epoch and rows are permuted inside the buffer, so an epoch is
reproducible from (seed, epoch) alone: a run resumed at epoch k sees the same data as an
uninterrupted one.

Raw values keep their types (the preprocessing layer assigns ids in the graph); missing values are
filled with the sentinels the serving signature also uses: "" for strings, -2**63 for integers, NaN for
floats, and empty lists for sequences.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from featureplex.features.data.dataset import BatchOrigin, ParquetDataset, read_ahead, read_row_group
from featureplex.features.data.schema import DatasetSchema, Kind
from featureplex.features.errors import InputError

MISSING_STRING = ""
MISSING_INTEGER = -(2**63)
T = TypeVar("T")


@dataclass(frozen=True)
class Split:
    """Which rows are validation: a seeded random share, or every row at or after `split_time`.

    A share of 0 makes every row a training row, 1 every row a validation row: how a training file and a
    separate validation file are read (`train.validation`).
    """

    validation_fraction: float = 0.1
    seed: int = 0
    split_time: np.datetime64 | None = None

    def validation_mask(self, origin: BatchOrigin, batch: pa.RecordBatch, timestamp: str | None) -> np.ndarray:
        if self.split_time is not None:
            if timestamp is None:
                raise InputError("train.split_time: the data has no timestamp column (set `timestamp:` in the config)")
            times = batch.column(batch.schema.get_field_index(timestamp)).to_numpy(zero_copy_only=False)
            return times.astype("datetime64[s]") >= self.split_time.astype("datetime64[s]")
        # A hash of the row's identity, so a row's side never depends on batching or workers.
        rows = np.arange(origin.first_row, origin.first_row + batch.num_rows, dtype=np.uint64)
        mixed = _splitmix64(rows ^ np.uint64(zlib.crc32(origin.file.encode()) + (self.seed << 32)))
        return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53) < self.validation_fraction


def _splitmix64(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _is_string(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def raw_feature_specs(schema: DatasetSchema, arrow_schema: pa.Schema) -> dict[str, tf.TypeSpec]:
    """The tf type of every raw input: what the dataset yields and what the serving signature takes."""
    specs: dict[str, tf.TypeSpec] = {}
    for spec in schema.features:
        arrow_type = arrow_schema.field(spec.name).type
        if spec.kind == Kind.SEQUENCE:
            element = tf.string if _is_string(arrow_type.value_type) else tf.int64
            specs[spec.name] = tf.RaggedTensorSpec([None, None], element, ragged_rank=1, row_splits_dtype=tf.int64)
            if spec.timestamps:
                specs[spec.timestamps] = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64)
        elif spec.kind == Kind.NUMERIC:
            specs[spec.name] = tf.TensorSpec([None], tf.float32)
        else:
            specs[spec.name] = tf.TensorSpec([None], tf.string if _is_string(arrow_type) else tf.int64)
    return specs


def _ragged(column: pa.Array, dtype: tf.DType) -> tf.RaggedTensor:
    column = pc.fill_null(column, pa.scalar([], column.type)) if column.null_count else column
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.values.slice(offsets[0], offsets[-1] - offsets[0])
    if pa.types.is_timestamp(values.type):  # seconds since the epoch, whatever unit Parquet stored
        values = pc.cast(pc.cast(values, pa.timestamp("s")), pa.int64())
    return tf.RaggedTensor.from_row_splits(dense_values(values, dtype), offsets - offsets[0], validate=False)


def dense_values(column: pa.Array, dtype: tf.DType) -> np.ndarray:
    """An Arrow column as a numpy array of `dtype`, missing values as the sentinels (module docstring)."""
    if dtype == tf.string:
        return pc.fill_null(pc.cast(column, pa.string()), MISSING_STRING).to_numpy(zero_copy_only=False)
    if dtype == tf.int64:
        return pc.fill_null(pc.cast(column, pa.int64()), MISSING_INTEGER).to_numpy()
    return pc.cast(column, pa.float32()).to_numpy(zero_copy_only=False).astype(np.float32)


def to_feature_dict(table: pa.Table | pa.RecordBatch, specs: dict[str, tf.TypeSpec], label: str) -> tuple[dict, np.ndarray]:
    """Arrow rows -> (raw feature tensors by name, float labels)."""
    features = {}
    for name, spec in specs.items():
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if isinstance(spec, tf.RaggedTensorSpec):
            features[name] = _ragged(column, spec.dtype)
        else:
            features[name] = dense_values(column, spec.dtype)
    labels = pc.cast(table.column(label), pa.float32()).to_numpy(zero_copy_only=False)
    return features, labels


@dataclass(frozen=True)
class InputOptions:
    batch_size: int = 1024
    shuffle_rows: int = 262_144
    read_batch_rows: int = 65_536
    seed: int = 0
    chunk_batches: int = 16  # batches converted to tensors per generator step (see make_tf_dataset)


def iter_split_tables(
    dataset: ParquetDataset, schema: DatasetSchema, split: Split, subset: Literal["train", "validation"],
    options: InputOptions, epoch: int | None,
) -> Iterator[pa.Table]:
    """Tables of up to `shuffle_rows` rows of one subset; row groups and rows shuffled when `epoch` is given."""
    columns = schema.columns()
    rng = None if epoch is None else np.random.default_rng([options.seed, epoch])

    def subset_batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        for ref in _epoch_order(dataset.row_groups(), rng):
            for origin, batch in read_row_group(ref, columns, options.read_batch_rows):
                if batch.column(batch.schema.get_field_index(schema.label)).null_count:
                    raise InputError(f"label '{schema.label}': null values in {origin.file} near row {origin.first_row}; expected 0/1 on every row")
                in_validation = split.validation_mask(origin, batch, schema.timestamp)
                batch = batch.filter(pa.array(in_validation if subset == "validation" else ~in_validation))
                yield batch, batch.num_rows

    for batches in _shuffle_tables(subset_batches(), options.shuffle_rows):
        yield _shuffled(pa.Table.from_batches(batches), rng)


def _epoch_order(refs: list, rng: np.random.Generator | None) -> list:
    """Row groups in the epoch's order: file order, or a seeded permutation (drawn first from the epoch's rng)."""
    return refs if rng is None else [refs[i] for i in rng.permutation(len(refs))]


def _shuffle_tables(batches: Iterable[tuple[T, int]], shuffle_rows: int) -> Iterator[list[T]]:
    """Consecutive batches grouped into shuffle tables: each closes once it holds `shuffle_rows` rows, the last
    holds the rest. The one rule for both the tables read (`iter_split_tables`) and the batches counted
    ahead of reading (`EpochStream.steps`)."""
    group: list[T] = []
    rows = 0
    for batch, batch_rows in batches:
        group.append(batch)
        rows += batch_rows
        if rows >= shuffle_rows:
            yield group
            group, rows = [], 0
    if rows:
        yield group


def _shuffled(table: pa.Table, rng: np.random.Generator | None) -> pa.Table:
    return table if rng is None else table.take(pa.array(rng.permutation(table.num_rows)))


def make_tf_dataset(
    dataset: ParquetDataset, schema: DatasetSchema, split: Split, subset: Literal["train", "validation"],
    options: InputOptions = InputOptions(), shuffle: bool = True, first_epoch: int = 0,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of (raw feature dict, label) batches; each iteration is the next epoch."""
    epochs = iter(range(first_epoch, 1 << 62))
    return _batches_of(dataset, schema, split, subset, options, lambda: [next(epochs) if shuffle else None])


class EpochStream:
    """The batches of one subset, epoch after epoch, from one `tf.data` pipeline and one iterator.

    `epoch(k)` gives the iterator positioned at epoch k's first batch and `steps(k)` how many
    batches epoch k has, counted before reading from the row groups' subset sizes. A training loop
    takes exactly that many and calls `finished(k)`; the iterator then goes on into epoch k + 1, whose
    first table was read while epoch k trained. With an iterator per epoch (`make_tf_dataset`), each
    epoch paid for building the iterator, reading its first table and detecting its end: about 0.3 s,
    most of an epoch on data of a few batches. An epoch's batches depend on (seed, epoch) alone;
    asking for another epoch than the next one (a resumed run, a second training) starts a new
    iterator there. Unshuffled (validation), every epoch is the same pass.
    """

    def __init__(self, dataset: ParquetDataset, schema: DatasetSchema, split: Split,
                 subset: Literal["train", "validation"], options: InputOptions = InputOptions(), shuffle: bool = True,
                 subset_rows: list[list[int]] | None = None):
        """`subset_rows`: the subset's rows per record batch of each row group, as `_split_rows` counts them
        (counted here when not given)."""
        self._source = (dataset, schema, split, subset, options)
        self._shuffle = shuffle
        if subset_rows is None:
            train_rows, validation_rows = _split_rows(dataset, schema, split, options)
            subset_rows = validation_rows if subset == "validation" else train_rows
        self._subset_rows = subset_rows
        self._first_epoch = 0
        self._batches = _batches_of(*self._source, lambda: itertools.count(self._first_epoch) if shuffle else itertools.repeat(None))
        self._iterator = None
        self._next_epoch: int | None = None

    def batch_rows(self, epoch: int) -> np.ndarray:
        """The rows of each batch of `epoch`, as `iter_split_tables` and `_batches_of` will cut them: every
        shuffle table in full batches and one smaller last batch."""
        options = self._source[4]
        rng = np.random.default_rng([options.seed, epoch]) if self._shuffle else None
        rows = ((count, count) for row_group in _epoch_order(self._subset_rows, rng) for count in row_group)
        tables = np.array([sum(table) for table in _shuffle_tables(rows, options.shuffle_rows)], dtype=np.int64)
        full, rest = np.divmod(tables, options.batch_size)
        per_table = full + (rest > 0)
        sizes = np.full(int(per_table.sum()), options.batch_size, np.int64)
        sizes[np.cumsum(per_table)[rest > 0] - 1] = rest[rest > 0]  # each table's last, smaller batch
        return sizes

    def steps(self, epoch: int) -> int:
        """The number of batches of `epoch`."""
        return len(self.batch_rows(epoch))

    def epoch(self, epoch: int):
        """The iterator at the start of `epoch`: the running one when it ended `epoch - 1`, else a new one."""
        if self._iterator is None or self._next_epoch != epoch:
            self._first_epoch = epoch
            self._iterator = iter(self._batches)
        self._next_epoch = None  # until `finished`: an epoch left midway leaves the iterator midway
        return self._iterator

    def finished(self, epoch: int) -> None:
        """`steps(epoch)` batches of `epoch` were taken: the iterator is at the start of the next epoch."""
        self._next_epoch = epoch + 1

    def example(self) -> tuple[dict, tf.Tensor]:
        """A first batch, from a pipeline of its own (the epochs' iterator stays where it is)."""
        return next(iter(_batches_of(*self._source, lambda: [None])))


def split_streams(dataset: ParquetDataset, schema: DatasetSchema, split: Split,
                  options: InputOptions = InputOptions()) -> tuple[EpochStream, EpochStream]:
    """The training stream (shuffled per epoch) and the validation stream (unshuffled), counted in one pass."""
    train_rows, validation_rows = _split_rows(dataset, schema, split, options)
    return (EpochStream(dataset, schema, split, "train", options, subset_rows=train_rows),
            EpochStream(dataset, schema, split, "validation", options, shuffle=False, subset_rows=validation_rows))


def _split_rows(dataset: ParquetDataset, schema: DatasetSchema, split: Split,
                options: InputOptions) -> tuple[list[list[int]], list[list[int]]]:
    """(training, validation) rows of each record batch `iter_split_tables` reads, per row group in file order;
    only the columns the split needs are read."""
    columns = [schema.label] if split.split_time is None or schema.timestamp is None else [schema.label, schema.timestamp]
    train, validation = [], []
    for ref in dataset.row_groups():
        train.append([])
        validation.append([])
        for origin, batch in read_row_group(ref, columns, options.read_batch_rows):
            held_out = int(np.count_nonzero(split.validation_mask(origin, batch, schema.timestamp)))
            train[-1].append(batch.num_rows - held_out)
            validation[-1].append(held_out)
    return train, validation


def _batches_of(
    dataset: ParquetDataset, schema: DatasetSchema, split: Split, subset: Literal["train", "validation"],
    options: InputOptions, epochs_of_pass: Callable[[], Iterable[int | None]],
) -> tf.data.Dataset:
    """The batches of `subset` for each epoch `epochs_of_pass()` gives when a pass starts (None: in file order).

    The Python generator converts `chunk_batches` batches at a time and the graph cuts them into
    batches: each crossing from Python into TensorFlow costs about as much as converting a batch,
    so converting one batch per crossing spent half the input pipeline's time there. A batch holds
    the same rows either way (chunks start at multiples of the batch size within a shuffled table).
    """
    specs = raw_feature_specs(schema, dataset.schema)
    batch_size = options.batch_size
    chunk_rows = batch_size * max(options.chunk_batches, 1)

    def generate():
        # the next shuffled table is read on a thread (Arrow releases the GIL): each new table stalled
        # training for its read and shuffle, 1.4-1.6 s per 262k rows of synth data
        tables = itertools.chain.from_iterable(
            iter_split_tables(dataset, schema, split, subset, options, epoch) for epoch in epochs_of_pass())
        for table in read_ahead(tables):
            for start in range(0, table.num_rows, chunk_rows):
                yield to_feature_dict(table.slice(start, chunk_rows), specs, schema.label)

    def batches(features: dict, labels: tf.Tensor) -> tf.data.Dataset:
        starts = tf.data.Dataset.range(0, tf.shape(labels, out_type=tf.int64)[0], batch_size)
        return starts.map(lambda start: tf.nest.map_structure(lambda t: t[start:start + batch_size], (features, labels)))

    signature = (specs, tf.TensorSpec([None], tf.float32))
    chunks = tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(1)
    return chunks.flat_map(batches).prefetch(tf.data.AUTOTUNE)
