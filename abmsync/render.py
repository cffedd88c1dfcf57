"""Rich rendering of results for the CLI: tables, never logic."""

from __future__ import annotations

import json

import polars as pl
from rich.console import Console
from rich.table import Table

from abmsync.rules.explain import reasons_of
from abmsync.rules.scoring import ScoreResult
from abmsync.sync.scoring import ScoringSummary


def table(title: str, columns: list[str]) -> Table:
    """A table in abmsync's house style."""
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    return result


def best_people(people: pl.DataFrame, count: int) -> pl.DataFrame:
    """The ``count`` people sales should call first: best priority, then highest total."""
    return people.sort(
        ["grade", "band", "total", "person_id"], descending=[False, False, True, False]
    ).head(count)


def render_score_summary(
    console: Console, result: ScoreResult, summary: ScoringSummary, *, top: int = 10
) -> None:
    """Counts per grade and priority, MQAs, and the top people with their reasons."""
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    overview = table(
        f"Scored {summary.people:,} people, {summary.accounts:,} accounts, "
        f"{summary.touchpoints:,} touchpoints in {summary.seconds:.1f}s "
        f"(rules {summary.rules_version}, as of {summary.as_of:%Y-%m-%d %H:%M} UTC)",
        ["grade", "people", "priority", "people", "stage", "people"],
    )
    grades = list(summary.grades.items())
    priorities = sorted(summary.priorities.items(), key=lambda kv: -kv[1])[: max(len(grades), 6)]
    stages = list(summary.stages.items())
    for index in range(max(len(grades), len(priorities), len(stages))):
        row: list[str] = []
        for pairs in (grades, priorities, stages):
            key, count = pairs[index] if index < len(pairs) else ("", None)
            row += [key, f"{count:,}" if count is not None else ""]
        overview.add_row(*row)
    console.print(overview)
    console.print(f"Marketing-qualified accounts: [bold]{summary.mqa_accounts:,}[/]")
    leaders = best_people(result.people, top)
    best = best_people(result.public_people(leaders["person_id"].to_list()), top)
    people = table(
        f"Top {best.height} people by priority",
        ["email", "priority", "fit", "engagement", "stage", "tier"],
    )
    for person in best.iter_rows(named=True):
        people.add_row(
            person["email"] or f"({person['person_id']}, no email)",
            person["priority"],
            f"{person['fit']:g}",
            f"{person['engagement']:.1f}",
            str(person["stage"] or ""),
            str(person["account_tier"]),
        )
    console.print(people)
    if summary.output:
        console.print(f"Wrote {summary.output}", highlight=False)
    if summary.ledger_rows is not None:
        console.print(f"Score ledger: {summary.ledger_rows:,} changed scores recorded")


def render_explanation(
    console: Console, result: ScoreResult, email: str, *, as_json: bool = False
) -> bool:
    """Explain one person's score; False when no person has that email."""
    wanted = email.strip().lower()
    matches = result.people.filter(pl.col("email") == wanted)["person_id"].to_list()
    if not matches:
        return False
    rows = result.explained(matches)
    for row in rows.iter_rows(named=True):
        reasons = reasons_of(result.rules, row)
        if as_json:
            payload = {
                "person_id": row["person_id"],
                "email": row["email"],
                "fit": row["fit"],
                "engagement": row["engagement"],
                "total": row["total"],
                "grade": row["grade"],
                "band": row["band"],
                "priority": row["priority"],
                "stage": row["stage"],
                "account_tier": row["account_tier"],
                "buying_roles": row["buying_roles"],
                "rules_version": result.rules.version,
                "as_of": result.as_of.isoformat(),
                "reasons": [r.model_dump() for r in reasons],
            }
            console.print_json(json.dumps(payload))
            continue
        title = (
            f"{row['email']} ({row['person_id']}): {row['priority']}, fit {row['fit']:g}, "
            f"engagement {row['engagement']:.1f}, stage {row['stage']}"
        )
        explained = table(title, ["rule", "kind", "points", "matches", "newest"])
        for reason in reasons:
            age = "" if reason.age_days is None else f"{reason.age_days:.1f} days ago"
            explained.add_row(
                reason.rule,
                reason.kind,
                f"{reason.points:+.2f}",
                str(reason.count) if reason.kind == "engagement" else "",
                age,
            )
        if not reasons:
            explained.add_row("(no rule fired)", "", "0", "", "")
        console.print(explained)
        console.print(
            f"tier {row['account_tier']}, roles {', '.join(row['buying_roles']) or 'none'}; "
            f"rules {result.rules.version} as of {result.as_of:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )
    return True
