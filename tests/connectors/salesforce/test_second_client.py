"""salesforce-bulk 2.2.0, a widely used Bulk API 1.0 client, against the emulator.

The library is used as published; only its host (the served emulator) and the
CA it trusts (``REQUESTS_CA_BUNDLE``, since it calls ``requests.post`` and
``requests.get`` directly) differ from a real org. Its flows must read exactly
what the emulator holds and write what it says it wrote.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from salesforce_bulk import CsvDictsAdapter, SalesforceBulk
from salesforce_bulk.salesforce_bulk import BulkApiError, BulkBatchFailed

from abmsync.sandbox.salesforce.store import custom_field
from abmsync.sandbox.server import SandboxServer
from tests.connectors.salesforce.conftest import MakeOrg, Org
from tests.connectors.serving import Switch

POLLS = 10  # status reads allowed before a batch must be done (no clock involved)


@pytest.fixture
def trust_sandbox_ca(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_file)


def connect(org: Org) -> SalesforceBulk:
    """The client as an integration builds it from an OAuth session id and instance URL."""
    answer = org.token().json()
    return SalesforceBulk(
        sessionId=answer["access_token"], host=answer["instance_url"], API_version="62.0"
    )


def wait(bulk: SalesforceBulk, job: str, batch: str) -> None:
    for _ in range(POLLS):
        if bulk.is_batch_done(batch, job):
            return
    raise AssertionError(f"batch {batch} not done after {POLLS} polls")


def held(org: Org, obj_name: str) -> dict[str, dict[str, Any]]:
    """Every live record of ``obj_name`` in the emulator's store, by id."""
    store = org.sandbox.store
    obj = store.objects[obj_name]
    rows = store.select(f'SELECT "Id" FROM "{obj_name}" WHERE "IsDeleted" = 0')
    return {row[0]: record for row in rows if (record := store.get(obj, row[0])) is not None}


def as_csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def epoch_millis(stamp: str) -> int:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    return int(moment.timestamp() * 1000)


LEADS = [
    {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Engines",
        "Email": "ada@e.test",
        "NumberOfEmployees": 12,
        "HasOptedOutOfEmail": True,
        "Country": "UK",
    },
    {
        "FirstName": None,
        "LastName": "Hopper",
        "Company": 'Navy, "Inc"',
        "Email": None,
        "NumberOfEmployees": None,
        "HasOptedOutOfEmail": False,
        "Country": "US",
    },
    {
        "FirstName": "Émilie",
        "LastName": "du Châtelet",
        "Company": "Cirey",
        "Email": "e@c.test",
        "NumberOfEmployees": 3,
        "HasOptedOutOfEmail": False,
        "Country": None,
    },
]
CONTACTS = [
    {"FirstName": "Alan", "LastName": "Turing", "Email": "alan@bletchley.test", "Title": "Dr"},
    {"FirstName": "Joan", "LastName": "Clarke", "Email": None, "Title": None},
]


@pytest.fixture
def org(make_org: MakeOrg) -> Org:
    return make_org(seed_data={"Lead": LEADS, "Contact": CONTACTS})


@pytest.fixture
def small_result_files(org: Org, salesforce_server: tuple[SandboxServer, Switch]) -> None:
    """Split query results into files of two rows, as Salesforce splits large results."""
    _, switch = salesforce_server
    switch.app.state.bulk_v1.result_rows = 2


@pytest.mark.usefixtures("trust_sandbox_ca", "small_result_files")
def test_csv_query_reads_every_lead_exactly_across_result_files(org: Org) -> None:
    bulk = connect(org)
    fields = [
        "Id",
        "FirstName",
        "LastName",
        "Company",
        "Email",
        "NumberOfEmployees",
        "HasOptedOutOfEmail",
        "Country",
    ]
    job = bulk.create_query_job("Lead", contentType="CSV")
    batch = bulk.query(job, f"SELECT {', '.join(fields)} FROM Lead")
    bulk.close_job(job)
    wait(bulk, job, batch)

    assert len(bulk.get_query_batch_result_ids(batch, job)) == 2  # 3 leads, 2 per file
    rows = [
        row
        for result in bulk.get_all_results_for_query_batch(batch, job)
        for row in csv.DictReader(io.StringIO(result.read().decode("utf-8")))
    ]

    expected = [{f: as_csv_text(r[f]) for f in fields} for r in held(org, "Lead").values()]
    assert sorted(rows, key=lambda r: r["Id"]) == sorted(expected, key=lambda r: r["Id"])
    assert bulk.job_status(job)["state"] == "Closed"


@pytest.mark.usefixtures("trust_sandbox_ca")
def test_json_query_reads_every_contact_exactly(org: Org) -> None:
    bulk = connect(org)
    job = bulk.create_query_job("Contact", contentType="JSON")
    batch = bulk.query(
        job, "SELECT Id, FirstName, LastName, Email, Title, CreatedDate FROM Contact"
    )
    bulk.close_job(job)
    wait(bulk, job, batch)

    rows = [
        row
        for result in bulk.get_all_results_for_query_batch(batch, job)
        for row in json.load(result)
    ]

    expected = {
        rid: {
            "Id": rid,
            "FirstName": r["FirstName"],
            "LastName": r["LastName"],
            "Email": r["Email"],
            "Title": r["Title"],
            "CreatedDate": epoch_millis(str(r["CreatedDate"])),
        }
        for rid, r in held(org, "Contact").items()
    }
    assert len(rows) == len(expected) == 2
    for row in rows:
        assert row.pop("attributes")["type"] == "Contact"
        assert row == expected[row["Id"]]


@pytest.mark.usefixtures("trust_sandbox_ca")
def test_csv_insert_batch_writes_what_it_reports(org: Org) -> None:
    bulk = connect(org)
    before = set(held(org, "Lead"))
    new = [
        {
            "FirstName": f"Bulk{i}",
            "LastName": "Loaded",
            "Company": "Batch Co",
            "Email": f"bulk{i}@load.test",
        }
        for i in range(3)
    ]
    new.append({"FirstName": "NoCompany", "LastName": "Loaded", "Company": "", "Email": ""})
    job = bulk.create_insert_job("Lead", contentType="CSV")
    batch = bulk.post_batch(job, CsvDictsAdapter(iter(new)))
    wait(bulk, job, batch)
    bulk.close_job(job)

    results = bulk.get_batch_results(batch, job)

    assert [(r.success, r.created) for r in results] == [("true", "true")] * 3 + [
        ("false", "false")
    ]
    assert results[3].error.startswith("REQUIRED_FIELD_MISSING:")
    now = held(org, "Lead")
    assert set(now) - before == {r.id for r in results[:3]}
    for result, sent in zip(results[:3], new, strict=False):
        record = now[result.id]
        assert {k: record[k] for k in sent} == sent


@pytest.mark.usefixtures("trust_sandbox_ca")
def test_json_upsert_batch_updates_by_external_id_and_creates_the_rest(org: Org) -> None:
    store = org.sandbox.store
    store.add_field(store.objects["Contact"], custom_field("Badge__c", {"externalId": True}))
    turing = next(rid for rid, r in held(org, "Contact").items() if r["LastName"] == "Turing")
    store.update("Contact", turing, {"Badge__c": "B-1"})
    bulk = connect(org)
    job = bulk.create_upsert_job("Contact", "Badge__c", contentType="JSON")
    rows = [
        {"Badge__c": "B-1", "Title": "Professor", "Email": None},
        {"Badge__c": "B-2", "LastName": "Welchman", "FirstName": "Gordon"},
    ]
    batch = bulk.post_batch(job, json.dumps(rows))
    wait(bulk, job, batch)
    bulk.close_job(job)

    results = bulk.get_batch_results(batch, job)

    assert [(r.success, r.created, r.error) for r in results] == [
        (True, False, []),
        (True, True, []),
    ]
    assert results[0].id == turing
    now = held(org, "Contact")
    assert (now[turing]["Title"], now[turing]["Email"]) == ("Professor", None)
    welchman = now[results[1].id]
    assert (welchman["FirstName"], welchman["LastName"], welchman["Badge__c"]) == (
        "Gordon",
        "Welchman",
        "B-2",
    )


@pytest.mark.usefixtures("trust_sandbox_ca")
def test_pk_chunked_query_reads_every_lead_through_chunk_batches(org: Org) -> None:
    bulk = connect(org)
    job = bulk.create_query_job("Lead", contentType="CSV", pk_chunking=2)
    query = "SELECT Id, LastName FROM Lead"
    original = bulk.query(job, query)

    with pytest.raises(BulkBatchFailed) as failed:
        wait(bulk, job, original)

    assert failed.value.state == "NotProcessed"
    chunks = [b["id"] for b in bulk.get_batch_list(job) if b["state"] != "NotProcessed"]
    assert len(chunks) == 2
    assert all(bulk.get_query_batch_request(c, job).startswith(query) for c in chunks)
    names = {}
    for chunk in chunks:
        wait(bulk, job, chunk)
        for result in bulk.get_all_results_for_query_batch(chunk, job):
            for row in csv.DictReader(io.StringIO(result.read().decode("utf-8"))):
                names[row["Id"]] = row["LastName"]
    assert names == {rid: r["LastName"] for rid, r in held(org, "Lead").items()}


@pytest.mark.usefixtures("trust_sandbox_ca")
def test_stale_session_surfaces_as_invalid_session_id(org: Org) -> None:
    bulk = connect(org)
    org.sandbox.expire_tokens()

    with pytest.raises(BulkApiError) as error:
        bulk.create_query_job("Lead")

    assert error.value.status_code == 400
    assert "<exceptionCode>InvalidSessionId</exceptionCode>" in str(error.value)
