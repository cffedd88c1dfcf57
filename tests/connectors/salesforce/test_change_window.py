"""The Salesforce change window's cursors: exact at the end of a read, bounded in its middle."""

from __future__ import annotations

import json
from datetime import timedelta

from abmsync.connectors.salesforce.connector import SEEN_IN_PROGRESS, ChangeWindow


def _mass_update(n: int) -> ChangeWindow:
    window = ChangeWindow(overlap=timedelta(minutes=5))
    for i in range(n):
        window.observe(f"r{i:06d}", f"2026-01-01T00:10:{i % 60:02d}.000+0000")
    return window


def test_a_cursor_in_the_middle_of_a_mass_update_leaves_its_seen_pairs_out() -> None:
    window = _mass_update(SEEN_IN_PROGRESS + 1)
    middle = json.loads(window.cursor(100, final=False).value)
    assert middle["seen"] == {} and middle["stamp"] == "2026-01-01T00:10:59+00:00"
    last = ChangeWindow.load(window.cursor(100), timedelta(minutes=5))
    assert len(last.seen) == SEEN_IN_PROGRESS + 1
    assert not last.is_new("r000000", "2026-01-01T00:10:00.000+0000")


def test_a_cursor_in_the_middle_of_a_small_read_keeps_every_pair() -> None:
    window = _mass_update(50)
    middle = ChangeWindow.load(window.cursor(50, final=False), timedelta(minutes=5))
    assert len(middle.seen) == 50


def test_pairs_before_the_window_are_forgotten_whatever_their_stamps_form() -> None:
    window = _mass_update(3)
    window.observe("old", "2026-01-01T00:04:59.000+0000")
    window.seen["odd"] = "2026-01-01T00:04:00+00:00"  # not Salesforce's own form
    window.seen["young"] = "2026-01-01T00:06:00+00:00"
    kept = json.loads(window.cursor(5).value)["seen"]
    assert "old" not in kept and "odd" not in kept and "young" in kept and len(kept) == 4
