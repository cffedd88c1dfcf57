"""Chart specifications for plotly.js, built from the report's figures.

Each function returns one :class:`Chart` (plotly ``data`` and ``layout`` as
plain JSON) or ``None`` when there is nothing to draw; the page draws them
with the plotly.js bundle the ``plotly`` package ships, embedded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abmsync.report.model import (
    Abm,
    ClosedLoop,
    Feedback,
    Funnel,
    Scores,
    Sla,
    StageTime,
    WeeklyCount,
)

PALETTE = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c2423f", "#8064a2", "#4bacc6", "#9b8a3c", "#d36fa5"]
TREND_ACCOUNTS = 8
WEEKS = {
    "type": "category",
    "title": {"text": "week starting"},
    "tickangle": -45,
    "automargin": True,
}


@dataclass(frozen=True)
class Chart:
    """One chart: a stable name, its title, and the plotly traces and layout."""

    name: str
    title: str
    data: list[dict[str, Any]]
    layout: dict[str, Any] = field(default_factory=dict)


def _layout(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 10, "b": 50},
        "height": 320,
        "colorway": PALETTE,
        # Above the plot, where rotated axis labels cannot run into it.
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "xaxis": {"automargin": True},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }
    return base | extra


def _stacked(counts: list[WeeklyCount]) -> list[dict[str, Any]]:
    weeks = sorted({c.week.isoformat() for c in counts})
    keys = list(dict.fromkeys(c.key for c in counts))
    traces = []
    for key in keys:
        per_week = {c.week.isoformat(): c.count for c in counts if c.key == key}
        traces.append(
            {"type": "bar", "name": key, "x": weeks, "y": [per_week.get(w, 0) for w in weeks]}
        )
    return traces


def funnel_charts(funnel: Funnel) -> list[Chart | None]:
    """Reach per stage, weekly entries, and time spent in each stage."""
    reach = Chart(
        "funnel",
        "People who reached each stage",
        [
            {
                "type": "funnel",
                "y": [s.stage for s in funnel.stages],
                "x": [s.reached for s in funnel.stages],
                "textinfo": "value+percent previous",
            }
        ],
        _layout(margin={"l": 100, "r": 20, "t": 10, "b": 30}),
    )
    weekly = (
        Chart(
            "weekly",
            "Entries per stage per week",
            _stacked(funnel.weekly),
            _layout(barmode="stack", xaxis=WEEKS),
        )
        if funnel.weekly
        else None
    )
    timed = [t for t in funnel.time_in_stage if t.stints and (t.p90_days or 0) > 0]
    times = (
        Chart(
            "time_in_stage",
            "Days in stage (completed stays)",
            [
                {
                    "type": "bar",
                    "name": "median",
                    "x": [t.stage for t in timed],
                    "y": [t.median_days for t in timed],
                },
                {
                    "type": "bar",
                    "name": "p90",
                    "x": [t.stage for t in timed],
                    "y": [t.p90_days for t in timed],
                },
            ],
            _layout(barmode="group", yaxis=_days_axis(timed)),
        )
        if timed
        else None
    )
    return [reach, weekly, times]


def _days_axis(timed: list[StageTime]) -> dict[str, Any]:
    """A log axis when stays differ by orders of magnitude (years as a subscriber,
    days as an MQL), so the short stages stay readable; else a linear one."""
    days = [d for t in timed for d in (t.median_days, t.p90_days) if d]
    if days and max(days) > 30 * min(days):
        return {"type": "log", "title": {"text": "days (log scale)"}}
    return {"title": {"text": "days"}}


def sla_charts(sla: Sla) -> list[Chart | None]:
    """Compliance per queue and breaches per week."""
    queues = [g for g in sla.by_queue if g.met + g.breached]
    compliance = (
        Chart(
            "sla_compliance",
            "SLA compliance per queue",
            [
                {
                    "type": "bar",
                    "x": [f"{g.stage}: {g.group}" for g in queues],
                    "y": [round((g.compliance or 0.0) * 100, 1) for g in queues],
                }
            ],
            _layout(yaxis={"title": "% met", "range": [0, 100]}),
        )
        if queues
        else None
    )
    breaches = (
        Chart(
            "sla_breaches",
            "Breaches per week",
            _stacked(sla.breaches_by_week),
            _layout(barmode="stack", xaxis=WEEKS),
        )
        if sla.breaches_by_week
        else None
    )
    return [compliance, breaches]


def feedback_charts(feedback: Feedback) -> list[Chart | None]:
    """Rejection reasons."""
    if not feedback.reasons:
        return [None]
    return [
        Chart(
            "rejection_reasons",
            "Rejections by reason",
            [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [r.key for r in feedback.reasons],
                    "x": [r.count for r in feedback.reasons],
                }
            ],
            _layout(margin={"l": 160, "r": 20, "t": 10, "b": 40}),
        )
    ]


def scores_charts(scores: Scores) -> list[Chart | None]:
    """Grade × band heat map, score distribution, top rules."""
    counts = {(c.grade, c.band): c.people for c in scores.matrix}
    matrix = Chart(
        "grade_band",
        "People by grade and band",
        [
            {
                "type": "heatmap",
                "x": [f"band {b}" for b in scores.bands],
                "y": scores.grades,
                "z": [[counts.get((g, b), 0) for b in scores.bands] for g in scores.grades],
                # plotly.js's "Blues" runs dark to light; reversed, more people is darker.
                "colorscale": "Blues",
                "reversescale": True,
                "texttemplate": "%{z}",
            }
        ],
        _layout(yaxis={"autorange": "reversed"}),
    )
    spread = Chart(
        "distribution",
        "Score distribution",
        [
            {
                "type": "bar",
                "x": [f"{b.low:g}…{b.high:g}" for b in scores.distribution],
                "y": [b.people for b in scores.distribution],
            }
        ],
        _layout(xaxis={"automargin": True, "tickangle": -45, "title": {"text": "score"}}),
    )
    rules = Chart(
        "top_rules",
        "Points contributed by rule",
        [
            {
                "type": "bar",
                "orientation": "h",
                "y": [r.rule for r in reversed(scores.top_rules)],
                "x": [r.points for r in reversed(scores.top_rules)],
            }
        ],
        _layout(height=420, margin={"l": 160, "r": 20, "t": 10, "b": 40}),
    )
    return [matrix, spread if scores.distribution else None, rules if scores.top_rules else None]


def abm_charts(abm: Abm) -> list[Chart | None]:
    """Tiers, engagement trend of key accounts, buying-centre coverage, penetration."""
    tiers = Chart(
        "tiers",
        "Accounts by tier",
        [
            {
                "type": "bar",
                "name": "accounts",
                "x": [t.tier for t in abm.tiers],
                "y": [t.accounts for t in abm.tiers],
            },
            {
                "type": "bar",
                "name": "engaged",
                "x": [t.tier for t in abm.tiers],
                "y": [t.engaged for t in abm.tiers],
            },
            {
                "type": "bar",
                "name": "MQAs",
                "x": [t.tier for t in abm.tiers],
                "y": [t.mqas for t in abm.tiers],
            },
        ],
        _layout(barmode="group"),
    )
    weeks = [w.isoformat() for w in abm.trend_weeks]
    trend = Chart(
        "engagement_trend",
        "Touchpoints per week, key accounts",
        [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": a.name or a.id,
                "x": weeks,
                "y": a.trend,
            }
            for a in abm.key_accounts[:TREND_ACCOUNTS]
        ],
        _layout(height=360),
    )
    coverage = Chart(
        "coverage",
        "Engaged accounts with each buying role",
        [
            {
                "type": "bar",
                "x": [c.role for c in abm.coverage_by_role],
                "y": [round((c.share or 0.0) * 100, 1) for c in abm.coverage_by_role],
            }
        ],
        _layout(yaxis={"title": "% of engaged accounts", "range": [0, 100]}),
    )
    penetration = Chart(
        "penetration",
        "Newly engaged people per week, by role",
        _stacked(abm.penetration),
        _layout(barmode="stack", xaxis=WEEKS),
    )
    return [
        tiers if abm.tiers else None,
        trend if abm.key_accounts else None,
        coverage if abm.coverage_by_role else None,
        penetration if abm.penetration else None,
    ]


def closed_loop_charts(loop: ClosedLoop) -> list[Chart | None]:
    """Credit by channel for the chosen model, and every model side by side."""
    if not loop.by_channel:
        return [None, None]
    channels = Chart(
        "credit_by_channel",
        f"Pipeline and revenue credited by channel ({loop.model})",
        [
            {
                "type": "bar",
                "name": "pipeline",
                "x": [c.key for c in loop.by_channel],
                "y": [c.pipeline for c in loop.by_channel],
            },
            {
                "type": "bar",
                "name": "revenue",
                "x": [c.key for c in loop.by_channel],
                "y": [c.revenue for c in loop.by_channel],
            },
        ],
        _layout(barmode="group"),
    )
    keys = list(dict.fromkeys(c.key for m in loop.models for c in m.by_channel))
    models = Chart(
        "models",
        "Pipeline credited by channel under each model",
        [
            {
                "type": "bar",
                "name": m.model,
                "x": keys,
                "y": [next((c.pipeline for c in m.by_channel if c.key == k), 0.0) for k in keys],
            }
            for m in loop.models
        ],
        _layout(barmode="group", height=360),
    )
    return [channels, models]
