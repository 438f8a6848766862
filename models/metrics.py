"""Evaluation metrics computed on collected predictions (not streaming Keras metrics): exact AUC, logloss,
grouped AUC, calibration and reliability bins, the one implementation behind train's test metrics and
`featureplex evaluate`."""

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


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The exact ROC AUC (ties count one half): `grouped_auc` with every row in one group. NaN with one class."""
    return grouped_auc(np.zeros(len(labels), dtype=np.int8), labels, scores)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) in float64, without overflow for large |z|."""
    z = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def ctr_metrics(labels: np.ndarray, logits: np.ndarray, groups: np.ndarray | None = None) -> dict[str, float | int]:
    """AUC, logloss, calibration and (with `groups`, the rows' users) gAUC of predicted logits z against 0/1 labels y.

    logloss = mean(log(1 + e^z) - y z), the binary cross-entropy of sigmoid(z) computed from the logit
    (exact where sigmoid(z) rounds to 0 or 1); calibration = mean(sigmoid(z)) / mean(y), 1 when the
    predicted click rate equals the observed one. `gauc` is left out without groups or when no group
    has both classes; `auc` is NaN with one class.
    """
    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    mean_prediction = float(sigmoid(logits).mean())
    observed = float(labels.mean())
    metrics: dict[str, float | int] = {
        "auc": auc(labels, logits),
        "logloss": float(np.mean(np.logaddexp(0.0, logits) - labels * logits)),
        "calibration": mean_prediction / observed if observed > 0 else float("nan"),
        "mean_prediction": mean_prediction,
        "observed_ctr": observed,
        "rows": int(labels.size),
        "positives": int(labels.sum()),
    }
    if groups is not None:
        gauc = grouped_auc(np.asarray(groups), labels, logits)
        if np.isfinite(gauc):
            metrics["gauc"] = gauc
    return metrics


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Rows in `bins` equal-count bins by predicted probability (ties kept in row order): per bin the mean
    prediction, the observed click rate and the row count. Bin b holds the rows ranked in
    [b n / bins, (b + 1) n / bins); fewer rows than bins give one bin per row."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = probabilities.size
    bins = max(min(bins, n), 1)
    order = np.argsort(probabilities, kind="stable")
    bin_of = np.empty(n, dtype=np.int64)
    bin_of[order] = np.arange(n) * bins // max(n, 1)
    counts = np.bincount(bin_of, minlength=bins)
    return pl.DataFrame({
        "bin": np.arange(bins),
        "rows": counts,
        "mean_prediction": np.bincount(bin_of, weights=probabilities, minlength=bins) / counts,
        "observed_ctr": np.bincount(bin_of, weights=np.asarray(labels, dtype=np.float64), minlength=bins) / counts,
    })
