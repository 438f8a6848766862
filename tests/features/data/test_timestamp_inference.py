"""An integer column named like a timestamp and holding Unix seconds is the timestamp; a duration is not."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featureplex.features.data.config import parse_config
from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import column_ranges, resolve_schema, unix_seconds_span
from tests.conftest import small_table

JAN_2024 = 1_704_067_200


def integer_time_table(name: str, values) -> pa.Table:
    return small_table(200).drop_columns(["event_time"]).append_column(name, pa.array(values, pa.int64()))


def write(tmp_path, table, row_group_size=64):
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return open_dataset(path)


def test_unix_seconds_named_timestamp_is_the_timestamp(tmp_path):
    dataset = write(tmp_path, integer_time_table("timestamp", JAN_2024 + 3600 * np.arange(200)))
    schema = resolve_schema(dataset)
    assert schema.timestamp == "timestamp"
    assert "timestamp" not in schema.names()
    first, last = unix_seconds_span(dataset, "timestamp")
    assert (first.isoformat(), last.isoformat()) == ("2024-01-01T00:00:00+00:00", "2024-01-09T07:00:00+00:00")


def test_suffixes_count_as_timestamp_names(tmp_path):
    dataset = write(tmp_path, integer_time_table("created_at", JAN_2024 + np.arange(200)))
    assert resolve_schema(dataset).timestamp == "created_at"


def test_durations_milliseconds_and_other_names_stay_features(tmp_path):
    for name, values in (
        ("dwell_time", np.arange(200)),  # seconds spent: far below the year 2000
        ("timestamp", (JAN_2024 + np.arange(200)) * 1000),  # milliseconds: far above the year 2100
        ("clicks_total", JAN_2024 + np.arange(200)),  # the range fits, the name does not
    ):
        schema = resolve_schema(write(tmp_path, integer_time_table(name, values)))
        assert schema.timestamp is None and name in schema.names(), name


def test_a_column_the_config_lists_as_a_feature_is_not_taken(tmp_path):
    dataset = write(tmp_path, integer_time_table("timestamp", JAN_2024 + np.arange(200)))
    schema = resolve_schema(dataset, parse_config({"features": {"timestamp": {"kind": "numeric"}}}))
    assert schema.timestamp is None and "timestamp" in schema.names()


def test_two_candidates_are_ambiguous(tmp_path):
    table = integer_time_table("timestamp", JAN_2024 + np.arange(200))
    table = table.append_column("updated_at", pa.array(JAN_2024 + np.arange(200), pa.int64()))
    assert resolve_schema(write(tmp_path, table)).timestamp is None


def test_column_ranges_span_every_row_group_and_skip_all_null_ones(tmp_path):
    values = [None] * 64 + list(range(10, 146))
    table = small_table(200).append_column("sparse", pa.array(values, pa.int64()))
    dataset = write(tmp_path, table)
    ranges = column_ranges(dataset, ["sparse", "city"])
    assert (ranges["sparse"].minimum, ranges["sparse"].maximum) == (10, 145)
    assert ranges["city"].minimum == "c0" and ranges["city"].maximum == "c6"


def test_column_ranges_leave_out_columns_written_without_statistics(tmp_path):
    path = tmp_path / "bare.parquet"
    pq.write_table(small_table(100), path, write_statistics=["city"])
    assert set(column_ranges(open_dataset(path), ["city", "item_id"])) == {"city"}
