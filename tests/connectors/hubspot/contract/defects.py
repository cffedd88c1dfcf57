"""Where HubSpot's real answers differ from its published specs, and why the answers win.

The list is short and explicit: one field of named schemas per entry, each with
its source. Everything else in the specs (``/work/shared/vendor-specs/hubspot``,
HubSpot's own collection, github:HubSpot/HubSpot-public-api-spec-collection) is
taken as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Change = Literal["nullable", "null_values", "undeclared", "optional", "replaced"]
OBJECTS = ("SimplePublicObject", "SimplePublicObjectWithAssociations", "SimplePublicUpsertObject")
SEARCH_GUIDE = "https://developers.hubspot.com/docs/guides/api/crm/search"
INPUTS = (
    "SimplePublicObjectInput",
    "SimplePublicObjectInputForCreate",
    "SimplePublicObjectBatchInput",
    "SimplePublicObjectBatchInputForCreate",
    "SimplePublicObjectBatchInputUpsert",
)


@dataclass(frozen=True)
class Defect:
    """``field`` of ``schemas`` is changed by ``change`` before exchanges are checked.

    ``nullable``: the value may also be ``null``; ``null_values``: the field is a
    map whose values may also be ``null``; ``undeclared``: not declared but real
    answers carry it; ``optional``: listed as required but accepted absent;
    ``replaced``: its schema is ``schema``.
    """

    schemas: tuple[str, ...]
    field: str
    change: Change
    reason: str
    schema: dict[str, Any] | None = None


RESPONSE_DEFECTS: tuple[Defect, ...] = (
    Defect(
        OBJECTS,
        "properties",
        "null_values",
        "PROVENANCE.md: HubSpot returns null for a requested property without a value "
        "although the schema says string (e.g. GET /crm/v3/objects/contacts?properties=phone).",
    ),
    Defect(
        ("Error",),
        "status",
        "undeclared",
        'Every documented HubSpot error body carries "status": "error" '
        "(https://developers.hubspot.com/docs/api/usage-details, error examples).",
    ),
    Defect(
        ("AssociationSpecWithLabel",),
        "label",
        "nullable",
        "An unlabeled association has no label: HubSpot answers label null "
        "(https://developers.hubspot.com/docs/guides/api/crm/associations/associations-v4, "
        "retrieve associations example; the Rust SDK hubspot-rust-sdk types it Option<String>).",
    ),
)

REQUEST_DEFECTS: tuple[Defect, ...] = (
    # HubSpot's own client (hubspot-api-client 12.0.0, generated from these APIs)
    # refuses to send a model without the fields the API needs; it leaves these
    # optional, and HubSpot's examples leave them out.
    Defect(
        ("SimplePublicObjectInputForCreate", "SimplePublicObjectBatchInputForCreate"),
        "associations",
        "optional",
        "hubspot-api-client 12.0.0 hubspot/crm/contacts/models/"
        "simple_public_object_input_for_create.py: associations=None is accepted; README.md of "
        "github:HubSpot/hubspot-api-python creates a contact with properties only.",
    ),
    # The specs list every non-null collection of HubSpot's input models as required;
    # an absent list is read as empty (a search body may be just {}, see below).
    *(
        Defect(
            ("BatchReadInputSimplePublicObjectId",),
            name,
            "optional",
            "https://developers.hubspot.com/docs/guides/api/crm/objects/contacts, batch read "
            'example: {"properties": [...], "inputs": [{"id": ...}]}, no propertiesWithHistory; '
            "an absent list is an empty one (default properties).",
        )
        for name in ("properties", "propertiesWithHistory")
    ),
    Defect(
        INPUTS,
        "properties",
        "replaced",
        "HubSpot reads property values with Jackson into strings: a JSON number or boolean "
        'is taken as its text, an array or object is refused with 400 "Cannot deserialize '
        'value of type `java.lang.String`" (quoted in HubSpot community 400 reports).',
        {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    ),
    *(
        Defect(
            ("PublicObjectSearchRequest",),
            name,
            "optional",
            f"{SEARCH_GUIDE}: a search body may be just {{}}; hubspot-api-client 12.0.0 "
            "public_object_search_request.py leaves every field optional.",
        )
        for name in ("after", "filterGroups", "limit", "properties", "sorts")
    ),
    Defect(
        ("PublicObjectSearchRequest",),
        "sorts",
        "replaced",
        f'{SEARCH_GUIDE}, "Sort search results": sorts are objects '
        '{"propertyName": ..., "direction": "ASCENDING"|"DESCENDING"}, not strings.',
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["propertyName"],
                "properties": {
                    "propertyName": {"type": "string"},
                    "direction": {"enum": ["ASCENDING", "DESCENDING"]},
                },
            },
        },
    ),
)

# A 429 is not the spec's ``Error``: HubSpot documents the rate-limit body with
# ``errorType``/``policyName`` and no ``category``
# (https://developers.hubspot.com/docs/api/usage-details: "the 429 response will
# have the following format"; ``requestId``/``groupName`` appear in some answers).
RATE_LIMIT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["status", "message", "errorType", "correlationId", "policyName"],
    "additionalProperties": False,
    "properties": {
        "status": {"enum": ["error"]},
        "message": {"type": "string"},
        "errorType": {"enum": ["RATE_LIMIT"]},
        "correlationId": {"type": "string", "format": "uuid"},
        "policyName": {"enum": ["DAILY", "SECONDLY", "TEN_SECONDLY_ROLLING"]},
        "category": {"enum": ["RATE_LIMITS"]},
        "requestId": {"type": "string"},
        "groupName": {"type": "string"},
    },
}


def apply_defects(schemas: dict[str, Any], defects: tuple[Defect, ...]) -> None:
    """Patch the component ``schemas`` (already converted, changed in place) for ``defects``."""
    for defect in defects:
        for name in defect.schemas:
            schema = schemas.get(name)
            if schema is None:  # each spec file holds only the schemas its API uses
                continue
            declared = schema.setdefault("properties", {})
            if defect.change == "undeclared":
                declared.setdefault(defect.field, {})
            elif defect.change == "optional":
                schema["required"] = [r for r in schema.get("required", []) if r != defect.field]
            elif defect.change == "replaced":
                declared[defect.field] = defect.schema or {}
            elif defect.change == "nullable":
                declared[defect.field] = {"anyOf": [declared[defect.field], {"type": "null"}]}
            else:
                values = declared[defect.field]["additionalProperties"]
                declared[defect.field]["additionalProperties"] = {
                    "anyOf": [values, {"type": "null"}]
                }
