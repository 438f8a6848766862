"""The tf.data input: raw feature dicts from Parquet, disjoint reproducible splits, per-epoch shuffles."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import resolve_schema
from featureplex.models.input import EpochStream, InputOptions, Split, make_tf_dataset, raw_feature_specs, split_streams
from tests.conftest import small_table


@pytest.fixture
def data(tmp_path):
    table = small_table(1000).append_column(
        "history_timestamps", pa.array([[1_000, 2_000]] * 1000, pa.list_(pa.timestamp("s")))
    )
    table = table.set_column(2, "city", pa.array([None if i % 10 == 0 else f"c{i % 7}" for i in range(1000)]))
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=250)
    dataset = open_dataset(tmp_path / "d.parquet")
    return dataset, resolve_schema(dataset)


def collect(tf_dataset):
    rows = {}
    labels = []
    for features, label in tf_dataset:
        for name, value in features.items():
            rows.setdefault(name, []).extend(value.to_list() if isinstance(value, tf.RaggedTensor) else value.numpy().tolist())
        labels.extend(label.numpy().tolist())
    return rows, labels


def test_specs_follow_the_schema(data):
    dataset, schema = data
    specs = raw_feature_specs(schema, dataset.schema)
    assert specs["city"].dtype == tf.string and specs["item_id"].dtype == tf.int64
    assert specs["price"].dtype == tf.float32
    assert isinstance(specs["history_item_ids"], tf.RaggedTensorSpec)
    assert isinstance(specs["history_timestamps"], tf.RaggedTensorSpec)


def test_random_split_is_disjoint_complete_and_batched(data):
    dataset, schema = data
    options = InputOptions(batch_size=64, shuffle_rows=300, read_batch_rows=100)
    train, train_labels = collect(make_tf_dataset(dataset, schema, Split(0.2, seed=3), "train", options, shuffle=False))
    valid, valid_labels = collect(make_tf_dataset(dataset, schema, Split(0.2, seed=3), "validation", options, shuffle=False))
    assert len(train_labels) + len(valid_labels) == 1000
    assert 120 < len(valid_labels) < 280
    prices = sorted(train["price"] + valid["price"])
    expected = pq.read_table(dataset.files[0]).column("price").to_numpy().astype(np.float32)
    np.testing.assert_array_equal(prices, np.sort(expected))
    assert b"" in train["city"]  # nulls arrive as the missing sentinel
    assert train["history_timestamps"][0] == [1000, 2000]
    other = collect(make_tf_dataset(dataset, schema, Split(0.2, seed=4), "validation", options, shuffle=False))[1]
    assert len(other) != len(valid_labels) or other != valid_labels


def test_epochs_are_shuffled_reproducibly(data):
    dataset, schema = data
    options = InputOptions(batch_size=100, shuffle_rows=400, read_batch_rows=100, seed=7)
    stream = make_tf_dataset(dataset, schema, Split(0.1), "train", options)
    first, second = collect(stream)[0]["price"], collect(stream)[0]["price"]
    assert first != second and sorted(first) == sorted(second)
    resumed = make_tf_dataset(dataset, schema, Split(0.1), "train", options, first_epoch=1)
    assert collect(resumed)[0]["price"] == second


def _epoch_batches(stream, epoch):
    """Take one epoch off the stream as a training loop does: exactly `steps(epoch)` batches."""
    batches = stream.epoch(epoch)
    taken = [next(batches) for _ in range(stream.steps(epoch))]
    stream.finished(epoch)
    return collect(taken)


@pytest.mark.parametrize("batch_size, shuffle_rows, read_batch_rows", [(100, 400, 100), (64, 300, 70), (1000, 10_000, 128)])
def test_the_epoch_stream_counts_and_gives_each_epochs_batches_in_any_order(data, batch_size, shuffle_rows, read_batch_rows):
    dataset, schema = data
    options = InputOptions(batch_size=batch_size, shuffle_rows=shuffle_rows, read_batch_rows=read_batch_rows, seed=7,
                           chunk_batches=2)
    stream = EpochStream(dataset, schema, Split(0.1), "train", options)
    # consecutive epochs run on from one iterator; a resumed run starts past 0, a second training at 0 again
    for epoch in (2, 3, 4, 0, 1, 1):
        expected = list(make_tf_dataset(dataset, schema, Split(0.1), "train", options, first_epoch=epoch))
        assert stream.steps(epoch) == len(expected), epoch
        assert stream.batch_rows(epoch).tolist() == [len(labels) for _, labels in expected], epoch
        assert _epoch_batches(stream, epoch) == collect(expected), epoch
    assert _epoch_batches(stream, 2)[0]["price"] != _epoch_batches(stream, 3)[0]["price"]
    train, validation = split_streams(dataset, schema, Split(0.1), options)  # both counted in one pass
    assert [train.steps(epoch) for epoch in range(3)] == [stream.steps(epoch) for epoch in range(3)]
    alone = EpochStream(dataset, schema, Split(0.1), "validation", options, shuffle=False)
    assert validation.steps(0) == alone.steps(0) and _epoch_batches(validation, 0) == _epoch_batches(alone, 0)


def test_an_unshuffled_epoch_stream_repeats_the_same_pass(data):
    dataset, schema = data
    options = InputOptions(batch_size=64, read_batch_rows=100)
    split = Split(split_time=np.datetime64("1970-01-01T00:12:30"))  # rows one second apart: 250 in validation
    stream = EpochStream(dataset, schema, split, "validation", options, shuffle=False)
    expected = collect(make_tf_dataset(dataset, schema, split, "validation", options, shuffle=False))
    assert stream.steps(0) == stream.steps(5) == 4 and len(expected[1]) == 250
    assert _epoch_batches(stream, 0) == _epoch_batches(stream, 1) == _epoch_batches(stream, 7) == expected
    features, labels = stream.example()
    assert len(labels) == 64 and features["price"].numpy().tolist() == expected[0]["price"][:64]


def test_time_split(data):
    dataset, schema = data
    split = Split(split_time=np.datetime64("1970-01-01T00:12:30"))  # rows are one second apart from 0
    _, valid = collect(make_tf_dataset(dataset, schema, split, "validation", InputOptions(batch_size=128), shuffle=False))
    assert len(valid) == 250


def test_null_labels_are_an_error(tmp_path):
    table = small_table(50).set_column(0, "label", pa.array([None] + [1] * 49, pa.int8()))
    pq.write_table(table, tmp_path / "d.parquet")
    dataset = open_dataset(tmp_path / "d.parquet")
    stream = make_tf_dataset(dataset, resolve_schema(dataset), Split(), "train", shuffle=False)
    # inside tf.data the error arrives wrapped; the train command checks labels up front (check_label_values)
    with pytest.raises(tf.errors.InvalidArgumentError, match="label 'label': null values in d.parquet"):
        collect(stream)
