"""sObject Tree (nested creates) and sObject Collections retrieve.

``POST composite/tree/{Obj}`` (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobject_tree.htm):
up to 200 records in trees up to five levels deep, children under their
parent's child relationship name (``"Contacts": {"records": [...]}``), each
with ``attributes.referenceId``. All or nothing: 201
``{"hasErrors": false, "results": [{"referenceId", "id"}]}``, or 400
``{"hasErrors": true, "results": [{"referenceId", "errors"}]}`` naming only the
record that failed (Response Body page, responses_composite_sobject_tree.htm).

``GET composite/sobjects/{Obj}?ids=&fields=`` and the ``POST`` form with
``{"ids", "fields"}`` (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_retrieve.htm):
the records in the order asked, ``null`` for an id that matches none; up to
200 ids by GET, 2000 by POST.
"""

from __future__ import annotations

from typing import Any

from abmsync.sandbox.salesforce.rest import ApiError
from abmsync.sandbox.salesforce.store import ObjectDef, RecordError, Store

MAX_TREE_RECORDS = 200
MAX_TREE_DEPTH = 5
# Standard child relationships: parent -> relationship name -> (child object, its lookup field).
CHILD_RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {
    "Account": {
        "Contacts": ("Contact", "AccountId"),
        "Opportunities": ("Opportunity", "AccountId"),
        "ChildAccounts": ("Account", "ParentId"),
        "Tasks": ("Task", "WhatId"),
    },
    "Contact": {"Tasks": ("Task", "WhoId"), "CampaignMembers": ("CampaignMember", "ContactId")},
    "Lead": {"Tasks": ("Task", "WhoId"), "CampaignMembers": ("CampaignMember", "LeadId")},
    "Campaign": {
        "CampaignMembers": ("CampaignMember", "CampaignId"),
        "ChildCampaigns": ("Campaign", "ParentId"),
    },
    "Opportunity": {"Tasks": ("Task", "WhatId")},
}


class _FailedRecordError(Exception):
    def __init__(self, ref: str, error: RecordError) -> None:
        super().__init__(error.message)
        self.ref = ref
        self.error = error


def create_tree(store: Store, obj: ObjectDef, body: Any) -> tuple[int, dict[str, Any]]:
    """Create every record of the trees in ``body``, or none of them."""
    roots = _records(body, "records")
    flat: list[str] = []
    _flatten(obj.name, roots, 1, flat)
    if len(flat) > MAX_TREE_RECORDS:
        raise ApiError(
            400, "LIMIT_EXCEEDED", f"A tree request may create at most {MAX_TREE_RECORDS} records"
        )
    refs = flat
    duplicates = {ref for ref in refs if refs.count(ref) > 1}
    if duplicates:
        error = RecordError("INVALID_INPUT", "Duplicate ReferenceId provided in the request")
        failed = [{"referenceId": r, "errors": [error.as_json()]} for r in refs if r in duplicates]
        return 400, {"hasErrors": True, "results": failed}
    results: list[dict[str, str]] = []
    with store.atomic() as transaction:
        try:
            _create_all(store, obj.name, roots, None, results)
        except _FailedRecordError as failure:
            transaction.rollback()
            failed = [{"referenceId": failure.ref, "errors": [failure.error.as_json()]}]
            return 400, {"hasErrors": True, "results": failed}
    return 201, {"hasErrors": False, "results": results}


def _records(node: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(node, dict) or not isinstance(node.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", f"{where}: an object with a records list")
    records: list[dict[str, Any]] = node["records"]
    if not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "JSON_PARSER_ERROR", f"{where}: each record must be an object")
    return records


def _flatten(obj: str, records: list[dict[str, Any]], depth: int, out: list[str]) -> None:
    """Check the shape of every level; collect the reference ids, children first."""
    if depth > MAX_TREE_DEPTH:
        raise ApiError(
            400, "INVALID_INPUT", f"sObject trees may be at most {MAX_TREE_DEPTH} levels deep"
        )
    for record in records:
        attributes = record.get("attributes")
        if not isinstance(attributes, dict) or not attributes.get("referenceId"):
            raise ApiError(400, "INVALID_INPUT", "Each record needs attributes with a referenceId")
        if str(attributes.get("type", "")).lower() != obj.lower():
            raise ApiError(400, "INVALID_INPUT", f"Expected records of type {obj}")
        if "Id" in record or "id" in record:
            raise ApiError(400, "INVALID_INPUT", "Records in a tree request cannot have an Id")
        relationships = CHILD_RELATIONSHIPS.get(obj, {})
        for key, value in record.items():
            if isinstance(value, dict) and key != "attributes":
                if key not in relationships:
                    raise ApiError(
                        400, "INVALID_FIELD", f"No such column '{key}' on entity '{obj}'"
                    )
                child, _ = relationships[key]
                _flatten(child, _records(value, key), depth + 1, out)
        out.append(str(attributes["referenceId"]))


def _create_all(
    store: Store,
    obj: str,
    records: list[dict[str, Any]],
    parent: tuple[str, str] | None,
    results: list[dict[str, str]],
) -> None:
    """Create ``records`` (each before its children), parents first, in request order."""
    relationships = CHILD_RELATIONSHIPS.get(obj, {})
    for record in records:
        ref = str(record["attributes"]["referenceId"])
        values = {k: v for k, v in record.items() if k != "attributes" and not isinstance(v, dict)}
        if parent is not None:
            values[parent[0]] = parent[1]
        try:
            rid = store.create(obj, values)
        except RecordError as error:
            raise _FailedRecordError(ref, error) from error
        results.append({"referenceId": ref, "id": rid})
        for key, value in record.items():
            if key in relationships and isinstance(value, dict):
                child, lookup = relationships[key]
                _create_all(store, child, value["records"], (lookup, rid), results)


def retrieve(
    store: Store, obj: ObjectDef, ids: list[str], fields: list[str], version: str, limit: int
) -> list[dict[str, Any] | None]:
    """sObject Collections retrieve: each asked record with ``fields``, or None."""
    if not ids or not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are both required")
    if len(ids) > limit:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"ids: at most {limit} ids in one request")
    specs = []
    for name in fields:
        spec = obj.field(name)
        if spec is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
        specs.append(spec)
    answer: list[dict[str, Any] | None] = []
    for rid in ids:
        record = store.get(obj, rid) if rid.startswith(obj.prefix or "\0") else None
        if record is None:
            answer.append(None)
            continue
        url = f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"
        row: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
        row |= {spec.name: record.get(spec.name) for spec in specs}
        row.setdefault("Id", record["Id"])
        answer.append(row)
    return answer
