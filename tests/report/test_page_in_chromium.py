"""The HTML report in a real headless Chromium: it loads offline without errors, every chart
draws, and every number on the page is the number in the JSON."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from abmsync.report.model import Report
from abmsync.report.sections import render_html
from tests.report.chromium import find_chromium, open_page

CHARTS_AND_NUMBERS = """
(async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const charts = [...document.querySelectorAll('.chart')].map(el => {
    const box = el.getBoundingClientRect();
    return {name: el.dataset.chart, drawn: el.querySelectorAll('svg.main-svg').length,
            x: box.left + window.scrollX, y: box.top + window.scrollY,
            width: box.width, height: box.height};
  });
  const numbers = [...document.querySelectorAll('[data-metric]')].map(
    el => [el.dataset.metric, el.dataset.format, el.textContent]);
  return {charts, numbers};
})()
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium found (CI is set: install Debian's chromium package)")
        pytest.skip("no Chromium found (install Debian's chromium, or set ABMSYNC_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def page(demo_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report-page") / "report.html"
    path.write_text(render_html(demo_report), encoding="utf-8")
    return path


def test_the_page_loads_from_disk_with_no_console_error_and_no_network(
    chromium: str, page: Path
) -> None:
    with open_page(chromium, page) as tab:
        tab.evaluate(CHARTS_AND_NUMBERS)
        errors, urls = tab.console_errors(), tab.requested_urls()
    assert errors == []
    assert [url for url in urls if not url.startswith(("file:", "data:"))] == []


def test_every_chart_renders_something_visible(chromium: str, page: Path) -> None:
    with open_page(chromium, page) as tab:
        found = tab.evaluate(CHARTS_AND_NUMBERS)
        shots = {
            c["name"]: tab.screenshot(c["x"], c["y"], c["width"], c["height"])
            for c in found["charts"]
        }
    names = [c["name"] for c in found["charts"]]
    assert {"funnel", "grade_band", "tiers", "engagement_trend", "credit_by_channel"} <= set(names)
    for chart in found["charts"]:
        assert chart["drawn"] > 0, f"{chart['name']}: plotly drew no SVG"
        assert chart["width"] > 100 and chart["height"] > 100, chart
    for name, png in shots.items():
        image = Image.open(io.BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1_000_000) or []
        inked = sum(n for n, colour in colours if colour != (255, 255, 255))
        assert len(colours) > 2, f"{name}: the screenshot is blank"
        assert inked / (image.width * image.height) > 0.005, f"{name}: almost nothing drawn"


def test_every_number_on_the_page_equals_the_json(
    chromium: str, page: Path, demo_report: Report
) -> None:
    figures = json.loads(demo_report.model_dump_json())
    with open_page(chromium, page) as tab:
        numbers = tab.evaluate(CHARTS_AND_NUMBERS)["numbers"]
    assert len(numbers) > 100
    for path, fmt, shown in numbers:
        expected = resolve(figures, path)
        assert matches(shown, fmt, expected), f"{path}: page shows {shown!r}, JSON has {expected!r}"


def resolve(document: Any, path: str) -> Any:
    """The value at ``path`` (``a.b[2].c``) in a JSON document."""
    value = document
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        value = value[int(index)] if index else value[name]
    return value


def matches(shown: str, fmt: str, expected: Any) -> bool:
    """Whether the page's text is the JSON value in the page's documented format."""
    if expected is None:
        return shown == "–"
    if fmt == "text":
        return shown == str(expected)
    if fmt == "percent":
        assert shown.endswith(" %"), shown
        return abs(float(shown[:-2]) - expected * 100) <= 0.05 + 1e-9
    number = float(shown.replace(",", ""))
    if fmt == "int":
        return number == expected
    return abs(number - expected) <= 0.005 + 1e-9
