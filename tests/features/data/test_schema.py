import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.features.data.config import parse_config
from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import Kind, check_label_values, resolve_schema
from featureplex.features.errors import InputError
from tests.conftest import small_table


def dataset_of(tmp_path, table):
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    return open_dataset(path)


def test_inference(small_parquet):
    schema = resolve_schema(open_dataset(small_parquet))
    assert schema.label == "label" and schema.timestamp == "event_time"
    kinds = {spec.name: spec.kind for spec in schema.features}
    assert kinds == {"item_id": Kind.CATEGORICAL, "city": Kind.CATEGORICAL, "price": Kind.NUMERIC, "history_item_ids": Kind.SEQUENCE}
    assert schema.feature("history_item_ids").shares_with == "item_id"


def test_sequence_timestamps_pair_by_prefix(tmp_path):
    table = small_table(20).append_column(
        "history_timestamps", pa.array([[1, 2]] * 20, pa.list_(pa.timestamp("s")))
    )
    schema = resolve_schema(dataset_of(tmp_path, table))
    assert schema.feature("history_item_ids").timestamps == "history_timestamps"
    assert "history_timestamps" not in schema.names()
    assert "history_timestamps" in schema.columns()


def test_plural_sequence_names_find_their_feature(tmp_path):
    table = small_table(20).append_column("recent_cities", pa.array([["a", "b"]] * 20, pa.list_(pa.string())))
    table = table.append_column("item_category", pa.array([1, 2] * 10, pa.int64()))
    table = table.append_column("history_item_categories", pa.array([[1, 2]] * 20, pa.list_(pa.int64())))
    schema = resolve_schema(dataset_of(tmp_path, table))
    assert schema.feature("recent_cities").shares_with == "city"
    assert schema.feature("history_item_categories").shares_with == "item_category"


def test_config_overrides(small_parquet):
    config = parse_config({"features": {"item_id": {"kind": "numeric"}, "city": {"role": "ignore"}}})
    schema = resolve_schema(open_dataset(small_parquet), config)
    assert schema.feature("item_id").kind == Kind.NUMERIC
    assert "city" not in schema.names()


def test_click_is_a_default_label(tmp_path):
    table = small_table(20).rename_columns(["click", "item_id", "city", "price", "history_item_ids", "event_time"])
    assert resolve_schema(dataset_of(tmp_path, table)).label == "click"


def test_unsupported_types_are_skipped_with_a_reason(tmp_path):
    table = small_table(20).append_column("meta", pa.array([{"a": 1}] * 20))
    schema = resolve_schema(dataset_of(tmp_path, table))
    assert schema.skipped == (("meta", "unsupported type struct<a: int64>"),)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"features": {"absent": {"kind": "numeric"}}}, r"features.absent: column 'absent' is not in the data"),
        ({"label": "nope"}, r"label: column 'nope' is not in the data"),
        ({"features": {"city": {"kind": "sequence"}}}, r"features.city: declared sequence, but column 'city' has type string"),
        ({"features": {"history_item_ids": {"kind": "sequence", "shares_with": "city2"}}}, r"shares_with: 'city2' is not a categorical"),
        ({"features": {"city": {"kind": "numeric"}}}, r"declared numeric, but column 'city' has type string"),
    ],
)
def test_config_errors_name_the_key(small_parquet, config, message):
    with pytest.raises(InputError, match=message):
        resolve_schema(open_dataset(small_parquet), parse_config(config))


def test_no_label_column(tmp_path):
    table = small_table(20).drop_columns(["label"])
    with pytest.raises(InputError, match="no label column"):
        resolve_schema(dataset_of(tmp_path, table))


def test_label_values(tmp_path, small_parquet):
    rows, positives = check_label_values(open_dataset(small_parquet), "label")
    assert rows == 500 and 0 < positives < 500
    table = small_table(20).set_column(0, "label", pa.array([0, 1, 2] + [0] * 17, pa.int64()))
    with pytest.raises(InputError, match=r"label 'label': expected 0/1 values, found 2"):
        check_label_values(dataset_of(tmp_path, table), "label")
    strings = small_table(20).set_column(0, "label", pa.array(["yes"] * 20))
    with pytest.raises(InputError, match=r"label 'label': expected 0/1 values, got column type string"):
        resolve_schema(dataset_of(tmp_path, strings))
