"""OptFS selection results: keep ratios, dropped fields, the pruned layout and its vocab artifact."""

import pytest

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from featureplex.features.embedding.pruning import FeatureMask, dropped_fields, head_counts, keep_ratios, prune_layout
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.errors import InputError
from tests.models.layers.test_preprocessing import small_counts


def hybrid():
    counts = small_counts()
    layout = build_layout(counts, VocabParams(mode="hybrid", dimension=4, tail_share=0.25))
    return counts, layout


def test_keep_ratios_count_values_and_rows():
    counts, layout = hybrid()
    # item: head 7 x4 (+1 from history), 8 x3, 9 x2; tail 5 x1; missing x1.  device: head ios x3, tv x2; tail a\nb x2, web x1
    masks = {"item": FeatureMask(head=(True, False, True), missing=False, tail=False),
             "device": FeatureMask(head=(False, False), missing=True, tail=True)}
    ratios = keep_ratios(layout, head_counts(counts, layout), masks)
    item, device = layout.features["item"], layout.features["device"]
    assert ratios["item"].values == item.head_rows + (item.distinct - item.head_rows) + 1
    assert ratios["item"].values_kept == 2
    assert ratios["item"].row_ratio == pytest.approx(sum(head_counts(counts, layout)["item"][i] for i in (0, 2)) / item.occurrences)
    assert ratios["device"].values_kept == device.distinct - device.head_rows + 1
    assert ratios["device"].row_ratio == pytest.approx(1 - 5 / device.occurrences)
    assert dropped_fields(masks) == []
    assert dropped_fields({**masks, "item": FeatureMask((False,) * 3, False, False)}) == ["item"]


def test_pruned_layout_drops_values_and_fields_and_round_trips(tmp_path):
    counts, layout = hybrid()
    vocabularies = head_vocabularies(counts, layout)
    masks = {"item": FeatureMask(head=(True, False, True), missing=False, tail=False),
             "device": FeatureMask(head=(False, True), missing=True, tail=True)}
    pruned, tokens = prune_layout(layout, vocabularies, masks, head_counts(counts, layout))
    assert tokens == {"item": ["7", "9"], "device": ["tv"]}
    assert pruned.head_rows == 3 and pruned.rows == layout.rows - 2
    assert pruned.features["device"].tail_rows == layout.features["device"].tail_rows
    assert (pruned.features["item"].tail_dropped, pruned.features["device"].tail_dropped) == (True, False)
    assert pruned.features["device"].salt == layout.features["device"].salt
    assert pruned.sequences == layout.sequences
    VocabArtifact(pruned, tokens, counts.frame(), Manifest("optfs-prune")).write(tmp_path / "v")
    again = VocabArtifact.read(tmp_path / "v", with_counts=True)
    assert again.layout == pruned and again.vocabularies == tokens
    assert again.head_counts() == {"item": [4, 2], "device": [2]}

    masks["item"] = FeatureMask((False,) * 3, False, False)
    pruned, tokens = prune_layout(layout, vocabularies, masks)
    assert set(pruned.features) == {"device"} and pruned.sequences == {}  # the history shared item's rows
    masks["device"] = FeatureMask((False,) * 2, False, False)
    with pytest.raises(InputError, match="every feature"):
        prune_layout(layout, vocabularies, masks)


def test_the_tail_goes_when_no_kept_feature_keeps_it():
    counts, layout = hybrid()
    masks = {"item": FeatureMask(head=(True, False, True), missing=True, tail=False),
             "device": FeatureMask(head=(False, True), missing=True, tail=False)}
    pruned, _ = prune_layout(layout, head_vocabularies(counts, layout), masks)
    assert pruned.tail_rows == 0 and all(feature.tail_dropped for feature in pruned.features.values())
    # padding, then item's missing row and 2 head rows, device's missing row and 1 head row
    assert pruned.rows == 1 + 3 + 2 and pruned.parameters == 6 * layout.dimension


def test_separate_and_hashing_drop_whole_fields():
    counts = small_counts()
    for mode in ("separate", "hashing"):
        layout = build_layout(counts, VocabParams(mode=mode, dimension=4, budget_rows=20))
        masks = {"item": FeatureMask((), None, True), "device": FeatureMask((), None, False)}
        pruned, _ = prune_layout(layout, head_vocabularies(counts, layout), masks)
        assert set(pruned.features) == {"item"}
        if mode == "separate":
            assert pruned.rows == 1 + layout.features["item"].tail_rows and pruned.features["item"].tail_offset == 1
        ratios = keep_ratios(layout, head_counts(counts, layout), masks)
        assert ratios["device"].row_ratio == 0 and ratios["item"].row_ratio == 1


def test_mask_shape_mismatch_is_an_error():
    counts, layout = hybrid()
    masks = {"item": FeatureMask((True,), False, True), "device": FeatureMask((True, True), True, True)}
    with pytest.raises(InputError, match="head gates"):
        keep_ratios(layout, head_counts(counts, layout), masks)
