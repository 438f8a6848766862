import json
import warnings

import pyarrow as pa
import pytest

from featureplex.features.data.config import FeatureConfig, VocabParams
from featureplex.features.embedding.layout import (
    EmptyVocabularyWarning,
    Layout,
    build_layout,
    chunk_widths,
    feature_salt,
    head_vocabularies,
)
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.features.errors import InputError


def counts_of(**columns) -> ValueCounts:
    """Categorical string columns, plus `history` (a list column sharing `item`'s vocabulary) when given."""
    history = columns.pop("history", None)
    arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
    if history is not None:
        arrays["history"] = pa.array(history, pa.list_(pa.string()))
    return ValueCounts(columns, {"history": "item"} if history is not None else {}).add(pa.record_batch(arrays))


@pytest.fixture
def counts() -> ValueCounts:
    # item: a x5 (one in the history), b x3, c x2, d x1, missing x1; device: ios x4, tv x3, web x3, missing x1
    return counts_of(
        item=["a", "a", "a", "a", "b", "b", "b", "c", "c", "d", None],
        device=["ios", "ios", "ios", "ios", "tv", "tv", "tv", "web", "web", "web", ""],
        history=[["a"], [], [], [], [], [], [], [], [], [], []],
    )


def test_head_goes_to_the_most_frequent_pairs_across_features_ties_by_feature_then_token(counts):
    # 12 rows: padding + 2 missing rows + tail max(1, floor(9 * 0.25)) = 2 -> 7 head rows for 6 candidates
    # (d is below min_count); the unused row goes to the tail.
    layout = build_layout(counts, VocabParams(dimension=4, budget_rows=12))
    assert head_vocabularies(counts, layout) == {"device": ["ios", "tv", "web"], "item": ["a", "b", "c"]}
    # 9 - 3 fixed - 1 tail = 5 head rows: a5, ios4, then the ties at 3 by feature: device tv, device web, item b.
    layout = build_layout(counts, VocabParams(dimension=4, budget_rows=9))
    assert head_vocabularies(counts, layout) == {"device": ["ios", "tv", "web"], "item": ["a", "b"]}
    device, item = layout.features["device"], layout.features["item"]
    assert (device.missing_row, device.head_offset, device.head_rows) == (1, 2, 3)
    assert (item.missing_row, item.head_offset, item.head_rows) == (5, 6, 2)
    assert (item.tail_offset, item.tail_rows) == (device.tail_offset, device.tail_rows) == (8, 1)
    assert layout.parameters == 36
    assert item.coverage == (5 + 3 + 1) / 12  # a, b and the missing row, of 12 occurrences


def test_without_a_budget_every_eligible_value_gets_a_head_row(counts):
    # tail_share set: the hashed tail beside a full head is that share of the rows
    layout = build_layout(counts, VocabParams(dimension=4, min_count=2, tail_share=0.25))
    assert layout.mode == "hybrid"
    assert head_vocabularies(counts, layout) == {"device": ["ios", "tv", "web"], "item": ["a", "b", "c"]}
    assert layout.rows == 1 + 2 + 6 + 2  # tail: ceil(6 * 0.25 / 0.75)
    assert layout.features["device"].coverage == 1.0


def test_hybrid_without_budget_or_tail_share_is_laid_out_collisionless(counts):
    # nothing to share rows under: the values below min_count (d, the missing values seen once) and unseen
    # values go to one out-of-vocabulary row per feature, not to a hashed tail
    default = build_layout(counts, VocabParams(dimension=4, min_count=2))
    collisionless = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=2))
    assert default == collisionless
    assert default.mode == "collisionless" and default.rows == 1 + (3 + 1) + (3 + 1)
    assert {name: (f.tail_rows, f.chunks) for name, f in default.features.items()} == {"device": (1, 1), "item": (1, 1)}
    assert default.features["item"].tail_offset != default.features["device"].tail_offset


def test_per_feature_min_count_and_top_k_override_the_defaults(counts):
    overrides = {"item": FeatureConfig(min_count=3), "device": FeatureConfig(top_k=1)}
    layout = build_layout(counts, VocabParams(dimension=4), overrides)
    assert head_vocabularies(counts, layout) == {"device": ["ios"], "item": ["a", "b"]}


@pytest.mark.parametrize("budget", [100, 160, 1000])
def test_modes_have_equal_parameters_at_the_same_budget(counts, budget):
    layouts = {mode: build_layout(counts, VocabParams(mode=mode, dimension=4, budget_parameters=budget))
               for mode in ("hybrid", "hashing", "separate")}
    assert layouts["hashing"].parameters == layouts["separate"].parameters == budget // 4 * 4
    assert layouts["hybrid"].parameters <= budget  # rows that would serve no head candidate are left out
    hashing, separate = layouts["hashing"], layouts["separate"]
    assert hashing.head_rows == 0 and hashing.tail_rows == hashing.rows - 1
    assert all(feature.missing_row is None and feature.chunks == 2 for feature in hashing.features.values())
    assert separate.head_rows == 0 and separate.tail_rows == separate.rows - 1
    assert all(feature.chunks == 1 for feature in separate.features.values())


def test_separate_regions_are_equal_shares_capped_at_the_distinct_values(counts):
    # distinct values + missing: device 4, item 5; the regions follow the padding row in name order
    def regions(rows):
        layout = build_layout(counts, VocabParams(mode="separate", dimension=4, budget_rows=rows))
        return [(feature.tail_offset, feature.tail_rows) for feature in layout.features.values()]

    assert regions(6) == [(1, 2), (3, 3)]  # 5 rows: 5 // 2 = 2 to the smaller, the other 3 to item
    assert regions(9) == [(1, 4), (5, 4)]  # 8 rows: both at an equal share, below their values
    # 10 rows: device needs only 4, item takes its 5 and the row left over (largest share of values)
    assert regions(11) == [(1, 4), (5, 6)]


def test_budget_below_the_minimum_names_the_key(counts):
    with pytest.raises(InputError, match=r"vocab.budget_parameters: 12 gives 3 rows .* at least 4 rows \(16 parameters\) for 2 features"):
        build_layout(counts, VocabParams(dimension=4, budget_parameters=12))
    with pytest.raises(InputError, match="budget_rows and budget_parameters are both set"):
        build_layout(counts, VocabParams(budget_rows=100, budget_parameters=1000))


def test_an_empty_vocabulary_warns_and_the_feature_goes_to_the_tail():
    counts = counts_of(rare=["x", "y", "z"], common=["a", "a", "a"])
    with pytest.warns(EmptyVocabularyWarning, match="feature 'rare': no value reaches min_count 2"):
        layout = build_layout(counts, VocabParams(dimension=4))
    assert layout.features["rare"].head_rows == 0 and layout.features["common"].head_rows == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_layout(counts, VocabParams(mode="hashing", dimension=4))  # no head to be empty


def test_bad_feature_options_name_the_key(counts):
    with pytest.raises(InputError, match="features.price: min_count/top_k/chunks are set"):
        build_layout(counts, VocabParams(), {"price": FeatureConfig(min_count=5)})
    with pytest.raises(InputError, match="features.item.chunks: 5 chunks do not fit in vocab.dimension 4"):
        build_layout(counts, VocabParams(dimension=4, tail_share=0.25), {"item": FeatureConfig(chunks=5)})
    with pytest.raises(InputError, match="no categorical or sequence feature"):
        build_layout(ValueCounts([]), VocabParams())


def test_salts_are_stable_and_distinct():
    assert feature_salt("item_id", 0) == 1405936381  # a regression value: a salt change re-hashes every model
    assert feature_salt("item_id", 0) != feature_salt("item_id", 1) != feature_salt("user_id", 1)
    assert chunk_widths(10, 3) == (4, 3, 3) and sum(chunk_widths(16, 5)) == 16


def test_layout_json_round_trips(counts):
    layout = build_layout(counts, VocabParams(dimension=4, budget_rows=12, tail_share=0.25))
    assert Layout.from_json(layout.to_json()) == layout
    payload = json.loads(layout.to_json())
    assert payload["sequences"] == {"history": "item"}
    assert payload["features"]["item"]["vocabulary"] == "vocab/item.txt"
    assert payload["features"]["item"]["chunk_widths"] == [2, 2]
    assert payload["parameters"] == 48 and payload["tail_rows"] == layout.tail_rows


def _artifact_bytes(path) -> dict[str, bytes]:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*")) if file.is_file()}


