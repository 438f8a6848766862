"""The rank report's two charts as inline SVG: a horizontal bar chart on a symlog axis and a diverging heatmap.

Why not matplotlib here (the other reports use it): the rank stage is what a user times against OutRank,
and importing matplotlib and laying out 2,000 text boxes twice per figure cost 1.2-1.9 s of a 5 s
400k-row rank. SVG text is laid out by the browser, so drawing is string formatting (milliseconds),
the page stays self-contained, text stays selectable and every bar and cell carries its exact value as
a hover tooltip. Coordinates are printed with fixed decimals, so equal inputs give equal bytes.

Label widths cannot be measured without a font engine: margins assume a width per character of
FONT_SIZE text (CHAR_EM, a generous average for sans-serif), so a long name may leave spare room, never overlap.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

FONT_SIZE = 11
CHAR_EM = 0.62  # average sans-serif character width, in font sizes
ROW_HEIGHT = 18
CHART_WIDTH = 1100
PLOT_LEFT_MIN = 80
CELL = 22  # heatmap cell, pixels


@dataclass(frozen=True)
class Bar:
    """One row of the bar chart: its name, value, the part of it drawn hatched (the baseline), its colour,
    the words at its right end and the hover text."""

    name: str
    value: float
    baseline: float
    color: str
    note: str
    note_color: str
    tooltip: str
    bold: bool = False


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * CHAR_EM * size


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def symlog(values: np.ndarray, linear_below: float) -> np.ndarray:
    """Matplotlib's symlog for values >= 0: linear up to `linear_below`, one unit per decade above it."""
    values = np.maximum(np.asarray(values, dtype=float), 0.0)
    scaled = values / linear_below
    return np.where(scaled <= 1, scaled, 1 + np.log10(np.maximum(scaled, 1)))


def _decade_label(value: float) -> str:
    return f"1e{int(round(math.log10(value)))}" if 0 < value < 1e-3 else f"{value:g}"


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{_escape(label)}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" style="max-width: 100%; height: auto" font-family="system-ui, sans-serif" '
            f'font-size="{FONT_SIZE}" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>")


def bar_chart(bars: list[Bar], title: str, axis_label: str, legend: list[tuple[str, str]], linear_below: float) -> str:
    """Horizontal bars, the first on top, on a symlog axis starting at 0: each bar's baseline part hatched
    grey, its note on the right in its colour; `legend`: (colour, words), "hatch" for the hatched part."""
    left = max(PLOT_LEFT_MIN, max(_text_width(bar.name) for bar in bars) + 12)
    right = max(_text_width(bar.note) for bar in bars) + 12
    plot_width = max(CHART_WIDTH - left - right, 300)
    top, rows_height = 28, ROW_HEIGHT * len(bars)
    height = top + rows_height + 64
    width = left + plot_width + right
    values = np.array([bar.value for bar in bars], dtype=float)
    reach = float(symlog(np.array([max(values.max(initial=0.0), linear_below)]), linear_below)[0])
    decades = int(math.ceil(reach - 1e-9))
    scale = plot_width / max(decades, 1)

    def x(value: float) -> float:
        return left + float(symlog(np.array([value]), linear_below)[0]) * scale

    body = [
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#dddddd"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999999" stroke-width="1.5"/>'
        "</pattern></defs>",
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13">{_escape(title)}</text>',
    ]
    for decade in range(decades + 1):  # grid and ticks: 0, the linear threshold, then one per decade
        value = 0.0 if decade == 0 else linear_below * 10 ** (decade - 1)
        position = left + decade * scale
        body.append(f'<line x1="{position:.1f}" y1="{top}" x2="{position:.1f}" y2="{top + rows_height}" stroke="#e4e4e4"/>')
        body.append(f'<text x="{position:.1f}" y="{top + rows_height + 14}" text-anchor="middle">{_decade_label(value)}</text>')
    for row, bar in enumerate(bars):
        y = top + row * ROW_HEIGHT
        middle = y + ROW_HEIGHT / 2 + 4
        weight = ' font-weight="bold"' if bar.bold else ""
        body.append(f'<g><title>{_escape(bar.tooltip)}</title>'
                    f'<rect x="{left:.1f}" y="{y + 2:.1f}" width="{x(bar.value) - left:.1f}" height="{ROW_HEIGHT - 4}" fill="{bar.color}"/>'
                    f'<rect x="{left:.1f}" y="{y + 2:.1f}" width="{x(min(bar.baseline, bar.value)) - left:.1f}" '
                    f'height="{ROW_HEIGHT - 4}" fill="url(#hatch)"/></g>')
        body.append(f'<text x="{left - 6:.1f}" y="{middle:.1f}" text-anchor="end" fill="{bar.note_color}"{weight}>{_escape(bar.name)}</text>')
        body.append(f'<text x="{left + plot_width + 6:.1f}" y="{middle:.1f}" fill="{bar.note_color}"{weight}>{_escape(bar.note)}</text>')
    body.append(f'<line x1="{left:.1f}" y1="{top + rows_height}" x2="{left + plot_width:.1f}" y2="{top + rows_height}" stroke="#444444"/>')
    body.append(f'<text x="{left + plot_width / 2:.1f}" y="{top + rows_height + 32}" text-anchor="middle">{_escape(axis_label)}</text>')
    cursor = left
    for color, words in legend:  # one line of swatches under the axis
        fill = "url(#hatch)" if color == "hatch" else color
        body.append(f'<rect x="{cursor:.1f}" y="{height - 22}" width="14" height="10" fill="{fill}"/>'
                    f'<text x="{cursor + 18:.1f}" y="{height - 13}">{_escape(words)}</text>')
        cursor += 18 + _text_width(words) + 16
    return _svg(max(width, cursor), height, body, title)


def diverging_color(value: float, bound: float) -> str:
    """Blue (-bound) through white (0) to red (+bound); NaN (no value) white."""
    if not math.isfinite(value):
        return "#ffffff"
    share = max(-1.0, min(1.0, value / bound)) if bound > 0 else 0.0
    end = (178, 24, 43) if share > 0 else (33, 102, 172)
    mixed = [round(255 + (channel - 255) * abs(share)) for channel in end]
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def heatmap(labels: list[str], matrix: np.ndarray, title: str, value_name: str) -> str:
    """A square matrix of cells over `labels` (rows and columns alike), diverging colours around 0 with
    a colour bar; each cell's tooltip names its pair and value; NaN cells are left white."""
    label_width = max(_text_width(label) for label in labels) + 8
    side = CELL * len(labels)
    left, top = label_width, 28
    bar_left = left + side + 24
    width = max(bar_left + 90, _text_width(title, 13) + 20)
    height = top + side + label_width + 10
    finite = matrix[np.isfinite(matrix)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    body = [f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13">{_escape(title)}</text>']
    for i, row_label in enumerate(labels):
        y = top + i * CELL
        body.append(f'<text x="{left - 4:.1f}" y="{y + CELL / 2 + 4:.1f}" text-anchor="end">{_escape(row_label)}</text>')
        for j, column_label in enumerate(labels):
            value = matrix[i, j]
            if not math.isfinite(value):
                continue
            body.append(f'<rect x="{left + j * CELL}" y="{y}" width="{CELL}" height="{CELL}" fill="{diverging_color(value, bound)}">'
                        f"<title>{_escape(row_label)} x {_escape(column_label)}: {value_name} {value:.4g}</title></rect>")
    for j, column_label in enumerate(labels):  # column labels read upwards under the matrix
        x = left + j * CELL + CELL / 2 + 4
        body.append(f'<text transform="translate({x:.1f},{top + side + 6}) rotate(-90)" text-anchor="end">{_escape(column_label)}</text>')
    body.append(f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="none" stroke="#999999"/>')
    steps = 20  # the colour bar, +bound at the top
    for step in range(steps):
        value = bound * (1 - 2 * (step + 0.5) / steps)
        body.append(f'<rect x="{bar_left}" y="{top + step * side / steps:.2f}" width="14" height="{side / steps + 0.5:.2f}" '
                    f'fill="{diverging_color(value, bound)}"/>')
    for value, y in ((bound, top + 4), (0.0, top + side / 2 + 4), (-bound, top + side)):
        body.append(f'<text x="{bar_left + 18}" y="{y:.1f}">{value:.2g}</text>')
    return _svg(width, height, body, title)
