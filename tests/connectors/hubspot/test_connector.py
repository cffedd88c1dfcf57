"""HubSpotConnector against the emulator: real HTTP, the real hubspot-api-client, no mocks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from abmsync.connectors.base import (
    INVALID_FIELD,
    Batch,
    Connector,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    Patch,
)
from abmsync.connectors.budget import ApiBudget, BudgetSnapshot
from abmsync.connectors.hubspot import HubSpotConnector
from abmsync.errors import BudgetExhaustedError, TerminalError
from abmsync.sandbox.server import SandboxServer
from tests.connectors.hubspot.conftest import TOKEN, Sandbox

# abmsync/connectors/retry.py passes tenacity's deprecated ``initial``; not this module's to fix.
ABM_FIELDS = FieldSpec(
    obj="contacts",
    fields=[
        FieldMeta(name="abm_score", label="ABM score", type=FieldType.NUMBER),
        FieldMeta(name="abm_grade", type=FieldType.PICKLIST, picklist=["A", "B", "C", "D"]),
        FieldMeta(name="abm_stage", type=FieldType.STRING),
        FieldMeta(name="abm_score_reasons", type=FieldType.TEXT),
        FieldMeta(name="abm_key", type=FieldType.STRING, external_id=True),
    ],
)


def drain(batches: Any) -> tuple[list[dict[str, Any]], list[str], Cursor]:
    rows: list[dict[str, Any]] = []
    deleted: list[str] = []
    cursor = None
    for batch in batches:
        assert isinstance(batch, Batch)
        rows += batch.records.to_dicts()
        deleted += batch.deleted_ids
        cursor = batch.cursor
    assert cursor is not None
    return rows, deleted, cursor


def test_connector_satisfies_the_protocol(connector: HubSpotConnector) -> None:
    assert isinstance(connector, Connector)


def test_describe_maps_hubspot_types_options_and_read_only(connector: HubSpotConnector) -> None:
    fields = connector.describe("contacts").fields
    assert fields["lifecyclestage"].type is FieldType.PICKLIST
    assert "marketingqualifiedlead" in (fields["lifecyclestage"].picklist or [])
    assert fields["hs_email_optout"].type is FieldType.BOOLEAN
    assert fields["createdate"].type is FieldType.DATETIME
    assert not fields["hs_object_id"].writable
    assert fields["email"].external_id


def test_ensure_fields_is_idempotent_and_check_sees_them(
    connector: HubSpotConnector, sandbox: Sandbox
) -> None:
    before = connector.check()
    assert not before.ok
    assert [i.name for i in before.items if not i.ok] == ["fields"]
    assert connector.ensure_fields(ABM_FIELDS) == [f.name for f in ABM_FIELDS.fields]
    assert connector.ensure_fields(ABM_FIELDS) == []
    fields = connector.describe("contacts").fields
    assert fields["abm_grade"].picklist == ["A", "B", "C", "D"]
    assert fields["abm_key"].external_id
    after = connector.check()
    assert after.ok, after.items
    assert "daily" in after.items[1].detail


def test_auth_error_is_one_line_without_the_token(sandbox: Sandbox) -> None:
    secret = "pat-na1-wrong-secret-token"
    wrong = HubSpotConnector(SecretStr(secret), host=sandbox.url, timeout=5)
    report = wrong.check()
    assert not report.ok
    with pytest.raises(TerminalError) as failure:
        wrong.describe("contacts")
    for message in (str(failure.value), report.items[0].detail):
        assert "\n" not in message
        assert secret not in message
        assert "INVALID_AUTHENTICATION" in message


def test_write_validates_then_batches_updates_upserts_and_creates(
    connector: HubSpotConnector, sandbox: Sandbox
) -> None:
    connector.ensure_fields(ABM_FIELDS)
    upserts = [
        Patch(obj="contacts", external_id=("email", f"u{i}@x.com"), values={"abm_score": i})
        for i in range(150)
    ]
    first = connector.write("contacts", upserts)
    assert all(r.ok and r.created for r in first)
    again = connector.write("contacts", upserts)
    assert all(r.ok and not r.created for r in again)
    assert [r.record_id for r in first] == [r.record_id for r in again]
    calls = sandbox.requests()
    assert calls["POST /crm/v3/objects/contacts/batch/upsert"] == 4  # 150 -> 100 + 50, twice

    mixed = [
        Patch(obj="contacts", record_id=first[0].record_id, values={"abm_grade": "A"}),
        Patch(obj="contacts", record_id="987654", values={"abm_grade": "B"}),
        Patch(obj="contacts", record_id=first[1].record_id, values={"abm_grade": "Z"}),
        Patch(obj="contacts", record_id=first[2].record_id, values={"nope": "x"}),
        Patch(obj="contacts", values={"email": "new@x.com", "abm_stage": "mql"}),
    ]
    results = connector.write("contacts", mixed)
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[1].error_code == "OBJECT_NOT_FOUND"
    assert results[2].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"  # validated first
    assert results[3].error_code == INVALID_FIELD
    assert results[4].created
    stored = {r["id"]: r["properties"] for r in sandbox.records("contacts")}
    assert stored[first[0].record_id or ""]["abm_grade"] == "A"


def test_read_changes_is_incremental_across_same_millisecond_changes_and_deletes(
    connector: HubSpotConnector, sandbox: Sandbox
) -> None:
    moment = 1_700_000_000_000
    sandbox.freeze(moment)
    made = connector.write(
        "contacts",
        [Patch(obj="contacts", values={"email": f"s{i}@x.com"}) for i in range(3)],
    )
    rows, deleted, cursor = drain(connector.read_changes("contacts", None))
    assert sorted(r["email"] for r in rows) == ["s0@x.com", "s1@x.com", "s2@x.com"]
    assert deleted == []
    assert json.loads(cursor.value)["modified_ms"] == moment

    # Another change in the very same millisecond as the cursor is still picked up, once.
    connector.write("contacts", [Patch(obj="contacts", values={"email": "late@x.com"})])
    rows, _, cursor = drain(connector.read_changes("contacts", cursor))
    assert [r["email"] for r in rows] == ["late@x.com"]
    rows, _, cursor = drain(connector.read_changes("contacts", cursor))
    assert rows == []

    sandbox.freeze(moment + 5_000)
    connector.write(
        "contacts", [Patch(obj="contacts", record_id=made[1].record_id, values={"jobtitle": "VP"})]
    )
    sandbox.http.delete(
        f"/crm/v3/objects/contacts/{made[2].record_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()
    rows, deleted, cursor = drain(connector.read_changes("contacts", cursor))
    assert [(r["id"], r["jobtitle"]) for r in rows] == [(made[1].record_id, "VP")]
    assert deleted == [made[2].record_id]
    rows, deleted, _ = drain(connector.read_changes("contacts", cursor))
    assert rows == [] and deleted == []


def test_read_changes_splits_windows_past_the_10000_result_cap(sandbox: Sandbox) -> None:
    """After a full load, 60 changes over 2 s, then 10,020 in one millisecond: bisect, keyset."""
    start = 1_700_000_000_000
    sandbox.freeze(start + 10_000)
    sandbox.seed("contacts", 1, {"email": "before@x.com"}, start - 5_000, start - 5_000)
    slim = HubSpotConnector(SecretStr(TOKEN), host=sandbox.url, properties={"contacts": ["email"]})
    loaded, _, cursor = drain(slim.read_changes("contacts", None))
    assert [r["email"] for r in loaded] == ["before@x.com"]
    sandbox.seed("contacts", 60, {"email": "spread{i}@x.com"}, start, start + 2_000)
    sandbox.seed("contacts", 10_020, {"email": "same{i}@x.com"}, start + 3_000, start + 3_000)
    searches = sandbox.requests().get("POST /crm/v3/objects/contacts/search", 0)
    rows, _, cursor = drain(slim.read_changes("contacts", cursor))
    emails = [r["email"] for r in rows]
    assert len(emails) == len(set(emails)) == 10_080
    assert json.loads(cursor.value)["modified_ms"] == start + 3_000
    # one unbounded probe, the newest, window counts, then pages of 200
    searched = sandbox.requests()["POST /crm/v3/objects/contacts/search"] - searches
    assert searched > 10_080 // 200 + 3


def test_associate_links_a_touchpoint_note_to_a_contact(connector: HubSpotConnector) -> None:
    contact = connector.write("contacts", [Patch(obj="contacts", values={"email": "a@x.com"})])
    note = connector.write(
        "notes",
        [
            Patch(
                obj="notes",
                values={"hs_note_body": "webinar", "hs_timestamp": "2024-05-01T10:00:00Z"},
            )
        ],
    )
    contact_id, note_id = contact[0].record_id or "", note[0].record_id or ""
    connector.associate("notes", note_id, "contacts", contact_id)
    assert connector.associated_ids("notes", note_id, "contacts") == [contact_id]
    assert connector.associated_ids("contacts", contact_id, "notes") == [note_id]


def sync_scenario(connector: HubSpotConnector) -> list[tuple[str, dict[str, str]]]:
    """ensure_fields, upsert 130 contacts, update some, read everything back."""
    connector.ensure_fields(ABM_FIELDS)
    upserts = [
        Patch(
            obj="contacts",
            external_id=("email", f"c{i}@x.com"),
            values={"abm_score": i, "abm_grade": "ABCD"[i % 4]},
        )
        for i in range(130)
    ]
    results = connector.write("contacts", upserts)
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    updates = [
        Patch(obj="contacts", record_id=r.record_id, values={"abm_stage": "mql"})
        for r in results[::3]
    ]
    assert all(r.ok for r in connector.write("contacts", updates))
    rows, _, _ = drain(connector.read_changes("contacts", None))
    assert len(rows) == 130
    return sorted(
        (r["email"], {k: v for k, v in r.items() if k.startswith("abm_") and v is not None})
        for r in rows
    )


@pytest.mark.parametrize(
    "fault", ["rate_limit", "server_error", "slow", "drop", "token_expiry", "partial_failure"]
)
def test_faults_do_not_change_the_end_state(fault: str, sandbox: Sandbox) -> None:
    clean = HubSpotConnector(SecretStr(TOKEN), host=sandbox.url, timeout=5)
    expected = sync_scenario(clean)
    expected_store = sorted(r["properties"]["email"] for r in sandbox.records("contacts"))

    sandbox.reset()
    setattr(sandbox.faults, fault, 0.12)
    faulty = HubSpotConnector(
        SecretStr(TOKEN), host=sandbox.url, timeout=0.3, attempts=10, record_attempts=8
    )
    assert sync_scenario(faulty) == expected
    assert sandbox.faults.counts.get(fault, 0) > 0
    sandbox.clear_faults()
    assert sorted(r["properties"]["email"] for r in sandbox.records("contacts")) == expected_store


# -- the API budget ------------------------------------------------------------------------


@pytest.fixture
def daily_limit(hubspot_server: SandboxServer) -> Iterator[Callable[[int], None]]:
    """Set the emulator's daily API limit for one test (the server is shared)."""
    gate = hubspot_server.app.state.gate
    saved = gate.daily_limit

    def set_limit(limit: int) -> None:
        gate.daily_limit = limit

    yield set_limit
    gate.daily_limit = saved


def answered(sandbox: Sandbox) -> int:
    """API requests the emulator served (a fault's answer never reaches it)."""
    return sum(sandbox.requests().values())


def test_a_connector_without_a_budget_keeps_ten_percent_in_reserve(sandbox: Sandbox) -> None:
    default = HubSpotConnector(SecretStr(TOKEN), host=sandbox.url)
    assert default.budget.reserve_percent == 10 and default.budget.max_calls is None
    assert default.budget is default.client.budget
    budget = ApiBudget("hubspot", reserve_percent=25, max_calls=7)
    assert HubSpotConnector(SecretStr(TOKEN), host=sandbox.url, budget=budget).budget is budget


def test_a_429_is_retried_after_its_retry_after_and_both_tries_are_counted(
    connector: HubSpotConnector, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = sandbox.faults
    faults.retry_after = 0.6
    sent: list[str] = []

    def first_is_limited(path: str) -> str | None:
        if path.startswith("/__sandbox"):
            return None
        sent.append(path)
        return "rate_limit" if len(sent) == 1 else None

    monkeypatch.setattr(faults, "next_request_fault", first_is_limited)
    started = time.monotonic()
    connector.describe("contacts")
    waited = time.monotonic() - started
    assert 0.6 <= waited < 1.1  # the default backoff would have waited 0.2-0.4 s
    assert (connector.budget.calls, answered(sandbox), len(sent)) == (2, 1, 2)


def test_the_budget_counts_every_request_and_retry_as_the_emulator_does(
    sandbox: Sandbox,
) -> None:
    faults = sandbox.faults
    before = sum(faults.counts.values())  # the fault switchboard outlives each test
    faults.rate_limit = faults.server_error = faults.token_expiry = 0.1
    connector = HubSpotConnector(SecretStr(TOKEN), host=sandbox.url, attempts=10)
    sync_scenario(connector)
    injected = sum(faults.counts.values()) - before
    assert injected > 0
    assert connector.budget.calls == answered(sandbox) + injected
    snapshot = connector.budget.snapshot()
    assert snapshot.daily_max == 1_000_000 and snapshot.remaining == 1_000_000 - answered(sandbox)


def test_a_long_read_stops_before_the_reserve(
    sandbox: Sandbox, daily_limit: Callable[[int], None]
) -> None:
    start = 1_700_000_000_000
    sandbox.seed("contacts", 9_000, {"email": "c{i}@x.com"}, start, start + 60_000)
    daily_limit(50)
    slim = HubSpotConnector(
        SecretStr(TOKEN),
        host=sandbox.url,
        properties={"contacts": ["email"]},
        budget=ApiBudget("hubspot", reserve_percent=20),
    )
    batches: list[Batch] = []
    with pytest.raises(BudgetExhaustedError) as stop:
        batches.extend(slim.read_changes("contacts", None))
    assert str(stop.value) == (
        "hubspot: API budget reached: 40 of 50 daily calls used, 20% (10) kept in reserve"
    )
    assert answered(sandbox) == slim.budget.calls == 40
    # A full load: one search for the newest change, then list pages of 100.
    assert sum(b.records.height for b in batches) == 39 * 100
    assert slim.budget.snapshot() == BudgetSnapshot(
        system="hubspot", calls=40, remaining=10, daily_max=50, reserve=10
    )


def test_max_calls_stops_a_read_at_the_cap(sandbox: Sandbox) -> None:
    start = 1_700_000_000_000
    sandbox.seed("contacts", 1_000, {"email": "c{i}@x.com"}, start, start + 60_000)
    capped = HubSpotConnector(
        SecretStr(TOKEN),
        host=sandbox.url,
        properties={"contacts": ["email"]},
        budget=ApiBudget("hubspot", max_calls=3),
    )
    with pytest.raises(BudgetExhaustedError, match="3 calls made in this run"):
        drain(capped.read_changes("contacts", None))
    assert answered(sandbox) == capped.budget.calls == 3


def test_notes_come_with_their_contact_inline_on_a_full_load_and_by_batch_read_after(
    sandbox: Sandbox, connector: HubSpotConnector
) -> None:
    def note(body: str, *contacts: str) -> str:
        values = {"hs_note_body": body, "hs_timestamp": "2024-05-01T10:00:00Z"}
        [written] = connector.write("notes", [Patch(obj="notes", values=values)])
        for contact in contacts:
            connector.associate("notes", written.record_id or "", "contacts", contact)
        return written.record_id or ""

    people = [
        connector.write("contacts", [Patch(obj="contacts", values={"email": f"{n}@x.com"})])[0]
        for n in ("a", "b")
    ]
    a, b = (person.record_id or "" for person in people)
    first = {note("one", b, a): min(a, b), note("two"): None}
    reader = HubSpotConnector(
        SecretStr(TOKEN), host=sandbox.url, properties={"notes": ["hs_note_body"]}
    )
    before = sandbox.requests()
    rows, _, cursor = drain(reader.read_changes("notes", None))
    calls = {k: v - before.get(k, 0) for k, v in sandbox.requests().items()}
    assert {r["id"]: r["contact_id"] for r in rows} == first
    assert not any("associations" in path for path, count in calls.items() if count), calls

    later = note("three", b)
    rows, _, _ = drain(reader.read_changes("notes", cursor))
    assert {r["id"]: r["contact_id"] for r in rows} == {later: b}


def test_a_full_load_pages_the_list_past_the_search_cap_and_resumes_after_a_crash(
    sandbox: Sandbox, connector: HubSpotConnector
) -> None:
    start = 1_700_000_000_000
    # 10,500 records changed in one millisecond: past the search API's 10,000 cap.
    sandbox.seed("contacts", 10_500, {"email": "c{i}@x.com"}, start, start)
    reader = HubSpotConnector(
        SecretStr(TOKEN), host=sandbox.url, properties={"contacts": ["email"]}
    )
    first = reader.read_changes("contacts", None)
    taken = [next(first) for _ in range(30)]  # then the process dies
    first.close()
    rest, _, cursor = drain(reader.read_changes("contacts", taken[-1].cursor))
    emails = [r["email"] for b in taken for r in b.records.to_dicts()] + [r["email"] for r in rest]
    assert len(emails) == len(set(emails)) == 10_500
    # Afterwards the cursor is an ordinary incremental one: nothing new, nothing read.
    again, _, _ = drain(reader.read_changes("contacts", cursor))
    assert again == []
