import numpy as np
import tensorflow as tf

from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from tests.models.layers.test_preprocessing import raw_rows, small_preprocessing


def numbered_table(rows: int, dimension: int) -> np.ndarray:
    """T[r, k] = 100 r + k: an embedding says which row and column each value came from."""
    return (100 * np.arange(rows)[:, None] + np.arange(dimension)[None, :]).astype(np.float32)


def test_chunks_take_their_own_columns_of_their_own_rows():
    embedding = MultiplexedEmbedding(rows=10, dimension=5, sequences=["history"])
    ids = {"item": tf.constant([[3, 3, 3], [1, 2, 4]], tf.int64), "history": tf.constant([[[7], [0]]], tf.int64)}
    embedding(ids)
    embedding.set_weights([numbered_table(10, 5)])
    embeddings, masks = embedding(ids)
    # widths 2, 2, 1: a head value (same row thrice) gets its whole row; a hashed one a slice of each row
    np.testing.assert_array_equal(embeddings["item"].numpy(), [[300, 301, 302, 303, 304], [100, 101, 202, 203, 404]])
    np.testing.assert_array_equal(embeddings["history"].numpy(), [[[700, 701, 702, 703, 704], [0, 0, 0, 0, 0]]])
    np.testing.assert_array_equal(masks["history"].numpy(), [[True, False]])
    assert set(masks) == {"history"}


def test_config_round_trip():
    embedding = MultiplexedEmbedding(rows=10, dimension=4, sequences=["history"], embeddings_regularizer="l2")
    clone = MultiplexedEmbedding.from_config(embedding.get_config())
    assert clone.get_config() == embedding.get_config()
    ids = {"item": tf.constant([[1, 2]], tf.int64)}
    embedding(ids), clone(ids)
    clone.set_weights(embedding.get_weights())
    np.testing.assert_array_equal(clone(ids)[0]["item"].numpy(), embedding(ids)[0]["item"].numpy())


def small_model() -> tf.keras.Model:
    """Raw features -> ids -> embeddings -> one output per row, as a CTR model's encoder would."""
    preprocessing, layout = small_preprocessing()
    inputs = {
        "item": tf.keras.Input((), dtype=tf.int64, name="item"),
        "device": tf.keras.Input((), dtype=tf.string, name="device"),
        "history": tf.keras.Input((None,), dtype=tf.int64, name="history", ragged=True),
    }
    embeddings, masks = MultiplexedEmbedding.from_layout(layout)(preprocessing(inputs))
    pooled = tf.reduce_sum(embeddings["history"], axis=1) / (
        tf.reduce_sum(tf.cast(masks["history"], tf.float32), axis=1, keepdims=True) + 1.0)
    output = tf.keras.layers.Dense(1)(tf.concat([embeddings["item"], embeddings["device"], pooled], axis=-1))
    return tf.keras.Model(inputs, output)


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    model = small_model()
    rows = {name: value for name, value in raw_rows().items() if name != "unrelated"}
    expected = model(rows).numpy()
    model.save(tmp_path / "keras", save_format="tf")
    np.testing.assert_array_equal(tf.keras.models.load_model(tmp_path / "keras")(rows).numpy(), expected)
    tf.saved_model.save(model, str(tmp_path / "plain"))
    np.testing.assert_array_equal(tf.saved_model.load(str(tmp_path / "plain"))(rows).numpy(), expected)


def test_training_gradient_is_the_dense_sum_of_the_lookups():
    """Training sums the table's gradient in one XLA scatter; it must equal TensorFlow's own gradient of the gathers."""
    embedding = MultiplexedEmbedding(rows=10, dimension=5, sequences=["history"])
    ids = {"item": tf.constant([[3, 3, 3], [1, 2, 4], [1, 2, 4]], tf.int64),
           "history": tf.constant([[[7], [0]], [[7], [3]], [[0], [0]]], tf.int64),
           "unused": tf.constant([[5], [6], [5]], tf.int64)}
    embedding(ids)
    weights = {"item": tf.constant(np.arange(15).reshape(3, 5), tf.float32),
               "history": tf.constant(np.arange(30).reshape(3, 2, 5) - 7.0, tf.float32)}

    def table_gradient(training: bool) -> np.ndarray:
        with tf.GradientTape() as tape:
            embeddings, _ = embedding(ids, training=training)
            loss = sum(tf.reduce_sum(embeddings[name] * weight) for name, weight in weights.items())
        return tf.convert_to_tensor(tape.gradient(loss, embedding.embeddings)).numpy()

    dense = table_gradient(training=True)
    np.testing.assert_array_equal(dense, table_gradient(training=False))
    assert dense[0].tolist() == [0.0] * 5 and dense[5].tolist() == [0.0] * 5  # padding and the unused feature's rows
    assert dense[1].tolist() == [15.0, 17.0, 0.0, 0.0, 0.0]  # chunk 0 (columns 0, 1) of row 1, in rows 2 and 3 of item
