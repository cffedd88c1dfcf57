"""A second real HubSpot client, Stitch's Singer ``tap-hubspot`` 4.5.0, reads the emulator.

The tap runs unmodified in its own venv (``tests/clients.py``) but for its
host (``tap_hubspot.BASE_URL``) and CA: it discovers its catalog through the
v3 and legacy property APIs and ``/crm/v3/schemas``, then syncs contacts (CRM
v3 list), companies (``/companies/v2``, one detail call per company), deals
(``/deals/v1/deal/paged``) and owners. Its RECORD messages must be exactly
what the portal holds, and its STATE bookmarks what it computes from the
portal's timestamps (the newest modification it saw, never after the sync
started); a second sync from that state reads only what changed since,
inclusively, as the tap filters ``modified >= bookmark``.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from abmsync.sandbox.hubspot import HubSpotStore, create_app
from abmsync.sandbox.hubspot.records import Record, to_ms
from abmsync.sandbox.server import SandboxServer
from tests.clients import client_python
from tests.connectors.hubspot.conftest import TOKEN

# Only the host and the CA change. The tap's GETs go through ``SESSION.send``,
# which reads no CA bundle from the environment, so the session is told too.
RUN_TAP = """
import os, sys
import tap_hubspot
tap_hubspot.BASE_URL = os.environ["TAP_HUBSPOT_BASE_URL"]
tap_hubspot.SESSION.verify = os.environ["REQUESTS_CA_BUNDLE"]
sys.argv = ["tap-hubspot", *sys.argv[1:]]
tap_hubspot.main()
"""
START_DATE = "2023-01-01T00:00:00Z"
BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY_MS = 86_400_000
FIELDS = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain", "annualrevenue"),
    "deals": ("dealname", "amount", "dealstage"),
    "owners": (),
    "contacts_by_company": (),  # company-contact links, read with the companies
}
Message = dict[str, Any]


@pytest.fixture(scope="module")
def tap_python() -> Path:
    return client_python("tap-hubspot-4.5.0", "tap-hubspot==4.5.0")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app(token=TOKEN, burst_limit=1_000_000), tls=True) as served:
        yield served


@pytest.fixture
def store(server: SandboxServer) -> HubSpotStore:
    portal: HubSpotStore = server.app.state.store
    portal.reset()
    return portal


class Tap:
    """Runs the tap against the served emulator with files in ``workdir``."""

    def __init__(self, python: Path, server: SandboxServer, workdir: Path) -> None:
        self.python = python
        self.server = server
        self.workdir = workdir
        self.config = self._write("config.json", {"api_key": TOKEN, "start_date": START_DATE})

    def _write(self, name: str, data: Any) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(data))
        return path

    def run(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["TAP_HUBSPOT_BASE_URL"] = self.server.url
        env["REQUESTS_CA_BUNDLE"] = str(self.server.ca_file)
        command = [str(self.python), "-c", RUN_TAP, "--config", str(self.config), *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr[-4000:]
        return done.stdout

    def discover(self) -> dict[str, Any]:
        catalog: dict[str, Any] = json.loads(self.run("--discover"))
        return catalog

    def sync(self, catalog: dict[str, Any], state: dict[str, Any] | None) -> list[Message]:
        # This tap reads its catalog from --properties (singer-python's older flag).
        args = ["--properties", str(self._write("catalog.json", catalog))]
        if state is not None:
            args += ["--state", str(self._write("state.json", state))]
        return [json.loads(line) for line in self.run(*args).splitlines() if line.strip()]


@pytest.fixture
def tap(tap_python: Path, server: SandboxServer, tmp_path: Path) -> Tap:
    return Tap(tap_python, server, tmp_path)


def select(catalog: dict[str, Any]) -> dict[str, Any]:
    """Select the streams of ``FIELDS`` and, of their ``property_*`` fields, only those."""
    for stream in catalog["streams"]:
        wanted = FIELDS.get(stream["tap_stream_id"])
        for entry in stream["metadata"]:
            crumb = entry["breadcrumb"]
            if not crumb:
                entry["metadata"]["selected"] = wanted is not None
            elif wanted is not None and crumb[1].startswith("property_"):
                entry["metadata"]["selected"] = crumb[1].removeprefix("property_") in wanted
    return catalog


def singer_time(ms: int) -> str:
    """Epoch ms as the tap writes datetimes (singer ``strftime``)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def records(messages: list[Message], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def final_state(messages: list[Message]) -> dict[str, Any]:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states, "the tap wrote no STATE"
    state: dict[str, Any] = states[-1]
    return state


def live(store: HubSpotStore, obj: str, since_ms: int = 0) -> list[Record]:
    with store._lock:
        found = [r for r in store.records[obj].values() if r.archived_ms is None]
    return sorted((r for r in found if r.updated_ms >= since_ms), key=lambda r: r.id)


def number(raw: str | None) -> float | None:
    return None if raw is None else float(raw)


def read_contacts(messages: list[Message]) -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "updatedAt": r["updatedAt"]}
        | {n: r.get(f"property_{n}") for n in FIELDS["contacts"]}
        for r in records(messages, "contacts")
    ]


def held_contacts(store: HubSpotStore, since_ms: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": str(r.id), "updatedAt": singer_time(r.updated_ms)}
        | {n: r.properties.get(n) for n in FIELDS["contacts"]}
        for r in live(store, "contacts", since_ms)
    ]


def read_legacy(messages: list[Message], stream: str, key: str) -> list[dict[str, Any]]:
    """Companies and deals: the id, every selected value, and the modification stamp."""
    found = []
    for r in records(messages, stream):
        values = {n: (r.get(f"property_{n}") or {}).get("value") for n in FIELDS[stream]}
        modified = r["property_hs_lastmodifieddate"]["timestamp"]
        found.append({key: r[key], "modified": modified} | values)
    return found


def held_legacy(store: HubSpotStore, obj: str, key: str, since_ms: int = 0) -> list[dict[str, Any]]:
    numeric = {"annualrevenue", "amount"}  # number properties the tap types as numbers
    return [
        {key: r.id, "modified": singer_time(r.updated_ms)}
        | {
            n: number(r.properties.get(n)) if n in numeric else r.properties.get(n)
            for n in FIELDS[obj]
        }
        for r in live(store, obj, since_ms)
    ]


def read_owners(messages: list[Message]) -> list[tuple[str, str, str]]:
    return [(r["id"], r["email"], r["updatedAt"]) for r in records(messages, "owners")]


def held_owners(store: HubSpotStore, since_ms: int = 0) -> list[tuple[str, str, str]]:
    return [
        (o["id"], o["email"], singer_time(ms))
        for o in store.owners
        if (ms := to_ms(o["updatedAt"]) or 0) >= since_ms
    ]


def seed_portal(store: HubSpotStore) -> list[dict[str, int]]:
    """More contacts, companies and deals than one page of each API holds, a few
    contacts linked to companies; return the links as the tap writes them."""
    people = {"email": "p{i}@example.com", "firstname": "P{i}", "lastname": "L{i}"}
    contacts = store.seed("contacts", 120, people, BASE_MS, BASE_MS + DAY_MS)
    firms = {"name": "Co {i}", "domain": "co{i}.test", "annualrevenue": "1{i}000"}
    companies = store.seed("companies", 260, firms, BASE_MS, BASE_MS + 2 * DAY_MS)
    deals = {"dealname": "Deal {i}", "amount": "{i}50", "dealstage": "qualifiedtobuy"}
    store.seed("deals", 105, deals, BASE_MS, BASE_MS + 3 * DAY_MS)
    pairs = [(companies[c], contacts[k]) for k, c in enumerate([0, 0, 1, 2, 7, 7])]
    store.link_many("companies", "contacts", pairs)
    return [{"company-id": company, "contact-id": contact} for company, contact in pairs]


def test_discovery_reads_the_portals_properties_and_custom_objects(
    tap: Tap, store: HubSpotStore, server: SandboxServer
) -> None:
    schema = {
        "name": "machine",
        "labels": {"singular": "Machine", "plural": "Machines"},
        "primaryDisplayProperty": "serial",
        "properties": [{"name": "serial", "label": "Serial", "type": "string"}],
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    trust = ssl.create_default_context(cafile=str(server.ca_file))
    with httpx.Client(base_url=server.url, verify=trust, headers=headers) as api:
        api.post("/crm/v3/schemas", json=schema).raise_for_status()
    catalog = tap.discover()
    streams = {s["tap_stream_id"]: s["schema"]["properties"] for s in catalog["streams"]}
    # The sandbox app has no tickets scope: the 403 makes the tap leave tickets out.
    assert "tickets" not in streams
    assert {"contacts", "companies", "deals", "owners", "machine"} <= set(streams)
    assert streams["machine"]["property_serial"] == {"type": ["null", "string"]}
    for obj in ("contacts", "companies", "deals"):
        assert {f"property_{name}" for name in store.props[obj]} <= set(streams[obj])
    revenue = streams["companies"]["property_annualrevenue"]["properties"]["value"]
    assert revenue["type"] == ["null", "number", "string"]
    assert streams["contacts"]["property_email"] == {"type": ["null", "string"]}
    created = streams["deals"]["property_createdate"]["properties"]["value"]
    assert created == {"type": ["null", "string"], "format": "date-time"}


def test_sync_reads_exactly_what_the_portal_holds_and_then_only_changes(
    tap: Tap, store: HubSpotStore
) -> None:
    links = seed_portal(store)
    catalog = select(tap.discover())
    first = tap.sync(catalog, None)

    assert read_contacts(first) == held_contacts(store)
    assert read_legacy(first, "companies", "companyId") == held_legacy(
        store, "companies", "companyId"
    )
    assert read_legacy(first, "deals", "dealId") == held_legacy(store, "deals", "dealId")
    assert read_owners(first) == held_owners(store)
    assert records(first, "contacts_by_company") == links
    state = final_state(first)
    owners_newest = max(to_ms(o["updatedAt"]) or 0 for o in store.owners)
    assert state == {
        "currently_syncing": None,
        "bookmarks": {
            "contacts": {"updatedAt": singer_time(BASE_MS + DAY_MS)},
            "companies": {
                "property_hs_lastmodifieddate": singer_time(BASE_MS + 2 * DAY_MS),
                "current_sync_start": None,
            },
            "deals": {"property_hs_lastmodifieddate": singer_time(BASE_MS + 3 * DAY_MS)},
            "owners": {"updatedAt": singer_time(owners_newest)},
            "contacts_by_company": {},  # its batch offset, cleared once every batch is read
        },
    }

    later = BASE_MS + 10 * DAY_MS
    store.set_clock(frozen_ms=later)
    store.update("contacts", live(store, "contacts")[5], {"firstname": "Changed"})
    store.create("contacts", {"email": "new@example.com", "firstname": "New"})
    firm = live(store, "companies")[7]
    store.update("companies", firm, {"name": "Renamed"})
    deal = live(store, "deals")[3]
    store.update("deals", deal, {"amount": "999"})

    second = tap.sync(catalog, state)
    contacts = read_contacts(second)
    # The newest record of the first sync sits on the bookmark and comes again.
    assert [c["firstname"] for c in contacts] == ["Changed", "P119", "New"]
    assert contacts == held_contacts(store, since_ms=BASE_MS + DAY_MS)
    companies = read_legacy(second, "companies", "companyId")
    assert [c["name"] for c in companies] == ["Renamed", "Co 259"]
    assert companies == held_legacy(store, "companies", "companyId", BASE_MS + 2 * DAY_MS)
    deals = read_legacy(second, "deals", "dealId")
    assert [d["amount"] for d in deals] == [999.0, 10450.0]
    assert deals == held_legacy(store, "deals", "dealId", BASE_MS + 3 * DAY_MS)
    assert read_owners(second) == held_owners(store, owners_newest)
    renamed = live(store, "companies")[7].id
    assert records(second, "contacts_by_company") == [
        link for link in links if link["company-id"] == renamed
    ]
    bookmarks = final_state(second)["bookmarks"]
    assert bookmarks["contacts"] == {"updatedAt": singer_time(later)}
    assert bookmarks["companies"]["property_hs_lastmodifieddate"] == singer_time(later)
    assert bookmarks["deals"] == {"property_hs_lastmodifieddate": singer_time(later)}
