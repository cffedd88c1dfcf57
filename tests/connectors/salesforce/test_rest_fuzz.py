"""Random requests to the REST surface: never a 5xx, errors always JSON, nonsense never 2xx."""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.connectors.salesforce.conftest import MakeOrg

METHODS = st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"])
VERSIONS = st.sampled_from(["v62.0", "v45.0", "v21.0", "v12.0", "v999.0", "vabc", "62.0"])
SEGMENTS = st.sampled_from(
    [
        "sobjects", "Account", "Lead", "Nope__c", "describe", "updated", "deleted", "query",
        "queryAll", "limits", "composite", "batch", "tree", "tooling", "CustomField",
        "001000000000000AAA", "Email", "Id", "x", "%20", "..",
    ]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
BODIES = st.one_of(
    st.none(),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=20),
    st.fixed_dictionaries({"compositeRequest": JSON_VALUES}).map(json.dumps),
    st.fixed_dictionaries({"records": JSON_VALUES}).map(json.dumps),
)
QUERIES = st.dictionaries(
    st.sampled_from(["q", "start", "end", "ids", "fields", "allOrNone"]),
    st.text(max_size=12),
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=METHODS,
    version=VERSIONS,
    segments=st.lists(SEGMENTS, max_size=4),
    body=BODIES,
    query=QUERIES,
)
def test_random_rest_requests_never_fail_the_server(
    make_org: MakeOrg,
    method: str,
    version: str,
    segments: list[str],
    body: str | None,
    query: dict[str, str],
) -> None:
    org = _org(make_org)
    path = "/".join([f"/services/data/{version}", *segments])
    answer = org.session.request(
        method, org.url + path, data=body, params=query, headers=org.headers
    )

    assert answer.status_code < 500, (method, path, answer.text)
    if answer.status_code >= 400 and method != "HEAD":
        payload: Any = answer.json()  # an error body is always JSON
        assert isinstance(payload, list) and {"message", "errorCode"} <= payload[0].keys()
    # What was sent: the client removes dot segments (RFC 3986 5.2.4), so ``v12.0/..``
    # asks for /services/data/ itself, not for version 12.0.
    sent = str(answer.request.path_url)
    unserved = version not in ("v62.0", "v45.0", "v21.0")
    if unserved and sent.startswith(f"/services/data/{version}"):
        assert answer.status_code in (404, 405), (method, sent)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.text(min_size=1, max_size=30).filter(lambda t: not _is_json(t)))
def test_a_body_that_is_not_json_is_a_json_parser_error(make_org: MakeOrg, body: str) -> None:
    org = _org(make_org)
    answer = org.session.post(
        f"{org.url}/services/data/v62.0/sobjects/Account", data=body.encode(), headers=org.headers
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


class _Client:
    def __init__(self, url: str, session: requests.Session, token: str) -> None:
        self.url = url
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


_CACHE: dict[int, _Client] = {}


def _org(make_org: MakeOrg) -> _Client:
    """One org per test function (hypothesis reuses the function's fixtures)."""
    key = id(make_org)
    if key not in _CACHE:
        _CACHE.clear()
        org = make_org(seed_data={"Account": [{"Name": "Seed"}]})
        _CACHE[key] = _Client(org.url, org.session(), org.token().json()["access_token"])
    return _CACHE[key]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
