"""The HubSpot change cursor: the floor a full load leaves, and bounded cursors mid-read."""

from __future__ import annotations

import json

from abmsync.connectors.base import Cursor
from abmsync.connectors.hubspot.reading import SEEN_IN_PROGRESS, ChangeCursor

OVERLAP = 30_000


def test_searches_after_a_full_load_never_reach_back_past_where_it_began() -> None:
    state = ChangeCursor(modified_ms=1_000_000, floor_ms=1_000_000)
    assert state.start(OVERLAP) == 1_000_000
    state.observe("a", 1_010_000, OVERLAP)
    assert state.start(OVERLAP) == 1_000_000  # the overlap would reach back to 980,000
    state.observe("b", 1_050_000, OVERLAP)
    assert state.start(OVERLAP) == 1_020_000


def test_a_cursor_written_before_the_floor_keeps_its_meaning() -> None:
    old = Cursor(value=json.dumps({"modified_ms": 5_000_000, "seen": {}, "after_load": True}))
    assert ChangeCursor.parse(old).start(OVERLAP) == 5_000_000
    plain = Cursor(value=json.dumps({"modified_ms": 5_000_000, "seen": {}}))
    assert ChangeCursor.parse(plain).start(OVERLAP) == 5_000_000 - OVERLAP


def test_a_cursor_in_the_middle_of_a_mass_update_leaves_its_seen_map_out() -> None:
    state = ChangeCursor()
    for i in range(SEEN_IN_PROGRESS + 1):
        state.observe(str(i), 2_000_000, OVERLAP)
    middle = json.loads(state.to_cursor(200, final=False).value)
    assert middle["seen"] == {} and middle["modified_ms"] == 2_000_000
    last = ChangeCursor.parse(state.to_cursor(0))
    assert len(last.seen) == SEEN_IN_PROGRESS + 1
    assert not last.observe("0", 2_000_000, OVERLAP)  # handed out already
