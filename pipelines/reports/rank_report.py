"""report.html of the rank artifact: one self-contained page (charts as inline SVG, no fetch).

Sections: summary (with a red box naming any label leak); the ranking chart (MI per feature with its
chance baseline drawn inside the bar, so the score is the part that sticks out; each bar coloured by
the rank stage's decision, written at the right end of its row); the ranking table; the
interaction-gain heatmap over the pool with the top pairs; redundant pairs and the greedy selection;
the anomaly table and skipped columns.

Decisions, one per feature, first match wins:
- label leak: chance-corrected MI / H(label) >= the leakage threshold (DESIGN.md section 3: leakage
  is judged on the corrected MI; a near-unique ID reaches MI = H(label) by chance alone, so its raw-MI
  `label_leakage` flag in anomalies.json is shown in the anomaly table but does not make it a leak);
- selected (in the greedy order), or dropped as redundant with an earlier pick;
- anomaly: any other check of anomalies.json (constant, ID-like, drift, ...);
- not selected.

Reading a browser window of 1,400 pixels: the page never scrolls sideways; each table scrolls inside
its own box under a sticky header row. Numbers show 3 significant digits (`readable_number`), the
exact value rides in the cell's `data-value`; a click on a header sorts the table by that column (a
second click reverses), with a few lines of inline script. The charts are inline SVG drawn by
svg_charts (hover a bar or cell for its exact value), so equal results give byte-identical pages.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from featureplex.pipelines.reports.svg_charts import Bar, bar_chart, heatmap

BAR_FEATURES = 40
RANKING_ROWS = 500
TABLE_ROWS = 40
LONG_TEXT = 60  # characters from which a cell's text wraps

DECISION_COLORS = {
    "leak": "#d62728", "selected": "#2ca02c", "redundant": "#ff7f0e", "anomaly": "#9467bd", "other": "#8da9c4",
}
DECISION_LEGEND = {
    "leak": "label leak", "selected": "selected", "redundant": "dropped as redundant", "anomaly": "anomaly",
    "other": "not selected",
}
ANOMALY_NAMES = {
    "constant": "constant", "near_constant": "near-constant", "missing": "mostly missing", "id_like": "ID-like",
    "rare_values": "rare values", "drift": "drift",
}
# The ranking table's columns: header shown, and what it means (the header's tooltip).
RANKING_COLUMNS = {
    "rank": ("rank", "position by score, best first"),
    "feature": ("feature", "column name"),
    "decision": ("decision", "what the rank stage decided (see the chart)"),
    "kind": ("kind", "categorical or numeric"),
    "score": ("score", "the ranking heuristic's score"),
    "mi": ("MI", "mutual information with the label, nats"),
    "chance_mi": ("chance MI", "MI a feature with these cells gets by chance (labels shuffled), nats"),
    "chance_mi_std": ("chance MI sd", "standard deviation of the chance MI, nats"),
    "corrected_mi": ("corrected MI", "MI - chance MI, nats"),
    "mi_over_label_entropy": ("MI/H(y)", "share of the label's entropy the feature removes alone"),
    "cardinality": ("cardinality", "distinct non-missing values counted (capped: past rank.cardinality_cap, values share hash buckets)"),
    "cardinality_capped": ("capped", "the cardinality hit rank.cardinality_cap"),
    "distinct_estimate": ("distinct (est.)", "distinct values: exact under the cap, a sketch's estimate past it"),
    "bins": ("bins", "cells scored (values, hash buckets or numeric bins)"),
    "missing_rate": ("missing", "share of rows missing"),
    "id_like": ("ID-like", "distinct values close to the row count"),
}
STYLE = """
body { font-family: system-ui, sans-serif; color: #222; max-width: 1600px; margin: 1em auto; padding: 0 1em; }
.table-box { width: fit-content; max-width: 100%; max-height: 70vh; overflow: auto; border: 1px solid #d0d0d0; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.82em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.25em 0.45em; text-align: left; vertical-align: top; white-space: nowrap; }
td.long { white-space: normal; min-width: 30em; }
th { background: #eef0f3; position: sticky; top: 0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.leak td { background: #fdecea; } tr.leak td:first-child { border-left: 4px solid #d62728; }
tr.selected td:first-child { border-left: 4px solid #2ca02c; } tr.redundant td:first-child { border-left: 4px solid #ff7f0e; }
tr.anomaly td:first-child { border-left: 4px solid #9467bd; } tr.other td:first-child { border-left: 4px solid #8da9c4; }
.alert { border-left: 6px solid #d62728; background: #fdecea; padding: 0.6em 1em; margin: 1em 0; }
img { max-width: 100%; height: auto; }
"""
# Sorts a table by the clicked header's column: numbers by data-value, text by code point (as Python sorts).
SORT_SCRIPT = """
for (const table of document.querySelectorAll("table.sortable")) {
  const headers = Array.from(table.tHead.rows[0].cells);
  for (const header of headers) {
    header.addEventListener("click", () => {
      const descending = header.getAttribute("aria-sort") === "ascending";
      for (const other of headers) other.removeAttribute("aria-sort");
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const key = (row) => {
        const cell = row.cells[header.cellIndex];
        return cell.dataset.value === undefined ? cell.textContent : Number(cell.dataset.value);
      };
      const rows = Array.from(table.tBodies[0].rows).sort((a, b) => {
        const x = key(a), y = key(b), order = (x > y) - (x < y);
        return descending ? -order : order;
      });
      table.tBodies[0].append(...rows);
    });
  }
}
"""


@dataclass(frozen=True)
class Decision:
    """What the rank stage decided about one feature: a key of DECISION_COLORS and the words for it."""

    kind: str
    text: str


def readable_number(value: float | int) -> str:
    """3 significant digits: 0.476, 0.0232, 4.28, 12,300, and 1.79e-5 below 0.001; integers in full (20,000)."""
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value) or value == 0:
        return "0" if value == 0 else str(value)
    rounded = float(f"{value:.3g}")
    magnitude = abs(rounded)
    if magnitude >= 1000:
        return f"{rounded:,.0f}"
    if magnitude >= 1e-3:
        return f"{rounded:.{2 - math.floor(math.log10(magnitude))}f}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def label_shares(result) -> dict[str, float]:
    """Chance-corrected MI / H(label) of each ranked feature: the leak measure."""
    entropy = result.anomalies["label"]["entropy"]
    return {
        name: corrected / entropy if entropy > 0 else 0.0
        for name, corrected in result.ranking.select("feature", "corrected_mi").iter_rows()
    }


def decisions(result) -> dict[str, Decision]:
    """Each ranked feature's decision (module docstring); other anomalies follow the selection's words."""
    threshold = result.anomalies["thresholds"]["leakage"]
    choices = {choice.feature: choice for choice in result.selection}
    found = {}
    for name, share in label_shares(result).items():
        flags = [ANOMALY_NAMES[k] for k in result.anomalies["features"][name]["anomalies"] if k in ANOMALY_NAMES]
        choice = choices.get(name)
        if share >= threshold:
            kind, text, flags = "leak", f"LABEL LEAK (corrected MI/H(y) {readable_number(share)})", []
        elif choice is not None and choice.selected:
            kind, text = "selected", f"selected #{choice.order}"
        elif choice is not None:
            kind, text = "redundant", f"redundant with {choice.redundant_with}"
        elif flags:
            kind, text, flags = "anomaly", ", ".join(flags), []
        else:
            kind, text = "other", "not selected"
        found[name] = Decision(kind, "; ".join([text, *flags]) if flags else text)
    return found


def ranking_chart(ranking: pl.DataFrame, decided: dict[str, Decision]) -> str:
    """Horizontal bars, best feature on top: MI (full bar, coloured by decision), chance baseline (hatched
    part); the decision in words on the right, in its colour."""
    top = ranking.head(BAR_FEATURES)
    if top.is_empty():
        return "<p>No features were ranked.</p>"
    bars = []
    for name, mi, chance in top.select("feature", "mi", "chance_mi").iter_rows():
        decision = decided[name]
        color = DECISION_COLORS[decision.kind]
        bars.append(Bar(
            name, mi, min(chance, mi), color, decision.text, color if decision.kind != "other" else "#333333",
            f"{name}: MI {readable_number(mi)} nats, chance {readable_number(chance)}; {decision.text}",
            bold=decision.kind == "leak"))
    shown = [kind for kind in DECISION_COLORS if any(decided[name].kind == kind for name in top["feature"])]
    legend = [(DECISION_COLORS[kind], DECISION_LEGEND[kind]) for kind in shown] + [("hatch", "chance baseline")]
    return bar_chart(bars, "Features by rank: MI, its chance baseline, and the decision",
                     "mutual information with the label, nats (symlog)", legend, linear_below=1e-4)


def interaction_heatmap(interactions: pl.DataFrame, pool: list[str]) -> str:
    """Symmetric matrix of interaction gains over the pool (white: no pair)."""
    if not pool or interactions.is_empty():
        return "<p>No feature pairs were scored.</p>"
    index = {name: i for i, name in enumerate(pool)}
    matrix = np.full((len(pool), len(pool)), np.nan)
    for first, second, gain in interactions.select("feature_a", "feature_b", "interaction_gain").iter_rows():
        matrix[index[first], index[second]] = matrix[index[second], index[first]] = gain
    return heatmap(pool, matrix, "Interaction gain MI(a,b;y) - MI(a;y) - MI(b;y), chance-corrected (nats)", "gain")


def _cell(value) -> str:
    """A table cell: numbers right-aligned in 3 significant digits with the exact value for sorting."""
    if isinstance(value, bool):
        return f'<td data-value="{int(value)}">{"yes" if value else "no"}</td>'
    if isinstance(value, (int, float)):
        exact = repr(value) if math.isfinite(value) else "NaN"
        return f'<td class="num" data-value="{exact}">{readable_number(value)}</td>'
    text = "" if value is None else str(value)
    opening = '<td class="long">' if len(text) > LONG_TEXT else "<td>"
    return f"{opening}{html.escape(text)}</td>"


def html_table(
    frame: pl.DataFrame, rows: int = TABLE_ROWS, headers: dict[str, tuple[str, str]] | None = None,
    row_classes: list[str] | None = None,
) -> str:
    """A sortable table of the first `rows` rows in its own scrolling box; `headers` maps a column to
    (shown name, tooltip), else underscores read as spaces; `row_classes` styles rows (by decision)."""
    if frame.is_empty():
        return "<p>None.</p>"
    head = "".join(
        f'<th title="{html.escape(headers[c][1] if headers and c in headers else "click to sort")}">'
        f"{html.escape(headers[c][0] if headers and c in headers else c.replace('_', ' '))}</th>"
        for c in frame.columns
    )
    classes = row_classes or [""] * frame.height
    body = "".join(
        (f'<tr class="{kind}">' if kind else "<tr>") + "".join(_cell(v) for v in row) + "</tr>"
        for row, kind in zip(frame.head(rows).iter_rows(), classes)
    )
    note = f"<p>The first {rows} of {frame.height} rows.</p>" if frame.height > rows else ""
    return f'{note}<div class="table-box"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def anomaly_frame(anomalies: dict) -> pl.DataFrame:
    records = [
        {"feature": name, "anomaly": kind, "detail": detail}
        for name, entry in anomalies["features"].items()
        for kind, detail in entry["anomalies"].items()
    ]
    return pl.DataFrame(records, schema={"feature": pl.String, "anomaly": pl.String, "detail": pl.String})


def leak_alert(result, decided: dict[str, Decision]) -> str:
    shares = label_shares(result)
    leaks = [name for name in result.ranking["feature"] if decided[name].kind == "leak"]
    if not leaks:
        return ""
    named = ", ".join(f"<code>{html.escape(name)}</code> (corrected MI/H(y) {readable_number(shares[name])})" for name in leaks)
    return (
        f'<div class="alert"><strong>Label leak:</strong> {named}. Kept out of the recommended features: a '
        "feature known at impression time rarely tells the label this well; check it is not derived from the "
        "label or recorded after the impression.</div>"
    )


def render_report(result) -> str:
    """The whole page for a rank artifact (pipelines.artifacts.rank.RankArtifact)."""
    decided = decisions(result)
    kinds = [decided[name].kind for name in result.ranking["feature"]]
    ranking = result.ranking.with_columns(  # the decision column says "selected" and more
        decision=pl.Series([decided[name].text for name in result.ranking["feature"]], dtype=pl.String)
    ).select(list(RANKING_COLUMNS))
    selected = [c.feature for c in result.selection if c.selected]
    dropped = pl.DataFrame(
        [{"feature": c.feature, "redundant_with": c.redundant_with} for c in result.selection if not c.selected],
        schema={"feature": pl.String, "redundant_with": pl.String},
    )
    label = result.anomalies["label"]
    skipped = pl.DataFrame(result.anomalies["skipped"], schema={"column": pl.String, "reason": pl.String})
    counts = ", ".join(f"{kinds.count(kind)} {DECISION_LEGEND[kind]}" for kind in DECISION_COLORS if kind in kinds)
    sections = [
        "<h1>featureplex rank report</h1>",
        f"<p>{result.rows:,} rows, label <code>{html.escape(label['column'])}</code> with CTR "
        f"{readable_number(result.positives / result.rows)} (H = {readable_number(label['entropy'])} nats); heuristic "
        f"<code>{html.escape(result.heuristic)}</code>; {result.ranking.height} features ranked: {counts}.</p>",
        leak_alert(result, decided),
        "<h2>Ranking</h2>", ranking_chart(result.ranking, decided),
        "<p>Click a column header to sort; the full ranking is in ranking.tsv.</p>",
        html_table(ranking, RANKING_ROWS, RANKING_COLUMNS, kinds),
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
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>featureplex rank report</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(s for s in sections if s)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
