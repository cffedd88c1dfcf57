"""The body of each report section: headline figures, charts, tables and short explanations."""

from __future__ import annotations

from abmsync.report.charts import (
    abm_charts,
    closed_loop_charts,
    feedback_charts,
    funnel_charts,
    scores_charts,
    sla_charts,
)
from abmsync.report.html import Page, help_text, metric, note, table, text, tile, tiles
from abmsync.report.model import Report, SlaGroup

COHORT_ROWS = 60


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document."""
    from abmsync.report.html import render_page

    page = Page()
    sections = [
        ("funnel", "Funnel", _funnel(report, page)),
        ("sla", "SLA", _sla(report, page)),
        ("feedback", "Sales feedback", _feedback(report, page)),
        ("scores", "Scores", _scores(report, page)),
        ("abm", "Accounts (ABM)", _abm(report, page)),
        ("closed-loop", "Closed loop", _closed_loop(report, page)),
    ]
    return render_page(report, sections, page)


def _funnel(report: Report, page: Page) -> str:
    f = report.funnel
    stages = [
        [
            text(s.stage),
            metric(f"funnel.stages[{i}].reached", s.reached),
            metric(f"funnel.stages[{i}].current", s.current),
            metric(f"funnel.stages[{i}].conversion_to_next", s.conversion_to_next, "percent"),
        ]
        for i, s in enumerate(f.stages)
    ]
    sides = [
        [
            text(s.stage),
            metric(f"funnel.side_stages[{i}].entered", s.entered),
            metric(f"funnel.side_stages[{i}].current", s.current),
        ]
        for i, s in enumerate(f.side_stages)
    ]
    times = [
        [
            text(t.stage),
            metric(f"funnel.time_in_stage[{i}].stints", t.stints),
            metric(f"funnel.time_in_stage[{i}].median_days", t.median_days, "number"),
            metric(f"funnel.time_in_stage[{i}].p90_days", t.p90_days, "number"),
            metric(f"funnel.time_in_stage[{i}].still_in", t.still_in),
        ]
        for i, t in enumerate(f.time_in_stage)
    ]
    speed = [
        [
            text(f"{f.velocity_from} → {v.to_stage}"),
            metric(f"funnel.velocity[{i}].people", v.people),
            metric(f"funnel.velocity[{i}].median_days", v.median_days, "number"),
            metric(f"funnel.velocity[{i}].p90_days", v.p90_days, "number"),
        ]
        for i, v in enumerate(f.velocity)
    ]
    later = list(f.cohorts[0].reached) if f.cohorts else []
    cohorts = [
        [
            text(c.dimension.replace("_", " ")),
            text(c.value),
            text(c.mql_week.isoformat()),
            *[metric(f"funnel.cohorts[{i}].reached.{s}", c.reached[s]) for s in later],
            metric(f"funnel.cohorts[{i}].conversion", c.conversion, "percent"),
        ]
        for i, c in enumerate(f.cohorts[:COHORT_ROWS])
    ]
    return (
        help_text(
            "Reached: people who entered the stage or a later one in the period (people can "
            "skip stages). Conversion: reached next stage ÷ reached this one."
        )
        + table(["stage", "reached", "now in stage", "conversion to next"], stages)
        + (table(["side stage", "entered", "now in stage"], sides) if sides else "")
        + page.charts_html(funnel_charts(f))
        + "<h3>Time in stage</h3>"
        + table(["stage", "completed stays", "median days", "p90 days", "still in stage"], times)
        + "<h3>Velocity from hand-over</h3>"
        + table(["from → to", "people", "median days", "p90 days"], speed)
        + "<h3>Conversion by lead source and rules version (cohorts by MQL week)</h3>"
        + (
            table(["by", "value", "MQL week", *later, "conversion"], cohorts, text_columns=3)
            if cohorts
            else note("Nobody reached the hand-over stage in this period.")
        )
        + (
            note(f"First {COHORT_ROWS} of {len(f.cohorts)} cohorts shown; all are in the JSON.")
            if len(f.cohorts) > COHORT_ROWS
            else ""
        )
    )


def _sla_rows(groups: list[SlaGroup], path: str) -> list[list[str]]:
    return [
        [
            text(g.stage),
            text(g.group),
            metric(f"{path}[{i}].started", g.started),
            metric(f"{path}[{i}].met", g.met),
            metric(f"{path}[{i}].breached", g.breached),
            metric(f"{path}[{i}].open", g.open),
            metric(f"{path}[{i}].compliance", g.compliance, "percent"),
            metric(f"{path}[{i}].accepted", g.accepted),
            metric(f"{path}[{i}].median_hours_to_accept", g.median_hours_to_accept, "number"),
            metric(f"{path}[{i}].p90_hours_to_accept", g.p90_hours_to_accept, "number"),
        ]
        for i, g in enumerate(groups)
    ]


def _sla(report: Report, page: Page) -> str:
    s = report.sla
    headers = [
        "stage",
        "",
        "timers started",
        "met",
        "breached",
        "open",
        "compliance",
        "accepted",
        "median h to accept",
        "p90 h to accept",
    ]
    hours = "working hours of the queue's calendar" if s.working_hours else "wall-clock hours"
    return (
        help_text(
            "From the SLA timers: each timer starts once and is met or breached once, however "
            f"often the sync runs. Compliance = met ÷ (met + breached). Hours are {hours}."
        )
        + tiles(
            tile("reassignments after a breach", "sla.reassignments", s.reassignments),
            tile("escalations", "sla.escalations", s.escalations),
            tile("open timers past due", "sla.overdue_open", s.overdue_open),
        )
        + table(headers, _sla_rows(s.overall, "sla.overall"), text_columns=2)
        + page.charts_html(sla_charts(s))
        + "<h3>Per queue</h3>"
        + table(
            ["stage", "queue", *headers[2:]], _sla_rows(s.by_queue, "sla.by_queue"), text_columns=2
        )
        + "<h3>Per owner</h3>"
        + table(
            ["stage", "owner", *headers[2:]], _sla_rows(s.by_owner, "sla.by_owner"), text_columns=2
        )
    )


def _feedback(report: Report, page: Page) -> str:
    f = report.feedback
    reasons = [
        [text(r.key), metric(f"feedback.reasons[{i}].count", r.count)]
        for i, r in enumerate(f.reasons)
    ]
    rules = [
        [text(r.key), metric(f"feedback.recycled_by_rule[{i}].count", r.count)]
        for i, r in enumerate(f.recycled_by_rule)
    ]
    return (
        "".join(note(n) for n in f.notes)
        + tiles(
            tile("accepted by sales", "feedback.accepted", f.accepted),
            tile("rejected by sales", "feedback.rejected", f.rejected),
            tile(
                "rejected without a reason",
                "feedback.rejected_without_reason",
                f.rejected_without_reason,
            ),
            tile(
                "share without a reason",
                "feedback.share_without_reason",
                f.share_without_reason,
                "percent",
            ),
            tile("recycled in the period", "feedback.recycled", f.recycled),
        )
        + page.charts_html(feedback_charts(f))
        + (table(["rejection reason", "people"], reasons) if reasons else "")
        + (table(["recycled by", "people"], rules) if rules else "")
    )


def _scores(report: Report, page: Page) -> str:
    s = report.scores
    cells = {(c.grade, c.band): i for i, c in enumerate(s.matrix)}
    matrix = [
        [
            text(g),
            *[
                metric(f"scores.matrix[{cells[(g, b)]}].people", s.matrix[cells[(g, b)]].people)
                for b in s.bands
            ],
        ]
        for g in s.grades
    ]
    rules = [
        [
            text(r.rule),
            text(r.kind),
            metric(f"scores.top_rules[{i}].people", r.people),
            metric(f"scores.top_rules[{i}].points", r.points, "number"),
        ]
        for i, r in enumerate(s.top_rules)
    ]
    return (
        help_text("Scores as recorded in the score ledger at the end of the period.")
        + tiles(tile("people scored", "scores.scored", s.scored))
        + table(["grade", *[f"band {b}" for b in s.bands]], matrix)
        + page.charts_html(scores_charts(s))
        + table(["rule", "kind", "people", "points"], rules, text_columns=2)
    )


def _abm(report: Report, page: Page) -> str:
    a = report.abm
    tiers = [
        [
            text(t.tier),
            metric(f"abm.tiers[{i}].accounts", t.accounts),
            metric(f"abm.tiers[{i}].engaged", t.engaged),
            metric(f"abm.tiers[{i}].mqas", t.mqas),
        ]
        for i, t in enumerate(a.tiers)
    ]
    roles = [
        [
            text(c.role),
            metric(f"abm.coverage_by_role[{i}].accounts", c.accounts),
            metric(f"abm.coverage_by_role[{i}].share", c.share, "percent"),
        ]
        for i, c in enumerate(a.coverage_by_role)
    ]
    expected = len(a.expected_roles)
    key = [
        [
            text(k.name or k.id),
            text(k.tier),
            text("yes" if k.mqa else ""),
            metric(f"abm.key_accounts[{i}].people", k.people),
            metric(f"abm.key_accounts[{i}].engaged_people", k.engaged_people),
            metric(f"abm.key_accounts[{i}].account_engagement", k.account_engagement, "number"),
            metric(f"abm.key_accounts[{i}].engaged_roles", k.engaged_roles) + f" / {expected}",
            metric(f"abm.key_accounts[{i}].new_people_recent", k.new_people_recent),
            f'<span class="flag">{text("; ".join(k.flags))}</span>',
        ]
        for i, k in enumerate(a.key_accounts)
    ]
    moves = [
        [text(t.name or t.id), text(t.tier), text(t.suggested), text(t.reason)]
        for t in a.tier_suggestions
    ]
    return (
        tiles(
            tile("marketing-qualified accounts", "abm.mqas", a.mqas),
            tile("key accounts with red flags", "abm.red_flags", a.red_flags),
        )
        + table(["tier", "accounts", "engaged", "MQAs"], tiers)
        + page.charts_html(abm_charts(a))
        + "<h3>Buying-centre coverage by role</h3>"
        + table(["role", "engaged accounts with it", "share of engaged accounts"], roles)
        + "<h3>Key accounts</h3>"
        + help_text(
            "Top tiers and every MQA, most engaged first. Engaged roles are out of the "
            "expected roles; new people: engaged for the first time in the last 4 weeks."
        )
        + table(
            [
                "account",
                "tier",
                "MQA",
                "people",
                "engaged",
                "engagement",
                "engaged roles",
                "new people",
                "red flags",
            ],
            key,
            text_columns=3,
        )
        + "<h3>Tier-change suggestions</h3>"
        + (
            table(["account", "tier", "suggested", "why"], moves, text_columns=4)
            if moves
            else help_text("No account calls for a tier change.")
        )
    )


def _closed_loop(report: Report, page: Page) -> str:
    c = report.closed_loop
    credit = [
        [
            text(x.key),
            metric(f"closed_loop.by_campaign[{i}].pipeline", x.pipeline, "number"),
            metric(f"closed_loop.by_campaign[{i}].revenue", x.revenue, "number"),
        ]
        for i, x in enumerate(c.by_campaign)
    ]
    sourced = [
        [
            text(x.key),
            metric(f"closed_loop.sourced_by_campaign[{i}].pipeline", x.pipeline, "number"),
            metric(f"closed_loop.sourced_by_campaign[{i}].revenue", x.revenue, "number"),
        ]
        for i, x in enumerate(c.sourced_by_campaign)
    ]
    touches = [
        [
            text(t.opportunity),
            text(t.touchpoint),
            text(t.type),
            text(t.credited_via),
            text(f"{t.occurred_at:%Y-%m-%d}"),
            metric(f"closed_loop.touches[{i}].share", t.share, "percent"),
            metric(f"closed_loop.touches[{i}].pipeline", t.pipeline, "number"),
        ]
        for i, t in enumerate(c.touches)
    ]
    return (
        help_text(f"Attribution model: {c.model_description}.")
        + "".join(note(n) for n in c.notes)
        + tiles(
            tile("opportunities", "closed_loop.opportunities", c.opportunities),
            tile("pipeline", "closed_loop.pipeline", c.pipeline, "number"),
            tile("won", "closed_loop.won", c.won),
            tile("revenue", "closed_loop.revenue", c.revenue, "number"),
        )
        + tiles(
            tile(
                "marketing-sourced opportunities",
                "closed_loop.sourced_opportunities",
                c.sourced_opportunities,
            ),
            tile("sourced pipeline", "closed_loop.sourced_pipeline", c.sourced_pipeline, "number"),
            tile("sourced revenue", "closed_loop.sourced_revenue", c.sourced_revenue, "number"),
            tile(
                "marketing-influenced opportunities",
                "closed_loop.influenced_opportunities",
                c.influenced_opportunities,
            ),
            tile("credited by contact roles", "closed_loop.by_contact_roles", c.by_contact_roles),
            tile("credited by account (no roles)", "closed_loop.by_account", c.by_account),
            tile(
                "influenced pipeline",
                "closed_loop.influenced_pipeline",
                c.influenced_pipeline,
                "number",
            ),
            tile(
                "influenced revenue",
                "closed_loop.influenced_revenue",
                c.influenced_revenue,
                "number",
            ),
        )
        + page.charts_html(closed_loop_charts(c))
        + "<h3>Credit by campaign</h3>"
        + table(["campaign", "pipeline", "revenue"], credit)
        + "<h3>Sourced by campaign (primary campaign source)</h3>"
        + table(["campaign", "pipeline", "revenue"], sourced)
        + "<h3>Touchpoints credited</h3>"
        + table(
            ["opportunity", "touchpoint", "type", "credited via", "date", "share", "pipeline"],
            touches,
            text_columns=5,
        )
    )
