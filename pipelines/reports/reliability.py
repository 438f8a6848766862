"""reliability.png: is a predicted click rate the click rate that happens? From `featureplex evaluate`'s bins.

The rows are cut into equal-count bins by predicted probability (models.metrics.reliability_bins). The
upper panel puts each bin at (mean predicted CTR, observed CTR) against the diagonal of perfect
calibration, the area between the two shaded (above the diagonal the model predicts too few clicks,
below too many), with the 95% interval of each observed rate (1.96 sqrt(p (1 - p) / n)): a point whose
interval crosses the diagonal is within the noise of its bin. The lower panel shows each bin's span of predictions as a bar whose height is its row
count, so the eye sees where the predictions lie. The headline carries AUC, logloss and calibration.
The PNG carries no software/date metadata: equal bins give equal bytes.

Example::

    plot_reliability(bins, metrics, Path("eval/reliability.png"))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend

CURVE_COLOR = "#1f77b4"
DIAGONAL_COLOR = "#888888"


def reliability_figure(bins: pl.DataFrame, metrics: dict) -> Figure:
    """The figure for `bins` (columns mean_prediction, observed_ctr, rows, lowest, highest) and `metrics`
    (auc, logloss, calibration, rows; gauc when there)."""
    predicted, observed = bins["mean_prediction"].to_numpy(), bins["observed_ctr"].to_numpy()
    top = min(float(max(predicted.max(), observed.max(), bins["highest"].max())) * 1.1 or 1.0, 1.0)
    figure = Figure(figsize=(6.4, 6.4), layout="constrained")
    curve, counts = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    curve.plot([0, top], [0, top], color=DIAGONAL_COLOR, linestyle="--", linewidth=1, label="perfectly calibrated")
    curve.fill_between(predicted, predicted, observed, color=CURVE_COLOR, alpha=0.12, linewidth=0)
    interval = 1.96 * np.sqrt(observed * (1 - observed) / bins["rows"].to_numpy())
    curve.errorbar(predicted, observed, yerr=interval, color=CURVE_COLOR, marker="o", capsize=3,
                   label=f"model: {bins.height} bins of equal rows, 95% interval")
    curve.set(xlim=(0, top), ylim=(0, top), ylabel="observed CTR")
    curve.set_aspect("auto")
    curve.grid(alpha=0.3)
    curve.legend(loc="upper left", fontsize=9)
    curve.text(0.98, 0.02, "above the diagonal: too few clicks predicted\nbelow: too many", transform=curve.transAxes,
               ha="right", va="bottom", fontsize=8, color="#555555")
    headline = f"AUC {metrics['auc']:.4f}   logloss {metrics['logloss']:.4f}   calibration {metrics['calibration']:.3f}"
    if "gauc" in metrics:
        headline += f"   gAUC {metrics['gauc']:.4f}"
    curve.set_title(f"{headline}\nmean predicted {metrics['mean_prediction']:.4f} / observed {metrics['observed_ctr']:.4f}"
                    f" over {metrics['rows']:,} rows", fontsize=10)
    lowest, highest = bins["lowest"].to_numpy(), bins["highest"].to_numpy()
    widths = np.maximum(highest - lowest, top / 400)  # a bin of equal predictions still shows as a sliver
    counts.bar(lowest, bins["rows"].to_numpy(), width=widths, align="edge", color=CURVE_COLOR, alpha=0.5,
               edgecolor=CURVE_COLOR)
    counts.set(xlabel="mean predicted CTR (bars: each bin's span of predictions)", ylabel="rows per bin")
    counts.grid(alpha=0.3, axis="y")
    return figure


def plot_reliability(bins: pl.DataFrame, metrics: dict, path: str | os.PathLike) -> Path:
    """Draw `bins` and `metrics` (see `reliability_figure`) into the PNG at `path`; returns the path."""
    path = Path(path)  # inside an artifact's staging directory: the artifact is what is written atomically
    reliability_figure(bins, metrics).savefig(path, dpi=110, metadata={"Software": None})
    return path
