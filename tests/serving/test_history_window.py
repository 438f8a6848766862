"""The export records each input's history window; the predictor cuts sequences to it before padding,
and the prediction is the one the uncut request gets straight from the signature."""

import json

import numpy as np
import pytest
import tensorflow as tf

from featureplex.models.assembly import build_ctr_model
from featureplex.serving.encoded_request import padded
from featureplex.serving.export import SERVING_INFO, export_saved_model
from featureplex.serving.predictor import RequestError, SavedModelPredictor
from tests.models.sequence_fixtures import field_encoder

WINDOW = 3
SEQUENCE = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64)
SPECS = {"item_id": tf.TensorSpec([None], tf.int64), "device": tf.TensorSpec([None], tf.string),
         "item_category": tf.TensorSpec([None], tf.int64), "history_item_ids": SEQUENCE, "history_item_categories": SEQUENCE}
TIMES = {"history_item_ids": "history_timestamps", "history_item_categories": "history_timestamps"}


@pytest.fixture(scope="module", params=["din", "hstu"])
def exported(request, tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    name = request.param
    model = build_ctr_model(name, field_encoder(categories=True), {"max_length": WINDOW, "hidden_units": [8]},
                            TIMES if name == "hstu" else {})
    specs = {**SPECS, "history_timestamps": SEQUENCE} if name == "hstu" else SPECS
    # training names the last sequence sharing the timestamps; HSTU reads them with its own sequence
    lengths_from = {"history_timestamps": "history_item_ids"} if name == "hstu" else None
    return name, export_saved_model(model, specs, tmp_path_factory.mktemp(name) / "model", lengths_from)


def rows(hstu: bool) -> list[dict]:
    rng = np.random.default_rng(1)
    out = []
    for index, length in enumerate([0, 1, 3, 7, 12, 6]):
        row = {"item_id": int(rng.integers(1, 6)), "device": "ios", "item_category": index % 2,
               "history_item_ids": rng.integers(1, 6, length).tolist(), "history_item_categories": rng.integers(0, 2, length).tolist()}
        if hstu:
            row["history_timestamps"] = sorted(rng.integers(0, 10**6, length).tolist())
        out.append(row)
    out[5]["history_item_ids"][-2:] = [None, None]  # trailing missing items: the graph drops them as padding
    out[5]["history_item_categories"][-1] = None
    return out


def test_the_export_records_the_windows(exported):
    name, path = exported
    info = json.loads((path / SERVING_INFO).read_text())
    if name == "din":
        assert info == {"history_windows": {"history_item_categories": WINDOW, "history_item_ids": WINDOW},
                        "sequence_lengths_from": {}}
    else:  # HSTU's sequence is history_item_categories (the first), history_item_ids its side sequence
        assert info == {"history_windows": {"history_item_categories": WINDOW, "history_timestamps": WINDOW},
                        "sequence_lengths_from": {"history_timestamps": "history_item_categories"}}


def test_cut_sequences_predict_what_the_uncut_ones_do(exported):
    name, path = exported
    predictor = SavedModelPredictor(str(path))
    columns = predictor.rows_to_columns(rows(name == "hstu"))
    encoded = predictor.encode(columns)
    for sequence, window in predictor.history_windows.items():
        assert encoded.sequences[sequence][1].max() <= window
    assert encoded.sequences["history_item_ids"][1].max() == (WINDOW if name == "din" else 12)
    uncut = {}
    for input_name, spec in predictor.inputs.items():
        if spec.sequence:
            flat = np.array([spec.missing if v is None else v for row in columns[input_name] for v in row], np.int64)
            uncut[input_name] = tf.constant(padded(flat, np.array([len(row) for row in columns[input_name]]), spec.missing))
        else:
            uncut[input_name] = tf.constant(spec.column(columns[input_name], predictor.limits))
    direct = tf.saved_model.load(str(path)).signatures["serving_default"](**uncut)["probability"].numpy()
    np.testing.assert_allclose(predictor.run(encoded)["probability"], direct, rtol=1e-6)


@pytest.mark.parametrize("exported", ["hstu"], indirect=True)
def test_a_timestamp_list_of_another_length_is_a_request_error(exported):
    _, path = exported
    broken = rows(True)
    broken[3]["history_timestamps"] = broken[3]["history_timestamps"][:-1]
    with pytest.raises(RequestError, match="feature 'history_timestamps': 6 values at row 3, but 'history_item_categories' has 7"):
        SavedModelPredictor(str(path)).predict_rows(broken)
