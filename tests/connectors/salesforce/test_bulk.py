"""Bulk API 2.0: the emulator's jobs through real simple-salesforce, and the connector on them."""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

import polars as pl
import pytest

from abmsync.connectors.base import Patch
from abmsync.connectors.salesforce.bulk import LocatorPaginator, csv_rows, parse_error
from abmsync.errors import TerminalError
from abmsync.sandbox.faults import Faults

from .conftest import MakeOrg, Org
from .test_connector import _ids, _leads, _read_all, _scenario

FIELDS = "Id, LastName, Company, NumberOfEmployees, AnnualRevenue, HasOptedOutOfEmail"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _jobs(org: Org, kind: str) -> list[dict[str, Any]]:
    """The org's Bulk 2.0 jobs of one kind (``query`` or ``ingest``) from ``GET jobs/``."""
    sf = org.simple_salesforce()
    answer = sf.session.get(f"{sf.bulk2_url}{kind}", headers=sf.headers)
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


def _seed(count: int) -> dict[str, list[dict[str, Any]]]:
    leads = _leads(count)
    for i, lead in enumerate(leads):
        lead.update(NumberOfEmployees=i, AnnualRevenue=i * 1.5, HasOptedOutOfEmail=i % 2 == 0)
    return {"Lead": leads}


def test_query_job_pages_by_locator_and_returns_every_record_once(make_org: MakeOrg) -> None:
    org = make_org(seed_data=_seed(25))
    sf = org.simple_salesforce()
    pages = list(sf.bulk2.Lead.query(f"SELECT {FIELDS} FROM Lead", max_records=10, wait=0))
    rows = [row for page in pages for row in _rows(page)]
    assert [len(_rows(page)) for page in pages] == [10, 10, 5]
    assert len({row["Id"] for row in rows}) == 25
    assert rows[3]["HasOptedOutOfEmail"] == "false" and rows[3]["NumberOfEmployees"] == "3"


def test_query_job_moves_through_its_states_and_sends_the_locator_headers(org: Org) -> None:
    sf = org.simple_salesforce()
    sf.Lead.create({"LastName": "A", "Company": "C"})
    session, base = sf.session, sf.bulk2_url
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    job = session.post(
        f"{base}query", json={"operation": "query", "query": "SELECT Id FROM Lead"}, headers=headers
    ).json()
    assert job["state"] == "UploadComplete"
    polled = [session.get(f"{base}query/{job['id']}", headers=headers).json() for _ in range(2)]
    assert [p["state"] for p in polled] == ["InProgress", "JobComplete"]
    assert polled[-1]["numberRecordsProcessed"] == 1
    answer = session.get(f"{base}query/{job['id']}/results", headers=headers)
    assert answer.headers["Sforce-Locator"] == "null"
    assert answer.headers["Sforce-NumberOfRecords"] == "1"
    assert answer.headers["content-type"].startswith("text/csv")


def test_a_job_whose_work_is_not_done_answers_at_once_and_completes_later(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf = org.simple_salesforce()
    sf.Lead.create({"LastName": "A", "Company": "C"})
    session, base = sf.session, sf.bulk2_url
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    store, release = org.sandbox.store, threading.Event()
    select = store.select

    def held_select(sql: str, params: Any = ()) -> Any:  # the job's query waits for the test
        release.wait(30)
        return select(sql, params)

    monkeypatch.setattr(store, "select", held_select)
    body = {"operation": "query", "query": "SELECT Id FROM Lead"}
    job = session.post(f"{base}query", json=body, headers=headers, timeout=5).json()
    polled = [
        session.get(f"{base}query/{job['id']}", headers=headers, timeout=5).json()["state"]
        for _ in range(3)
    ]
    release.set()
    assert job["state"] == "UploadComplete"
    assert polled == ["InProgress", "InProgress", "InProgress"]  # no JobComplete before the work
    answer = session.get(f"{base}query/{job['id']}", headers=headers, timeout=5).json()
    assert answer["state"] == "JobComplete" and answer["numberRecordsProcessed"] == 1


def test_query_job_refuses_bad_soql_with_the_rest_error_code(org: Org) -> None:
    sf = org.simple_salesforce()
    with pytest.raises(Exception, match="INVALID_FIELD"):
        list(sf.bulk2.Lead.query("SELECT Nope FROM Lead", wait=0))


def test_ingest_job_reports_each_failing_row_with_its_code(make_org: MakeOrg) -> None:
    org = make_org(seed_data=_seed(3))
    sf = org.simple_salesforce()
    calls = org.sandbox.api_used
    records = [
        {"LastName": "Fine", "Company": "C", "Email": "fine@example.com"},
        {"LastName": "x" * 81, "Company": "C", "Email": "long@example.com"},
        {"LastName": "NoMail", "Company": "C", "Email": "not-an-email"},
        {"LastName": "NoCompany", "Company": "", "Email": "nc@example.com"},
    ]
    [job] = sf.bulk2.Lead.insert(records=records, wait=0)
    assert org.sandbox.api_used > calls  # every Bulk request is charged
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (4, 3)
    failed = {
        row["LastName"][:9]: row for row in _rows(sf.bulk2.Lead.get_failed_records(job["job_id"]))
    }
    codes = {name: parse_error(row["sf__Error"])[0] for name, row in failed.items()}
    assert codes == {
        "xxxxxxxxx": "STRING_TOO_LONG",
        "NoMail": "INVALID_EMAIL_ADDRESS",
        "NoCompany": "REQUIRED_FIELD_MISSING",
    }
    assert all(row["sf__Id"] == "" for row in failed.values())
    [done] = _rows(sf.bulk2.Lead.get_successful_records(job["job_id"]))
    assert done["sf__Created"] == "true" and done["LastName"] == "Fine"
    assert sf.Lead.get(done["sf__Id"])["Email"] == "fine@example.com"
    unprocessed = sf.bulk2.Lead.get_unprocessed_records(job["job_id"])
    assert _rows(unprocessed) == []


def test_ingest_update_and_delete_apply_like_rest(make_org: MakeOrg) -> None:
    org = make_org(seed_data=_seed(3))
    sf = org.simple_salesforce()
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Lead ORDER BY Id")["records"]]
    records = [{"Id": ids[0], "Title": "CEO"}, {"Id": ids[1], "Title": "#N/A"}]
    [job] = sf.bulk2.Lead.update(records=records, wait=0)
    assert job["numberRecordsFailed"] == 0
    assert sf.Lead.get(ids[0])["Title"] == "CEO"
    [gone] = sf.bulk2.Lead.delete(records=[{"Id": ids[2]}, {"Id": "00Q5g0000000zzzAAA"}], wait=0)
    assert gone["numberRecordsFailed"] == 1
    assert [r["Id"] for r in sf.query("SELECT Id FROM Lead")["records"]] == ids[:2]


def test_bulk_read_equals_the_rest_read(make_org: MakeOrg) -> None:
    org = make_org(seed_data=_seed(260))
    sf = org.simple_salesforce()
    doomed = _ids(_read_all(org.connector(), "Lead", None))[5]
    sf.Lead.delete(doomed)
    rest = _read_all(org.connector(bulk_reads=False), "Lead", None)
    calls = org.sandbox.api_used
    bulk = _read_all(org.connector(bulk_reads=True, bulk_page_size=100), "Lead", None)
    assert [b.records.height for b in bulk] == [100, 100, 59]
    assert org.sandbox.api_used - calls < 10  # describe, the job, its polls, 3 pages
    assert pl.concat([b.records for b in bulk]).equals(pl.concat([b.records for b in rest]))
    assert bulk[-1].cursor.value == rest[-1].cursor.value
    assert {i for b in bulk for i in b.deleted_ids} == {doomed}


def test_connector_switches_to_bulk_above_the_thresholds(make_org: MakeOrg) -> None:
    org = make_org(seed_data=_seed(150))
    connector = org.connector(bulk_threshold=100, bulk_write_threshold=50, bulk_page_size=60)
    batches = _read_all(connector, "Lead", None)
    assert [b.records.height for b in batches] == [60, 60, 30]  # bulk pages, not 2,000
    assert len(_jobs(org, "query")) == 1
    ids = _ids(batches)
    patches = [Patch(obj="Lead", record_id=i, values={"Title": "VP"}) for i in ids[:60]]
    patches[7] = Patch(obj="Lead", record_id=ids[7], values={"Email": "bad"})
    results = connector.write("Lead", patches)
    assert len(_jobs(org, "ingest")) == 1
    assert [r.error_code for r in results if not r.ok] == ["INVALID_EMAIL_ADDRESS"]
    assert [r.record_id for r in results] == ids[:60]
    few = connector.write("Lead", patches[:10])  # under the threshold: REST collections
    assert all(r.ok or r.error_code == "INVALID_EMAIL_ADDRESS" for r in few)
    assert len(_jobs(org, "ingest")) == 1


def _write_counted(org: Org, count: int, **options: Any) -> tuple[list[Any], int, int]:
    """Update ``count`` of the org's leads (one a bad email, one a deleted id); the results,
    API calls the write took by the connector's budget, and ingest jobs it ran."""
    connector = org.connector(**options)
    ids = sorted(_ids(_read_all(connector, "Lead", None)))[:count]
    patches = [Patch(obj="Lead", record_id=i, values={"Title": f"T{n}"}) for n, i in enumerate(ids)]
    patches[7] = Patch(obj="Lead", record_id=ids[7], values={"Email": "bad"})
    org.simple_salesforce().Lead.delete(ids[11])
    jobs, calls = len(_jobs(org, "ingest")), connector.budget.calls
    results = connector.write("Lead", patches)
    return results, int(connector.budget.calls - calls), len(_jobs(org, "ingest")) - jobs


def test_writes_go_as_an_ingest_job_when_it_takes_fewer_calls_than_collections(
    make_org: MakeOrg,
) -> None:
    seed = _seed(2_600)
    org = make_org(seed_data=seed)
    bulk = org.connector().bulk
    assert bulk.ingest_calls(2_600) < 13  # collections of 200: 13 calls
    assert bulk.ingest_calls(1_000) > 5  # collections: 5 calls
    results, calls, jobs = _write_counted(org, 2_600)
    assert jobs == 1
    # create, upload, close, its polls, two result reads: fewer than 13 collections
    assert 6 <= calls < 13
    rest, rest_calls, rest_jobs = _write_counted(
        make_org(seed_data=seed), 2_600, bulk_write_threshold=10**9
    )
    assert (rest_jobs, rest_calls) == (0, 13)
    # The same result per record, in order: the bad email and the deleted record fail alike.
    assert [(r.record_id, r.ok, r.error_code) for r in results] == [
        (r.record_id, r.ok, r.error_code) for r in rest
    ]
    assert {r.error_code for r in results if not r.ok} == {
        "INVALID_EMAIL_ADDRESS",
        "ENTITY_IS_DELETED",
    }
    few, few_calls, few_jobs = _write_counted(make_org(seed_data=_seed(1_000)), 1_000)
    assert (few_jobs, few_calls) == (0, 5)  # cheaper as collections
    assert sum(not r.ok for r in few) == 2


def test_a_write_set_over_the_upload_limit_runs_as_several_jobs_with_the_same_results(
    make_org: MakeOrg,
) -> None:
    seed = _seed(60)
    org = make_org(seed_data=seed)
    connector = org.connector(bulk_write_threshold=10)
    connector.bulk.max_upload_bytes = 600  # some 20 rows of these updates a job
    ids = sorted(_ids(_read_all(connector, "Lead", None)))
    patches = [Patch(obj="Lead", record_id=i, values={"Title": f"T{n}"}) for n, i in enumerate(ids)]
    patches[41] = Patch(obj="Lead", record_id=ids[41], values={"Email": "bad"})
    results = connector.write("Lead", patches)
    assert len(_jobs(org, "ingest")) >= 3
    assert [r.record_id for r in results] == ids
    assert [n for n, r in enumerate(results) if not r.ok] == [41]
    titles = {
        r["Id"]: r["Title"]
        for r in org.simple_salesforce().query_all("SELECT Id, Title FROM Lead")["records"]
    }
    assert [titles[i] for i in ids[:3]] == ["T0", "T1", "T2"] and titles[ids[59]] == "T59"


def test_bulk_end_state_equals_the_rest_end_state(make_org: MakeOrg) -> None:
    seed = {"Lead": _leads(50)}
    rest = _scenario(make_org(seed_data=seed))
    options = {"bulk_threshold": 100, "bulk_write_threshold": 100, "bulk_page_size": 120}
    assert _scenario(make_org(seed_data=seed), **options) == rest
    faults = Faults(
        seed=11,
        rate_limit=0.05,
        server_error=0.05,
        drop=0.04,
        token_expiry=0.05,
        slow=0.03,
        partial_failure=0.1,
        retry_after=0.05,
        slow_seconds=0.6,
    )
    faulty = make_org(faults, seed_data=seed)
    assert _scenario(faulty, attempts=10, timeout=0.4, **options) == rest
    assert set(faults.counts) >= {"rate_limit", "server_error", "token_expiry", "partial_failure"}
    faults.rate_limit = faults.server_error = faults.drop = faults.token_expiry = faults.slow = 0
    assert _jobs(faulty, "query") and _jobs(faulty, "ingest")  # the faults hit Bulk 2.0 jobs


def test_csv_rows_leave_untouched_fields_empty_and_clear_with_na() -> None:
    patches = [
        Patch(obj="Lead", record_id="00Q1", values={"Title": None, "HasOptedOutOfEmail": True}),
        Patch(obj="Lead", record_id="00Q2", values={"City": "Oslo"}),
    ]
    header, rows = csv_rows(patches, "update", "")
    assert header == ["Id", "City", "HasOptedOutOfEmail", "Title"]
    assert rows == [["00Q1", "", "true", "#N/A"], ["00Q2", "Oslo", "", ""]]


def test_parse_error_reads_code_and_message() -> None:
    assert parse_error("STRING_TOO_LONG:Title: data value too large:Title --") == (
        "STRING_TOO_LONG",
        "Title: data value too large",
    )
    assert parse_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--")[0] == (
        "UNABLE_TO_LOCK_ROW"
    )


def test_locator_paginator_refuses_a_locator_twice() -> None:
    paginator = LocatorPaginator()
    assert paginator.next_locator("MTA=") == "MTA="
    assert paginator.next_locator("null") is None
    with pytest.raises(TerminalError, match="twice"):
        paginator.next_locator("MTA=")
