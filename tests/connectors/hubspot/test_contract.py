"""The contract checker catches answers HubSpot's specs forbid, and the emulator keeps to them.

The first half feeds the checker deliberately wrong exchanges (and right ones)
and a deliberately wrong app served over HTTP; the second half drives every
documented operation the emulator serves and proves each answer was matched to
its spec operation and checked. Without the specs (``SPECS``) these tests skip,
unless ``ABMSYNC_REQUIRE_VENDOR_SPECS`` is set, when they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer

from .conftest import TOKEN, Sandbox
from .contract import LEDGER, SPECS, Contract, ContractRecorder, Exchange, Ledger, check
from .contract.child import child_env, read_log

CONTACT = {
    "id": "51",
    "properties": {"email": "ann@acme.example", "phone": None},
    "createdAt": "2024-05-01T10:00:00.000Z",
    "updatedAt": "2024-05-01T10:00:00.000Z",
    "archived": False,
}
ERROR = {
    "status": "error",
    "message": "resource not found",
    "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
    "category": "OBJECT_NOT_FOUND",
}


@pytest.fixture(scope="module")
def contract() -> Contract:
    if not SPECS.is_dir():
        if os.environ.get("ABMSYNC_REQUIRE_VENDOR_SPECS"):
            pytest.fail(f"HubSpot vendor specs missing: {SPECS}")
        pytest.skip(f"HubSpot vendor specs not available at {SPECS}")
    return Contract.load(SPECS)


def exchange(
    method: str,
    path: str,
    status: int,
    answer: Any = None,
    *,
    query: str = "",
    sent: Any = None,
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        query=query,
        request_body=b"" if sent is None else json.dumps(sent).encode(),
        status=status,
        response_body=b"" if answer is None else json.dumps(answer).encode(),
        content_type="application/json;charset=utf-8",
    )


def problems(contract: Contract, sent: Exchange) -> list[tuple[str, str]]:
    """(side, JSON path) of every violation of ``sent``."""
    return [(v.side, v.where) for v in check(contract, sent)[1]]


# -- the checker ---------------------------------------------------------------------


def test_a_right_contact_answer_passes(contract: Contract) -> None:
    sent = exchange("GET", "/crm/v3/objects/contacts/51", 200, CONTACT, query="properties=phone")
    operation, found = check(contract, sent)
    assert operation is not None and operation.name == "GET /crm/v3/objects/contacts/{contactId}"
    assert found == []


def test_a_numeric_id_and_a_missing_timestamp_break_the_contract(contract: Contract) -> None:
    wrong = {**CONTACT, "id": 51}
    del wrong["createdAt"]
    sent = exchange("GET", "/crm/v3/objects/contacts/51", 200, wrong)
    assert problems(contract, sent) == [("response", "$"), ("response", "$.id")]
    [missing, _] = check(contract, sent)[1]
    assert "'createdAt' is a required property" in str(missing)
    assert str(missing).startswith("GET /crm/v3/objects/contacts/{contactId} answered 200")


def test_a_field_hubspot_does_not_declare_breaks_the_contract(contract: Contract) -> None:
    sent = exchange("GET", "/crm/v3/objects/contacts/51", 200, {**CONTACT, "portalId": 7})
    [violation] = check(contract, sent)[1]
    assert violation.where == "$" and "'portalId' was unexpected" in violation.problem


def test_a_null_property_value_is_a_known_defect_but_a_null_id_is_not(
    contract: Contract,
) -> None:
    sent = exchange("GET", "/crm/v3/objects/contacts/51", 200, {**CONTACT, "id": None})
    assert problems(contract, sent) == [("response", "$.id")]


def test_a_create_answered_200_breaks_the_contract(contract: Contract) -> None:
    sent = exchange("POST", "/crm/v3/objects/contacts", 200, CONTACT, sent={"properties": {}})
    [violation] = check(contract, sent)[1]
    assert (violation.where, violation.problem) == ("status", "not declared (201, default)")


def test_a_204_with_a_body_breaks_the_contract(contract: Contract) -> None:
    sent = exchange("DELETE", "/crm/v3/objects/contacts/51", 204, {"ok": True})
    assert problems(contract, sent) == [("response", "body")]
    assert problems(contract, exchange("DELETE", "/crm/v3/objects/contacts/51", 204)) == []


def test_an_accepted_request_the_spec_refuses_breaks_the_contract(contract: Contract) -> None:
    answer = {"status": "COMPLETE", "results": [], "startedAt": CONTACT["createdAt"]}
    answer["completedAt"] = CONTACT["createdAt"]
    path = "/crm/v3/objects/contacts/batch/read"
    bad = {"inputs": [{"id": 51}], "properties": [], "propertiesWithHistory": []}
    assert problems(contract, exchange("POST", path, 200, answer, sent=bad)) == [
        ("request", "$.inputs[0].id")
    ]
    listing = exchange("GET", "/crm/v3/objects/contacts", 200, {"results": []}, query="limit=ten")
    assert problems(contract, listing) == [("request", "?limit")]


def test_a_property_value_hubspot_cannot_read_as_text_must_be_refused(
    contract: Contract,
) -> None:
    deal = {**CONTACT, "properties": {"amount": "12"}}
    taken = exchange(
        "POST", "/crm/v3/objects/deals", 201, deal, sent={"properties": {"amount": 12}}
    )
    assert problems(contract, taken) == []  # a number is read as its text
    listed = {"properties": {"amount": ["12"]}}
    wrong = exchange("POST", "/crm/v3/objects/deals", 201, deal, sent=listed)
    assert problems(contract, wrong) == [("request", "$.properties.amount")]


def test_a_refused_bad_request_is_what_hubspot_does(contract: Contract) -> None:
    refused = {**ERROR, "category": "VALIDATION_ERROR", "message": "Invalid input JSON"}
    sent = exchange("POST", "/crm/v3/objects/contacts/batch/read", 400, refused, sent={"x": 1})
    assert problems(contract, sent) == []


def test_errors_carry_hubspots_error_body(contract: Contract) -> None:
    path = "/crm/v3/objects/contacts/52"
    assert problems(contract, exchange("GET", path, 404, ERROR)) == []
    no_category = {k: v for k, v in ERROR.items() if k != "category"}
    assert problems(contract, exchange("GET", path, 404, no_category)) == [("response", "$")]


def test_a_429_follows_the_documented_rate_limit_body(contract: Contract) -> None:
    body = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": ERROR["correlationId"],
        "policyName": "SECONDLY",
    }
    path = "/crm/v3/objects/contacts"
    assert problems(contract, exchange("GET", path, 429, body)) == []
    assert problems(contract, exchange("GET", path, 429, {**body, "policyName": "x"})) == [
        ("response", "$.policyName")
    ]


def test_deals_and_object_type_ids_find_their_operations(contract: Contract) -> None:
    found = {
        path: operation.name if (operation := contract.find(method, path)) else None
        for method, path in [
            ("GET", "/crm/v3/objects/deals/7"),
            ("POST", "/crm/v3/objects/0-1/batch/read"),
            ("GET", "/crm/v3/properties/companies/groups"),
            ("GET", "/crm/v3/properties/companies/name"),
            ("GET", "/__sandbox/records/contacts"),
        ]
    }
    assert found == {
        "/crm/v3/objects/deals/7": "GET /crm/v3/objects/0-3/{dealId}",
        "/crm/v3/objects/0-1/batch/read": "POST /crm/v3/objects/contacts/batch/read",
        "/crm/v3/properties/companies/groups": "GET /crm/v3/properties/{objectType}/groups",
        "/crm/v3/properties/companies/name": ("GET /crm/v3/properties/{objectType}/{propertyName}"),
        "/__sandbox/records/contacts": None,
    }


# -- the recorder, over HTTP -----------------------------------------------------------


def test_the_recorder_catches_a_wrong_answer_served_over_http(contract: Contract) -> None:
    async def wrong_contact(request: Request) -> JSONResponse:
        return JSONResponse({**CONTACT, "archived": "no"})

    app = Starlette(routes=[Route("/crm/v3/objects/contacts/{id}", wrong_contact)])
    ledger = Ledger()
    with SandboxServer(ContractRecorder(app, contract, ledger)) as server:
        answer = httpx.get(f"{server.url}/crm/v3/objects/contacts/51")
        unknown = httpx.get(f"{server.url}/crm/v3/schemas")
    assert answer.json()["archived"] == "no"  # the answer itself goes out unchanged
    assert unknown.status_code == 404
    [violation] = ledger.unreported()
    assert (violation.operation, violation.where) == (
        "GET /crm/v3/objects/contacts/{contactId}",
        "$.archived",
    )
    assert ledger.validated == {"GET /crm/v3/objects/contacts/{contactId} -> 200": 1}
    assert ledger.skipped == {"GET /crm/v3/schemas": 1}
    assert ledger.unreported() == []


def test_the_emulator_wrapped_keeps_its_state_reachable(contract: Contract) -> None:
    app = create_app(token=TOKEN)
    wrapped = ContractRecorder(app, contract, Ledger())
    assert wrapped.state.store is app.state.store


def test_a_launched_abmsync_process_logs_its_emulators_verdicts(
    contract: Contract, tmp_path: Path
) -> None:
    log = tmp_path / "contract.jsonl"
    program = (
        "import httpx\n"
        "from abmsync.sandbox.hubspot.app import create_app\n"
        "from abmsync.sandbox.server import SandboxServer\n"
        "with SandboxServer(create_app(token='t')) as server:\n"
        "    auth = {'Authorization': 'Bearer t'}\n"
        "    httpx.get(server.url + '/crm/v3/objects/contacts', headers=auth)\n"
        "    httpx.post(server.url + '/__sandbox/reset')\n"
    )
    env = {**os.environ, **child_env(log)}
    subprocess.run([sys.executable, "-c", program], env=env, check=True, timeout=120)
    assert read_log(log) == (1, 1, [])


# -- the emulator's documented operations ------------------------------------------------------


def test_every_documented_operation_the_emulator_serves_is_checked(
    contract: Contract, sandbox: Sandbox
) -> None:
    before = LEDGER.validated.copy()
    api = httpx.Client(
        base_url=sandbox.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    objects = "/crm/v3/objects"

    def call(method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = api.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None

    ann = call("POST", f"{objects}/contacts", 201, json={"properties": {"email": "a@x.com"}})["id"]
    acme = call("POST", f"{objects}/companies", 201, json={"properties": {"name": "Acme"}})["id"]
    call("GET", f"{objects}/contacts", 200, params={"properties": "email,phone"})
    call("GET", f"{objects}/contacts/{ann}", 200, params={"associations": "companies"})
    call("PATCH", f"{objects}/contacts/{ann}", 200, json={"properties": {"jobtitle": "CTO"}})
    call("POST", f"{objects}/contacts/search", 200, json={"filterGroups": [], "limit": 5})
    batch = f"{objects}/deals/batch"
    [deal] = call("POST", f"{batch}/create", 201, json={"inputs": [{"properties": {}}]})["results"]
    call(
        "POST",
        f"{batch}/read",
        200,
        json={"inputs": [{"id": deal["id"]}], "properties": [], "propertiesWithHistory": []},
    )
    update = {"inputs": [{"id": deal["id"], "properties": {"dealname": "Big"}}]}
    call("POST", f"{batch}/update", 200, json=update)
    call("POST", f"{batch}/upsert", 200, json=update)
    call("POST", f"{batch}/archive", 204, json={"inputs": [{"id": deal["id"]}]})
    call("GET", "/crm/v3/properties/contacts", 200)
    call("GET", "/crm/v3/properties/contacts/email", 200)
    call("GET", "/crm/v3/properties/contacts/groups", 200)
    group = {"name": "abm", "label": "ABM"}
    call("POST", "/crm/v3/properties/contacts/groups", 201, json=group)
    field = {"name": "abm_score", "label": "ABM score", "type": "number", "fieldType": "number"}
    call("POST", "/crm/v3/properties/contacts", 201, json={**field, "groupName": "abm"})
    call("GET", "/crm/v3/owners", 200)
    v4 = "/crm/v4/associations/contacts/companies/batch"
    call("PUT", f"/crm/v4/objects/contacts/{ann}/associations/default/companies/{acme}", 200)
    pair = {"from": {"id": ann}, "to": {"id": acme}}
    call("POST", f"{v4}/associate/default", 200, json={"inputs": [pair]})
    typed = {**pair, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}
    call("POST", f"{v4}/create", 201, json={"inputs": [typed]})
    call("POST", f"{v4}/read", 200, json={"inputs": [{"id": ann}]})
    call("GET", f"/crm/v4/objects/contacts/{ann}/associations/companies", 200)
    call("POST", f"{v4}/labels/archive", 204, json={"inputs": [typed]})
    call(
        "POST", f"{v4}/archive", 204, json={"inputs": [{"from": {"id": ann}, "to": [{"id": acme}]}]}
    )
    call("DELETE", f"/crm/v4/objects/contacts/{ann}/associations/companies/{acme}", 204)
    call("DELETE", f"{objects}/contacts/{ann}", 204)
    call("GET", f"{objects}/contacts/{ann}", 404)
    api.close()
    checked = {key for key, count in LEDGER.validated.items() if count > before.get(key, 0)}
    assert checked >= {
        "POST /crm/v3/objects/contacts -> 201",
        "POST /crm/v3/objects/companies -> 201",
        "GET /crm/v3/objects/contacts -> 200",
        "GET /crm/v3/objects/contacts/{contactId} -> 200",
        "PATCH /crm/v3/objects/contacts/{contactId} -> 200",
        "POST /crm/v3/objects/contacts/search -> 200",
        "POST /crm/v3/objects/0-3/batch/create -> 201",
        "POST /crm/v3/objects/0-3/batch/read -> 200",
        "POST /crm/v3/objects/0-3/batch/update -> 200",
        "POST /crm/v3/objects/0-3/batch/upsert -> 200",
        "POST /crm/v3/objects/0-3/batch/archive -> 204",
        "GET /crm/v3/properties/{objectType} -> 200",
        "GET /crm/v3/properties/{objectType}/{propertyName} -> 200",
        "GET /crm/v3/properties/{objectType}/groups -> 200",
        "POST /crm/v3/properties/{objectType}/groups -> 201",
        "POST /crm/v3/properties/{objectType} -> 201",
        "GET /crm/v3/owners -> 200",
        "PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/"
        "{toObjectType}/{toObjectId} -> 200",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default -> 200",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create -> 201",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read -> 200",
        "GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType} -> 200",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive -> 204",
        "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive -> 204",
        "DELETE /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/"
        "{toObjectId} -> 204",
        "DELETE /crm/v3/objects/contacts/{contactId} -> 204",
        "GET /crm/v3/objects/contacts/{contactId} -> 404",
    }
