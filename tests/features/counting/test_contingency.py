"""Count tables merge exactly and in any order, coarsen past the cap, and encode rows into scored cells."""

import pickle

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from featureplex.features.counting.contingency import (
    CountPlan,
    FeatureCountsAccumulator,
    KeyedCounts,
    KeyMode,
    KeyRule,
    build_codebook,
    label_weights,
    looked_up,
    regroup,
)
from featureplex.features.data.dataset import BatchOrigin


def batch(rows: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    return pa.record_batch({
        "label": pa.array(rng.integers(0, 2, rows), pa.int8()),
        "city": pa.array([None if i == 0 else f"c{i}" for i in rng.integers(0, 8, rows)]),
        "user": pa.array(rng.integers(0, 400, rows)),
        "amount": pa.array(np.where(rng.random(rows) < 0.1, np.nan, rng.lognormal(size=rows))),
        "clicks": pa.array(rng.integers(0, 3000, rows)),
    })


RULES = (
    KeyRule("city", "categorical", False, cap=100, hash_buckets=64),
    KeyRule("user", "categorical", True, cap=300, hash_buckets=64),
    KeyRule("amount", "numeric", False, cap=100, hash_buckets=64),
    KeyRule("clicks", "numeric", True, cap=500, hash_buckets=64),
)
PLAN = CountPlan(RULES, "label", shuffles=3, seed=5)
BATCHES = [(BatchOrigin("part-0.parquet", 200 * i), batch(200, i)) for i in range(6)]


def accumulate(pieces):
    acc = FeatureCountsAccumulator(PLAN)
    for origin, record_batch in pieces:
        acc.add_batch(origin, record_batch)
    return acc


def frames(result):
    return {name: (table.mode, table.frame) for name, table in result.tables.items()}


def test_merge_is_order_and_split_independent():
    whole = accumulate(BATCHES).result()
    # partial accumulators each stay under the caps; only their union passes them
    parts = [accumulate(BATCHES[i : i + 1]) for i in (4, 0, 5, 2, 1, 3)]
    merged = pickle.loads(pickle.dumps(parts[0])).merge([pickle.loads(pickle.dumps(p)) for p in parts[1:]]).result()
    assert whole.rows == merged.rows == 1200
    assert whole.weight_totals == merged.weight_totals
    for name, (mode, frame) in frames(whole).items():
        other_mode, other_frame = frames(merged)[name]
        assert mode == other_mode and frame.equals(other_frame), name
        first, second = whole.tables[name].sketch, merged.tables[name].sketch
        assert (first is None and second is None) or np.array_equal(first, second), name


def with_dictionary_city(record_batch: pa.RecordBatch) -> pa.RecordBatch:
    """City as a dictionary array whose dictionary repeats a value (Arrow allows it), as Parquet may give."""
    plain = record_batch.column("city").dictionary_encode()
    dictionary = pa.concat_arrays([plain.dictionary, plain.dictionary[:1]])
    missing = plain.indices.is_null().to_numpy(zero_copy_only=False)
    indices = plain.indices.fill_null(0).to_numpy().astype(np.int32)
    first = np.flatnonzero((indices == 0) & ~missing)
    indices[first[::2]] = len(plain.dictionary)  # every other row of the first value points at its repeat
    repeated = pa.DictionaryArray.from_arrays(pa.array(indices, mask=missing), dictionary)
    return record_batch.set_column(record_batch.schema.get_field_index("city"), "city", repeated)


def test_dictionary_text_counts_and_encodes_like_plain_text():
    # text read as Parquet dictionaries is counted and encoded by index (features.counting.column_cells)
    as_dictionaries = [(origin, with_dictionary_city(record_batch)) for origin, record_batch in BATCHES]
    plain, dictionary = accumulate(BATCHES).result(), accumulate(as_dictionaries).result()
    for name, (mode, frame) in frames(plain).items():
        other_mode, other_frame = frames(dictionary)[name]
        assert mode == other_mode and frame.equals(other_frame), name
    book = build_codebook(RULES[0], plain.tables["city"], 8)
    for (_, record_batch), (_, dictionary_batch) in zip(BATCHES, as_dictionaries):
        assert np.array_equal(book.encode(record_batch.column("city")), book.encode(dictionary_batch.column("city")))


def test_narrow_and_wide_integers_count_alike():
    # "user" spans 400 values (counted by bincount); spread over 10^9 the same ids are hash-grouped
    wide = [(origin, b.set_column(2, "user", pa.array(b.column("user").to_numpy() * 1_000_000_007))) for origin, b in BATCHES]
    rule = KeyRule("user", "categorical", True, cap=10_000, hash_buckets=64)
    plan = CountPlan((rule,), "label", shuffles=3, seed=5)
    tables = []
    for pieces in (BATCHES, wide):
        acc = FeatureCountsAccumulator(plan)
        for origin, record_batch in pieces:
            acc.add_batch(origin, record_batch)
        tables.append(acc.result().tables["user"].frame)
    narrow, spread = tables
    assert narrow.with_columns(narrow["key"] * 1_000_000_007).equals(spread)


@pytest.mark.parametrize("spread", [1, 10**9])  # keys added densely by bincount, or hash-grouped
def test_regroup_adds_the_counts_of_equal_keys(spread):
    rng = np.random.default_rng(2)
    keys = pl.Series("key", rng.integers(0, 500, 3_000) * spread).scatter([0, 7, 99], None)
    frame = pl.DataFrame([keys, pl.Series("n", np.ones(3_000, np.int64)), pl.Series("pos", rng.integers(0, 2, 3_000))])
    expected = frame.group_by("key").agg(pl.all().sum()).sort("key", nulls_last=True)
    assert regroup(frame).sort("key", nulls_last=True).equals(expected)


def test_cap_coarsens_and_keeps_counts():
    result = accumulate(BATCHES).result()
    assert result.tables["city"].mode == KeyMode.EXACT
    assert result.tables["user"].mode == KeyMode.HASHED and result.tables["user"].distinct <= 64
    assert result.tables["amount"].mode == KeyMode.LOG_BUCKET
    assert result.tables["clicks"].mode == KeyMode.LOG_BUCKET
    for table in result.tables.values():
        assert table.frame["n"].sum() == 1200
        assert table.frame["pos"].sum() == result.weight_totals["pos"]
    city = result.tables["city"].frame
    assert city["key"].null_count() == 1  # missing is its own key, listed last
    assert city["key"][-1] is None


def test_coarsened_tables_keep_a_distinct_count():
    """Past the cap the exact keys go into the distinct-count sketch; under its size it counts exactly."""
    result = accumulate(BATCHES).result()
    for name in ("user", "clicks"):
        distinct = len(set(np.concatenate([b.column(name).to_numpy() for _, b in BATCHES]).tolist()))
        assert result.tables[name].sketch is not None and result.tables[name].distinct_estimate == distinct, name
    assert result.tables["city"].sketch is None and result.tables["city"].distinct_estimate == 7
    assert result.tables["amount"].sketch is None  # floats are sketch buckets from the start


def test_shuffles_depend_only_on_the_batch_origin():
    labels = np.array([1, 0, 0, 1, 1, 0, 0, 0], dtype=np.uint8)
    first = label_weights(labels, BatchOrigin("a.parquet", 0), 4, seed=0)
    again = label_weights(labels, BatchOrigin("a.parquet", 0), 4, seed=0)
    other = label_weights(labels, BatchOrigin("a.parquet", 8), 4, seed=0)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert any(not np.array_equal(first[k], other[k]) for k in first if k != "pos")
    assert all(first[k].sum() == labels.sum() for k in first)


@pytest.mark.parametrize("name", ["city", "user", "amount", "clicks"])
def test_codebook_encodes_rows_into_the_scored_cells(name):
    result = accumulate(BATCHES).result()
    rule = next(r for r in RULES if r.name == name)
    book = build_codebook(rule, result.tables[name], numeric_bins=8)
    cells = book.cell_counts(result.tables[name])
    encoded = np.concatenate([book.encode(b.column(name)) for _, b in BATCHES])
    assert np.array_equal(np.bincount(encoded, minlength=book.size), cells[:, 0])
    if rule.kind == "numeric":
        assert book.size - 1 <= 8
    assert cells[book.missing_code, 0] == sum(b.column(name).null_count for _, b in BATCHES) or name == "amount"


def test_folded_codebook_keeps_the_most_frequent_values():
    result = accumulate(BATCHES).result()
    book = build_codebook(RULES[0], result.tables["city"], 8)
    counts = book.cell_counts(result.tables["city"])[:, 0]
    folded = book.folded(counts, 3)
    codes = np.concatenate([folded.encode(b.column("city")) for _, b in BATCHES])
    per_cell = np.bincount(codes, minlength=folded.size)
    top = np.sort(counts[: book.missing_code])[::-1]
    assert folded.size == 5 and sorted(per_cell[:3].tolist(), reverse=True) == top[:3].tolist()
    assert per_cell[3] == top[3:].sum() and per_cell[4] == counts[book.missing_code]


@pytest.mark.parametrize("kind", ["dense integers", "integers spread over int64", "text"])
def test_keys_are_looked_up_in_the_codebook_exactly(kind):
    rng = np.random.default_rng(len(kind))
    if kind == "dense integers":
        book, keys = np.unique(rng.integers(-50, 50, 40)), rng.integers(-70, 70, 500)
    elif kind == "integers spread over int64":  # wider than a dense table: binary search
        book = np.unique(rng.integers(-2**62, 2**62, 40))
        keys = np.concatenate([rng.choice(book, 250), rng.integers(-2**63, 2**63 - 1, 250, dtype=np.int64)])
    else:
        book, keys = np.unique(rng.integers(0, 60, 40)).astype(str), rng.integers(0, 80, 500).astype(str)
    rng.shuffle(book)
    codes = rng.permutation(book.size) + 3
    expected = dict(zip(book.tolist(), codes.tolist()))
    series = pl.Series("key", keys).scatter(np.arange(0, keys.size, 7), None)
    found = looked_up(series, pl.Series("key", book), codes, default=1)
    present = series.is_not_null().to_numpy()
    assert found[present].tolist() == [expected.get(key, 1) for key in series.drop_nulls().to_list()]
    empty = looked_up(series, pl.Series("key", book[:0]), codes[:0], default=1)  # an all-null column's codebook
    assert empty.tolist() == [1] * keys.size


@pytest.mark.parametrize("key", [
    pl.Series("key", [3, None, 7], dtype=pl.Int64), pl.Series("key", ["a", None, "b"]), pl.Series("key", [], dtype=pl.String),
])
@pytest.mark.parametrize("largest, narrow", [(200, pa.uint8()), (70_000, pa.uint32()), (2**40, pa.int64())])
def test_a_table_pickles_its_counts_narrow_and_comes_back_the_same(key, largest, narrow):
    counts = np.linspace(0, largest, len(key)).astype(np.int64)
    frame = pl.DataFrame([key, pl.Series("n", counts), pl.Series("w_1", counts // 2)])
    table = KeyedCounts(KeyMode.EXACT, frame)
    assert table.__getstate__()["frame"].schema.field("n").type == (narrow if len(key) else pa.uint8())  # empty: a byte
    back = pickle.loads(pickle.dumps(table))
    assert back.frame.equals(frame) and back.frame.schema == frame.schema
