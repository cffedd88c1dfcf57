"""The emulator's answers have the shapes a published Dataverse Web API profile declares.

The profile (/work/shared/vendor-specs/dynamics, a third-party OpenAPI
description of accounts, contacts and opportunities) gives shape hints only:
property types and formats of records, the list envelope, the 204 +
``OData-EntityId`` create answer and the ``{"error": {"code", "message"}}``
body. Without the files these tests skip, unless ``ABMSYNC_REQUIRE_VENDOR_SPECS``
is set, when they fail.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import Org

SPECS = Path(__file__).resolve().parents[3].parent / "shared" / "vendor-specs" / "dynamics"
PROFILE = SPECS / "api-evangelist-dataverse-web-api-openapi.yml"
TABLES = {"accounts": "Account", "contacts": "Contact", "opportunities": "Opportunity"}


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    if not PROFILE.exists():
        if os.environ.get("ABMSYNC_REQUIRE_VENDOR_SPECS"):
            pytest.fail(f"vendor spec missing: {PROFILE}")
        pytest.skip(f"vendor spec not available at {PROFILE}")
    loaded: dict[str, Any] = yaml.safe_load(PROFILE.read_text())
    return loaded


def check(value: Any, schema: dict[str, Any], where: str) -> None:
    """``value`` has the type and format the schema property declares (null always allowed)."""
    if value is None:
        return
    kind, form = schema.get("type"), schema.get("format")
    python = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    if kind in python:
        assert isinstance(value, python[kind]), f"{where}: {value!r} is not {kind}"
        if kind in ("integer", "number"):
            assert not isinstance(value, bool), f"{where}: boolean where {kind} expected"
    if form == "uuid":
        uuid.UUID(value)
    if form == "date-time":
        datetime.fromisoformat(value.replace("Z", "+00:00"))


SEED = {
    "accounts": {
        "name": "Contoso",
        "numberofemployees": 120,
        "revenue": 1000.5,
        "industrycode": 1,
        "donotemail": False,
        "websiteurl": "https://contoso.example",
    },
    "contacts": {
        "firstname": "Ann",
        "lastname": "Lee",
        "emailaddress1": "ann@contoso.example",
        "donotemail": True,
    },
    "opportunities": {"name": "Deal", "estimatedvalue": 5000.0, "estimatedclosedate": "2026-03-01"},
}


@pytest.mark.parametrize("entity_set", list(TABLES))
def test_records_match_the_profile(org: Org, profile: dict[str, Any], entity_set: str) -> None:
    api = org.client()
    schema = profile["components"]["schemas"][TABLES[entity_set]]["properties"]
    created = api.post(entity_set, json=SEED[entity_set])
    assert created.status_code == 204
    assert re.search(r"\([0-9a-f-]{36}\)$", created.headers["OData-EntityId"])
    listing = api.get(f"{entity_set}?$count=true").json()
    envelope = profile["paths"][f"/{entity_set}"]["get"]["responses"]["200"]["content"]
    declared = envelope["application/json"]["schema"]["properties"]
    for name in ("@odata.context", "@odata.count", "value"):
        assert name in declared and name in listing
    [record] = listing["value"]
    shared = [name for name in record if name in schema]
    assert len(shared) >= 6, "the emulator should share most of its columns with the profile"
    for name in shared:
        check(record[name], schema[name], f"{entity_set}.{name}")


def test_error_body_matches_the_profile(org: Org, profile: dict[str, Any]) -> None:
    api = org.client()
    error_schema = profile["components"]["schemas"]["ODataError"]
    answer = api.get("accounts(00000000-0000-0000-0000-000000000001)")
    assert answer.status_code == 404
    body = answer.json()
    inner_schema = error_schema["properties"]["error"]["properties"]
    assert set(body) == set(error_schema["properties"])
    for name in ("code", "message"):
        assert name in inner_schema
        check(body["error"][name], inner_schema[name], f"error.{name}")


def test_unauthorized_is_declared(org: Org, profile: dict[str, Any]) -> None:
    responses = profile["paths"]["/accounts"]["get"]["responses"]
    assert "401" in responses
    answer = httpx.get(f"{org.api}/accounts", verify=org.ssl_context)
    assert answer.status_code == 401
