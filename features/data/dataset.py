"""A Parquet dataset: one file, a directory of files, or a glob, read as a stream of Arrow record batches.

Paths are local or any URI pyarrow's filesystems know (gs://, s3://, hdfs://): the same code reads a
laptop's files and a bucket, on the driver and on Dataflow workers. Batches are cut per row group, so their boundaries depend only on the files and `batch_rows`, never
on how a runner splits the work; each batch carries its origin (file, first row), from which
per-batch random streams are seeded.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from featureplex.features.errors import InputError

T = TypeVar("T")
_DONE = object()

DEFAULT_BATCH_ROWS = 65_536
# Data pages above this many bytes per value store most values plain (`mostly_plain`).
_PLAIN_BYTES_PER_VALUE = 3


@dataclass(frozen=True)
class BatchOrigin:
    """Where a record batch starts: file name (not the directory, so a moved dataset keeps its seeds) and row."""

    file: str
    first_row: int

    def seed(self, base_seed: int) -> int:
        """A 32-bit seed that depends only on the batch's identity and the caller's base seed."""
        return zlib.crc32(f"{self.file}:{self.first_row}:{base_seed}".encode())


@dataclass(frozen=True)
class RowGroupRef:
    """One unit of parallel reading: a row group of a file, with the row at which it starts."""

    path: str
    row_group: int
    first_row: int


@dataclass(frozen=True)
class ParquetDataset:
    """The files of a dataset (sorted) and the Arrow schema they all agree on."""

    files: tuple[str, ...]
    schema: pa.Schema
    num_rows: int

    def fingerprint(self) -> str:
        """Identifies the data by file names, sizes and row counts (cheap: no full read)."""
        digest = hashlib.sha256()
        for path in self.files:
            filesystem, inner = filesystem_of(path)
            digest.update(f"{os.path.basename(inner)}:{filesystem.get_file_info(inner).size}\n".encode())
        digest.update(f"rows={self.num_rows}\n{self.schema.to_string(show_schema_metadata=False)}".encode())
        return digest.hexdigest()[:16]

    def row_groups(self) -> list[RowGroupRef]:
        """Every row group of every file, in file order."""
        refs = []
        for path in self.files:
            metadata = read_metadata(path)
            start = 0
            for index in range(metadata.num_row_groups):
                refs.append(RowGroupRef(path, index, start))
                start += metadata.row_group(index).num_rows
        return refs

    def shard(self, index: int, count: int) -> ParquetDataset:
        """The row groups `index, index + count, index + 2 count, ...` (in file order) as a dataset: worker
        `index`'s share of `count` workers. Rows keep their identity (file, row), so a row's split side and
        seeds do not depend on the sharding."""
        return DatasetShard(self.files, self.schema, self.num_rows, index, count)


@dataclass(frozen=True)
class DatasetShard(ParquetDataset):
    """Every `count`-th row group of a dataset from the `index`-th (`ParquetDataset.shard`); `num_rows`
    and the fingerprint stay the whole dataset's."""

    index: int = 0
    count: int = 1

    def row_groups(self) -> list[RowGroupRef]:
        return super().row_groups()[self.index::self.count]


def is_uri(path: str) -> bool:
    return "://" in path


def filesystem_of(path: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `path` and the path within it (local paths stay as given)."""
    if is_uri(path):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), path


def _uri(path: str, inner: str) -> str:
    """A path found by listing, in the form of the dataset path it came from."""
    return f"{path.split('://', 1)[0]}://{inner}" if is_uri(path) else inner


def read_metadata(path: str) -> pq.FileMetaData:
    filesystem, inner = filesystem_of(path)
    return pq.read_metadata(inner, filesystem=filesystem)


def _is_data_file(name: str) -> bool:
    base = os.path.basename(name)
    return base.endswith(".parquet") and not base.startswith((".", "_"))


def _expand(path: str) -> list[str]:
    if not is_uri(path):
        if any(char in path for char in "*?["):
            return sorted(p for p in glob.glob(path) if os.path.isfile(p))
        if os.path.isdir(path):
            return sorted(os.path.join(path, name) for name in os.listdir(path) if _is_data_file(name))
        if os.path.isfile(path):
            return [path]
        raise InputError(f"{path}: no such file or directory")
    filesystem, inner = filesystem_of(path)
    if any(char in inner for char in "*?["):
        base = inner[: min(inner.index(c) for c in "*?[" if c in inner)].rsplit("/", 1)[0]
        listing = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(_uri(path, i.path) for i in listing if i.is_file and fnmatch.fnmatch(i.path, inner))
    info = filesystem.get_file_info(inner)
    if info.type == pafs.FileType.Directory:
        listing = filesystem.get_file_info(pafs.FileSelector(inner))
        return sorted(_uri(path, i.path) for i in listing if i.is_file and _is_data_file(i.path))
    if info.type == pafs.FileType.File:
        return [path]
    raise InputError(f"{path}: no such file or directory")


def _schema_difference(expected: pa.Schema, found: pa.Schema) -> str:
    for field in expected:
        if field.name not in found.names:
            return f"column '{field.name}' is missing"
        other = found.field(field.name).type
        if other != field.type:
            return f"column '{field.name}' has type {other}, expected {field.type}"
    extra = [name for name in found.names if name not in expected.names]
    return f"column '{extra[0]}' is not in the other files"


def is_parquet_input(path: str | os.PathLike) -> bool:
    """Whether `path` names Parquet data: a directory, a glob, a URI, or a file that starts with Parquet's
    magic bytes (whatever its name); False for other files, such as JSON lines."""
    path = os.fspath(path)
    if is_uri(path) or any(char in path for char in "*?[") or os.path.isdir(path):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def open_dataset(path: str | os.PathLike) -> ParquetDataset:
    """Resolve a file, directory or glob; check every file is Parquet and agrees with the first one's schema."""
    path = os.fspath(path)
    files = _expand(path)
    if not files:
        raise InputError(f"{path}: no Parquet files found (expected *.parquet files or a glob matching them)")
    schema = None
    num_rows = 0
    for file in files:
        try:
            metadata = read_metadata(file)
            file_schema = metadata.schema.to_arrow_schema().remove_metadata()
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(f"{file}: not a Parquet file ({str(error).splitlines()[0]})") from None
        if schema is None:
            schema = file_schema
        elif not file_schema.equals(schema):
            raise InputError(f"{file}: schema differs from {files[0]}: {_schema_difference(schema, file_schema)}")
        num_rows += metadata.num_rows
    return ParquetDataset(tuple(files), schema, num_rows)


def is_text(arrow_type: pa.DataType) -> bool:
    """String or binary (not dictionary-encoded): the types Parquet can read as a dictionary."""
    return any(check(arrow_type) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                               pa.types.is_large_binary))


def text_columns(dataset: ParquetDataset, names: Sequence[str]) -> list[str]:
    """The text columns among `names`: read them as dictionaries (`dictionary_columns`) to count their values."""
    return [name for name in names if name in dataset.schema.names and is_text(dataset.schema.field(name).type)]


def mostly_plain(dataset: ParquetDataset, columns: Sequence[str]) -> set[str]:
    """The columns whose first chunk stores most values plain, not as dictionary indices.

    Writers fall back from dictionary to plain pages once the dictionary outgrows about 1 MB: an
    ID-like text column. Its data pages then hold several bytes per value, where dictionary indices
    take at most about 2 (bit-packed, below ~65,000 distinct values). Reading such a column as an
    Arrow dictionary hashes every value into a new one, more work than it saves.
    """
    metadata = read_metadata(dataset.files[0])
    if not metadata.num_row_groups:
        return set()
    row_group = metadata.row_group(0)
    plain = set()
    for chunk in (row_group.column(index) for index in range(row_group.num_columns)):
        if chunk.path_in_schema in columns and chunk.num_values:
            dictionary_page = chunk.data_page_offset - chunk.dictionary_page_offset if chunk.has_dictionary_page else 0
            if chunk.total_compressed_size - dictionary_page > _PLAIN_BYTES_PER_VALUE * chunk.num_values:
                plain.add(chunk.path_in_schema)
    return plain


def read_row_group(
    ref: RowGroupRef, columns: Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
    dictionary_columns: Sequence[str] = (),
) -> Iterator[tuple[BatchOrigin, pa.RecordBatch]]:
    """The batches of one row group, each with its origin; `dictionary_columns` come dictionary-encoded.

    Reading a string column as a dictionary keeps Parquet's own dictionary pages instead of
    materialising one string per row: the way to read a column only to count its values.
    """
    filesystem, inner = filesystem_of(ref.path)
    parquet = pq.ParquetFile(inner, filesystem=filesystem, read_dictionary=list(dictionary_columns) or None)
    first_row = ref.first_row
    name = os.path.basename(ref.path)
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[ref.row_group], columns=columns):
        yield BatchOrigin(name, first_row), batch
        first_row += batch.num_rows


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The same items, the next one produced on a thread while the caller works on the current one.

    Arrow's Parquet reader releases the GIL, so reading the next batch overlaps counting this one.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(next, items, _DONE)
        while (item := pending.result()) is not _DONE:
            pending = reader.submit(next, items, _DONE)
            yield item


def read_row_groups(
    refs: Sequence[RowGroupRef], columns: Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
    dictionary_columns: Sequence[str] = (), parallel: int = 2,
    prepare: Callable[[BatchOrigin, pa.RecordBatch], Any] | None = None,
) -> Iterator[tuple[BatchOrigin, Any]]:
    """The batches of several row groups in order, each with its origin; the next `parallel` row groups
    are read on threads while the caller works on the current one.

    One row group's columns decode in parallel, but its longest column (a list column, most often)
    is one thread's work: reading two row groups at once keeps both cores busy. `prepare(origin,
    batch)`, when given, runs on the reading thread too, and its result comes in the batch's place:
    per-batch work that needs no shared state (counting) then runs on every core. Memory is bounded
    by `parallel + 1` row groups.
    """
    def read(ref: RowGroupRef) -> list[tuple[BatchOrigin, Any]]:
        batches = read_row_group(ref, columns, batch_rows, dictionary_columns)
        return [(origin, batch if prepare is None else prepare(origin, batch)) for origin, batch in batches]

    with ThreadPoolExecutor(max_workers=parallel) as readers:
        pending = deque(readers.submit(read, ref) for ref in refs[:parallel])
        for ref in refs[parallel:]:
            batches = pending.popleft().result()
            pending.append(readers.submit(read, ref))
            yield from batches
        while pending:
            yield from pending.popleft().result()


def iter_origin_batches(
    dataset: ParquetDataset, columns: Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
    dictionary_columns: Sequence[str] = (),
) -> Iterator[tuple[BatchOrigin, pa.RecordBatch]]:
    """All batches in file order, with their origins; memory is bounded by one batch."""
    for ref in dataset.row_groups():
        yield from read_row_group(ref, columns, batch_rows, dictionary_columns)


def iter_record_batches(
    dataset: ParquetDataset, columns: Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
    dictionary_columns: Sequence[str] = (),
) -> Iterator[pa.RecordBatch]:
    """All batches in file order."""
    for _, batch in iter_origin_batches(dataset, columns, batch_rows, dictionary_columns):
        yield batch
