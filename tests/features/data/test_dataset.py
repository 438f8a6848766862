import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.features.data.dataset import (
    BatchOrigin,
    iter_origin_batches,
    iter_record_batches,
    mostly_plain,
    open_dataset,
    read_row_groups,
)
from featureplex.features.errors import InputError
from tests.conftest import small_table


def write_parts(directory, parts=3, rows=300):
    directory.mkdir(exist_ok=True)
    for index in range(parts):
        pq.write_table(small_table(rows, seed=index), directory / f"part-{index:05d}.parquet", row_group_size=128)
    return directory


def test_file_directory_and_glob_agree(tmp_path):
    directory = write_parts(tmp_path / "data")
    by_dir = open_dataset(directory)
    by_glob = open_dataset(str(directory / "part-*.parquet"))
    by_file = open_dataset(directory / "part-00001.parquet")
    assert by_dir.files == by_glob.files and len(by_dir.files) == 3
    assert by_dir.num_rows == 900 and by_file.num_rows == 300
    assert by_dir.fingerprint() == by_glob.fingerprint() != by_file.fingerprint()


def test_batches_stream_in_file_order_with_origins(tmp_path):
    dataset = open_dataset(write_parts(tmp_path / "data", parts=2, rows=300))
    pairs = list(iter_origin_batches(dataset, columns=["label", "city"], batch_rows=100))
    assert all(batch.num_rows <= 100 for _, batch in pairs)
    assert sum(batch.num_rows for _, batch in pairs) == 600
    assert pairs[0][0] == BatchOrigin("part-00000.parquet", 0)
    # row groups of 128 rows are cut into 100 + 28: origins follow the rows exactly
    assert [origin.first_row for origin, _ in pairs[:4]] == [0, 100, 128, 228]
    assert pairs[-1][0].file == "part-00001.parquet"
    assert pairs[0][1].schema.names == ["label", "city"]
    combined = pa.Table.from_batches(list(iter_record_batches(dataset, batch_rows=100)))
    expected = pa.concat_tables([pq.read_table(path) for path in dataset.files])
    assert combined.equals(expected)


def test_origin_seed_is_stable():
    assert BatchOrigin("a.parquet", 10).seed(0) == BatchOrigin("a.parquet", 10).seed(0)
    assert BatchOrigin("a.parquet", 10).seed(0) != BatchOrigin("a.parquet", 11).seed(0)
    assert BatchOrigin("a.parquet", 10).seed(0) != BatchOrigin("a.parquet", 10).seed(1)


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        open_dataset(tmp_path / "absent")


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet files found"):
        open_dataset(tmp_path / "empty")


def test_not_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("label,x\n1,2\n")
    with pytest.raises(InputError, match=r"data.parquet: not a Parquet file"):
        open_dataset(path)


def test_schema_mismatch_names_file_and_column(tmp_path):
    directory = write_parts(tmp_path / "data", parts=1)
    other = small_table(50).set_column(2, "city", pa.array(range(50), pa.int64()))
    pq.write_table(other, directory / "part-00009.parquet")
    with pytest.raises(InputError, match=r"part-00009.parquet: schema differs .*column 'city' has type int64, expected string"):
        open_dataset(directory)


def test_hidden_and_underscore_files_are_ignored(tmp_path):
    directory = write_parts(tmp_path / "data", parts=1)
    (directory / "_SUCCESS").write_text("")
    (directory / ".part.parquet.crc").write_text("")
    assert [os.path.basename(f) for f in open_dataset(directory).files] == ["part-00000.parquet"]


def test_uris_read_through_pyarrow_filesystems(tmp_path):
    directory = write_parts(tmp_path / "data", parts=2)
    by_uri = open_dataset(f"file://{directory}")
    by_glob = open_dataset(f"file://{directory}/part-*.parquet")
    assert by_uri.files == by_glob.files == tuple(f"file://{directory}/part-{i:05d}.parquet" for i in range(2))
    assert by_uri.fingerprint() == open_dataset(directory).fingerprint()
    local = [b for _, b in iter_origin_batches(open_dataset(directory), batch_rows=100)]
    remote = [b for _, b in iter_origin_batches(by_uri, batch_rows=100)]
    assert all(a.equals(b) for a, b in zip(local, remote)) and len(local) == len(remote)
    with pytest.raises(InputError, match="no such file or directory"):
        open_dataset(f"file://{tmp_path}/absent")


@pytest.mark.parametrize("parallel", [1, 2, 5])
def test_row_groups_read_ahead_in_parallel_come_in_order(tmp_path, parallel):
    dataset = open_dataset(write_parts(tmp_path / "data", parts=2, rows=300))
    refs = dataset.row_groups()
    assert len(refs) > parallel  # the window slides, not only fills and drains
    sequential = list(iter_origin_batches(dataset, ["label", "city"], 100))
    ahead = list(read_row_groups(refs, ["label", "city"], 100, parallel=parallel))
    assert [origin for origin, _ in ahead] == [origin for origin, _ in sequential]
    assert all(a.equals(b) for (_, a), (_, b) in zip(ahead, sequential))


def test_an_id_like_text_column_is_told_apart_by_its_plain_pages(tmp_path):
    rows = 20_000
    table = pa.table({"row_id": [f"row-{i:08d}" for i in range(rows)], "city": [["a", "b", "c"][i % 3] for i in range(rows)]})
    path = tmp_path / "data.parquet"
    # a small dictionary page limit makes the writer fall back to plain pages, as ~1 MB does for a real ID column
    pq.write_table(table, path, dictionary_pagesize_limit=64 * 1024)
    dataset = open_dataset(path)
    assert mostly_plain(dataset, ["row_id", "city", "absent"]) == {"row_id"}
