"""The report as one self-contained HTML file: no network needed to view it.

Styles, the figures and the plotly.js bundle are all inside the file. Every
number shown is a ``<span data-metric="json.path" data-format="...">`` whose
text is the formatted value of that path in the report's JSON:

- ``int``: ``1,234``; ``number``: ``1,234.5`` (at most two decimals);
- ``percent``: a fraction shown as ``42.5 %``; ``text``: as is;
- a missing value (JSON ``null``) is shown as ``–``.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from abmsync.report.charts import Chart
from abmsync.report.model import Report

Format = Literal["int", "number", "percent", "text"]
MISSING = "–"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       margin: 0; background: #f4f6f9; }
header { background: #1f3a5f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
nav a { color: #cfe0f5; margin-right: 16px; text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1280px; }
section { background: #fff; border-radius: 8px; padding: 12px 24px 20px; margin: 18px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h2 { font-size: 19px; border-bottom: 2px solid #e3e8ef; padding-bottom: 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { background: #f0f4fa; border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.tile .value { font-size: 22px; font-weight: 600; display: block; }
.tile .label { color: #4d5870; font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
.chart { min-height: 320px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e8ef; text-align: right; }
th { background: #f0f4fa; }
td.t, th.t { text-align: left; }
p.note { color: #7a4b00; background: #fff6e0; padding: 6px 10px; border-radius: 4px; }
p.help { color: #4d5870; margin: 4px 0 10px; }
.flag { color: #b3261e; }
"""


def formatted(value: Any, fmt: Format) -> str:
    """``value`` as the page shows it in format ``fmt``."""
    if value is None:
        return MISSING
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "number":
        return f"{float(value):,.2f}".rstrip("0").rstrip(".")
    if fmt == "percent":
        return f"{float(value) * 100:.1f} %"
    return str(value)


def metric(path: str, value: Any, fmt: Format = "int") -> str:
    """One number (or label) of the report, tagged with its JSON path."""
    return (
        f'<span data-metric="{html.escape(path)}" data-format="{fmt}">'
        f"{html.escape(formatted(value, fmt))}</span>"
    )


def text(value: object) -> str:
    """Plain text, escaped."""
    return html.escape(str(value))


def tile(label: str, path: str, value: Any, fmt: Format = "int") -> str:
    """A headline figure with its label."""
    return (
        f'<div class="tile"><span class="value">{metric(path, value, fmt)}</span>'
        f'<span class="label">{text(label)}</span></div>'
    )


def tiles(*items: str) -> str:
    return f'<div class="tiles">{"".join(items)}</div>'


def table(headers: list[str], rows: list[list[str]], *, text_columns: int = 1) -> str:
    """A table of pre-rendered cells; the first ``text_columns`` columns are left-aligned."""

    def cls(i: int) -> str:
        return ' class="t"' if i < text_columns else ""

    head = "".join(f"<th{cls(i)}>{text(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note(message: str) -> str:
    return f'<p class="note">{text(message)}</p>'


def help_text(message: str) -> str:
    return f'<p class="help">{text(message)}</p>'


@dataclass
class Page:
    """Collects the charts of the page in order, each with its own element id."""

    charts: list[Chart] = field(default_factory=list)

    def charts_html(self, charts: list[Chart | None]) -> str:
        """The given charts side by side (those that are ``None`` have nothing to show)."""
        cells = []
        for chart in charts:
            if chart is None:
                continue
            self.charts.append(chart)
            cells.append(
                f"<div><h3>{text(chart.title)}</h3>"
                f'<div class="chart" id="chart-{chart.name}" data-chart="{chart.name}"></div></div>'
            )
        return f'<div class="grid">{"".join(cells)}</div>' if cells else ""

    def script(self) -> str:
        specs = [{"id": f"chart-{c.name}", "data": c.data, "layout": c.layout} for c in self.charts]
        payload = json.dumps(specs).replace("</", "<\\/")
        return (
            "<script>\n"
            f"const charts = {payload};\n"
            "for (const c of charts) {\n"
            "  Plotly.newPlot(c.id, c.data, c.layout, {displayModeBar: false, responsive: true});\n"
            "}\n"
            "</script>"
        )


def plotly_js() -> str:
    """The plotly.js bundle shipped with the ``plotly`` Python package."""
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    return bundle.read_text(encoding="utf-8").replace("</script", "<\\/script")


def render_page(report: Report, sections: list[tuple[str, str, str]], page: Page) -> str:
    """The whole document: header, navigation, ``sections`` (id, title, body) and charts."""
    period = (
        f"{report.start:%Y-%m-%d} to {report.generated_for:%Y-%m-%d %H:%M} UTC"
        if report.start
        else f"up to {report.generated_for:%Y-%m-%d %H:%M} UTC"
    )
    nav = "".join(f'<a href="#{sid}">{text(title)}</a>' for sid, title, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{text(title)}</h2>{content}</section>'
        for sid, title, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>abmsync report — {text(period)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js()}</script></head><body>"
        f"<header><h1>Funnel and ABM report</h1><div>{text(period)} · rules version "
        f"{metric('rules_version', report.rules_version, 'text')} · "
        f"{metric('people', report.people)} people · {metric('accounts', report.accounts)} accounts"
        f"</div><nav>{nav}</nav></header><main>{body}</main>{page.script()}</body></html>\n"
    )
