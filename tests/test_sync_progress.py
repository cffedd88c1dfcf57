"""The sync's progress display: counts per object on a terminal, nothing off one."""

from __future__ import annotations

import io

from rich.console import Console

from abmsync.sync.events import ProgressEvent, step
from abmsync.sync_progress import live_progress

EVENTS = [
    step("reading Salesforce users"),
    ProgressEvent("read", "reading salesforce/Lead", "salesforce", "Lead", 0),
    ProgressEvent("read", "reading salesforce/Lead", "salesforce", "Lead", 2000),
    ProgressEvent("read", "reading salesforce/Lead", "salesforce", "Lead", 2345, final=True),
    step("scoring"),
    ProgressEvent("write", "writing hubspot/contacts", "hubspot", "contacts", 0, 4000),
    ProgressEvent("write", "writing hubspot/contacts", "hubspot", "contacts", 1000, 4000),
]


def test_on_a_terminal_each_read_shows_its_records_and_each_write_sent_of_planned() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with live_progress(console) as progress:
        for event in EVENTS:
            progress(event)
    shown = out.getvalue()
    assert "reading salesforce/Lead" in shown and "2,345 records" in shown
    assert "writing hubspot/contacts" in shown and "1,000/4,000" in shown


def test_off_a_terminal_or_quiet_nothing_is_drawn() -> None:
    for console, quiet in (
        (Console(file=io.StringIO(), force_terminal=False), False),
        (Console(file=io.StringIO(), force_terminal=True), True),
    ):
        with live_progress(console, quiet=quiet) as progress:
            for event in EVENTS:
                progress(event)
        assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_an_event_reads_as_its_counts() -> None:
    assert str(EVENTS[3]) == "reading salesforce/Lead: 2,345"
    assert str(EVENTS[6]) == "writing hubspot/contacts: 1,000 of 4,000"
    assert str(EVENTS[0]) == "reading Salesforce users"
