"""The HubSpot emulator refuses, limits and pages as HubSpot does (real HTTP, no mocks).

References for each behaviour are in the emulator's modules
(``abmsync/sandbox/hubspot/batch.py``, ``bodies.py``, ``gate.py``, ``store.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from abmsync.connectors.base import Batch
from abmsync.connectors.hubspot import HubSpotConnector
from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.hubspot.gate import SEARCH_PER_SECOND
from abmsync.sandbox.server import SandboxServer
from tests.connectors.hubspot.conftest import TOKEN, Sandbox

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=30) as client:
        yield client


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"] and body["correlationId"]
    return body


def test_batch_create_with_one_bad_input_creates_nothing_and_names_the_property(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    inputs = [
        {"properties": {"email": "ann@a.com"}},
        {"properties": {"email": "bob@a.com", "no_such_property": "x"}},
        {"properties": {"email": "cat@a.com"}},
    ]
    answer = http.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    body = assert_hubspot_error(answer, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"][0]["context"]["propertyName"] == ["no_such_property"]
    assert sandbox.records("contacts") == []


def test_batch_create_with_an_email_twice_is_a_conflict_and_creates_nothing(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    inputs = [{"properties": {"email": "ann@a.com"}}, {"properties": {"email": "ANN@a.com"}}]
    answer = http.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    assert_hubspot_error(answer, 409, "CONFLICT")
    assert sandbox.records("contacts") == []


def test_batch_create_with_trace_ids_answers_207_and_creates_the_good_inputs(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    inputs = [
        {"properties": {"email": "ann@a.com"}, "objectWriteTraceId": "a"},
        {"properties": {"lifecyclestage": "not-a-stage"}, "objectWriteTraceId": "b"},
        {"properties": {"email": "cat@a.com"}, "objectWriteTraceId": "c"},
    ]
    answer = http.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    assert answer.status_code == 207
    body = answer.json()
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["a", "c"]
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["b"]
    assert body["errors"][0]["errors"][0]["code"] == "INVALID_OPTION"
    assert sorted(r["properties"]["email"] for r in sandbox.records("contacts")) == [
        "ann@a.com",
        "cat@a.com",
    ]


def test_batch_read_answers_207_naming_the_missing_ids(http: httpx.Client) -> None:
    made = http.post(
        "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "ann@a.com"}}]},
    ).json()["results"][0]["id"]
    answer = http.post(
        "/crm/v3/objects/contacts/batch/read",
        json={"inputs": [{"id": made}, {"id": "424242"}], "properties": ["email"]},
    )
    assert answer.status_code == 207
    assert [r["id"] for r in answer.json()["results"]] == [made]
    assert answer.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert answer.json()["errors"][0]["context"]["ids"] == ["424242"]


@pytest.mark.parametrize("body", [None, b"", b"{}", b'{"properties": null}'])
def test_create_without_properties_is_refused_and_creates_nothing(
    http: httpx.Client, sandbox: Sandbox, body: bytes | None
) -> None:
    answer = http.post(
        "/crm/v3/objects/contacts", content=body, headers={"Content-Type": "application/json"}
    )
    reply = assert_hubspot_error(answer, 400, "VALIDATION_ERROR")
    assert reply["message"].startswith("Invalid input JSON")
    assert sandbox.records("contacts") == []


def test_property_values_of_the_wrong_json_type_are_refused(http: httpx.Client) -> None:
    answer = http.post("/crm/v3/objects/contacts", json={"properties": {"email": ["a@b.c"]}})
    reply = assert_hubspot_error(answer, 400, "VALIDATION_ERROR")
    assert "Cannot deserialize" in reply["message"]
    number = http.post("/crm/v3/objects/deals", json={"properties": {"amount": 12}})
    assert number.status_code == 201  # a JSON number is read as its text, as HubSpot does
    assert number.json()["properties"]["amount"] == "12"


def test_a_body_that_is_not_utf8_is_a_json_400_not_a_crash(http: httpx.Client) -> None:
    answer = http.post(
        "/crm/v3/objects/contacts",
        content=b'{"properties": {"firstname": "\xff\xfe"}}',
        headers={"Content-Type": "application/json"},
    )
    assert_hubspot_error(answer, 400, "VALIDATION_ERROR")


def test_unknown_routes_and_wrong_methods_answer_hubspot_json(http: httpx.Client) -> None:
    assert_hubspot_error(http.get("/crm/v3/no-such-api"), 404, "OBJECT_NOT_FOUND")
    wrong = http.put("/crm/v3/objects/contacts")
    assert_hubspot_error(wrong, 405, "VALIDATION_ERROR")
    assert wrong.headers["allow"]  # the methods that path does take


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/crm/v3/objects/contacts", {"limit": "1000"}),
        ("/crm/v3/objects/contacts", {"limit": "0"}),
        ("/crm/v3/objects/contacts", {"limit": "ten"}),
        ("/crm/v3/objects/contacts", {"limit": "100", "propertiesWithHistory": "email"}),
        ("/crm/v3/objects/contacts", {"archived": "maybe"}),
        ("/crm/v3/owners", {"limit": "501"}),
    ],
)
def test_out_of_range_query_values_are_refused_not_clamped(
    http: httpx.Client, path: str, query: dict[str, str]
) -> None:
    assert_hubspot_error(http.get(path, params=query), 400, "VALIDATION_ERROR")


def test_search_refuses_more_than_six_filters_in_a_group(http: httpx.Client) -> None:
    filters = [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7
    answer = http.post(
        "/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": filters}]}
    )
    assert_hubspot_error(answer, 400, "VALIDATION_ERROR")


def test_next_page_link_is_a_full_url_that_reads_the_next_page(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.seed("contacts", 3, {"email": "p{i}@example.com"}, 1_000, 2_000)
    first = http.get("/crm/v3/objects/contacts", params={"limit": 2, "properties": "email"}).json()
    following = first["paging"]["next"]
    assert following["link"].startswith(f"{sandbox.url}/crm/v3/objects/contacts?")
    assert f"after={following['after']}" in following["link"]
    second = http.get(following["link"]).json()
    assert len(second["results"]) == 1
    assert "paging" not in second
    seen = {r["id"] for r in first["results"]} | {r["id"] for r in second["results"]}
    assert len(seen) == 3


def test_properties_with_history_carry_each_value_with_its_timestamp(http: httpx.Client) -> None:
    made = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "h@a.com"}}).json()
    answer = http.get(
        f"/crm/v3/objects/contacts/{made['id']}",
        params={"propertiesWithHistory": "email,jobtitle"},
    ).json()
    history = answer["propertiesWithHistory"]
    assert list(history) == ["email"]  # a property without a value has no history
    assert history["email"][0]["value"] == "h@a.com"
    assert history["email"][0]["timestamp"] == answer["updatedAt"]
    assert history["email"][0]["sourceType"]


def test_default_properties_live_in_hubspots_own_groups(http: httpx.Client) -> None:
    groups = {
        obj: {g["name"] for g in http.get(f"/crm/v3/properties/{obj}/groups").json()["results"]}
        for obj in ("contacts", "companies", "deals")
    }
    assert {"contactinformation", "emailinformation", "sales_properties"} <= groups["contacts"]
    assert "companyinformation" in groups["companies"]
    assert "dealinformation" in groups["deals"]
    assert all(name != "information" for names in groups.values() for name in names)
    contacts = {p["name"]: p for p in http.get("/crm/v3/properties/contacts").json()["results"]}
    assert contacts["email"]["groupName"] == "contactinformation"
    assert contacts["hs_email_optout"]["groupName"] == "emailinformation"
    assert {p["groupName"] for p in contacts.values()} <= groups["contacts"]


def test_private_app_answers_carry_the_daily_quota_and_oauth_answers_do_not() -> None:
    # An hour-long burst window, so no call leaves it while the test runs.
    app = create_app(
        token=TOKEN,
        burst_limit=100,
        burst_interval_ms=3_600_000,
        daily_limit=500,
        secondly_limit=10,
    )
    app.state.gate.oauth_tokens.add("oauth-access-token")
    oauth = {"Authorization": "Bearer oauth-access-token"}
    with SandboxServer(app) as server, httpx.Client(base_url=server.url) as http:
        private = [http.get("/crm/v3/objects/contacts", headers=AUTH) for _ in range(2)]
        public = http.get("/crm/v3/objects/contacts", headers=oauth)
        stranger = http.get(
            "/crm/v3/objects/contacts", headers={"Authorization": "oauth-access-token"}
        )
    first, second = (answer.headers for answer in private)
    assert first["X-HubSpot-RateLimit-Daily"] == second["X-HubSpot-RateLimit-Daily"] == "500"
    assert first["X-HubSpot-RateLimit-Daily-Remaining"] == "499"
    assert second["X-HubSpot-RateLimit-Daily-Remaining"] == "498"  # each call counts
    assert second["X-HubSpot-RateLimit-Max"] == "100"
    assert second["X-HubSpot-RateLimit-Remaining"] == "98"
    assert second["X-HubSpot-RateLimit-Interval-Milliseconds"] == "3600000"
    assert second["X-HubSpot-RateLimit-Secondly"] == "10"
    assert first["X-HubSpot-RateLimit-Secondly-Remaining"] == "9"  # the call itself is in it
    assert public.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in public.headers
    assert "X-HubSpot-RateLimit-Daily-Remaining" not in public.headers
    assert public.headers["X-HubSpot-RateLimit-Remaining"] == "97"  # the same burst window
    assert_hubspot_error(stranger, 401, "INVALID_AUTHENTICATION")  # not a bearer token


def test_search_is_limited_to_five_calls_a_second_with_hubspots_429() -> None:
    app = create_app(token=TOKEN, burst_limit=10_000, search_per_second=SEARCH_PER_SECOND)
    with SandboxServer(app) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        codes = [
            http.post("/crm/v3/objects/contacts/search", json={}).status_code
            for _ in range(SEARCH_PER_SECOND + 1)
        ]
        listed = http.get("/crm/v3/objects/contacts")
    assert codes[:SEARCH_PER_SECOND] == [200] * SEARCH_PER_SECOND
    assert codes[-1] == 429
    assert listed.status_code == 200  # other endpoints are not held back by the search limit


def test_search_limit_body_is_hubspots_secondly_policy() -> None:
    app = create_app(token=TOKEN, search_per_second=1)
    with SandboxServer(app) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        http.post("/crm/v3/objects/contacts/search", json={})
        limited = http.post("/crm/v3/objects/contacts/search", json={})
    body = assert_hubspot_error(limited, 429, "RATE_LIMITS")
    assert body["policyName"] == "SECONDLY"
    assert body["errorType"] == "RATE_LIMIT"


def test_connector_reads_everything_through_the_search_limit() -> None:
    app = create_app(token=TOKEN, burst_limit=10_000, search_per_second=SEARCH_PER_SECOND)
    app.state.store.seed("contacts", 1_200, {"email": "s{i}@x.com"}, 1_000, 900_000)
    with SandboxServer(app) as server:
        connector = HubSpotConnector(
            SecretStr(TOKEN), host=server.url, timeout=5, attempts=8, search_per_second=None
        )
        rows: list[dict[str, Any]] = []
        for batch in connector.read_changes("contacts", None):
            assert isinstance(batch, Batch)
            rows += batch.records.to_dicts()
    # Each 429 is waited out and the page asked for again: nothing is lost or read twice.
    assert sorted(r["email"] for r in rows) == sorted(f"s{i}@x.com" for i in range(1_200))


class StatusTally:
    """ASGI wrapper counting the statuses an app answers with."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def tally(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, tally)


@pytest.mark.parametrize(("pace", "limited"), [(4.0, False), (None, True)])
def test_connector_paces_its_searches_under_the_limit(pace: float | None, limited: bool) -> None:
    app = create_app(token=TOKEN, burst_limit=10_000, search_per_second=SEARCH_PER_SECOND)
    tally = StatusTally(app)
    with SandboxServer(tally) as server:
        connector = HubSpotConnector(
            SecretStr(TOKEN), host=server.url, timeout=5, attempts=8, search_per_second=pace
        )
        cursor = None
        for batch in connector.read_changes("contacts", None):  # an empty portal: a list read
            assert isinstance(batch, Batch)
            cursor = batch.cursor
        app.state.store.seed("contacts", 1_200, {"email": "p{i}@x.com"}, 10**12, 10**12 + 9**6)
        emails: list[str] = []
        for batch in connector.read_changes("contacts", cursor):  # searches, 200 a page
            assert isinstance(batch, Batch)
            emails += batch.records["email"].to_list()
    searches = app.state.gate.requests["POST /crm/v3/objects/contacts/search"]
    assert searches >= 6
    assert (429 in tally.statuses) is limited
    assert sorted(emails) == sorted(f"p{i}@x.com" for i in range(1_200))


def test_lifecycle_stage_moves_back_only_after_it_is_cleared(http: httpx.Client) -> None:
    created = http.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "back@x.com", "lifecyclestage": "customer"}},
    ).json()
    path = f"/crm/v3/objects/contacts/{created['id']}"

    def stage() -> str | None:
        answer = http.get(path, params={"properties": "lifecyclestage"}).json()
        value: str | None = answer["properties"].get("lifecyclestage")
        return value

    # An earlier stage is answered as a success and not applied.
    moved = http.patch(path, json={"properties": {"lifecyclestage": "lead"}})
    assert moved.status_code == 200
    assert stage() == "customer"
    # Forward is fine; backwards needs the value cleared first, in its own request.
    http.patch(path, json={"properties": {"lifecyclestage": "evangelist"}})
    assert stage() == "evangelist"
    http.patch(path, json={"properties": {"lifecyclestage": ""}})
    http.patch(path, json={"properties": {"lifecyclestage": "lead"}})
    assert stage() == "lead"
