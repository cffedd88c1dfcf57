"""Rich rendering of results for the CLI: tables, never logic."""

from __future__ import annotations

import json

import polars as pl
from rich.console import Console
from rich.table import Table

from abmsync.rules.diff import RulesDiff
from abmsync.rules.explain import reasons_of
from abmsync.rules.scoring import SCORE_DIGITS, ScoreResult
from abmsync.rules.sla import SlaReport
from abmsync.sync.engine import SyncSummary
from abmsync.sync.lifecycle_job import PassSummary
from abmsync.sync.runlog import DeadLetter, RunRecord
from abmsync.sync.scoring import ScoringSummary
from abmsync.sync.whatif import Backtest

SAMPLE_ROWS = 10


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
                "engagement": round(row["engagement"], SCORE_DIGITS),
                "total": round(row["total"], SCORE_DIGITS),
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


def render_pass(console: Console, summary: PassSummary) -> None:
    """Stage changes, assignments, SLA events and feedback flags of one pass."""
    console.print(
        f"Pass as of {summary.as_of:%Y-%m-%d %H:%M} UTC (rules {summary.rules_version}): "
        f"{summary.people:,} people, {summary.score_rows:,} changed scores recorded, "
        f"{summary.matched_accounts:,} leads matched to accounts by email domain",
        highlight=False,
    )
    changes = table("Stage changes", ["from", "to", "rule", "people"])
    for row in summary.stage_changes.iter_rows(named=True):
        changes.add_row(row["from_stage"], row["to_stage"], row["rule"], f"{row['people']:,}")
    if summary.stage_changes.is_empty():
        changes.add_row("", "", "(nobody moved)", "0")
    console.print(changes)
    assigned = table(
        f"Assignments ({summary.assignments.height:,})", ["person", "owner", "rule", "reason"]
    )
    for row in summary.assignments.head(SAMPLE_ROWS).iter_rows(named=True):
        assigned.add_row(row["person_id"], row["owner_id"], row["rule"], row["reason"])
    console.print(assigned)
    if summary.unassigned.height:
        console.print(
            f"[yellow]{summary.unassigned.height:,} people could not be assigned[/]: "
            f"{summary.unassigned['reason'][0]}",
            highlight=False,
        )
    events = summary.sla_events
    kinds = dict(events.group_by("kind").len().iter_rows()) if events.height else {}
    console.print(
        f"SLA timers: {kinds.get('started', 0):,} started, {kinds.get('met', 0):,} met, "
        f"[bold]{kinds.get('breached', 0):,} breached[/]",
        highlight=False,
    )
    breaches = events.filter(pl.col("kind") == "breached")
    if breaches.height:
        shown = table("SLA breaches", ["person", "stage", "owner", "due", "action"])
        for row in breaches.head(SAMPLE_ROWS).iter_rows(named=True):
            shown.add_row(
                row["person_id"],
                row["stage"],
                str(row["owner_id"] or "unowned"),
                f"{row['due_at']:%Y-%m-%d %H:%M}",
                str(row["action"] or ""),
            )
        console.print(shown)
    if summary.flags.height:
        console.print(
            f"[yellow]{summary.flags.height:,} rejections by sales give no reason[/] "
            f"(e.g. {', '.join(summary.flags['person_id'].head(3).to_list())}): "
            "marketing cannot learn from them",
            highlight=False,
        )
    stages = ", ".join(f"{stage} {count:,}" for stage, count in summary.stages.items())
    console.print(f"People by stage: {stages}", highlight=False)


def _percent(value: float | int | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def render_backtest(console: Console, result: Backtest, names: list[str]) -> None:
    """One weekly table per rule set, then the totals side by side."""
    for name, version, weekly in zip(names, result.versions, result.weekly, strict=True):
        shown = table(
            f"{name} (rules {version})", ["week ending", "MQLs", "→ opportunity", "→ won"]
        )
        for row in weekly.iter_rows(named=True):
            shown.add_row(
                f"{row['week']:%Y-%m-%d}",
                f"{row['qualified']:,}",
                f"{row['to_opportunity']:,} ({_percent(row['opportunity_rate'])})",
                f"{row['to_won']:,} ({_percent(row['win_rate'])})",
            )
        console.print(shown)
    summary = table(
        f"Backtest {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}",
        ["rules", "MQLs", "MQL→opportunity", "MQL→won"],
    )
    for name, total in zip(names, result.totals, strict=True):
        summary.add_row(
            name,
            f"{total['qualified']:,}",
            _percent(total["opportunity_rate"]),
            _percent(total["win_rate"]),
        )
    console.print(summary)


def diff_as_dict(result: RulesDiff, sample: int) -> dict[str, object]:
    """A rules diff as JSON-friendly data."""
    return {
        "old_version": result.old_version,
        "new_version": result.new_version,
        "as_of": result.as_of.isoformat(),
        "people": result.people,
        "changed": result.changed,
        "transitions": result.transitions.to_dicts(),
        "sample": result.sample.head(sample).to_dicts(),
        "weekly_mqls": [
            {**row, "week": row["week"].isoformat()} for row in result.weekly.iter_rows(named=True)
        ],
    }


def render_diff(console: Console, result: RulesDiff, sample: int) -> None:
    """Counts of changed people, the biggest moves, a sample with reasons, MQLs per week."""
    console.print(
        f"Rules {result.old_version} → {result.new_version} on {result.people:,} people "
        f"as of {result.as_of:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    counts = table("People whose result changes", ["field", "people", "share"])
    for name, count in result.changed.items():
        share = count / result.people if result.people else 0
        counts.add_row(name.replace("_id", ""), f"{count:,}", _percent(share))
    console.print(counts)
    moves = table("Biggest moves", ["field", "old", "new", "people"])
    for row in result.transitions.sort("people", descending=True).head(12).iter_rows(named=True):
        moves.add_row(row["field"], str(row["old"]), str(row["new"]), f"{row['people']:,}")
    console.print(moves)
    for row in result.sample.head(sample).iter_rows(named=True):
        before = f"{row['priority']} {row['stage']} {row['owner_id'] or ''}".strip()
        after = f"{row['priority_new']} {row['stage_new']} {row['owner_id_new'] or ''}".strip()
        console.print(
            f"[bold]{row['email'] or row['person_id']}[/]: {before} → {after}", highlight=False
        )
        console.print(f"   old: {row['reasons'] or '(no rule fired)'}", highlight=False)
        console.print(f"   new: {row['reasons_new'] or '(no rule fired)'}", highlight=False)
    weekly = table("MQLs per week (replayed)", ["week ending", "old", "new", "change"])
    for row in result.weekly.iter_rows(named=True):
        weekly.add_row(
            f"{row['week']:%Y-%m-%d}",
            f"{row['old_mqls']:,}",
            f"{row['new_mqls']:,}",
            f"{row['new_mqls'] - row['old_mqls']:+,}",
        )
    console.print(weekly)


def render_sla(console: Console, report: SlaReport) -> None:
    """Breach rate, time to accept and the owners with the most breaches."""
    accept = report.time_to_accept
    console.print(
        f"SLA for {report.stage}: {report.started:,} timers started, {report.met:,} met, "
        f"[bold]{report.breached:,} breached[/] ({_percent(report.breach_rate)}), "
        f"{report.still_open:,} still open",
        highlight=False,
    )
    if accept.count:
        console.print(
            f"Time to accept ({accept.count:,} accepted): median {accept.median_hours:.1f} h, "
            f"p90 {accept.p90_hours:.1f} h, mean {accept.mean_hours:.1f} h",
            highlight=False,
        )
    owners = table("Per owner", ["owner", "breached", "met", "breach rate"])
    for row in report.by_owner.head(15).iter_rows(named=True):
        owners.add_row(
            str(row["owner_id"]),
            f"{row['breached']:,}",
            f"{row['met']:,}",
            _percent(row["breach_rate"]),
        )
    console.print(owners)


def render_dead_letters(console: Console, letters: list[DeadLetter]) -> None:
    """One row per rejected record with the vendor's code and message."""
    shown = table(
        f"Dead letters ({len(letters):,})",
        ["connector", "object", "record", "code", "message", "attempts", "last tried"],
    )
    for letter in letters:
        shown.add_row(
            letter.connector,
            letter.obj,
            letter.record_id,
            letter.error_code or "",
            letter.message,
            str(letter.attempts),
            f"{letter.last_tried:%Y-%m-%d %H:%M}",
        )
    console.print(shown)


def render_status(
    console: Console, runs: list[RunRecord], cursors: pl.DataFrame, letters: list[DeadLetter]
) -> None:
    """Recent runs, where each cursor stands, and how many records wait in dead letters."""
    shown = table("Recent runs", ["run", "started", "status", "counts", "API calls", "error"])
    for run in runs:
        counts = ", ".join(f"{k} {v:,}" for k, v in run.counts.items())
        calls = ", ".join(f"{k} {v:,}" for k, v in run.api_calls.items())
        shown.add_row(
            str(run.id),
            f"{run.started_at:%Y-%m-%d %H:%M}",
            run.status,
            counts,
            calls,
            run.error or "",
        )
    if not runs:
        shown.add_row("", "", "(no runs yet)", "", "", "")
    console.print(shown)
    positions = table("Cursors", ["connector", "object", "moved", "run"])
    for row in cursors.iter_rows(named=True):
        positions.add_row(
            row["connector"],
            row["obj"],
            f"{row['updated_at']:%Y-%m-%d %H:%M}",
            str(row["run_id"] or ""),
        )
    console.print(positions)
    console.print(
        f"Open dead letters: [bold]{len(letters):,}[/]"
        + (" (abmsync deadletters list)" if letters else ""),
        highlight=False,
    )


def render_sync(console: Console, summary: SyncSummary) -> None:
    """One sync run: what was read, what moved, what was (or would be) written, and why not."""
    colour = {"succeeded": "green", "dry-run": "cyan", "skipped": "yellow"}.get(
        summary.status, "red"
    )
    head = f"[bold {colour}]{summary.status}[/]"
    if summary.run_id is not None:
        head = f"run {summary.run_id}: {head}"
    if summary.as_of is not None:
        head += f" as of {summary.as_of:%Y-%m-%d %H:%M} UTC in {summary.seconds:.1f}s"
    console.print(head, highlight=False)
    if summary.message:
        console.print(f"  {summary.message}", highlight=False)
    if summary.status == "skipped":
        return
    # "changed" are records someone else changed; "our writes" abmsync's own
    # writes of an earlier run coming back, recognised as its own (not changes).
    read = table("Read", ["source", "changed", "deleted", "our writes", "batches"])
    for name, stats in summary.read.items():
        read.add_row(
            name,
            f"{stats.records:,}",
            f"{stats.deleted:,}",
            f"{stats.read_back + stats.skipped_echoes:,}",
            f"{stats.batches:,}",
        )
    console.print(read)
    console.print(
        f"{summary.people:,} people; {summary.duplicates:,} likely duplicate groups reported; "
        f"{summary.orphan_touchpoints:,} touchpoints of unknown people",
        highlight=False,
    )
    if summary.passed is not None and summary.passed.stage_changes.height:
        moves = table("Stage changes", ["from", "to", "rule", "people"])
        for row in summary.passed.stage_changes.head(SAMPLE_ROWS).iter_rows():
            moves.add_row(*(str(v) if v is not None else "" for v in row))
        console.print(moves)
    title = "Write plan (dry run: nothing written)" if summary.status == "dry-run" else "Writes"
    writes = table(title, ["target", "records", "fields", "conflicts", "API calls", "written"])
    for plan in summary.plans:
        name = f"{plan.system}/{plan.obj}"
        sent = summary.sent.get(name)
        done = "—"
        if sent is not None:
            done = f"{sent.written:,}"
            if sent.rejected:
                done += f" ([red]{sent.rejected:,} rejected[/])"
        writes.add_row(
            name,
            f"{plan.records:,}",
            str(sum(1 for n in plan.plan.changed_fields.values() if n)),
            f"{plan.plan.conflicts.height:,}",
            f"{plan.calls:,}",
            done,
        )
    console.print(writes)
    if summary.status == "dry-run":
        for plan in summary.plans:
            counts = ", ".join(f"{k} {v:,}" for k, v in plan.plan.changed_fields.items() if v)
            if counts:
                console.print(f"{plan.system}/{plan.obj}: {counts}", highlight=False)
            for patch in plan.patches[:3]:
                record = patch.record_id or (patch.external_id[1] if patch.external_id else "")
                values = json.dumps(patch.values, ensure_ascii=False, default=str)
                console.print(f"  {plan.system}/{plan.obj} {record}: {values}", highlight=False)
    edits = [(plan, row) for plan in summary.plans for row in plan.plan.conflicts.iter_rows()]
    if edits:
        shown = table(
            f"Owned fields edited by hand in the CRM ({len(edits):,})",
            ["target", "record", "field", "CRM value", "abmsync wrote", "wanted", "winner"],
        )
        for plan, row in edits[:SAMPLE_ROWS]:
            shown.add_row(f"{plan.system}/{plan.obj}", *(str(v or "") for v in row))
        console.print(shown)
    if summary.unreached is not None and summary.unreached.height:
        lost = table(
            f"Qualified in the marketing platform, not in the CRM ({summary.unreached.height:,})",
            ["person", "email", "stage", "systems"],
        )
        for row in summary.unreached.head(SAMPLE_ROWS).iter_rows():
            lost.add_row(*(str(v) if v is not None else "" for v in row))
        console.print(lost)
    if summary.api_calls:
        calls = ", ".join(f"{k} {v:,}" for k, v in summary.api_calls.items())
        console.print(f"API calls: {calls}", highlight=False)
