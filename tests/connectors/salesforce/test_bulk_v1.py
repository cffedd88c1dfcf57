"""Bulk API 1.0 of the Salesforce emulator, spoken over HTTPS as the Developer Guide documents it.

Each test drives ``/services/async/{version}/job`` with plain HTTP requests and
checks the documented answers: ``jobInfo``/``batchInfo`` documents in the
``http://www.force.com/2009/06/asyncapi/dataload`` namespace, ``error``
documents with their ``exceptionCode``, batch states, per-record results and
query result files.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from abmsync.sandbox.salesforce.store import custom_field
from tests.connectors.salesforce.conftest import MakeOrg, Org

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CSV, XML, JSON = "text/csv", "application/xml", "application/json"


class BulkV1:
    """A bare Bulk 1.0 speaker: the session header and raw bodies, nothing more."""

    def __init__(self, org: Org, session_id: str | None = None) -> None:
        self.org = org
        self.http = org.session()
        self.session_id = session_id or org.token().json()["access_token"]
        self.base = f"{org.url}/services/async/62.0"

    def send(self, method: str, path: str, body: bytes | str = b"", media: str = XML) -> Any:
        headers = {"X-SFDC-Session": self.session_id, "Content-Type": f"{media}; charset=UTF-8"}
        return self.http.request(method, self.base + path, data=body, headers=headers)

    def create_job(self, operation: str, obj: str, content: str = "CSV", **extra: str) -> str:
        fields = {"operation": operation, "object": obj, **extra, "contentType": content}
        response = self.send("POST", "/job", job_xml(fields))
        assert response.status_code == 201, response.text
        return str(xml_fields(response)["id"])

    def add_batch(self, job_id: str, body: bytes | str, media: str = CSV) -> str:
        response = self.send("POST", f"/job/{job_id}/batch", body, media)
        assert response.status_code == 201, response.text
        return str(parse(response)["id"])

    def batch_info(self, job_id: str, batch_id: str) -> dict[str, Any]:
        return parse(self.send("GET", f"/job/{job_id}/batch/{batch_id}"))

    def run(self, job_id: str, batch_id: str) -> dict[str, Any]:
        """Poll the batch until it leaves Queued/InProgress (a bounded number of polls)."""
        for _ in range(5):
            info = self.batch_info(job_id, batch_id)
            if info["state"] not in ("Queued", "InProgress"):
                return info
        raise AssertionError(f"batch {batch_id} never finished: {info}")


def job_xml(fields: dict[str, str]) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS}">{inner}</jobInfo>'


def xml_fields(response: requests.Response) -> dict[str, str | None]:
    """The children of an XML document, which must be in the Bulk API namespace."""
    assert response.headers["Content-Type"] == XML
    root = ET.fromstring(response.content)
    assert root.tag.startswith(f"{{{NS}}}")
    return {child.tag.removeprefix(f"{{{NS}}}"): child.text for child in root}


def parse(response: requests.Response) -> dict[str, Any]:
    if response.headers["Content-Type"] == JSON:
        return dict(response.json())
    return xml_fields(response)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def bulk(org: Org) -> BulkV1:
    return BulkV1(org)


def leads(store: Any) -> dict[str, dict[str, Any]]:
    """Live leads in the store by last name."""
    obj = store.objects["Lead"]
    rows = store.select('SELECT "Id" FROM "Lead" WHERE "IsDeleted" = 0')
    records = [store.get(obj, row[0]) for row in rows]
    return {r["LastName"]: r for r in records if r is not None}


# -- jobs ----------------------------------------------------------------------------------


def test_xml_job_info_answers_every_documented_field_in_the_asyncapi_namespace(
    bulk: BulkV1, org: Org
) -> None:
    response = bulk.send("POST", "/job", job_xml({"operation": "insert", "object": "Lead"}))

    assert response.status_code == 201
    info = xml_fields(response)
    assert str(info["id"]).startswith("750") and len(str(info["id"])) == 18
    assert info["createdById"] == org.sandbox.store.admin_id
    assert str(info["createdDate"]).endswith(".000Z")
    assert (info["state"], info["concurrencyMode"], info["apiVersion"]) == (
        "Open",
        "Parallel",
        "62.0",
    )
    assert info["contentType"] == "XML"  # the documented default
    for count in ("Queued", "InProgress", "Completed", "Failed", "Total"):
        assert info[f"numberBatches{count}"] == "0"
    assert info["numberRecordsProcessed"] == info["numberRecordsFailed"] == "0"


def test_json_job_info_is_answered_in_json_with_numbers(bulk: BulkV1) -> None:
    body = json.dumps({"operation": "query", "object": "Contact", "contentType": "JSON"})

    response = bulk.send("POST", "/job", body, JSON)

    assert response.status_code == 201
    assert response.headers["Content-Type"] == JSON
    info = response.json()
    assert info["apiVersion"] == 62.0
    assert (info["operation"], info["object"], info["contentType"]) == ("query", "Contact", "JSON")
    assert info["numberBatchesTotal"] == 0
    assert info["createdDate"].endswith("+0000")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"operation": "merge", "object": "Lead"}, "Invalid operation"),
        ({"operation": "insert", "object": "Nope__c"}, "Unable to find object: Nope__c"),
        ({"operation": "upsert", "object": "Lead"}, "external ID field"),
        ({"operation": "upsert", "object": "Lead", "externalIdFieldName": "Email"}, "Email"),
        ({"operation": "insert", "object": "Lead", "contentType": "ZIP_CSV"}, "content type"),
    ],
)
def test_invalid_job_info_answers_invalid_job(
    bulk: BulkV1, fields: dict[str, str], message: str
) -> None:
    response = bulk.send("POST", "/job", job_xml(fields))

    assert response.status_code == 400
    error = xml_fields(response)
    assert error["exceptionCode"] == "InvalidJob"
    assert message in str(error["exceptionMessage"])


def test_unparseable_job_xml_answers_invalid_xml(bulk: BulkV1) -> None:
    response = bulk.send("POST", "/job", "<jobInfo><operation>insert")

    assert response.status_code == 400
    assert xml_fields(response)["exceptionCode"] == "InvalidXML"


@pytest.mark.parametrize("media", [XML, JSON])
def test_bad_session_id_answers_invalid_session_id(org: Org, media: str) -> None:
    bulk = BulkV1(org, session_id="00D000000000000!not-a-session")

    response = bulk.send("GET", "/job/750000000000000AAA", media=media)

    assert response.status_code == 400  # not 401: Bulk 1.0 reports it in the body
    error = parse(response)
    assert error["exceptionCode"] == "InvalidSessionId"
    assert error["exceptionMessage"] == "Invalid session id"


def test_expired_session_and_missing_header_answer_invalid_session_id(
    bulk: BulkV1, org: Org
) -> None:
    job_id = bulk.create_job("insert", "Lead")
    org.sandbox.expire_tokens()

    expired = bulk.send("GET", f"/job/{job_id}")
    missing = org.session().get(f"{bulk.base}/job/{job_id}")

    assert xml_fields(expired)["exceptionCode"] == "InvalidSessionId"
    assert missing.status_code == 400
    assert xml_fields(missing)["exceptionCode"] == "InvalidSessionId"


def test_every_request_is_charged_to_the_daily_api_quota(bulk: BulkV1, org: Org) -> None:
    before = org.sandbox.api_used
    job_id = bulk.create_job("insert", "Lead")
    bulk.send("GET", f"/job/{job_id}")
    bulk.send("GET", "/job/750000000000000AAA")  # an error is a call too

    assert org.sandbox.api_used == before + 3


def test_unknown_job_and_misspelt_resource_are_refused(bulk: BulkV1) -> None:
    unknown = bulk.send("GET", "/job/7505h0000009999AAA")
    misspelt = bulk.send("GET", "/jbo/7505h0000009999AAA")

    assert (unknown.status_code, xml_fields(unknown)["exceptionCode"]) == (400, "InvalidJob")
    assert xml_fields(misspelt)["exceptionCode"] == "InvalidOperation"


def test_closed_job_takes_no_batches_and_cannot_be_closed_again(bulk: BulkV1) -> None:
    job_id = bulk.create_job("insert", "Lead")
    close = job_xml({"state": "Closed"})

    closed = bulk.send("POST", f"/job/{job_id}", close)
    again = bulk.send("POST", f"/job/{job_id}", close)
    batch = bulk.send("POST", f"/job/{job_id}/batch", "LastName,Company\nA,B\n", CSV)
    reopened = bulk.send("POST", f"/job/{job_id}", job_xml({"state": "Open"}))

    assert xml_fields(closed)["state"] == "Closed"
    for refused in (again, batch, reopened):
        assert refused.status_code == 400
        assert xml_fields(refused)["exceptionCode"] == "InvalidJobState"


# -- ingest batches ----------------------------------------------------------------------------


def test_csv_insert_batch_moves_through_states_and_writes_only_after_queued(
    bulk: BulkV1, org: Org
) -> None:
    job_id = bulk.create_job("insert", "Lead")
    body = "LastName,Company,Email\nAda,Acme,ada@acme.test\nGrace,#N/A,grace@navy.test\n"

    added = bulk.send("POST", f"/job/{job_id}/batch", body, CSV)
    assert (added.status_code, xml_fields(added)["state"]) == (201, "Queued")
    batch_id = str(xml_fields(added)["id"])
    assert leads(org.sandbox.store) == {}
    not_yet = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result")
    assert xml_fields(not_yet)["exceptionMessage"] == "Batch not completed"

    assert bulk.batch_info(job_id, batch_id)["state"] == "InProgress"
    done = bulk.batch_info(job_id, batch_id)

    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (
        "Completed",
        "2",
        "1",
    )
    ada = leads(org.sandbox.store)["Ada"]
    result = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result")
    assert result.headers["Content-Type"] == CSV
    assert result.text.splitlines()[0] == '"Id","Success","Created","Error"'
    assert csv_rows(result.text)[1:] == [
        [ada["Id"], "true", "true", ""],
        [
            "",
            "false",
            "false",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --",
        ],
    ]
    job = xml_fields(bulk.send("GET", f"/job/{job_id}"))
    assert (job["numberBatchesCompleted"], job["numberRecordsProcessed"]) == ("1", "2")


def test_batch_request_answers_exactly_what_was_sent(bulk: BulkV1) -> None:
    job_id = bulk.create_job("insert", "Lead")
    body = "LastName,Company\nAda,Acme\n"
    batch_id = bulk.add_batch(job_id, body)

    request = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/request")

    assert request.text == body
    assert request.headers["Content-Type"] == CSV


def test_batch_content_type_must_match_the_job(bulk: BulkV1) -> None:
    job_id = bulk.create_job("insert", "Lead", "JSON")

    response = bulk.send("POST", f"/job/{job_id}/batch", "LastName,Company\nA,B\n", CSV)

    assert response.status_code == 400
    assert response.json()["exceptionCode"] == "InvalidBatch"  # a JSON job answers JSON


def test_unknown_column_fails_the_whole_batch(bulk: BulkV1, org: Org) -> None:
    job_id = bulk.create_job("insert", "Lead")
    batch_id = bulk.add_batch(job_id, "LastName,Company,Shoe_Size\nAda,Acme,42\n")

    info = bulk.run(job_id, batch_id)

    assert info["state"] == "Failed"
    assert info["stateMessage"] == "InvalidBatch : Field name not found : Shoe_Size"
    assert leads(org.sandbox.store) == {}
    result = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result")
    assert xml_fields(result)["exceptionCode"] == "InvalidBatch"


def test_batch_over_ten_thousand_records_fails_and_empty_batch_is_refused(bulk: BulkV1) -> None:
    job_id = bulk.create_job("insert", "Lead")
    body = "LastName,Company\n" + "Ada,Acme\n" * 10_001
    big = bulk.add_batch(job_id, body)

    empty = bulk.send("POST", f"/job/{job_id}/batch", "", CSV)

    assert bulk.run(job_id, big)["stateMessage"].startswith("InvalidBatch : Exceeded max")
    assert (empty.status_code, xml_fields(empty)["exceptionCode"]) == (400, "InvalidBatch")


def test_json_update_sets_values_and_nulls_and_reports_json_results(
    bulk: BulkV1, make_org: MakeOrg
) -> None:
    org = make_org(seed_data={"Lead": [{"LastName": "Ada", "Company": "Acme", "Title": "CTO"}]})
    bulk = BulkV1(org)
    ada = leads(org.sandbox.store)["Ada"]
    job_id = bulk.create_job("update", "Lead", "JSON")
    records = [
        {"Id": ada["Id"], "Company": "Analytical Engines", "Title": None},
        {"Id": "00Q5g0000009999AAA", "Company": "Nobody"},
    ]
    batch_id = bulk.add_batch(job_id, json.dumps(records), JSON)

    assert bulk.run(job_id, batch_id)["state"] == "Completed"

    now = leads(org.sandbox.store)["Ada"]
    assert (now["Company"], now["Title"]) == ("Analytical Engines", None)
    results = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").json()
    assert results[0] == {"success": True, "created": False, "id": ada["Id"], "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_xml_upsert_by_external_id_creates_and_updates(bulk: BulkV1, org: Org) -> None:
    store = org.sandbox.store
    store.add_field(store.objects["Lead"], custom_field("Ext__c", {"externalId": True}))
    store.create("Lead", {"LastName": "Ada", "Company": "Acme", "Ext__c": "L-1"})
    job_id = bulk.create_job("upsert", "Lead", "XML", externalIdFieldName="Ext__c")
    body = (
        f'<sObjects xmlns="{NS}" xmlns:xsi="{XSI}">'
        '<sObject><Ext__c>L-1</Ext__c><Company>Acme 2</Company><Title xsi:nil="true"/></sObject>'
        "<sObject><Ext__c>L-2</Ext__c><LastName>Grace</LastName><Company>Navy</Company></sObject>"
        "</sObjects>"
    )
    batch_id = bulk.add_batch(job_id, body, XML)

    bulk.run(job_id, batch_id)

    by_name = leads(store)
    assert by_name["Ada"]["Company"] == "Acme 2"
    assert by_name["Grace"]["Ext__c"] == "L-2"
    result = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").content)
    assert result.tag == f"{{{NS}}}results"
    created = [r.findtext(f"{{{NS}}}created") for r in result]
    ids = [r.findtext(f"{{{NS}}}id") for r in result]
    assert created == ["false", "true"]
    assert ids == [by_name["Ada"]["Id"], by_name["Grace"]["Id"]]


def test_delete_job_moves_records_to_the_recycle_bin(bulk: BulkV1, org: Org) -> None:
    rid = org.sandbox.store.create("Lead", {"LastName": "Ada", "Company": "Acme"})
    job_id = bulk.create_job("delete", "Lead")
    batch_id = bulk.add_batch(job_id, f"Id\n{rid}\n")

    bulk.run(job_id, batch_id)

    assert leads(org.sandbox.store) == {}
    deleted = org.sandbox.store.get(org.sandbox.store.objects["Lead"], rid, deleted=True)
    assert deleted is not None and deleted["IsDeleted"] is True


def test_aborted_job_leaves_queued_batches_not_processed_and_unwritten(
    bulk: BulkV1, org: Org
) -> None:
    job_id = bulk.create_job("insert", "Lead")
    batch_id = bulk.add_batch(job_id, "LastName,Company\nAda,Acme\n")

    aborted = bulk.send("POST", f"/job/{job_id}", job_xml({"state": "Aborted"}))

    assert xml_fields(aborted)["state"] == "Aborted"
    assert bulk.batch_info(job_id, batch_id)["state"] == "NotProcessed"
    assert leads(org.sandbox.store) == {}


# -- query batches ------------------------------------------------------------------------------


@pytest.fixture
def seeded(make_org: MakeOrg) -> Org:
    return make_org(
        seed_data={
            "Lead": [
                {"LastName": "Ada", "Company": "Acme", "NumberOfEmployees": 12},
                {"LastName": "Grace", "Company": "Navy", "Email": "grace@navy.test"},
            ]
        }
    )


def test_query_batch_lists_result_ids_then_serves_csv_results(seeded: Org) -> None:
    bulk = BulkV1(seeded)
    job_id = bulk.create_job("query", "Lead")
    soql = "SELECT Id, LastName, Email, NumberOfEmployees, HasOptedOutOfEmail FROM Lead"
    batch_id = bulk.add_batch(job_id, soql)

    info = bulk.run(job_id, batch_id)
    listing = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").content)

    assert (info["state"], info["numberRecordsProcessed"]) == ("Completed", "2")
    assert listing.tag == f"{{{NS}}}result-list"
    result_ids = [r.text for r in listing]
    assert len(result_ids) == 1 and str(result_ids[0]).startswith("752")
    result = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result/{result_ids[0]}")
    held = leads(seeded.sandbox.store)
    assert csv_rows(result.text) == [
        ["Id", "LastName", "Email", "NumberOfEmployees", "HasOptedOutOfEmail"],
        [held["Ada"]["Id"], "Ada", "", "12", "false"],
        [held["Grace"]["Id"], "Grace", "grace@navy.test", "", "false"],
    ]


def test_csv_query_without_rows_answers_records_not_found(seeded: Org) -> None:
    bulk = BulkV1(seeded)
    job_id = bulk.create_job("query", "Lead")
    batch_id = bulk.add_batch(job_id, "SELECT Id FROM Lead WHERE LastName = 'Nobody'")
    bulk.run(job_id, batch_id)
    listing = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").content)

    result = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result/{listing[0].text}")

    assert result.text == "Records not found for this query"


def test_json_query_results_give_datetimes_as_epoch_milliseconds(seeded: Org) -> None:
    bulk = BulkV1(seeded)
    job_id = bulk.create_job("query", "Lead", "JSON")
    batch_id = bulk.add_batch(job_id, "SELECT Id, LastName, CreatedDate FROM Lead", JSON)
    bulk.run(job_id, batch_id)
    result_ids = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").json()

    rows = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result/{result_ids[0]}").json()

    ada = leads(seeded.sandbox.store)["Ada"]
    created = datetime.strptime(str(ada["CreatedDate"]), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert rows[0] == {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{ada['Id']}"},
        "Id": ada["Id"],
        "LastName": "Ada",
        "CreatedDate": int(created.astimezone(UTC).timestamp() * 1000),
    }


def test_xml_query_results_type_each_record_and_mark_nulls_nil(seeded: Org) -> None:
    bulk = BulkV1(seeded)
    job_id = bulk.create_job("query", "Lead", "XML")
    batch_id = bulk.add_batch(job_id, "SELECT Id, Email FROM Lead WHERE LastName = 'Ada'", XML)
    bulk.run(job_id, batch_id)
    listing = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result").content)

    result = bulk.send("GET", f"/job/{job_id}/batch/{batch_id}/result/{listing[0].text}")

    root = ET.fromstring(result.content)
    assert root.tag == f"{{{NS}}}queryResult"
    (record,) = list(root)
    assert record.get(f"{{{XSI}}}type") == "sObject"
    assert record.findtext(f"{{{NS}}}type") == "Lead"
    assert record.find(f"{{{NS}}}Email").get(f"{{{XSI}}}nil") == "true"  # type: ignore[union-attr]


def test_bad_soql_fails_the_query_batch_with_the_query_error(seeded: Org) -> None:
    bulk = BulkV1(seeded)
    job_id = bulk.create_job("query", "Lead")
    bad = bulk.add_batch(job_id, "SELECT Id, Shoe_Size FROM Lead")
    offset = bulk.add_batch(job_id, "SELECT Id FROM Lead OFFSET 1")

    assert bulk.run(job_id, bad)["stateMessage"].startswith(
        "InvalidBatch : Failed to process query: INVALID_FIELD"
    )
    assert "OFFSET" in bulk.run(job_id, offset)["stateMessage"]


def test_pk_chunking_splits_a_query_into_one_batch_per_chunk(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": [{"LastName": f"L{i}", "Company": "C"} for i in range(5)]})
    bulk = BulkV1(org)
    response = bulk.http.post(
        f"{bulk.base}/job",
        data=job_xml({"operation": "query", "object": "Lead", "contentType": "CSV"}),
        headers={
            "X-SFDC-Session": bulk.session_id,
            "Content-Type": XML,
            "Sforce-Enable-PKChunking": "chunkSize=2",
        },
    )
    job_id = str(xml_fields(response)["id"])
    original = bulk.add_batch(job_id, "SELECT Id, LastName FROM Lead")

    assert bulk.run(job_id, original)["state"] == "NotProcessed"

    listing = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch").content)
    assert listing.tag == f"{{{NS}}}batchInfoList"
    chunks = [b.findtext(f"{{{NS}}}id") for b in listing][1:]
    assert len(chunks) == 3  # 5 leads in chunks of 2
    names: list[str] = []
    for chunk in chunks:
        assert bulk.run(job_id, str(chunk))["state"] == "Completed"
        request = bulk.send("GET", f"/job/{job_id}/batch/{chunk}/request").text
        assert request.startswith("SELECT Id, LastName FROM Lead WHERE Id >= ")
        ids = ET.fromstring(bulk.send("GET", f"/job/{job_id}/batch/{chunk}/result").content)
        result = bulk.send("GET", f"/job/{job_id}/batch/{chunk}/result/{ids[0].text}")
        names += [row[1] for row in csv_rows(result.text)[1:]]
    assert sorted(names) == [f"L{i}" for i in range(5)]


def test_pk_chunk_size_above_250000_is_refused(bulk: BulkV1) -> None:
    response = bulk.http.post(
        f"{bulk.base}/job",
        data=job_xml({"operation": "query", "object": "Lead"}),
        headers={
            "X-SFDC-Session": bulk.session_id,
            "Content-Type": XML,
            "Sforce-Enable-PKChunking": "chunkSize=250001",
        },
    )

    assert response.status_code == 400
    assert xml_fields(response)["exceptionCode"] == "InvalidJob"
