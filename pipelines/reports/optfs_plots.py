"""Plots of an OptFS selection: the gate logits and each feature's keep ratios."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from featureplex.features.embedding.pruning import KeepRatio


def plot_selection(logits: np.ndarray, ratios: dict[str, KeepRatio], histogram: Path, bars: Path) -> None:
    """A histogram of the gate logits (the mask keeps m > 0) and a per-feature keep-ratio bar chart."""
    from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend

    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    axis.hist(logits[1:], bins=60, color="tab:blue")
    axis.axvline(0.0, color="tab:red", linestyle="--", label="m = 0 (kept to the right)")
    axis.set(title=f"OptFS gate logits ({int((logits[1:] > 0).sum())} of {len(logits) - 1} kept)", xlabel="m",
             ylabel="gates", yscale="log")
    axis.legend()
    figure.tight_layout()
    figure.savefig(histogram, dpi=110)

    names = sorted(ratios)
    figure = Figure(figsize=(max(6, 0.45 * len(names)), 4))
    axis = figure.subplots()
    positions = np.arange(len(names))
    axis.bar(positions - 0.2, [ratios[n].value_ratio for n in names], 0.4, label="values kept")
    axis.bar(positions + 0.2, [ratios[n].row_ratio for n in names], 0.4, label="rows kept")
    axis.set_xticks(positions, names, rotation=60, ha="right")
    axis.set(ylim=(0, 1.05), title="OptFS keep ratio per feature")
    axis.legend()
    figure.tight_layout()
    figure.savefig(bars, dpi=110)
