"""The rank stage's and OptFS's selections side by side, one row per feature."""

import polars as pl

from featureplex.features.embedding.pruning import KeepRatio
from featureplex.pipelines.reports.selection_table import SELECTION_TABLE_SCHEMA, selection_table


def ratio(feature: str, value_ratio: float, row_ratio: float) -> KeepRatio:
    return KeepRatio(feature=feature, values=10, values_kept=round(10 * value_ratio), value_ratio=value_ratio,
                     row_ratio=row_ratio, head_kept=0, head_rows=8, missing_kept=None, tail_kept=False)


def ranking() -> pl.DataFrame:
    # extra columns are ignored; the order is the `rank` column's, not the score's
    return pl.DataFrame({"feature": ["item_id", "device", "noise", "hour"], "kind": ["categorical"] * 3 + ["numeric"],
                         "rank": [1, 2, 3, 4], "score": [0.30, 0.12, -0.001, 0.05]})


def test_one_row_per_feature_sorted_by_rank_position_then_unranked_by_name():
    ratios = {"item_id": ratio("item_id", 0.5, 0.9), "device": ratio("device", 1.0, 1.0),
              "noise": ratio("noise", 0.0, 0.0), "zip_code": ratio("zip_code", 0.25, 0.75)}
    table = selection_table(ranking(), ["item_id", "device", "history_item_ids"], ratios, ["noise"],
                            sequences={"history_item_ids": "item_id"})
    assert table.schema == pl.Schema(SELECTION_TABLE_SCHEMA)
    assert table.rows() == [
        ("item_id", 0.30, 1, 0.5, 0.9, True, True),
        ("device", 0.12, 2, 1.0, 1.0, True, True),
        ("noise", -0.001, 3, 0.0, 0.0, False, False),
        ("hour", 0.05, 4, None, None, False, None),  # numeric: OptFS has no gate on it
        ("history_item_ids", None, None, 0.5, 0.9, True, True),  # a sequence: not ranked, gated as item_id
        ("zip_code", None, None, 0.25, 0.75, False, True),  # gated, not ranked
    ]


def test_without_an_optfs_result_optfs_decides_nothing():
    table = selection_table(ranking(), ["device"], {}, [])
    assert table["feature"].to_list() == ["item_id", "device", "noise", "hour"]
    assert table["kept_by_rank"].to_list() == [False, True, False, False]
    assert table["kept_by_optfs"].null_count() == 4 and table["value_keep_ratio"].null_count() == 4

