import dataclasses

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from tensorflow_recommenders.layers.feature_multiplexing import unified_embedding

from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.layout import Layout, build_layout, head_vocabularies
from featureplex.features.embedding.vocabulary import MISSING_INT, ValueCounts
from featureplex.models.layers.preprocessing import FeaturePreprocessing


def small_counts() -> ValueCounts:
    """item (int): 7 x4, 8 x3, 9 x2, 5 x1; device (string): ios x3, tv x2, "a\\nb" x2; history shares item."""
    batch = pa.record_batch({
        "item": pa.array([7, 7, 7, 8, 8, 8, 9, 9, 5, None], pa.int64()),
        "device": pa.array(["ios", "ios", "ios", "tv", "tv", "a\nb", "a\nb", None, "", "web"]),
        "history": pa.array([[7], [], [], [], [], [], [], [], [], []], pa.list_(pa.int64())),
    })
    return ValueCounts(["item", "device"], {"history": "item"}).add(batch)


def small_preprocessing(mode: str = "hybrid", **params) -> tuple[FeaturePreprocessing, Layout]:
    counts = small_counts()
    if mode == "hybrid":
        params.setdefault("tail_share", 0.25)  # a hashed tail (hybrid with neither it nor a budget is collisionless)
    layout = build_layout(counts, VocabParams(mode=mode, dimension=4, **params))
    return FeaturePreprocessing(layout, head_vocabularies(counts, layout)), layout


def raw_rows() -> dict[str, tf.Tensor]:
    return {
        "item": tf.constant([7, 8, 9, 5, 123456789, MISSING_INT], tf.int64),
        "device": tf.constant(["ios", "tv", "a\nb", "", "web", "smart-fridge"]),
        "history": tf.ragged.constant([[7, 8], [], [9, 123456789], [8], [5, 5, 5], [7]], tf.int64),
        "unrelated": tf.constant([0.5] * 6),
    }


def tail_ids(layout: Layout, feature: str, tokens: list[str]) -> np.ndarray:
    """The tail rows computed independently, with Keras' salted Hashing layer."""
    spec = layout.features[feature]
    chunks = [tf.keras.layers.Hashing(spec.tail_rows, salt=key)(tf.constant(tokens)) for key in spec.hash_keys()]
    return spec.tail_offset + np.stack([chunk.numpy() for chunk in chunks], axis=-1)


def test_head_ids_are_exact_and_unseen_values_hash_with_their_own_salt():
    preprocessing, layout = small_preprocessing()
    ids = {name: value.numpy() for name, value in preprocessing(raw_rows()).items()}
    assert set(ids) == {"item", "device", "history"}
    item, device = layout.features["item"], layout.features["device"]
    # vocabularies: item 7, 8, 9 (5 is below min_count 2); device ios, tv ("a\nb" cannot be a line; "" is missing)
    assert (device.missing_row, device.head_offset, item.missing_row, item.head_offset) == (1, 2, 4, 5)
    np.testing.assert_array_equal(ids["item"][:3], [[5, 5], [6, 6], [7, 7]])
    np.testing.assert_array_equal(ids["item"][3:5], tail_ids(layout, "item", ["5", "123456789"]))
    np.testing.assert_array_equal(ids["item"][5], [4, 4])
    np.testing.assert_array_equal(ids["device"][:2], [[2, 2], [3, 3]])
    np.testing.assert_array_equal(ids["device"][2], tail_ids(layout, "device", ["a\nb"])[0])
    np.testing.assert_array_equal(ids["device"][3], [1, 1])
    np.testing.assert_array_equal(ids["device"][4:], tail_ids(layout, "device", ["web", "smart-fridge"]))
    # the same unseen tokens land on other rows for another feature: salts differ
    unseen = [f"unseen-{index}" for index in range(20)]
    assert not np.array_equal(tail_ids(layout, "item", unseen), tail_ids(layout, "device", unseen))


def test_sequences_use_the_shared_feature_rows_with_padding_at_row_zero():
    preprocessing, layout = small_preprocessing()
    rows = raw_rows()
    ragged = preprocessing(rows)["history"].numpy()
    assert ragged.shape == (6, 3, 2)
    np.testing.assert_array_equal(ragged[0], [[5, 5], [6, 6], [0, 0]])
    np.testing.assert_array_equal(ragged[1], np.zeros((3, 2)))
    np.testing.assert_array_equal(ragged[2, 1], tail_ids(layout, "item", ["123456789"])[0])
    padded = rows["history"].to_tensor(default_value=MISSING_INT)
    np.testing.assert_array_equal(preprocessing({"history": padded})["history"].numpy(), ragged)
    np.testing.assert_array_equal(preprocessing({"item": tf.constant([[7]], tf.int64)})["item"].numpy(), [[5, 5]])


def test_config_round_trip_gives_the_same_ids():
    preprocessing, _ = small_preprocessing(budget_rows=12)
    clone = FeaturePreprocessing.from_config(preprocessing.get_config())
    assert clone.layout == preprocessing.layout and clone.vocabularies == preprocessing.vocabularies
    rows = raw_rows()
    for name, ids in preprocessing(rows).items():
        np.testing.assert_array_equal(clone(rows)[name].numpy(), ids.numpy())


def test_layer_built_from_an_artifact_matches(tmp_path):
    from featureplex.features.data.artifact_dir import Manifest
    from featureplex.features.embedding.vocab_artifact import VocabArtifact

    counts = small_counts()
    layout = build_layout(counts, VocabParams(dimension=4, tail_share=0.25))
    VocabArtifact.from_counts(counts, layout, Manifest("vocab")).write(tmp_path / "vocab")
    loaded = FeaturePreprocessing.from_artifact(tmp_path / "vocab")
    assert loaded.layout == layout and loaded.vocabularies == head_vocabularies(counts, layout)


@pytest.mark.parametrize("mode", ["hashing", "separate"])
def test_hashing_modes_have_no_head(mode):
    preprocessing, layout = small_preprocessing(mode, budget_rows=40)
    ids = preprocessing(raw_rows())
    for name in ("item", "device"):
        spec = layout.features[name]
        values = ids[name].numpy()
        assert values.min() >= spec.tail_offset and values.max() < spec.tail_offset + spec.tail_rows
        assert values.shape[-1] == spec.chunks


def test_hashing_mode_bucket_ids_equal_tfrs_unified_embedding():
    preprocessing, layout = small_preprocessing("hashing", budget_rows=101, chunks=3)
    # TFRS salts chunk j of the i-th added feature with [i, j]; give our layout the same salts.
    names = ["item", "device"]
    salted = {name: dataclasses.replace(layout.features[name], salt=index) for index, name in enumerate(names)}
    ours = FeaturePreprocessing(dataclasses.replace(layout, features=salted), {})
    config = unified_embedding.UnifiedEmbeddingConfig(buckets_per_table=100, dim_per_table=2, num_tables=3, name="ue")
    for name in names:
        config.add_feature(name, 3)
    tfrs_layer = unified_embedding.UnifiedEmbedding(config, tf.tpu.experimental.embedding.SGD(0.1))
    rows = raw_rows()
    rows["item"] = tf.constant([7, 8, 9, 5, 123456789, 42], tf.int64)  # TFRS has no missing sentinel
    ids = ours(rows)
    for name in names:
        hashing_layers = tfrs_layer._hashing_layers[name]
        expected = np.stack([hashing_layers[key](rows[name]).numpy() for key in sorted(hashing_layers)], axis=-1)
        np.testing.assert_array_equal(ids[name].numpy() - layout.features[name].tail_offset, expected)


def test_a_pruned_tail_gives_values_outside_the_head_no_embedding():
    from featureplex.features.embedding.layout import head_vocabularies
    from featureplex.features.embedding.pruning import FeatureMask, prune_layout
    from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding

    counts = small_counts()
    layout = build_layout(counts, VocabParams(dimension=4, tail_share=0.25))
    masks = {"item": FeatureMask(head=(True, False, True), missing=True, tail=False),
             "device": FeatureMask(head=(True, True), missing=True, tail=True)}
    pruned, tokens = prune_layout(layout, head_vocabularies(counts, layout), masks)
    preprocessing = FeaturePreprocessing(pruned, tokens)
    ids = preprocessing(raw_rows())
    item = ids["item"].numpy()
    item_spec = pruned.features["item"]
    # 7 and 9 kept in the head; 8 (pruned), 5 and 123456789 (tail) on the padding row; missing keeps its row
    np.testing.assert_array_equal(item, [[item_spec.head_offset] * 2, [0, 0], [item_spec.head_offset + 1] * 2,
                                         [0, 0], [0, 0], [item_spec.missing_row] * 2])
    assert ids["history"].numpy()[2, 1].tolist() == [0, 0]  # the history shares item's rows
    embedding = MultiplexedEmbedding.from_layout(pruned, embeddings_initializer="ones")
    clone = MultiplexedEmbedding.from_config(embedding.get_config())
    for layer in (embedding, clone):
        vectors, _ = layer(ids)
        np.testing.assert_array_equal(np.abs(vectors["item"].numpy()).sum(axis=-1) == 0,
                                      [False, True, False, True, True, False])
        assert np.all(vectors["device"].numpy() != 0)  # device keeps its tail: hashed values embed as before
