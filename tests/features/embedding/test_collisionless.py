"""Collisionless layout: one row per kept value, one out-of-vocabulary row per feature, no budget."""

import pytest

from featureplex.features.data.config import FeatureConfig, VocabParams, load_config
from featureplex.features.embedding.layout import Layout, build_layout, head_vocabularies
from featureplex.features.embedding.pruning import FeatureMask, prune_layout
from featureplex.features.errors import InputError
from tests.features.embedding.test_layout import counts_of


@pytest.fixture
def counts():
    # item: a x5 (one in the history), b x3, c x2, d x1, missing x1; device: ios x4, tv x3, web x3, missing x1
    return counts_of(
        item=["a", "a", "a", "a", "b", "b", "b", "c", "c", "d", None],
        device=["ios", "ios", "ios", "ios", "tv", "tv", "tv", "web", "web", "web", ""],
        history=[["a"], [], [], [], [], [], [], [], [], [], []],
    )


def kept_values(counts, min_count):
    """Values seen at least min_count times, missing counted as a value."""
    return sum(int((counts.ranked(name)["count"] >= min_count).sum()) + (counts.missing(name) >= min_count)
               for name in counts.features)


@pytest.mark.parametrize("min_count", [1, 2, 3])
def test_one_row_per_kept_value_plus_one_per_feature(counts, min_count):
    layout = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=min_count))
    assert layout.rows == 1 + kept_values(counts, min_count) + len(counts.features)
    assert layout.parameters == layout.rows * 4 and layout.tail_rows == len(counts.features)
    rows = {0}  # padding; every other row belongs to exactly one feature
    for name, spec in layout.features.items():
        own = set(range(spec.head_offset, spec.head_offset + spec.head_rows)) | {spec.tail_offset}
        own |= {spec.missing_row} if spec.missing_row is not None else set()
        assert spec.chunks == 1 and spec.tail_rows == 1 and not own & rows
        rows |= own
    assert rows == set(range(layout.rows))


def test_min_count_one_keeps_every_value_and_missing(counts):
    layout = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=1))
    assert head_vocabularies(counts, layout) == {"device": ["ios", "tv", "web"], "item": ["a", "b", "c", "d"]}
    item, device = layout.features["item"], layout.features["device"]
    # device block: missing 1, ios tv web 2-4, OOV 5; item block: missing 6, a b c d 7-10, OOV 11
    assert (device.missing_row, device.head_offset, device.tail_offset) == (1, 2, 5)
    assert (item.missing_row, item.head_offset, item.tail_offset) == (6, 7, 11)
    assert item.coverage == 1.0 and layout.rows == 12
    assert Layout.from_json(layout.to_json()) == layout


def test_missing_below_min_count_and_top_k_go_to_the_oov_row(counts):
    layout = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=2),
                          {"device": FeatureConfig(top_k=1)})
    assert head_vocabularies(counts, layout) == {"device": ["ios"], "item": ["a", "b", "c"]}
    assert all(spec.missing_row is None for spec in layout.features.values())  # missing seen once
    assert layout.rows == 1 + 4 + 2


def test_a_budget_is_an_input_error_naming_the_key(counts):
    with pytest.raises(InputError, match="vocab.budget_parameters: mode 'collisionless' takes no budget"):
        build_layout(counts, VocabParams(mode="collisionless", budget_parameters=1000))


def test_the_config_accepts_collisionless_and_min_count_one(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("vocab: {mode: collisionless, min_count: 1}\n")
    assert load_config(path).vocab.model_dump()["mode"] == "collisionless"
    assert load_config(path).vocab.min_count == 1


def test_pruning_keeps_each_feature_block_and_its_oov_row(counts):
    layout = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=1))
    masks = {"device": FeatureMask((True, False, True), True, False), "item": FeatureMask((True, True, False, False), True, True)}
    pruned, vocabularies = prune_layout(layout, head_vocabularies(counts, layout), masks)
    assert vocabularies == {"device": ["ios", "web"], "item": ["a", "b"]}
    device, item = pruned.features["device"], pruned.features["item"]
    assert (device.missing_row, device.head_offset, device.tail_offset, device.tail_dropped) == (1, 2, 4, True)
    assert (item.missing_row, item.head_offset, item.tail_offset, item.tail_dropped) == (5, 6, 8, False)
    assert pruned.rows == 9
