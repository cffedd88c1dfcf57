"""The emulator's answers have the status codes and shapes Oracle's OpenAPI description declares.

The description (/work/shared/vendor-specs/eloqua, Ballerina's copy of
Oracle's published swagger, 2021.08.12) types the application API's answers
(``QueryResultContactRest10``, ``ContactRest10``, ``ContactFieldRest10``,
``CustomObjectRest20``...) fully; for the Bulk API it types the definition
and sync objects in the request bodies (their read-only properties, ``uri``,
``createdAt``... included) and leaves answers as bare objects. So Bulk answers
are checked against the request schema of the same resource, list envelopes
against the envelope Oracle's reference pages show
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-syncs-id-data-get.html:
``count``, ``hasMore``, ``items``, ``limit``, ``offset``, ``totalResults``).

Two known defects of the description are overridden: definitions' ``fields``
is an object (column name -> statement) and ``syncActions`` a list of objects,
as the reference pages say
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-campaignresponses-exports-id-put.html),
not lists of strings.

Without the file these tests skip, unless ``ABMSYNC_REQUIRE_VENDOR_SPECS`` is
set, when they fail.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import Site

SPECS = Path(__file__).resolve().parents[3].parent / "shared" / "vendor-specs" / "eloqua"
SPEC = SPECS / "eloqua-openapi-2021.08.12.yaml"
OVERRIDES = {
    "fields": {"type": "object"},
    "syncActions": {"type": "array", "items": {"type": "object"}},
}
ENVELOPE = {
    "type": "object",
    "required": ["limit", "offset", "count", "hasMore"],
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "totalResults": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "count": {"type": "integer"},
        "hasMore": {"type": "boolean"},
    },
}
# Properties real answers carry that the 2021 description does not list (a real
# ContactField answer has it).
UNDECLARED_OK = {"isAccountLinkageField"}


class Spec:
    """The loaded description, with ``$ref`` resolution and per-operation lookups."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def operation(self, path: str, method: str) -> dict[str, Any]:
        found: dict[str, Any] = self.document["paths"][path][method.lower()]
        return found

    def response_schema(self, path: str, method: str, status: int) -> dict[str, Any]:
        response = self.operation(path, method)["responses"][status]
        return self.resolve(response["content"]["application/json"]["schema"])

    def request_schema(self, path: str) -> dict[str, Any]:
        body = self.operation(path, "post")["requestBody"]["content"]["application/json"]["schema"]
        return self.resolve(body)

    def schema(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.document["components"]["schemas"][name]
        return found


@pytest.fixture(scope="module")
def spec() -> Spec:
    if not SPEC.exists():
        if os.environ.get("ABMSYNC_REQUIRE_VENDOR_SPECS"):
            pytest.fail(f"vendor spec missing: {SPEC}")
        pytest.skip(f"vendor spec not available at {SPEC}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open() as handle:
        return Spec(yaml.load(handle, Loader=loader))


def check(
    spec: Spec,
    value: Any,
    schema: dict[str, Any],
    where: str,
    *,
    overrides: dict[str, Any] | None = None,
) -> None:
    """``value`` fits ``schema``: types, enums, formats, required and declared properties.

    ``overrides`` replace the schemas of top-level properties the description gets wrong.
    """
    schema = spec.resolve(schema)
    kind = schema.get("type")
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if kind == "object" or "properties" in schema:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        for name in schema.get("required", []):
            assert name in value, f"{where}: required {name!r} missing"
        properties = {**schema.get("properties", {}), **(overrides or {})}
        if properties:
            extra = set(value) - set(properties) - UNDECLARED_OK
            assert not extra, f"{where}: undeclared properties {sorted(extra)}"
        for name, sub in properties.items():
            if name in value:
                check(spec, value[name], sub, f"{where}.{name}")
        return
    if kind == "array":
        assert isinstance(value, list), f"{where}: {value!r} is not an array"
        for index, item in enumerate(value):
            check(spec, item, schema.get("items", {}), f"{where}[{index}]")
        return
    python: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    if kind in python:
        assert isinstance(value, python[kind]), f"{where}: {value!r} is not {kind}"
        if kind in ("integer", "number"):
            assert not isinstance(value, bool), f"{where}: boolean where {kind} expected"
    if schema.get("format") == "date-time":
        datetime.fromisoformat(value.replace("Z", "+00:00")[:26] + "+00:00")


def answer(
    spec: Spec, client: httpx.Client, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call the spec path ``path`` (``{id}`` filled from ``ids=``); its status must be declared."""
    ids: dict[str, Any] = kwargs.pop("ids", {})
    response = client.request(method, path.format(**ids), **kwargs)
    declared = spec.operation(path, method)["responses"]
    assert response.status_code in declared, f"{method} {path}: {response.status_code} not declared"
    return response


@pytest.fixture
def api(site: Site) -> httpx.Client:
    client = httpx.Client(
        base_url=site.url,
        verify=site.ssl_context,
        trust_env=False,
        timeout=30,
        headers={"Authorization": site.basic_auth},
    )
    site.clients.append(client)
    return client


def seed(site: Site) -> tuple[int, int]:
    [account_id] = site.store.add_accounts([{"M_CompanyName": "Acme", "M_Country": "US"}])
    [contact_id] = site.store.add_contacts(
        [{"C_EmailAddress": "ann@acme.example", "C_FirstName": "Ann", "C_Title": "CTO"}]
    )
    site.store.link_contact_to_account(contact_id, account_id)
    return contact_id, account_id


# -- application API ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", ["minimal", "partial", "complete"])
def test_contacts_and_accounts_match_the_description(
    spec: Spec, site: Site, api: httpx.Client, depth: str
) -> None:
    contact_id, account_id = seed(site)
    for entity, single, schema in (
        ("contacts", "contact", "ContactRest10"),
        ("accounts", "account", "AccountRest10"),
    ):
        listing = answer(spec, api, "GET", f"/api/REST/1.0/data/{entity}", params={"depth": depth})
        check(
            spec,
            listing.json(),
            spec.response_schema(f"/api/REST/1.0/data/{entity}", "get", 200),
            entity,
        )
        record_id = contact_id if single == "contact" else account_id
        path = f"/api/REST/1.0/data/{single}/{{id}}"
        one = answer(spec, api, "GET", path, ids={"id": record_id}, params={"depth": depth})
        check(spec, one.json(), spec.schema(schema), single)
        assert one.json()["depth"] == depth


def test_rest_errors_are_declared(spec: Spec, site: Site, api: httpx.Client) -> None:
    path = "/api/REST/1.0/data/contact/{id}"
    assert answer(spec, api, "GET", path, ids={"id": 999}).status_code == 404
    assert answer(spec, api, "GET", path, ids={"id": "sandwich"}).status_code == 400
    assert (
        answer(spec, api, "GET", "/api/REST/1.0/data/contacts", params={"count": 5000}).status_code
        == 400
    )
    anonymous = httpx.Client(base_url=site.url, verify=site.ssl_context, trust_env=False)
    site.clients.append(anonymous)
    assert answer(spec, anonymous, "GET", "/api/REST/1.0/data/contacts").status_code == 401


def test_contact_writes_match_the_description(spec: Spec, api: httpx.Client) -> None:
    created = answer(
        spec, api, "POST", "/api/REST/1.0/data/contact", json={"emailAddress": "b@acme.example"}
    )
    assert created.status_code == 201
    check(
        spec,
        created.json(),
        spec.response_schema("/api/REST/1.0/data/contact", "post", 201),
        "created",
    )
    path = "/api/REST/1.0/data/contact/{id}"
    ids = {"id": created.json()["id"]}
    updated = answer(spec, api, "PUT", path, ids=ids, json={"title": "VP"})
    check(spec, updated.json(), spec.response_schema(path, "put", 200), "updated")
    assert answer(spec, api, "DELETE", path, ids=ids).status_code == 204


def test_contact_fields_match_the_description(spec: Spec, api: httpx.Client) -> None:
    created = answer(
        spec,
        api,
        "POST",
        "/api/REST/1.0/assets/contact/field",
        json={"name": "ABM Score", "dataType": "numeric"},
    )
    assert created.status_code == 201
    check(spec, created.json(), spec.schema("ContactFieldRest10"), "field")
    for depth in ("minimal", "complete"):
        listing = answer(
            spec, api, "GET", "/api/REST/1.0/assets/contact/fields", params={"depth": depth}
        )
        schema = spec.response_schema("/api/REST/1.0/assets/contact/fields", "get", 200)
        check(spec, listing.json(), schema, f"fields@{depth}")
    one = answer(
        spec,
        api,
        "GET",
        "/api/REST/1.0/assets/contact/field/{id}",
        ids={"id": created.json()["id"]},
    )
    check(spec, one.json(), spec.schema("ContactFieldRest10"), "field")


def test_custom_objects_match_the_description(spec: Spec, site: Site, api: httpx.Client) -> None:
    contact_id, _ = seed(site)
    body = {"name": "ABM_Touchpoint", "fields": [{"name": "Touchpoint Key", "dataType": "text"}]}
    created = answer(spec, api, "POST", "/api/REST/2.0/assets/customObject", json=body)
    assert created.status_code == 201
    check(spec, created.json(), spec.schema("CustomObjectRest20"), "customObject")
    listing = answer(
        spec, api, "GET", "/api/REST/2.0/assets/customObjects", params={"depth": "complete"}
    )
    check(spec, listing.json(), spec.schema("QueryResultCustomObjectRest20"), "customObjects")
    parent = {"parentId": created.json()["id"]}
    field_id = created.json()["fields"][0]["id"]
    instance = answer(
        spec,
        api,
        "POST",
        "/api/REST/2.0/data/customObject/{parentId}/instance",
        ids=parent,
        json={"contactId": str(contact_id), "fieldValues": [{"id": field_id, "value": "k"}]},
    )
    assert instance.status_code == 201
    check(spec, instance.json(), spec.schema("CustomObjectDataRest20"), "instance")
    instances = answer(
        spec,
        api,
        "GET",
        "/api/REST/2.0/data/customObject/{parentId}/instances",
        ids=parent,
        params={"depth": "complete"},
    )
    check(spec, instances.json(), spec.schema("QueryResultCustomObjectDataRest20"), "instances")


# -- Bulk API --------------------------------------------------------------------------------


def bulk_fields(spec: Spec, api: httpx.Client, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    listing = answer(spec, api, "GET", path, **kwargs)
    check(spec, listing.json(), ENVELOPE, path)
    items: list[dict[str, Any]] = listing.json()["items"]
    data_types = spec.schema("DataType")["enum"]
    for item in items:
        assert item["dataType"] in data_types, item
        assert re.fullmatch(r"\{\{.+\}\}", item["statement"]), item
        for flag in ("hasReadOnlyConstraint", "hasNotNullConstraint", "hasUniquenessConstraint"):
            assert isinstance(item[flag], bool)
    return items


def test_bulk_fields_and_scoring_models_match_the_description(
    spec: Spec, site: Site, api: httpx.Client
) -> None:
    object_id = site.store.add_custom_object(
        "ABM_Touchpoint", [("Key", "text"), ("Score", "numeric")]
    )
    assert bulk_fields(spec, api, "/api/bulk/2.0/contacts/fields")
    assert bulk_fields(spec, api, "/api/bulk/2.0/accounts/fields")
    assert bulk_fields(
        spec, api, "/api/bulk/2.0/activities/fields", params={"activityType": "EmailOpen"}
    )
    assert bulk_fields(
        spec, api, "/api/bulk/2.0/customObjects/{parentId}/fields", ids={"parentId": object_id}
    )
    models = answer(spec, api, "GET", "/api/bulk/2.0/contacts/scoring/models")
    check(spec, models.json(), ENVELOPE, "models")
    data_types = spec.schema("DataType")["enum"]
    for model in models.json()["items"]:
        assert {f["dataType"] for f in model["fields"]} <= set(data_types)
    too_many = answer(spec, api, "GET", "/api/bulk/2.0/contacts/fields", params={"limit": 1001})
    assert too_many.status_code == 400


EXPORTS: dict[str, dict[str, Any]] = {
    "/api/bulk/2.0/contacts/exports": {
        "fields": {"Id": "{{Contact.Id}}", "Email": "{{Contact.Field(C_EmailAddress)}}"},
        "filter": "'{{Contact.Field(C_DateModified)}}' >= '2000-01-01'",
    },
    "/api/bulk/2.0/accounts/exports": {"fields": {"Id": "{{Account.Id}}"}},
    "/api/bulk/2.0/activities/exports": {
        "fields": {"Id": "{{Activity.Id}}"},
        "filter": "'{{Activity.Type}}' = 'EmailOpen'",
    },
}


@pytest.mark.parametrize("path", list(EXPORTS))
def test_export_flow_matches_the_description(
    spec: Spec, site: Site, api: httpx.Client, path: str
) -> None:
    seed(site)
    body = {
        "name": "contract",
        "areSystemTimestampsInUTC": True,
        "dataRetentionDuration": "PT1H",
        **EXPORTS[path],
    }
    created = answer(spec, api, "POST", path, json=body)
    assert created.status_code == 201
    check(spec, created.json(), spec.request_schema(path), path, overrides=OVERRIDES)
    one = answer(
        spec, api, "GET", path + "/{id}", ids={"id": created.json()["uri"].rsplit("/", 1)[1]}
    )
    check(spec, one.json(), spec.request_schema(path), path, overrides=OVERRIDES)
    sync_schema = spec.request_schema("/api/bulk/2.0/syncs")
    sync = answer(
        spec, api, "POST", "/api/bulk/2.0/syncs", json={"syncedInstanceUri": created.json()["uri"]}
    )
    assert sync.status_code == 201
    check(spec, sync.json(), sync_schema, "sync")
    ids = {"id": sync.json()["uri"].rsplit("/", 1)[1]}
    status = answer(spec, api, "GET", "/api/bulk/2.0/syncs/{id}", ids=ids)
    check(spec, status.json(), sync_schema, "sync")
    assert status.json()["status"] in spec.schema("SyncStatusType")["enum"]
    data = answer(
        spec, api, "GET", "/api/bulk/2.0/syncs/{id}/data", ids=ids, params={"limit": 50_000}
    )
    check(spec, data.json(), ENVELOPE, "data")
    for item in data.json().get("items", []):
        assert all(isinstance(v, str) for v in item.values()), item
    over = answer(
        spec, api, "GET", "/api/bulk/2.0/syncs/{id}/data", ids=ids, params={"limit": 50_001}
    )
    assert over.status_code == 400
    logs = answer(spec, api, "GET", "/api/bulk/2.0/syncs/{id}/logs", ids=ids)
    check(spec, logs.json(), ENVELOPE, "logs")
    for item in logs.json()["items"]:
        assert re.fullmatch(r"ELQ-\d{5}", item["statusCode"]) and isinstance(item["count"], int)
    assert answer(spec, api, "DELETE", "/api/bulk/2.0/syncs/{id}/data", ids=ids).status_code == 204
    assert answer(spec, api, "GET", "/api/bulk/2.0/syncs/{id}", ids={"id": 999}).status_code == 404


def test_import_flow_matches_the_description(spec: Spec, site: Site, api: httpx.Client) -> None:
    contact_id, _ = seed(site)
    path = "/api/bulk/2.0/contacts/imports"
    body = {
        "name": "contract",
        "fields": {"ContactID": "{{Contact.Id}}", "Title": "{{Contact.Field(C_Title)}}"},
        "identifierFieldName": "ContactID",
        "updateRule": "always",
        "syncActions": [{"action": "add", "destination": "{{ContactList[1]}}"}],
    }
    created = answer(spec, api, "POST", path, json=body)
    assert created.status_code == 201
    check(spec, created.json(), spec.request_schema(path), path, overrides=OVERRIDES)
    definition = {"id": created.json()["uri"].rsplit("/", 1)[1]}
    rows = [{"ContactID": str(contact_id), "Title": "VP"}, {"ContactID": "424242", "Title": "x"}]
    staged = answer(spec, api, "POST", path + "/{id}/data", ids=definition, json=rows)
    assert staged.status_code == 204
    sync = answer(
        spec, api, "POST", "/api/bulk/2.0/syncs", json={"syncedInstanceUri": created.json()["uri"]}
    )
    ids = {"id": sync.json()["uri"].rsplit("/", 1)[1]}
    status = answer(spec, api, "GET", "/api/bulk/2.0/syncs/{id}", ids=ids).json()
    assert status["status"] == "warning"
    rejects = answer(spec, api, "GET", "/api/bulk/2.0/syncs/{id}/rejects", ids=ids)
    check(spec, rejects.json(), ENVELOPE, "rejects")
    [reject] = rejects.json()["items"]
    assert isinstance(reject["fieldValues"], dict) and isinstance(reject["recordIndex"], int)
    assert isinstance(reject["invalidFields"], list) and reject["statusCode"].startswith("ELQ-")
    object_id = site.store.add_custom_object("ABM_Touchpoint", [("Key", "text")])
    object_path = "/api/bulk/2.0/customObjects/{parentId}/imports"
    object_body = {
        "name": "contract",
        "fields": {"Key": f"{{{{CustomObject[{object_id}].Field(Key1)}}}}"},
        "identifierFieldName": "Key",
        "mapDataCards": True,
        "mapDataCardsSourceField": "Key",
        "mapDataCardsEntityField": "{{Contact.Field(C_EmailAddress)}}",
        "mapDataCardsEntityType": "Contact",
    }
    made = answer(spec, api, "POST", object_path, ids={"parentId": object_id}, json=object_body)
    assert made.status_code == 201
    check(spec, made.json(), spec.request_schema(object_path), object_path, overrides=OVERRIDES)
    refused = answer(
        spec, api, "POST", path, json={"name": "x", "fields": {"A": "{{Contact.Nope}}"}}
    )
    assert refused.status_code == 400 and "failures" in refused.json()
