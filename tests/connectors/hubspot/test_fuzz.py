"""Schemathesis fuzzes every operation of HubSpot's published specs the emulator serves.

Each spec in /work/shared/vendor-specs/hubspot (HubSpot's own OpenAPI files) is
loaded, cut down to the operations the emulator serves, and each operation gets
generated requests, valid (positive) and invalid (negative), sent over real HTTP
to a served emulator. Every answer must: not be a 5xx; match the schema the spec
declares for its status; and an invalid request must never be accepted with a 2xx.

A few places where the published specs disagree with HubSpot's real behaviour
are corrected before loading (``SPEC_DEFECTS``), each with its reference.

Without the specs the test skips, unless ``ABMSYNC_REQUIRE_VENDOR_SPECS`` is set,
when it fails.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer

SPECS = Path(__file__).resolve().parents[3].parent / "shared" / "vendor-specs" / "hubspot"
TOKEN = "pat-fuzz-0001"
EXAMPLES = 10  # examples per operation: about 40 s for every served operation on 2 cores
# (spec file, method, path) the emulator serves; everything else in the specs is left out.
SERVED: dict[str, set[tuple[str, str]]] = {
    "contacts.json": {
        ("GET", "/crm/v3/objects/contacts"),
        ("POST", "/crm/v3/objects/contacts"),
        ("POST", "/crm/v3/objects/contacts/search"),
        ("GET", "/crm/v3/objects/contacts/{contactId}"),
        ("PATCH", "/crm/v3/objects/contacts/{contactId}"),
        ("DELETE", "/crm/v3/objects/contacts/{contactId}"),
        *{
            ("POST", f"/crm/v3/objects/contacts/batch/{action}")
            for action in ("create", "read", "update", "upsert", "archive")
        },
    },
    "companies.json": {
        ("GET", "/crm/v3/objects/companies"),
        ("POST", "/crm/v3/objects/companies/search"),
        ("POST", "/crm/v3/objects/companies/batch/create"),
        ("POST", "/crm/v3/objects/companies/batch/update"),
    },
    "deals.json": {
        ("GET", "/crm/v3/objects/0-3"),
        ("POST", "/crm/v3/objects/0-3/search"),
        ("POST", "/crm/v3/objects/0-3/batch/read"),
    },
    "notes.json": {
        ("GET", "/crm/v3/objects/notes"),
        ("POST", "/crm/v3/objects/notes"),
        ("POST", "/crm/v3/objects/notes/search"),
    },
    "properties.json": {
        ("GET", "/crm/v3/properties/{objectType}"),
        ("POST", "/crm/v3/properties/{objectType}"),
        ("GET", "/crm/v3/properties/{objectType}/groups"),
        ("POST", "/crm/v3/properties/{objectType}/groups"),
        ("GET", "/crm/v3/properties/{objectType}/{propertyName}"),
    },
    "crmOwners.json": {("GET", "/crm/v3/owners")},
    "associations.json": {
        ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive"),
        ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default"),
        ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create"),
        ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive"),
        ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read"),
        (
            "PUT",
            "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/"
            "{toObjectType}/{toObjectId}",
        ),
        ("GET", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}"),
        (
            "DELETE",
            "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
        ),
    },
}
# schema name -> fields the spec calls required that HubSpot does not require.
RELAXED_REQUIRED: dict[str, tuple[str, ...]] = {
    # HubSpot's own examples create records with properties only
    # (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/guide).
    "SimplePublicObjectInputForCreate": ("associations",),
    "SimplePublicObjectBatchInputForCreate": ("associations",),
    # Search examples send filterGroups alone
    # (https://developers.hubspot.com/docs/api-reference/search/guide).
    "PublicObjectSearchRequest": ("after", "filterGroups", "limit", "properties", "sorts"),
    # Batch read examples leave propertiesWithHistory out.
    "BatchReadInputSimplePublicObjectId": ("properties", "propertiesWithHistory"),
}
# Property values: HubSpot answers null for a requested property without a value
# (PROVENANCE.md) and reads a JSON number or boolean as its text
# (https://github.com/HubSpot/hubspot-api-nodejs/issues/329).
PROPERTY_VALUE_IN = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
PROPERTY_VALUE_OUT = {"type": "string", "nullable": True}
INPUT_SCHEMAS = (
    "SimplePublicObjectInput",
    "SimplePublicObjectInputForCreate",
    "SimplePublicObjectBatchInput",
    "SimplePublicObjectBatchInputForCreate",
    "SimplePublicObjectBatchInputUpsert",
)


def _require_specs() -> None:
    if SPECS.is_dir():
        return
    reason = f"HubSpot's OpenAPI specs are not at {SPECS}"
    if os.environ.get("ABMSYNC_REQUIRE_VENDOR_SPECS"):
        pytest.fail(reason + " and ABMSYNC_REQUIRE_VENDOR_SPECS is set")
    pytest.skip(reason)


def corrected(document: dict[str, Any], served: set[tuple[str, str]]) -> dict[str, Any]:
    """The spec cut down to ``served`` operations, with the known defects corrected."""
    fixed = copy.deepcopy(document)
    fixed["paths"] = {
        path: {m: op for m, op in ops.items() if (m.upper(), path) in served}
        for path, ops in fixed["paths"].items()
    }
    fixed["paths"] = {p: ops for p, ops in fixed["paths"].items() if ops}
    schemas = fixed.get("components", {}).get("schemas", {})
    for name, fields in RELAXED_REQUIRED.items():
        if name in schemas:
            kept = [f for f in schemas[name].get("required", []) if f not in fields]
            schemas[name]["required"] = kept
            if not kept:
                del schemas[name]["required"]
    for name, schema in schemas.items():
        values = schema.get("properties", {}).get("properties")
        if isinstance(values, dict) and "additionalProperties" in values:
            values["additionalProperties"] = copy.deepcopy(
                PROPERTY_VALUE_IN if name in INPUT_SCHEMAS else PROPERTY_VALUE_OUT
            )
    return fixed


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[SandboxServer]:
    app = create_app(token=TOKEN, burst_limit=10_000_000, daily_limit=10_000_000)
    with SandboxServer(app) as server:
        yield server


@pytest.mark.parametrize("spec", sorted(SERVED))
def test_served_operations_survive_generated_requests(
    spec: str, fuzz_server: SandboxServer
) -> None:
    _require_specs()
    document = json.loads((SPECS / spec).read_text())
    schema = schemathesis.openapi.from_dict(corrected(document, SERVED[spec]))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(SERVED[spec]), "every served operation is in the spec"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    checks = [not_a_server_error, response_schema_conformance, negative_data_rejection]
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def answers_as_specified(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzz_server.url, headers=headers, timeout=10)
            case.validate_response(response, checks=checks, headers=headers)

        answers_as_specified()
