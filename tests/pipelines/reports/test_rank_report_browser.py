"""report.html in a real browser: Debian's chromium, headless, driven by Playwright, on a report the real
rank stage wrote from synthetic data. The page fits a 1,400-pixel window, numbers read as 3 significant
digits, a header click sorts, the leak is shown as one, and nothing is fetched."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.stages.rank import rank

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
WINDOW = {"width": 1400, "height": 900}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium (apt-get install chromium; .ci/run does)"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    generate_synthetic(root / "data", rows=20_000, seed=0, row_group_rows=10_000)
    rank(root / "data", out=root / "rank")
    return root / "rank" / "report.html"


@dataclass
class Browsed:
    """The page open in chromium, with every URL it requested and every script error it hit."""

    page: object
    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browsed(report):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        seen = Browsed(browser.new_page(viewport=WINDOW))
        seen.page.on("request", lambda request: seen.requested.append(request.url))
        seen.page.on("pageerror", lambda error: seen.errors.append(str(error)))
        seen.page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
        seen.page.goto(report.as_uri())
        yield seen
        browser.close()


@pytest.fixture
def page(browsed):
    return browsed.page


def test_the_page_fits_the_window_and_loads_nothing_else(browsed, report, tmp_path_factory):
    page = browsed.page
    screenshot = tmp_path_factory.mktemp("screenshots") / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("FEATUREPLEX_SCREENSHOTS"):  # a folder where a person looks at it
        shutil.copy(screenshot, Path(keep) / "rank_report.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= WINDOW["width"]
    boxes = page.locator(".table-box")
    assert boxes.count() >= 5
    for index in range(boxes.count()):
        box = boxes.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WINDOW["width"], (index, box)
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    for index in range(charts.count()):
        chart = charts.nth(index).bounding_box()
        assert chart["width"] > 300 and chart["height"] > 200 and chart["x"] + chart["width"] <= WINDOW["width"]
    assert browsed.requested == [report.as_uri()] and browsed.errors == []


def significant_digits(text: str) -> int:
    mantissa = text.split("e")[0].lstrip("-").replace(",", "")
    return len(mantissa.replace(".", "").lstrip("0")) if "." in mantissa or "e" in text else 0


def test_numbers_read_as_three_significant_digits(page):
    texts = page.locator("td.num").all_inner_texts()
    assert len(texts) > 200
    for text in texts:
        assert re.fullmatch(r"-?(\d{1,3}(,\d{3})*|\d+\.\d+|\d\.\d{2}e-\d+)", text), text
        assert significant_digits(text) <= 3, text
    assert not [text for text in texts if re.search(r"e-0\d", text)]


def ranking_column(page, header: str) -> list[str]:
    table = page.locator("table.sortable").first
    index = table.locator("thead th").all_inner_texts().index(header)
    return [row.locator("td").nth(index).get_attribute("data-value") or row.locator("td").nth(index).inner_text()
            for row in table.locator("tbody tr").all()]


def test_clicking_a_header_sorts_and_again_reverses(page):
    table = page.locator("table.sortable").first
    assert ranking_column(page, "rank") == [str(r) for r in range(1, 25)]
    table.locator("thead th", has_text=re.compile("^MI$")).click()
    ascending = [float(v) for v in ranking_column(page, "MI")]
    assert ascending == sorted(ascending) and ranking_column(page, "rank") != [str(r) for r in range(1, 25)]
    table.locator("thead th", has_text=re.compile("^MI$")).click()
    assert [float(v) for v in ranking_column(page, "MI")] == sorted(ascending, reverse=True)
    table.locator("thead th", has_text="feature").click()
    names = ranking_column(page, "feature")
    assert names == sorted(names) and len(names) == 24


def test_the_leak_is_shown_as_a_leak(page):
    alert = page.locator(".alert")
    assert alert.count() == 1 and "Label leak" in alert.inner_text() and "leak_label" in alert.inner_text()
    leak_rows = page.locator("table.sortable").first.locator("tbody tr.leak")
    assert leak_rows.count() == 1 and "LABEL LEAK" in leak_rows.inner_text() and "leak_label" in leak_rows.inner_text()
    colour = leak_rows.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert colour == "rgb(253, 236, 234)"
    decisions = dict(zip(ranking_column(page, "feature"), ranking_column(page, "decision")))
    assert decisions["noise_row_id"].startswith("ID-like") and decisions["inf_cat_100_copy"] == "redundant with inf_cat_100"
    assert decisions["inf_cat_1000"].startswith("selected #") and decisions["constant"] == "constant"


def test_a_bar_says_its_values_on_hover(page):
    bar = page.locator("svg.chart").first.locator("g", has=page.locator("title", has_text="leak_label:"))
    assert bar.count() == 1
    assert re.fullmatch(r"leak_label: MI \S+ nats, chance \S+; LABEL LEAK .*", bar.locator("title").text_content())
    box = bar.locator("rect").first.bounding_box()
    assert box["width"] > 20 and box["height"] > 5  # drawn, not empty
