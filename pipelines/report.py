"""report.html of the rank artifact: one self-contained page, plots embedded as base64 PNG.

Sections: summary; ranked bar chart (MI per feature with its chance baseline drawn inside the bar,
so the score is the part that sticks out); the ranking table; the interaction-gain heatmap over the
pool with the top pairs; redundant pairs and the greedy selection; the anomaly table and skipped
columns. Matplotlib's Agg backend renders without a display; PNGs carry no software/date metadata, so
equal results give equal bytes.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import polars as pl
from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend

BAR_FEATURES = 40
TABLE_ROWS = 40
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
"""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def ranking_chart(ranking: pl.DataFrame) -> str:
    """Horizontal bars: MI (full bar), chance baseline (hatched part), best feature on top."""
    top = ranking.head(BAR_FEATURES)
    names = top["feature"].to_list()[::-1]
    mi = top["mi"].to_numpy()[::-1]
    chance = np.minimum(top["chance_mi"].to_numpy()[::-1], mi)
    figure = Figure(figsize=(9, 0.28 * len(names) + 1.2))
    axis = figure.subplots()
    positions = np.arange(len(names))
    axis.barh(positions, mi, color="#4c78a8", label="MI with the label")
    axis.barh(positions, chance, color="#bbbbbb", hatch="///", edgecolor="#888888", label="chance baseline (shuffled labels)")
    axis.set_yticks(positions, names, fontsize=8)
    axis.set_xscale("symlog", linthresh=1e-4)
    axis.set_xlabel("nats (symlog)")
    axis.set_title("Features by rank: MI and its chance baseline")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    return _png(figure)


def interaction_heatmap(interactions: pl.DataFrame, pool: list[str]) -> str:
    """Symmetric matrix of interaction gains over the pool (white: no pair)."""
    if not pool or interactions.is_empty():
        return "<p>No feature pairs were scored.</p>"
    index = {name: i for i, name in enumerate(pool)}
    matrix = np.full((len(pool), len(pool)), np.nan)
    for first, second, gain in interactions.select("feature_a", "feature_b", "interaction_gain").iter_rows():
        matrix[index[first], index[second]] = matrix[index[second], index[first]] = gain
    bound = float(np.nanmax(np.abs(matrix))) or 1.0
    figure = Figure(figsize=(0.35 * len(pool) + 3, 0.35 * len(pool) + 2))
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
    axis.set_xticks(range(len(pool)), pool, rotation=90, fontsize=7)
    axis.set_yticks(range(len(pool)), pool, fontsize=7)
    axis.set_title("Interaction gain MI(a,b;y) - MI(a;y) - MI(b;y), chance-corrected (nats)")
    figure.colorbar(image, ax=axis, shrink=0.7)
    return _png(figure)


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.6g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(frame: pl.DataFrame, rows: int = TABLE_ROWS) -> str:
    if frame.is_empty():
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(column)}</th>" for column in frame.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.head(rows).iter_rows())
    return f"<table><tr>{head}</tr>{body}</table>"


def anomaly_frame(anomalies: dict) -> pl.DataFrame:
    records = [
        {"feature": name, "anomaly": kind, "detail": detail}
        for name, entry in anomalies["features"].items()
        for kind, detail in entry["anomalies"].items()
    ]
    return pl.DataFrame(records, schema={"feature": pl.String, "anomaly": pl.String, "detail": pl.String})


def render_report(result) -> str:
    """The whole page for a pipelines.rank_pipeline.RankResult."""
    selected = [c.feature for c in result.selection if c.selected]
    dropped = pl.DataFrame(
        [{"feature": c.feature, "redundant_with": c.redundant_with} for c in result.selection if not c.selected],
        schema={"feature": pl.String, "redundant_with": pl.String},
    )
    label = result.anomalies["label"]
    skipped = pl.DataFrame(result.anomalies["skipped"], schema={"column": pl.String, "reason": pl.String})
    sections = [
        "<h1>featureplex rank report</h1>",
        f"<p>{result.rows:,} rows, label <code>{html.escape(label['column'])}</code> with CTR "
        f"{result.positives / result.rows:.4f} (H = {label['entropy']:.4f} nats); heuristic "
        f"<code>{html.escape(result.heuristic)}</code>; {result.ranking.height} features ranked.</p>",
        "<h2>Ranking</h2>", ranking_chart(result.ranking), html_table(result.ranking),
        "<h2>Interactions</h2>", interaction_heatmap(result.interactions, result.pool),
        html_table(result.interactions, 15),
        "<h2>Redundancy and selection</h2>",
        f"<p>Recommended features, in the order chosen: {html.escape(', '.join(selected)) or 'none'}.</p>",
        "<h3>Dropped as redundant</h3>", html_table(dropped),
        "<h3>Most redundant pairs</h3>", html_table(result.redundancy, 15),
        "<h2>Anomalies</h2>", html_table(anomaly_frame(result.anomalies), 1000),
        "<h3>Columns not ranked</h3>", html_table(skipped, 1000),
    ]
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>featureplex rank report</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
