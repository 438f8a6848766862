import pickle

import pyarrow as pa
import pytest

from featureplex.features.embedding import vocabulary
from featureplex.features.embedding.vocabulary import MISSING_INT, ValueCounts
from featureplex.features.errors import InputError


def batch(**columns) -> pa.RecordBatch:
    return pa.record_batch({name: pa.array(values, type) for name, (values, type) in columns.items()})


def test_tokens_ranked_by_count_then_token():
    counts = ValueCounts(["item", "device"]).add(batch(
        item=([10, 9, 9, 10, 7, 100], pa.int64()),
        device=(["tv", "ios", "ios", "tv", "web", "ios"], pa.string()),
    ))
    assert counts.ranked("item").rows() == [("10", 2), ("9", 2), ("100", 1), ("7", 1)]
    assert counts.ranked("device").rows() == [("ios", 3), ("tv", 2), ("web", 1)]
    assert counts.occurrences("item") == 6


def test_missing_is_null_empty_string_or_sentinel():
    counts = ValueCounts(["s", "i"]).add(batch(
        s=(["a", None, "", "a"], pa.string()),
        i=([1, None, MISSING_INT, 1], pa.int64()),
    ))
    assert counts.ranked("s").rows() == [("a", 2)]
    assert counts.ranked("i").rows() == [("1", 2)]
    assert (counts.missing("s"), counts.missing("i")) == (2, 2)
    assert counts.occurrences("s") == 4


def test_booleans_count_as_zero_and_one():
    counts = ValueCounts(["flag"]).add(batch(flag=([True, False, True], pa.bool_())))
    assert counts.ranked("flag").rows() == [("1", 2), ("0", 1)]


def test_sequence_elements_count_toward_the_shared_feature_and_padding_does_not():
    counts = ValueCounts(["item"], {"history": "item"}).add(batch(
        item=([1, 2], pa.int64()),
        history=([[1, 1, None], [MISSING_INT, 2]], pa.list_(pa.int64())),
    ))
    assert counts.features == ("item",)
    assert counts.ranked("item").rows() == [("1", 3), ("2", 2)]
    assert counts.missing("item") == 0


def test_sequence_without_a_shared_feature_owns_its_vocabulary():
    counts = ValueCounts([], {"tags": "tags"}).add(batch(tags=([["x", ""], ["x", "y"]], pa.list_(pa.string()))))
    assert counts.ranked("tags").rows() == [("x", 2), ("y", 1)]


def test_line_breaks_are_routed_to_the_tail_not_the_vocabulary():
    counts = ValueCounts(["s"]).add(batch(s=(["a\nb", "a\nb", "c\r", "ok"], pa.string())))
    assert counts.ranked("s").rows() == [("ok", 1)]
    assert counts.unrepresentable("s") == 3
    assert counts.occurrences("s") == 4


def test_binary_values_that_are_not_utf8_are_routed_to_the_tail():
    counts = ValueCounts(["b"]).add(batch(b=([b"ok", b"\xff\xfe", b"ok", b"", None, "é".encode()], pa.binary())))
    assert counts.ranked("b").rows() == [("ok", 2), ("é", 1)]
    assert (counts.missing("b"), counts.unrepresentable("b")) == (2, 1)


@pytest.mark.parametrize(
    "column, message",
    [
        (pa.array([1.5]), "column 'x': type double cannot have a vocabulary"),
        (pa.array([[1]]), "column 'x': type list<item: int64> cannot have a vocabulary"),
    ],
)
def test_unsupported_types_name_the_column(column, message):
    with pytest.raises(InputError, match=message):
        ValueCounts(["x"]).add(pa.record_batch({"x": column}))


def test_missing_column_and_non_list_sequence_are_input_errors():
    with pytest.raises(InputError, match="column 'y' is not in the data"):
        ValueCounts(["y"]).add(batch(x=([1], pa.int64())))
    with pytest.raises(InputError, match="column 'h': type int64 is not a list"):
        ValueCounts([], {"h": "item"}).add(batch(h=([1], pa.int64())))


def _parts() -> list[pa.RecordBatch]:
    rows = [str(value % 7) if value % 5 else None for value in range(60)]
    histories = [[value % 3, value % 11] for value in range(60)]
    whole = batch(s=(rows, pa.string()), h=(histories, pa.list_(pa.int64())), i=(list(range(60)), pa.int64()))
    return [whole.slice(start, 10) for start in range(0, 60, 10)]


def _accumulate(parts: list[pa.RecordBatch]) -> ValueCounts:
    counts = ValueCounts(["s", "i"], {"h": "i"})
    for part in parts:
        counts.add(part)
    return counts


def test_merging_is_order_independent_and_survives_pickling(monkeypatch):
    parts = _parts()
    one_worker = _accumulate(parts)
    monkeypatch.setattr(vocabulary, "_COMPACT_MIN_ROWS", 1)  # exercise compaction on every batch
    left, right = _accumulate(parts[3:][::-1]), _accumulate(parts[:3])
    shuffled = ValueCounts.merge_all([pickle.loads(pickle.dumps(right)), _accumulate([]), left])
    assert shuffled.to_arrow().equals(one_worker.to_arrow())
    for feature in one_worker.features:
        assert shuffled.missing(feature) == one_worker.missing(feature)
        assert shuffled.occurrences(feature) == one_worker.occurrences(feature)


def test_merging_different_columns_is_refused():
    with pytest.raises(ValueError, match="different columns"):
        ValueCounts.merge_all([ValueCounts(["a"]), ValueCounts(["b"])])


def test_integer_and_text_sources_of_one_feature_merge_as_text():
    counts = ValueCounts(["item"], {"tags": "item"}).add(batch(
        item=([1, 2], pa.int64()),
        tags=([["1", "x"], [""]], pa.list_(pa.string())),
    ))
    assert counts.ranked("item").rows() == [("1", 2), ("2", 1), ("x", 1)]
    assert counts.missing("item") == 0


def test_wide_and_negative_integers_count_like_small_ones():
    counts = ValueCounts(["i"]).add(batch(i=([5, 5, 10**12, -3, -3, -3], pa.int64())))
    counts.add(batch(i=([5, 7], pa.int64())))  # small ids: the bincount path, merged with the hashed one
    assert counts.ranked("i").rows() == [("-3", 3), ("5", 3), ("1000000000000", 1), ("7", 1)]
    unsigned = ValueCounts(["u"]).add(batch(u=([2**64 - 1, 2**64 - 1, 3], pa.uint64())))
    assert unsigned.ranked("u").rows() == [("18446744073709551615", 2), ("3", 1)]


def test_dictionary_columns_count_like_plain_ones_even_with_a_repeated_dictionary_value():
    dictionary = pa.array(["a", "b", "a", ""])  # Arrow allows "a" twice
    encoded = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, None, 3, 0], pa.int32()), dictionary)
    plain = ValueCounts(["s"]).add(batch(s=(["a", "b", "a", None, "", "a"], pa.string())))
    counts = ValueCounts(["s"]).add(pa.record_batch({"s": encoded}))
    assert counts.ranked("s").rows() == plain.ranked("s").rows() == [("a", 3), ("b", 1)]
    assert counts.missing("s") == plain.missing("s") == 2


def test_an_id_like_column_counts_the_same_once_its_values_are_left_to_compaction(monkeypatch):
    monkeypatch.setattr(vocabulary, "_COMPACT_MIN_ROWS", 4)  # the first compaction finds only distinct values
    parts = [batch(s=([f"id{i}" for i in range(start, start + 5)], pa.string())) for start in range(0, 20, 5)]
    parts += [batch(s=(["id1", "id1", None, "id19", "new"], pa.string()))]  # repeats after the feature looked distinct
    counts = ValueCounts(["s"])
    for part in parts:
        counts.add(part)
    assert counts._distinct["s"]  # later batches took the uncounted path
    expected = {f"id{i}": 1 for i in range(20)} | {"id1": 3, "id19": 2, "new": 1}
    assert dict(counts.ranked("s").iter_rows()) == expected
    assert counts.ranked("s").rows()[:2] == [("id1", 3), ("id19", 2)]
    assert counts.missing("s") == 1


def test_counts_passed_on_unread_are_not_decompressed_and_recompressed(monkeypatch):
    # a local runner's grouping unpickles every accumulator and pickles it again for the merge step
    counts = _accumulate(_parts())
    shipped = pickle.dumps(counts)
    received = pickle.loads(shipped)
    with monkeypatch.context() as patched:
        patched.setattr(vocabulary, "_decompressed", lambda data: pytest.fail("decompressed counts nobody read"))
        patched.setattr(vocabulary, "_compressed", lambda frame: pytest.fail("compressed counts again"))
        passed_on = pickle.dumps(received)
    assert passed_on == shipped
    merged = ValueCounts.merge_all([pickle.loads(passed_on)])
    assert merged.to_arrow().equals(counts.to_arrow())
    assert [merged.missing(f) for f in merged.features] == [counts.missing(f) for f in counts.features]


def test_distinct_values_added_in_any_order_rank_by_token_also_after_pickling(monkeypatch):
    monkeypatch.setattr(vocabulary, "_COMPACT_MIN_ROWS", 8)  # compactions of values seen once each: the sorting path
    tokens = [f"u{(i * 37) % 101:03d}" for i in range(101)]  # a permutation of u000..u100
    counts = ValueCounts(["s"])
    for start in range(0, 101, 10):
        counts.add(batch(s=(tokens[start:start + 10], pa.string())))
    expected = [(token, 1) for token in sorted(tokens)]
    assert counts.ranked("s").rows() == expected
    assert ValueCounts.merge_all([pickle.loads(pickle.dumps(counts))]).ranked("s").rows() == expected
    counts.add(batch(s=(["u050", "u050", "u007"], pa.string())))  # repeats: ranked first, the rest stays in token order
    assert counts.ranked("s").rows()[:3] == [("u050", 3), ("u007", 2), ("u000", 1)]
    assert counts.ranked("s").rows()[3:] == [row for row in expected if row[0] not in ("u000", "u007", "u050")]
