"""Evaluation metrics computed on collected predictions (not streaming Keras metrics)."""

from __future__ import annotations

import numpy as np
import polars as pl


def grouped_auc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """GAUC = sum_u n_u AUC_u / sum_u n_u over the groups (users) that have both classes.

    AUC_u from rank sums with average ranks for ties: (R_pos - P(P+1)/2) / (P N). Weighted by
    impressions as in the DIN paper. NaN when no group has both classes.
    """
    frame = pl.DataFrame({"group": groups, "label": labels.astype(np.int8), "score": scores})
    per_group = (
        frame.with_columns(pl.col("score").rank("average").over("group").alias("rank"))
        .group_by("group")
        .agg(
            positives=pl.col("label").sum().cast(pl.Float64),
            rows=pl.len().cast(pl.Float64),
            positive_ranks=(pl.col("rank") * pl.col("label")).sum(),
        )
        .with_columns(negatives=pl.col("rows") - pl.col("positives"))
        .filter((pl.col("positives") > 0) & (pl.col("negatives") > 0))
        .sort("group")  # group_by's order varies between runs; a fixed order makes the float sum reproducible
        .with_columns(
            auc=(pl.col("positive_ranks") - pl.col("positives") * (pl.col("positives") + 1) / 2)
            / (pl.col("positives") * pl.col("negatives"))
        )
    )
    if per_group.height == 0:
        return float("nan")
    return float((per_group["auc"] * per_group["rows"]).sum() / per_group["rows"].sum())
