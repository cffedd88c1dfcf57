"""``abmsync history`` as rich tables: the timeline, then the state as of a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abmsync.render import table
from abmsync.schema import StageChange
from abmsync.sync.history import LedgerRow, OwnerAssignment, PersonHistory, SlaLedgerEvent
from abmsync.sync.ledger import LedgerScore

LATER = "dim"  # rows recorded for after the as-of time


def history_as_dict(history: PersonHistory) -> dict[str, Any]:
    """The history as JSON-ready data (``--json``): person, timeline, state as of."""
    data = history.model_dump(mode="json")
    data["later"] = history.later
    return data


def render_history(console: Console, history: PersonHistory) -> None:
    """The person, every ledger row in time order, and where they stood as of the time asked."""
    refs = ", ".join(f"{r.system} {r.object} {r.id}" for r in history.refs) or "no vendor records"
    console.print(
        f"[bold]{escape(history.asked)}[/] is person {history.person_id} ({escape(refs)})",
        highlight=False,
    )
    if history.empty:
        console.print(
            "No ledger rows: this person was never scored, moved, assigned or timed.",
            highlight=False,
        )
        return
    shown = _unwrapped(
        table("Timeline", ["when (UTC)", "what", "change", "rule", "rules", "reasons"]), 0, 4
    )
    for event in history.timeline:
        change, rule, reasons = describe(event.row)
        shown.add_row(
            _when(event.at),
            event.kind,
            *_cells(change, rule, getattr(event.row, "rules_version", ""), reasons),
            style=LATER if event.at > history.as_of else None,
        )
    console.print(shown)
    state = history.state
    rows: list[tuple[str, LedgerRow | None]] = [
        ("score", state.score),
        ("stage", state.stage),
        ("owner", state.owner),
        ("sla", state.sla),
    ]
    as_of = _unwrapped(
        table(
            f"As of {_when(history.as_of)} UTC", ["", "value", "since", "rule", "rules", "reasons"]
        ),
        2,
        4,
    )
    for name, row in rows:
        if row is None:
            as_of.add_row(name, "(nothing yet)", "", "", "", "")
            continue
        change, rule, reasons = describe(row)
        version = getattr(row, "rules_version", "")
        as_of.add_row(name, *_cells(change, _when(at(row)), rule, version, reasons))
    console.print(as_of)
    if history.later:
        console.print(
            f"{history.later} later change(s) after {_when(history.as_of)} are shown dimmed.",
            highlight=False,
        )


def describe(row: LedgerRow) -> tuple[str, str, str]:
    """One ledger row as (change, rule, reasons) text for a table."""
    if isinstance(row, LedgerScore):
        change = (
            f"{row.priority}: fit {row.fit:g}, engagement {row.engagement:.1f}, "
            f"total {row.total:.1f} (grade {row.grade}, band {row.band})"
        )
        return change, "", row.reasons
    if isinstance(row, StageChange):
        return f"{row.from_stage or '(new)'} → {row.to_stage}", row.rule, row.reason or ""
    if isinstance(row, OwnerAssignment):
        queue = f" from queue {row.queue}" if row.queue else ""
        return f"owner {row.owner_id}{queue}", row.rule, row.reason
    return _sla_change(row), row.action or "", ""


def at(row: LedgerRow) -> datetime:
    """When a ledger row took effect."""
    if isinstance(row, LedgerScore):
        return row.as_of
    if isinstance(row, StageChange):
        return row.changed_at
    if isinstance(row, OwnerAssignment):
        return row.assigned_at
    return row.occurred_at


def _sla_change(row: SlaLedgerEvent) -> str:
    text = f"{row.stage} SLA {row.kind}, due {_when(row.due_at)}"
    if row.owner_id:
        text += f", owner {row.owner_id}"
    if row.escalate_to:
        text += f", escalated to {row.escalate_to}"
    return text


def _unwrapped(shown: Table, *columns: int) -> Table:
    """``shown`` with times and rules versions kept on one line each."""
    for index in columns:
        shown.columns[index].no_wrap = True
    return shown


def _cells(*texts: str) -> list[str]:
    """Ledger text shown as it is: a rule named ``[beta]`` is not rich markup."""
    return [escape(text) for text in texts]


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"
