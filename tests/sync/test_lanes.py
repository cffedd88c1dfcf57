"""Each system in a lane of its own: reads and writes of Salesforce and HubSpot at once.

Rendezvous gates hold a Salesforce request until HubSpot has been asked
something the other lane does: one after the other, the held request would
wait for a HubSpot call that comes only after it, and the gate gives up.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from abmsync.errors import AbmsyncError
from abmsync.sandbox.generate import generate_dataset
from abmsync.sync.lanes import Lanes
from abmsync.sync.store import Store
from abmsync.sync.writeback import SAMPLE
from tests.sync.crm_env import CrmEnv, Servers, crm_env

PATIENCE = 20.0  # seconds a held request waits for the other lane before giving up


class Seen:
    """An ASGI wrapper noting the requests (``METHOD path?query``) that match ``pattern``."""

    def __init__(self, app: Any, pattern: str, *, answer: int | None = None) -> None:
        self.app, self.pattern = app, re.compile(pattern)
        self.answer = answer  # refuse matching requests with this status instead
        self.event = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.pattern.search(_line(scope)):
            if self.answer is not None:
                await _refuse(send, self.answer)
                self.event.set()
                return
            self.event.set()
        await self.app(scope, receive, send)


class Rendezvous:
    """Holds requests matching ``pattern`` until ``other`` is set (at most PATIENCE s)."""

    def __init__(self, app: Any, pattern: str, other: threading.Event) -> None:
        self.app, self.pattern, self.other = app, re.compile(pattern), other
        self.met: bool | None = None  # whether the first held request saw the other lane

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.met is None and self.pattern.search(_line(scope)):
            deadline = time.monotonic() + PATIENCE
            while not self.other.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self.met = self.other.is_set()
        await self.app(scope, receive, send)


def _line(scope: Any) -> str:
    query = unquote_plus(scope.get("query_string", b"").decode())
    return f"{scope['method']} {scope['path']}?{query}"


async def _refuse(send: Any, status: int) -> None:
    body = json.dumps(
        {
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
        }
    ).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_salesforce_and_hubspot_are_read_and_written_at_the_same_time(
    env: CrmEnv, servers: Servers
) -> None:
    hs_read = Seen(servers.hs_switch.app, r"^GET /crm/v3/objects/contacts\?")
    hs_write = Seen(hs_read, r"^POST /crm/v3/objects/contacts/batch/update")
    servers.hs_switch.app = hs_write
    sf_read = Rendezvous(servers.sf_switch.app, r"/query.*FROM Lead\b", hs_read.event)
    sf_write = Rendezvous(sf_read, r"^PATCH .*/composite/sobjects", hs_write.event)
    servers.sf_switch.app = sf_write

    summary = env.sync()

    assert summary.status == "succeeded", summary.message
    assert sf_read.met, "Salesforce's lead read waited for HubSpot's contacts read in vain"
    assert sf_write.met, "Salesforce's lead write waited for HubSpot's contact write in vain"
    assert list(summary.read) == [source.name for source in _sources(env)]  # in source order
    assert summary.sent["salesforce/Lead"].written and summary.sent["hubspot/contacts"].written


def _sources(env: CrmEnv) -> list[Any]:
    with env.connectors() as connectors:
        return env.sources(connectors)


def test_a_lane_that_fails_halts_the_other_after_its_batch_and_its_error_is_the_runs(
    env: CrmEnv, servers: Servers
) -> None:
    refused = Seen(servers.hs_switch.app, r"^GET /crm/v3/objects/contacts\?", answer=401)
    servers.hs_switch.app = refused
    # Salesforce's lead read goes on only once HubSpot has refused: the lane is then halted.
    servers.sf_switch.app = Rendezvous(servers.sf_switch.app, r"/query.*FROM Lead\b", refused.event)

    summary = env.sync()

    assert summary.status == "failed"
    assert summary.message is not None and "HubSpot" in summary.message
    assert "salesforce/Account" in summary.read  # read before the failure, and kept
    assert "salesforce/Task" not in summary.read  # never begun: the lane stopped
    assert not summary.sent  # nothing written after a failed read
    with Store.open(env.database) as store:
        cursors = store.all_cursors()
    read = {f"{c}/{o}" for c, o in cursors.select("connector", "obj").iter_rows()}
    assert "salesforce/Account" in read and "hubspot/contacts" not in read


def test_lanes_raise_the_first_error_and_halt_the_rest() -> None:
    lanes = Lanes()
    stopped = threading.Event()

    def failing() -> None:
        raise AbmsyncError("salesforce: session expired")

    def patient() -> None:
        deadline = time.monotonic() + PATIENCE
        while not lanes.halted and time.monotonic() < deadline:
            time.sleep(0.01)
        stopped.set()
        raise AbmsyncError("hubspot: stopped because the other lane failed")

    with pytest.raises(AbmsyncError, match="session expired"):
        lanes.run({"salesforce": failing, "hubspot": patient})
    assert stopped.is_set() and lanes.halted


def test_one_lane_runs_in_the_calling_thread() -> None:
    threads: list[threading.Thread] = []
    Lanes().run({"salesforce": lambda: threads.append(threading.current_thread())})
    assert threads == [threading.main_thread()]


def test_a_run_keeps_each_sent_plan_as_counts_and_a_sample_only(
    tmp_path: Path, servers: Servers
) -> None:
    with crm_env(tmp_path, servers, dataset=generate_dataset(60, seed=3)) as env:
        summary = env.sync(keep_plans=False)
    assert summary.status == "succeeded", summary.message
    big = [plan for plan in summary.plans if plan.records > SAMPLE]
    assert big  # the seed writes more than a sample's worth somewhere
    for plan in summary.plans:
        sent = summary.sent[f"{plan.system}/{plan.obj}"]
        assert plan.records == sent.sent  # the count survives the release
        assert len(plan.patches) == min(plan.records, SAMPLE)
        assert not plan.links and not plan.plan.confirmed
    assert summary.counts()["planned"] == sum(s.sent for s in summary.sent.values())
