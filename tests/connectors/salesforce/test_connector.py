"""SalesforceConnector against the emulator: real HTTPS, real simple-salesforce, no mocks."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
import requests
from pydantic import SecretStr

from abmsync.connectors.base import (
    Batch,
    Connector,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    Patch,
)
from abmsync.connectors.budget import ApiBudget, BudgetSnapshot
from abmsync.connectors.salesforce import ChangeWindow, SalesforceConnector
from abmsync.connectors.salesforce.client import daily_quota
from abmsync.errors import BudgetExhaustedError, TerminalError
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.salesforce import SandboxConfig

from .conftest import CLIENT_SECRET, PASSWORD, USERNAME, Clock, MakeOrg, Org

ABM_SPEC = FieldSpec(
    obj="Lead",
    fields=[
        FieldMeta(name="ABM_Score__c", type=FieldType.INTEGER),
        FieldMeta(
            name="ABM_Grade__c",
            type=FieldType.PICKLIST,
            picklist=["A", "B", "C", "D"],
            restricted_picklist=True,
        ),
        FieldMeta(name="ABM_Stage__c", type=FieldType.STRING, length=40),
        FieldMeta(name="ABM_Score_Reasons__c", type=FieldType.TEXT),
        FieldMeta(name="ABM_Key__c", type=FieldType.STRING, length=64, external_id=True),
    ],
)


def _leads(count: int) -> list[dict[str, Any]]:
    return [{"LastName": f"Lead {i}", "Company": f"Co {i}"} for i in range(count)]


def _read_all(connector: SalesforceConnector, obj: str, cursor: Cursor | None) -> list[Batch]:
    return list(connector.read_changes(obj, cursor))


def _ids(batches: list[Batch]) -> list[str]:
    return [i for b in batches for i in b.records["Id"].to_list()]


def test_connector_satisfies_the_protocol(org: Org) -> None:
    assert isinstance(org.connector(), Connector)


@pytest.mark.parametrize("flow", ["client_credentials", "password"])
def test_bad_credentials_stop_with_one_line_without_the_secret(org: Org, flow: str) -> None:
    wrong = "s3cr3t-that-must-not-leak"
    if flow == "password":
        connector = org.connector(username=USERNAME, password=SecretStr(wrong))
    else:
        connector = org.connector(client_secret=SecretStr(wrong))
    with pytest.raises(TerminalError) as caught:
        connector.describe("Lead")
    message = str(caught.value)
    assert "\n" not in message and wrong not in message and CLIENT_SECRET not in message
    assert "login failed" in message and ("invalid_grant" in message or "invalid_client" in message)
    report = connector.check()
    assert not report.ok and wrong not in report.items[0].detail


def test_password_flow_and_check_report_fields(org: Org) -> None:
    connector = org.connector(username=USERNAME, password=SecretStr(PASSWORD))
    report = connector.check()
    assert [i.name for i in report.items] == ["login", "API quota", "Lead fields", "Contact fields"]
    assert report.items[1].ok and "daily API requests left" in report.items[1].detail
    assert not report.ok and "ABM_Score__c" in report.items[2].detail
    connector.ensure_fields(ABM_SPEC)
    connector.ensure_fields(FieldSpec(obj="Contact", fields=ABM_SPEC.fields[:4]))
    assert connector.check().ok


def test_describe_maps_salesforce_types(org: Org) -> None:
    meta = org.connector().describe("Lead")
    kinds = {n: f.type for n, f in meta.fields.items()}
    assert kinds["Id"] is FieldType.ID
    assert kinds["Email"] is FieldType.EMAIL
    assert kinds["NumberOfEmployees"] is FieldType.INTEGER
    assert kinds["AnnualRevenue"] is FieldType.NUMBER
    assert kinds["SystemModstamp"] is FieldType.DATETIME
    assert kinds["ConvertedDate"] is FieldType.DATE
    assert kinds["ConvertedContactId"] is FieldType.REFERENCE
    assert kinds["Description"] is FieldType.TEXT
    status = meta.fields["Status"]
    assert status.restricted_picklist and "Working - Contacted" in (status.picklist or [])
    assert not meta.fields["SystemModstamp"].writable and meta.fields["LastName"].length == 80


def test_ensure_fields_is_idempotent_and_creates_custom_objects(org: Org) -> None:
    connector = org.connector()
    assert connector.ensure_fields(ABM_SPEC) == [f.name for f in ABM_SPEC.fields]
    assert connector.ensure_fields(ABM_SPEC) == []
    assert connector.describe("Lead").fields["ABM_Key__c"].external_id
    touchpoints = FieldSpec(
        obj="ABM_Touchpoint__c",
        fields=[FieldMeta(name="ABM_Touchpoint_Key__c", length=80, external_id=True)],
    )
    assert connector.ensure_fields(touchpoints) == ["ABM_Touchpoint_Key__c"]
    assert "Name" in connector.describe("ABM_Touchpoint__c").fields


def test_write_reports_local_and_vendor_errors_per_patch(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(3)})
    connector = org.connector()
    connector.ensure_fields(ABM_SPEC)
    ids = _ids(_read_all(connector, "Lead", None))
    connector.write("Lead", [Patch(obj="Lead", record_id=ids[2], values={})])
    org.simple_salesforce().Lead.delete(ids[2])
    calls = org.sandbox.api_used
    patches = [
        Patch(obj="Lead", record_id=ids[0], values={"ABM_Score__c": 42, "ABM_Grade__c": "A"}),
        Patch(obj="Lead", record_id=ids[1], values={"ABM_Grade__c": "Z"}),
        Patch(obj="Lead", record_id=ids[1], values={"ABM_Stage__c": "x" * 41}),
        Patch(obj="Lead", values={"LastName": "No Company"}),
        Patch(obj="Lead", record_id=ids[2], values={"ABM_Score__c": 1}),
        Patch(obj="Lead", values={"LastName": "New", "Company": "N", "Email": "not-an-email"}),
    ]
    results = connector.write("Lead", patches)
    assert [(r.ok, r.error_code) for r in results] == [
        (True, None),
        (False, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (False, "STRING_TOO_LONG"),
        (False, "REQUIRED_FIELD_MISSING"),
        (False, "ENTITY_IS_DELETED"),
        (False, "INVALID_EMAIL_ADDRESS"),
    ]
    assert results[0].record_id == ids[0]
    assert org.sandbox.api_used - calls == 2  # one update and one create collection
    local_only = connector.write("Lead", patches[1:3])
    codes = [r.error_code for r in local_only]
    assert codes == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "STRING_TOO_LONG"]
    assert org.sandbox.api_used - calls == 2  # invalid patches cost no call


def test_write_sends_collections_of_200(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(450)})
    connector = org.connector()
    ids = _ids(_read_all(connector, "Lead", None))
    calls = org.sandbox.api_used
    results = connector.write(
        "Lead", [Patch(obj="Lead", record_id=i, values={"Rating": "Warm"}) for i in ids]
    )
    assert all(r.ok for r in results) and len(results) == 450
    assert org.sandbox.api_used - calls == 3


def test_upsert_by_external_id_creates_then_updates(org: Org) -> None:
    connector = org.connector()
    connector.ensure_fields(ABM_SPEC)

    def upsert(score: int) -> list[bool]:
        patches = [
            Patch(
                obj="Lead",
                external_id=("ABM_Key__c", f"k{i}"),
                values={"LastName": f"L{i}", "Company": "C", "ABM_Score__c": score},
            )
            for i in range(3)
        ]
        results = connector.write("Lead", patches)
        assert all(r.ok for r in results)
        return [r.created for r in results]

    assert upsert(10) == [True, True, True]
    assert upsert(20) == [False, False, False]
    frame = pl.concat([b.records for b in _read_all(connector, "Lead", None)])
    assert frame.height == 3
    assert frame["ABM_Score__c"].to_list() == [20.0, 20.0, 20.0]


def test_read_changes_is_incremental(make_org: MakeOrg, clock: Clock) -> None:
    org = make_org(seed_data={"Lead": _leads(5)}, clock=clock)
    connector = org.connector()
    first = _read_all(connector, "Lead", None)
    assert len(_ids(first)) == 5
    cursor = first[-1].cursor
    assert cursor.observed_at == clock.now
    assert _ids(_read_all(connector, "Lead", cursor)) == []
    clock.advance(minutes=10)
    sf = org.simple_salesforce()
    changed = _ids(first)[1]
    sf.Lead.update(changed, {"Title": "CMO"})
    second = _read_all(connector, "Lead", cursor)
    assert _ids(second) == [changed]
    assert second[-1].records["Title"].to_list() == ["CMO"]
    assert second[-1].records.schema["SystemModstamp"] == pl.Datetime("ms", "UTC")


def test_same_millisecond_changes_are_not_missed_nor_repeated(
    make_org: MakeOrg, clock: Clock
) -> None:
    org = make_org(clock=clock)
    connector = org.connector()
    sf = org.simple_salesforce()
    a = sf.Lead.create({"LastName": "A", "Company": "C"})["id"]
    first = _read_all(connector, "Lead", None)
    assert _ids(first) == [a]
    b = sf.Lead.create({"LastName": "B", "Company": "C"})["id"]  # same SystemModstamp as A
    second = _read_all(connector, "Lead", first[-1].cursor)
    assert _ids(second) == [b]
    assert _ids(_read_all(connector, "Lead", second[-1].cursor)) == []


def test_late_commit_inside_the_overlap_window_is_picked_up(
    make_org: MakeOrg, clock: Clock
) -> None:
    org = make_org(seed_data={"Lead": _leads(2)}, clock=clock)
    connector = org.connector(overlap=timedelta(minutes=5))
    first = _read_all(connector, "Lead", None)
    # A transaction that started two minutes ago commits only now.
    late = org.sandbox.store.create(
        "Lead",
        {"LastName": "Late", "Company": "C", "SystemModstamp": clock.now - timedelta(minutes=2)},
        trusted=True,
    )
    assert _ids(_read_all(connector, "Lead", first[-1].cursor)) == [late]


def test_deletes_conversions_and_merges_are_visible(make_org: MakeOrg, clock: Clock) -> None:
    org = make_org(clock=clock)
    connector = org.connector()
    sf = org.simple_salesforce()
    lead = sf.Lead.create({"LastName": "Lee", "Company": "Lee Corp"})["id"]
    doomed = sf.Lead.create({"LastName": "Gone", "Company": "C"})["id"]
    duplicate = sf.Lead.create({"LastName": "Lee", "Company": "Lee Corp"})["id"]
    lead_cursor = _read_all(connector, "Lead", None)[-1].cursor
    contact_cursor = _read_all(connector, "Contact", None)[-1].cursor
    clock.advance(seconds=30)
    sf.Lead.delete(doomed)
    org.post("/__sandbox/merge", {"object": "Lead", "masterId": lead, "duplicateIds": [duplicate]})
    converted = org.post("/__sandbox/convert_lead", {"leadId": lead})
    batches = _read_all(connector, "Lead", lead_cursor)
    frame = pl.concat([b.records for b in batches])
    deleted = {i for b in batches for i in b.deleted_ids}
    assert deleted == {doomed, duplicate}
    rows = {r["Id"]: r for r in frame.to_dicts()}
    assert doomed not in rows
    assert rows[duplicate]["MasterRecordId"] == lead and rows[duplicate]["IsDeleted"]
    assert rows[lead]["IsConverted"] and rows[lead]["ConvertedContactId"] == converted["contactId"]
    contacts = _ids(_read_all(connector, "Contact", contact_cursor))
    assert contacts == [converted["contactId"]]


def test_read_changes_pages_and_moves_the_cursor_per_page(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(4500)})
    batches = _read_all(org.connector(), "Lead", None)
    assert [b.records.height for b in batches] == [2000, 2000, 500]
    assert len(set(_ids(batches))) == 4500
    # Resuming from the middle neither loses nor repeats a record.
    rest = _read_all(org.connector(), "Lead", batches[0].cursor)
    assert sorted(_ids(batches[0:1]) + _ids(rest)) == sorted(_ids(batches))


def test_expired_token_is_renewed_once(org: Org) -> None:
    connector = org.connector()
    connector.describe("Lead")
    org.sandbox.expire_tokens()
    assert _ids(_read_all(connector, "Lead", None)) == []


def test_quota_exhaustion_is_terminal(make_org: MakeOrg) -> None:
    org = make_org(config=SandboxConfig(daily_api_limit=2))
    connector = org.connector()
    connector.describe("Lead")
    connector.write("Lead", [Patch(obj="Lead", values={"LastName": "x", "Company": "C"})])
    with pytest.raises(TerminalError, match="daily API request limit"):
        list(connector.read_changes("Lead", None))
    report = connector.check()
    assert not report.ok and report.items[1].detail.startswith("0 of 2")


def _scenario(org: Org, **options: Any) -> list[dict[str, Any]]:
    """ensure_fields, upserts, updates and reads; return the org's end state."""
    connector = org.connector(**options)
    connector.ensure_fields(ABM_SPEC)
    upserts = [
        Patch(
            obj="Lead",
            external_id=("ABM_Key__c", f"key-{i}"),
            values={"LastName": f"P{i}", "Company": "C", "ABM_Score__c": i},
        )
        for i in range(250)
    ]
    assert all(r.ok for r in connector.write("Lead", upserts))
    batches = _read_all(connector, "Lead", None)
    patches = [
        Patch(obj="Lead", record_id=i, values={"ABM_Grade__c": "B", "ABM_Stage__c": "mql"})
        for i in _ids(batches)
    ]
    assert all(r.ok for r in connector.write("Lead", patches))
    frame = pl.concat([b.records for b in _read_all(connector, "Lead", batches[-1].cursor)])
    assert frame.height == 300  # every record was updated after the first read
    columns = ["LastName", "Company", "ABM_Key__c", "ABM_Score__c", "ABM_Grade__c", "ABM_Stage__c"]
    return frame.select(columns).sort("LastName").to_dicts()


def test_every_fault_leaves_the_same_end_state_as_a_clean_run(make_org: MakeOrg) -> None:
    seed = {"Lead": _leads(50)}
    clean = _scenario(make_org(seed_data=seed))
    faults = Faults(
        seed=7,
        rate_limit=0.08,
        server_error=0.08,
        slow=0.04,
        drop=0.06,
        token_expiry=0.08,
        partial_failure=0.1,
        retry_after=0.05,
        slow_seconds=0.8,
    )
    faulty = make_org(faults, seed_data=seed)
    assert _scenario(faulty, timeout=0.4, attempts=8) == clean
    assert set(faults.counts) == {
        "rate_limit",
        "server_error",
        "slow",
        "drop",
        "token_expiry",
        "partial_failure",
    }


def test_change_window_deduplicates_on_id_and_stamp() -> None:
    window = ChangeWindow(overlap=timedelta(minutes=5))
    window.observe("a", "2026-01-01T00:10:00.000+0000")
    window.observe("old", "2026-01-01T00:01:00.000+0000")
    restored = ChangeWindow.load(window.cursor(2), timedelta(minutes=5))
    assert restored.start is not None and restored.start.isoformat() == "2026-01-01T00:05:00+00:00"
    assert not restored.is_new("a", "2026-01-01T00:10:00.000+0000")
    assert restored.is_new("a", "2026-01-01T00:10:00.001+0000")
    assert "old" not in restored.seen  # before the window: the next query cannot return it


def test_creates_whose_answer_is_lost_are_not_sent_twice(org: Org) -> None:
    connector = org.connector(timeout=0.3)
    connector.describe("Lead")
    org.faults.slow, org.faults.slow_seconds = 1.0, 0.6
    patches = [Patch(obj="Lead", values={"LastName": f"N{i}", "Company": "C"}) for i in range(3)]
    results = connector.write("Lead", patches)
    assert {r.error_code for r in results} == {"OUTCOME_UNKNOWN"}
    org.faults.slow = 0.0
    time.sleep(0.8)  # let the emulator finish the requests the client gave up on
    names = pl.concat([b.records for b in _read_all(connector, "Lead", None)])["LastName"]
    assert names.n_unique() == names.len() <= 3


# -- the API budget ------------------------------------------------------------------------


class RateLimitedOnce(Faults):
    """The first API request gets a 429 with Retry-After; the rest are answered."""

    def next_request_fault(self, path: str) -> str | None:
        if any(path.startswith(p) for p in self.exempt_paths) or self.counts:
            return None
        self.counts["rate_limit"] = 1
        return "rate_limit"


def test_a_connector_without_a_budget_keeps_ten_percent_in_reserve(org: Org) -> None:
    default = org.connector()
    assert default.budget.reserve_percent == 10 and default.budget.max_calls is None
    assert default.budget is default.client.budget
    budget = ApiBudget("salesforce", reserve_percent=25, max_calls=7)
    assert org.connector(budget=budget).budget is budget


def test_a_429_is_retried_after_its_retry_after_and_both_tries_are_counted(
    make_org: MakeOrg,
) -> None:
    org = make_org(RateLimitedOnce(retry_after=0.6))
    connector = org.connector()
    started = time.monotonic()
    connector.describe("Lead")
    waited = time.monotonic() - started
    assert 0.6 <= waited < 1.1  # the default backoff would have waited 0.2-0.4 s
    assert org.faults.counts == {"rate_limit": 1}
    assert (connector.budget.calls, org.sandbox.api_used) == (2, 1)


def test_the_budget_counts_rest_and_bulk_calls_and_retries_as_the_org_does(
    make_org: MakeOrg,
) -> None:
    faults = Faults(seed=3, rate_limit=0.1, server_error=0.1, token_expiry=0.1, retry_after=0.01)
    org = make_org(faults, seed_data={"Lead": _leads(120)}, config=SandboxConfig(page_size=50))
    connector = org.connector(attempts=10, bulk_write_threshold=20, bulk_page_size=50)
    batches = _read_all(connector, "Lead", None)  # REST pages
    updates = [Patch(obj="Lead", record_id=i, values={"Title": "CTO"}) for i in _ids(batches)]
    assert all(r.ok for r in connector.write("Lead", updates[:10]))  # one sObject Collection
    assert all(r.ok for r in connector.write("Lead", updates))  # one Bulk 2.0 ingest job
    connector.bulk_reads = True
    assert len(_ids(_read_all(connector, "Lead", None))) == 120  # a Bulk 2.0 query job
    # Every request the org answered, plus every one a fault answered before it could.
    assert sum(faults.counts.values()) > 0
    assert connector.budget.calls == org.sandbox.api_used + sum(faults.counts.values())


def test_a_long_read_stops_before_the_reserve_and_the_next_run_resumes(make_org: MakeOrg) -> None:
    org = make_org(
        seed_data={"Lead": _leads(600)},
        config=SandboxConfig(daily_api_limit=50, page_size=10),
    )
    connector = org.connector(budget=ApiBudget("salesforce", reserve_percent=20))
    batches: list[Batch] = []
    with pytest.raises(BudgetExhaustedError) as stop:
        batches.extend(connector.read_changes("Lead", None))
    assert str(stop.value) == (
        "salesforce: API budget reached: 40 of 50 daily calls used, 20% (10) kept in reserve"
    )
    assert org.sandbox.api_used == connector.budget.calls == 40  # describe, query, 38 more pages
    assert connector.budget.snapshot() == BudgetSnapshot(
        system="salesforce", calls=40, remaining=10, daily_max=50, reserve=10
    )
    # The next day: a new quota, and the read carries on from the last batch's cursor.
    org.sandbox.api_used, org.sandbox.config.daily_api_limit = 0, 1000
    rest = _read_all(org.connector(), "Lead", batches[-1].cursor)
    assert len(_ids(batches)) + len(_ids(rest)) == len(set(_ids(batches) + _ids(rest))) == 600


def test_max_calls_stops_a_read_at_the_cap(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(100)}, config=SandboxConfig(page_size=10))
    connector = org.connector(budget=ApiBudget("salesforce", max_calls=5))
    with pytest.raises(BudgetExhaustedError, match="5 calls made in this run"):
        _read_all(connector, "Lead", None)
    assert org.sandbox.api_used == connector.budget.calls == 5


def test_check_teaches_the_budget_the_quota_from_limits(make_org: MakeOrg) -> None:
    org = make_org(config=SandboxConfig(daily_api_limit=1000))
    connector = org.connector(expected_fields={})
    assert connector.budget.snapshot().daily_max is None
    assert connector.check().ok
    assert connector.budget.snapshot().remaining == 1000  # the limits call is free here
    assert connector.budget.calls == 1


def test_daily_quota_reads_the_limits_body_and_the_usage_header() -> None:
    limits = requests.Response()
    limits.status_code, limits.url = 200, "https://x/services/data/v62.0/limits/"
    limits._content = b'{"DailyApiRequests": {"Max": 15000, "Remaining": 1200}}'
    assert daily_quota(limits) == (1200, 15000)
    query = requests.Response()
    query.status_code, query.url = 200, "https://x/services/data/v62.0/query"
    query.headers["Sforce-Limit-Info"] = "api-usage=25/5000; per-app-api-usage=17/250(appName=a)"
    assert daily_quota(query) == (4975, 5000)
    query.headers["Sforce-Limit-Info"] = "per-app-api-usage=17/250(appName=a)"
    assert daily_quota(query) is None
