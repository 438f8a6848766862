"""training_curve.png: AUC and logloss per epoch, training and validation, from a train stage's history.

Two panels side by side sharing one legend. Each split keeps one colour and one line style in both
panels (training: dashed blue, validation: solid orange), and the legend is drawn from the plotted lines
themselves, so its colours are the lines'. A metric absent from every epoch is not drawn and not in the
legend. Epochs are whole numbers, as history.json counts them (0 is the first), ticked at integers only;
the best epoch (highest validation AUC, the first one on a tie, as training picks it) is marked. The
PNG carries no software/date metadata and is written atomically, so equal histories give equal bytes.

Example::

    plot_training_curve(outcome.history, Path("artifacts/train/training_curve.png"))
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend
from matplotlib.ticker import MaxNLocator

SPLITS = {"train": ("training", "#1f77b4", "--"), "val": ("validation", "#ff7f0e", "-")}
METRICS = {"auc": "AUC", "logloss": "logloss"}
BEST_COLOR = "#555555"


def best_epoch(history: list[dict]) -> int | None:
    """The epoch with the highest validation AUC (the first on a tie), None without one."""
    scored = [record for record in history if _value(record, "val_auc") is not None]
    return max(scored, key=lambda record: record["val_auc"])["epoch"] if scored else None


def _value(record: dict, key: str) -> float | None:
    value = record.get(key)
    return None if value is None or not math.isfinite(value) else float(value)


def training_curve_figure(history: list[dict]) -> Figure:
    """The figure for `history`: one dict per epoch with `epoch`, `train_auc`, `val_auc`, `train_logloss`
    and `val_logloss` (history.json's records)."""
    epochs = [record["epoch"] for record in history]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    axes = figure.subplots(1, 2)
    lines = {}
    best = best_epoch(history)
    for axis, (metric, title) in zip(axes, METRICS.items()):
        for split, (label, color, style) in SPLITS.items():
            points = [(epoch, _value(r, f"{split}_{metric}")) for epoch, r in zip(epochs, history)]
            points = [(epoch, value) for epoch, value in points if value is not None]
            if points:
                xs, ys = zip(*points)
                (lines[label],) = axis.plot(xs, ys, linestyle=style, color=color, marker="o", label=label)
        if best is not None:
            lines["best epoch (validation AUC)"] = axis.axvline(best, color=BEST_COLOR, linestyle=":", linewidth=1)
        axis.set(title=title, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:
            axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        axis.grid(alpha=0.3)
    figure.legend(lines.values(), lines.keys(), loc="outside lower center", ncol=max(len(lines), 1), fontsize=9)
    return figure


def plot_training_curve(history: list[dict], path: str | os.PathLike) -> Path:
    """Draw `history` (see `training_curve_figure`) into the PNG at `path`; returns the path."""
    path = Path(path)  # inside an artifact's staging directory: the artifact is what is written atomically
    training_curve_figure(history).savefig(path, dpi=110, metadata={"Software": None})
    return path
