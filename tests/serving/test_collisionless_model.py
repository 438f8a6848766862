"""A model on the collisionless layout trains, exports, and serves a value it never saw through its OOV row."""

import numpy as np
import pyarrow as pa
import tensorflow as tf

from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.models.assembly import build_ctr_model
from featureplex.models.layers.field_encoder import FieldEncoder
from featureplex.models.layers.multiplexed_embedding import MultiplexedEmbedding
from featureplex.models.layers.preprocessing import FeaturePreprocessing
from featureplex.serving.export import SIGNATURE, export_saved_model


def test_trains_and_serves_an_unseen_value_on_its_oov_row(tmp_path):
    rng = np.random.default_rng(0)
    ads = rng.choice(np.array(["a", "b", "c", "rare"]), 512, p=[0.4, 0.3, 0.299, 0.001])
    sites = rng.integers(0, 5, 512)
    labels = ((ads == "a") | (sites == 3)).astype(np.float32)
    counts = ValueCounts(["ad", "site"]).add(pa.record_batch({"ad": pa.array(ads), "site": pa.array(sites)}))
    layout = build_layout(counts, VocabParams(mode="collisionless", dimension=4, min_count=1))
    preprocessing = FeaturePreprocessing(layout, head_vocabularies(counts, layout))
    model = build_ctr_model("dnn", FieldEncoder(preprocessing, MultiplexedEmbedding.from_layout(layout)),
                            {"hidden_units": [8]})
    model.compile(tf.keras.optimizers.Adam(0.05))
    data = tf.data.Dataset.from_tensor_slices(({"ad": ads, "site": sites}, labels)).batch(64)
    history = model.fit(data, epochs=8, verbose=0)
    assert history.history["auc"][-1] > 0.95

    rows = {"ad": tf.constant(["a", "never-seen", "also-new", "a"]), "site": tf.constant([3, 3, 3, 99], tf.int64)}
    ids = preprocessing(rows)
    ad, site = layout.features["ad"], layout.features["site"]
    assert ids["ad"].numpy()[1:3, 0].tolist() == [ad.tail_offset] * 2  # unseen values: the ad's OOV row
    assert ids["site"].numpy()[3, 0] == site.tail_offset
    specs = {"ad": tf.TensorSpec([None], tf.string), "site": tf.TensorSpec([None], tf.int64)}
    served = tf.saved_model.load(str(export_saved_model(model, specs, tmp_path / "saved"))).signatures[SIGNATURE]
    probability = served(**rows)["probability"].numpy()
    np.testing.assert_allclose(probability, tf.sigmoid(model(rows)[:, 0]).numpy(), rtol=1e-5)
    assert probability[1] == probability[2]  # both out of vocabulary: the same row, the same prediction
