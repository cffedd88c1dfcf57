"""The HubSpot emulator answers the official client as HubSpot does (real HTTP, no mocks)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import hubspot
import pytest
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException
from urllib3.util.retry import Retry

from abmsync.connectors.hubspot.client import Pacer
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer
from tests.connectors.hubspot.conftest import TOKEN, Sandbox

NO_RETRY = Retry(total=0, redirect=False, raise_on_status=False)


def client(sandbox: Sandbox, token: str = TOKEN) -> Any:
    return hubspot.Client.create(access_token=token, host=sandbox.url, retry=NO_RETRY)


def create_contacts(api: Any, rows: list[dict[str, str]]) -> list[str]:
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": row} for row in rows]
    )
    response = api.crm.objects.batch_api.create("contacts", body)
    return [r.id for r in response.results]


def test_list_pages_with_after_until_no_next_page(sandbox: Sandbox) -> None:
    sandbox.seed("contacts", 25, {"email": "p{i}@example.com"}, 1_000, 2_000)
    api = client(sandbox)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = api.crm.objects.basic_api.get_page(
            "contacts", limit=10, after=after, properties=["email"]
        )
        pages += 1
        seen += [r.id for r in page.results]
        assert all(r.properties["email"].endswith("@example.com") for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25


def test_batch_calls_use_hubspots_status_codes(sandbox: Sandbox) -> None:
    api = client(sandbox)
    batch = api.crm.objects.batch_api
    rows = [{"email": f"b{i}@example.com", "firstname": f"B{i}"} for i in range(3)]
    body = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": r} for r in rows])
    created, status, _ = batch.create_with_http_info("contacts", body)
    assert status == 201
    ids = [r.id for r in created.results]

    read = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=["email"], properties_with_history=[]
    )
    _, status, _ = batch.read_with_http_info("contacts", read)
    assert status == 200
    read.inputs = [{"id": ids[0]}, {"id": "999999"}]
    partial, status, _ = batch.read_with_http_info("contacts", read)
    assert status == 207
    assert partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.errors[0].context["ids"] == ["999999"]

    update = BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": ids[0], "properties": {"lifecyclestage": "lead"}}]
    )
    _, status, _ = batch.update_with_http_info("contacts", update)
    assert status == 200
    update.inputs = [
        {"id": ids[0], "properties": {"lifecyclestage": "lead"}},
        {"id": ids[1], "properties": {"lifecyclestage": "not-a-stage"}},
        {"id": ids[2], "properties": {"no_such_property": "x"}},
    ]
    partial, status, _ = batch.update_with_http_info("contacts", update)
    assert status == 207
    codes = sorted(e.errors[0].code for e in partial.errors)
    assert codes == ["INVALID_OPTION", "PROPERTY_DOESNT_EXIST"]

    archive = BatchInputSimplePublicObjectId(inputs=[{"id": ids[2]}])
    _, status, _ = batch.archive_with_http_info("contacts", archive)
    assert status == 204

    too_many = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": {"firstname": "x"}} for _ in range(101)]
    )
    with pytest.raises(ApiException) as failure:
        batch.create("contacts", too_many)
    assert failure.value.status == 400


def test_upsert_by_email_is_idempotent(sandbox: Sandbox) -> None:
    api = client(sandbox)
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[{"id": "Up@Example.com", "idProperty": "email", "properties": {"firstname": "U"}}]
    )
    first = api.crm.objects.batch_api.upsert("contacts", body)
    second = api.crm.objects.batch_api.upsert("contacts", body)
    assert first.results[0].new is True
    assert second.results[0].new is False
    assert first.results[0].id == second.results[0].id
    assert [r["properties"]["email"] for r in sandbox.records("contacts")] == ["up@example.com"]


# HubSpot answers a sixth search within a second with a 429, and so does the emulator:
# these back-to-back searches keep under the limit as any client must.
SEARCH_PACE = Pacer(4.0)


def search(api: Any, filter_groups: list[dict[str, Any]], **extra: Any) -> list[str]:
    request = PublicObjectSearchRequest(
        filter_groups=filter_groups, properties=["email"], limit=200, **extra
    )
    SEARCH_PACE.wait()
    response = api.crm.objects.search_api.do_search("contacts", request)
    return [r.properties["email"].split("@")[0] for r in response.results]


def one(prop: str, operator: str, **values: Any) -> list[dict[str, Any]]:
    return [{"filters": [{"propertyName": prop, "operator": operator, **values}]}]


def test_search_filters_follow_hubspot_semantics(sandbox: Sandbox) -> None:
    api = client(sandbox)
    create_contacts(
        api,
        [
            {"email": "ann@acme.com", "jobtitle": "VP Sales", "lifecyclestage": "lead"},
            {"email": "bob@acme.com", "jobtitle": "Engineer", "lifecyclestage": "customer"},
            {"email": "cat@other.io", "lifecyclestage": "lead"},
        ],
    )
    assert search(api, one("lifecyclestage", "EQ", value="lead")) == ["ann", "cat"]
    assert search(api, one("lifecyclestage", "NEQ", value="lead")) == ["bob"]
    assert search(api, one("lifecyclestage", "IN", values=["customer", "x"])) == ["bob"]
    assert search(api, one("lifecyclestage", "NOT_IN", values=["customer"])) == ["ann", "cat"]
    assert search(api, one("jobtitle", "HAS_PROPERTY")) == ["ann", "bob"]
    assert search(api, one("jobtitle", "NOT_HAS_PROPERTY")) == ["cat"]
    assert search(api, one("jobtitle", "CONTAINS_TOKEN", value="sales")) == ["ann"]
    assert search(api, one("email", "CONTAINS_TOKEN", value="*@acme.com")) == ["ann", "bob"]
    either = one("jobtitle", "CONTAINS_TOKEN", value="engineer") + one(
        "email", "EQ", value="cat@other.io"
    )
    assert search(api, either) == ["bob", "cat"]
    both = [
        {
            "filters": [
                {"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"},
                {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@acme.com"},
            ]
        }
    ]
    assert search(api, both) == ["ann"]
    newest_first = [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]
    assert search(api, [], sorts=newest_first) == ["cat", "bob", "ann"]


def test_search_dates_compare_as_epoch_milliseconds(sandbox: Sandbox) -> None:
    sandbox.seed("contacts", 10, {"email": "t{i}@example.com"}, 1_000_000, 1_009_000)
    api = client(sandbox)
    assert len(search(api, one("hs_lastmodifieddate", "GTE", value="1005000"))) == 5
    assert len(search(api, one("hs_lastmodifieddate", "LT", value="1001000"))) == 1
    between = one("hs_lastmodifieddate", "BETWEEN", value="1002000", highValue="1004000")
    assert len(search(api, between)) == 3
    iso = one("lastmodifieddate", "GT", value="1970-01-01T00:16:47.000Z")  # 1,007,000 ms
    assert len(search(api, iso)) == 2


def test_search_refuses_pages_past_10000_results_and_pages_over_200(sandbox: Sandbox) -> None:
    api = client(sandbox)
    for request in (
        PublicObjectSearchRequest(limit=100, after="10000"),
        PublicObjectSearchRequest(limit=201),
    ):
        with pytest.raises(ApiException) as failure:
            api.crm.objects.search_api.do_search("contacts", request)
        assert failure.value.status == 400
        assert json.loads(failure.value.body)["category"] == "VALIDATION_ERROR"


def test_properties_and_groups_are_created_once(sandbox: Sandbox) -> None:
    from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
    from hubspot.crm.properties.exceptions import ApiException as PropertiesError

    api = client(sandbox)
    groups = api.crm.properties.groups_api
    _, status, _ = groups.create_with_http_info(
        "contacts", PropertyGroupCreate(name="abmsync", label="abmsync")
    )
    assert status == 201
    spec = PropertyCreate(
        name="abm_grade",
        label="ABM grade",
        type="enumeration",
        field_type="select",
        group_name="abmsync",
        options=[{"label": v, "value": v, "hidden": False} for v in "ABCD"],
    )
    created, status, _ = api.crm.properties.core_api.create_with_http_info("contacts", spec)
    assert status == 201
    assert created.modification_metadata.read_only_value is False
    with pytest.raises(PropertiesError) as failure:
        api.crm.properties.core_api.create("contacts", spec)
    assert failure.value.status == 409
    assert "PROPERTY_EXISTS" in json.loads(failure.value.body)["subCategory"]
    names = [p.name for p in api.crm.properties.core_api.get_all("contacts").results]
    assert names.count("abm_grade") == 1


def test_owners_page(sandbox: Sandbox) -> None:
    page = client(sandbox).crm.owners.owners_api.get_page(limit=2)
    assert len(page.results) == 2
    assert page.paging.next.after == "2"


def test_associations_v4_default_batch_and_read(sandbox: Sandbox) -> None:
    from hubspot.crm.associations.v4 import BatchInputPublicAssociationMultiPost

    api = client(sandbox)
    ann, bob = create_contacts(api, [{"email": "ann@a.com"}, {"email": "bob@a.com"}])
    note = api.crm.objects.basic_api.create(
        "notes", {"properties": {"hs_note_body": "met", "hs_timestamp": "1700000000000"}}
    )
    assert note.properties["hs_timestamp"] == "2023-11-14T22:13:20.000Z"
    v4 = api.crm.associations.v4
    v4.basic_api.create_default("notes", note.id, "contacts", ann)
    body = BatchInputPublicAssociationMultiPost(
        inputs=[
            {
                "from": {"id": note.id},
                "to": {"id": bob},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
            }
        ]
    )
    _, status, _ = v4.batch_api.create_with_http_info("notes", "contacts", body)
    assert status == 201
    linked = v4.basic_api.get_page("notes", note.id, "contacts").results
    assert sorted(r.to_object_id for r in linked) == sorted([ann, bob])
    back = v4.basic_api.get_page("contacts", ann, "notes").results
    assert [r.association_types[0].type_id for r in back] == [201]


def test_bad_token_gets_hubspots_401_body(sandbox: Sandbox) -> None:
    response = httpx.get(
        f"{sandbox.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    body = response.json()
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert body["correlationId"]


def test_every_response_carries_rate_limit_headers(sandbox: Sandbox) -> None:
    response = httpx.get(
        f"{sandbox.url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    for name in ("Max", "Remaining", "Interval-Milliseconds", "Daily", "Daily-Remaining"):
        assert f"x-hubspot-ratelimit-{name.lower()}" in response.headers


def test_burst_limit_answers_429_with_rate_limit_body() -> None:
    app = create_app(token="t", burst_limit=2, burst_interval_ms=60_000)
    with SandboxServer(app) as server, httpx.Client(base_url=server.url) as http:
        headers = {"Authorization": "Bearer t"}
        codes = [http.get("/crm/v3/objects/contacts", headers=headers).status_code for _ in "abc"]
        limited = http.get("/crm/v3/objects/contacts", headers=headers)
    assert codes == [200, 200, 429]
    assert limited.json()["errorType"] == "RATE_LIMIT"
    assert limited.headers["x-hubspot-ratelimit-remaining"] == "0"


@pytest.mark.parametrize(
    ("kind", "status", "marker"),
    [
        ("rate_limit", 429, "You have reached your secondly limit."),
        ("server_error", None, '"status": "error"'),
        ("token_expiry", 401, "EXPIRED_AUTHENTICATION"),
    ],
)
def test_request_faults_have_hubspot_shapes(kind: str, status: int | None, marker: str) -> None:
    faults = Faults(**{kind: 1.0}, retry_after=0.5)  # type: ignore[arg-type]
    app = create_app(faults, token="t")
    with SandboxServer(app) as server, httpx.Client(base_url=server.url) as http:
        response = http.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer t"})
    assert response.status_code == status or (status is None and response.status_code in (502, 503))
    assert marker in response.text
    if kind == "rate_limit":
        assert response.headers["retry-after"] == "0.5"


def test_partial_failure_fault_fails_single_records_with_207(sandbox: Sandbox) -> None:
    sandbox.faults.partial_failure = 0.5
    api = client(sandbox)
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            {"properties": {"email": f"f{i}@x.com"}, "objectWriteTraceId": str(i)}
            for i in range(20)
        ]
    )
    response, status, _ = api.crm.objects.batch_api.create_with_http_info("contacts", body)
    assert status == 207
    failed = {e.context["objectWriteTraceId"][0] for e in response.errors}
    done = {r.object_write_trace_id for r in response.results}
    assert failed and done and failed | done == {str(i) for i in range(20)}
    assert len(sandbox.records("contacts")) == len(done)


def test_associations_v4_archive_unlinks_both_ways_and_answers_204(sandbox: Sandbox) -> None:
    from hubspot.crm.associations.v4 import (
        BatchInputPublicAssociationMultiArchive,
        BatchInputPublicAssociationMultiPost,
    )

    api = client(sandbox)
    ann, bob, cat = create_contacts(
        api, [{"email": "ann@a.com"}, {"email": "bob@a.com"}, {"email": "cat@a.com"}]
    )
    note = api.crm.objects.basic_api.create(
        "notes", {"properties": {"hs_note_body": "met", "hs_timestamp": "1700000000000"}}
    )
    v4 = api.crm.associations.v4
    for contact in (ann, bob, cat):
        v4.basic_api.create_default("notes", note.id, "contacts", contact)
    archive = BatchInputPublicAssociationMultiArchive(
        inputs=[{"from": {"id": note.id}, "to": [{"id": ann}, {"id": bob}]}]
    )
    _, status, _ = v4.batch_api.archive_with_http_info("notes", "contacts", archive)
    assert status == 204
    linked = v4.basic_api.get_page("notes", note.id, "contacts").results
    assert [r.to_object_id for r in linked] == [str(cat)]
    assert v4.basic_api.get_page("contacts", ann, "notes").results == []
    # Archiving never creates: a second archive of the same pair changes nothing.
    v4.batch_api.archive("notes", "contacts", archive)
    again = v4.basic_api.get_page("notes", note.id, "contacts").results
    assert [r.to_object_id for r in again] == [str(cat)]
    _, status, _ = v4.basic_api.archive_with_http_info("notes", note.id, "contacts", cat)
    assert status == 204
    assert v4.basic_api.get_page("notes", note.id, "contacts").results == []
    labels = BatchInputPublicAssociationMultiPost(
        inputs=[
            {
                "from": {"id": note.id},
                "to": {"id": ann},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
            }
        ]
    )
    v4.batch_api.create("notes", "contacts", labels)
    _, status, _ = v4.batch_api.archive_labels_with_http_info("notes", "contacts", labels)
    assert status == 204
    assert v4.basic_api.get_page("contacts", ann, "notes").results == []


def test_an_unknown_association_batch_action_is_not_a_create(sandbox: Sandbox) -> None:
    answer = sandbox.http.post(
        "/crm/v4/associations/notes/contacts/batch/unlink",
        json={"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 404
    assert answer.json()["category"]


def test_reads_with_associations_carry_the_linked_ids_inline(sandbox: Sandbox) -> None:
    api = client(sandbox)
    ann, bob = create_contacts(api, [{"email": "ann@a.com"}, {"email": "bob@a.com"}])
    note = api.crm.objects.basic_api.create(
        "notes", {"properties": {"hs_note_body": "met", "hs_timestamp": "1700000000000"}}
    )
    lonely = api.crm.objects.basic_api.create(
        "notes", {"properties": {"hs_note_body": "alone", "hs_timestamp": "1700000000000"}}
    )
    v4 = api.crm.associations.v4
    for contact in (ann, bob):
        v4.basic_api.create_default("notes", note.id, "contacts", contact)
    one = api.crm.objects.basic_api.get_by_id("notes", note.id, associations=["contacts"])
    inline = one.associations["contacts"].results
    assert sorted(a.id for a in inline) == sorted([str(ann), str(bob)])
    assert {a.type for a in inline} == {"note_to_contact"}
    page = api.crm.objects.basic_api.get_page("notes", associations=["contacts"], limit=10)
    by_id = {n.id: n.associations for n in page.results}
    assert sorted(a.id for a in by_id[note.id]["contacts"].results) == sorted([str(ann), str(bob)])
    assert by_id[lonely.id] is None  # no link: no associations key, as HubSpot answers
    back = api.crm.objects.basic_api.get_by_id("contacts", ann, associations=["notes"])
    assert [a.id for a in back.associations["notes"].results] == [note.id]
    plain = api.crm.objects.basic_api.get_by_id("notes", note.id)
    assert plain.associations is None
