"""The rank report's SVG charts: bars on a symlog axis, a diverging heatmap, equal bytes for equal input."""

import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from featureplex.pipelines.reports.svg_charts import Bar, bar_chart, diverging_color, heatmap, symlog

SVG = "{http://www.w3.org/2000/svg}"


def bars() -> list[Bar]:
    return [Bar("strong", 0.2, 0.001, "#2ca02c", "selected #1", "#2ca02c", "strong: MI 0.2"),
            Bar("weak <&>", 2e-4, 5e-4, "#8da9c4", "not selected", "#333333", "weak: MI 2e-4")]


def test_symlog_is_linear_below_the_threshold_and_a_unit_per_decade_above():
    assert symlog(np.array([0.0, 5e-5, 1e-4, 1e-3, 0.1]), 1e-4) == pytest.approx([0.0, 0.5, 1.0, 2.0, 4.0])


def test_bar_chart_is_valid_svg_with_bar_lengths_on_the_symlog_scale():
    chart = bar_chart(bars(), "title", "MI, nats", [("#2ca02c", "selected"), ("hatch", "chance baseline")], 1e-4)
    root = ElementTree.fromstring(chart)  # well-formed: names are escaped
    groups = root.findall(f"{SVG}g")
    assert [g.find(f"{SVG}title").text for g in groups] == ["strong: MI 0.2", "weak: MI 2e-4"]
    full = [float(g.findall(f"{SVG}rect")[0].get("width")) for g in groups]
    hatched = [float(g.findall(f"{SVG}rect")[1].get("width")) for g in groups]
    # 0.2 reaches 1 + log10(2000) = 4.30 units; 2e-4 reaches 1.30 units; the axis ends at 5 decades
    assert full[0] / full[1] == pytest.approx(4.30103 / 1.30103, rel=1e-3)
    assert hatched[1] == full[1]  # the baseline is cut at the bar's own length
    ticks = [t.text for t in root.findall(f"{SVG}text")]
    assert {"0", "1e-4", "0.001", "0.01", "0.1", "1"} <= set(ticks) and "weak <&>" in ticks
    assert chart == bar_chart(bars(), "title", "MI, nats", [("#2ca02c", "selected"), ("hatch", "chance baseline")], 1e-4)


def test_heatmap_colours_diverge_around_zero_and_leave_missing_pairs_white():
    assert diverging_color(0.0, 1.0) == "#ffffff" and diverging_color(float("nan"), 1.0) == "#ffffff"
    assert diverging_color(1.0, 1.0) == "#b2182b" and diverging_color(-2.0, 1.0) == "#2166ac"
    matrix = np.array([[np.nan, 0.5], [0.5, np.nan]])
    root = ElementTree.fromstring(heatmap(["a", "b"], matrix, "gains", "gain"))
    cells = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [c.find(f"{SVG}title").text for c in cells] == ["a x b: gain 0.5", "b x a: gain 0.5"]
    assert {c.get("fill") for c in cells} == {"#b2182b"}
    assert re.search(r'viewBox="0 0 \d+ \d+"', heatmap(["a", "b"], matrix, "gains", "gain"))
