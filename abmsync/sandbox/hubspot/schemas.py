"""Custom object schemas: ``/crm/v3/schemas`` (also served as ``/crm-object-schemas/v3/schemas``).

A portal without custom objects answers ``{"results": []}``. Created schemas
take the documented ``ObjectSchema`` shape: ``id``, ``objectTypeId``
(``2-<id>``), ``fullyQualifiedName`` (``p<portalId>_<name>``), ``labels``,
``properties`` (CRM v3 property definitions), ``requiredProperties``,
``searchableProperties``, ``secondaryDisplayProperties``,
``primaryDisplayProperty``, ``associations``, ``metaType``, ``archived`` and
timestamps. References:
https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/schemas/get-schemas,
https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/schemas/create-schema,
https://developers.hubspot.com/docs/api-reference/latest/crm/objects/schemas/get-schema.
Records of custom objects are not emulated.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.hubspot.errors import ApiError
from abmsync.sandbox.hubspot.legacy import PORTAL_ID
from abmsync.sandbox.hubspot.properties import PROPERTY_TYPES, custom_property
from abmsync.sandbox.hubspot.records import JSON, OBJECT_TYPE_IDS, iso
from abmsync.sandbox.hubspot.store import HubSpotStore

# ``associatedObjects`` names (CONTACT, COMPANY, ...) to object type ids.
ASSOCIABLE = {"CONTACT": "0-1", "COMPANY": "0-2", "DEAL": "0-3", "NOTE": "0-46"}
_ids = itertools.count(1)  # association definition ids, unique within the process


def schema_routes(store: HubSpotStore) -> list[Route]:
    """The schema routes over ``store``, under both of HubSpot's prefixes."""
    api = SchemaApi(store)
    routes: list[Route] = []
    for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
        routes += [
            Route(prefix, api.list_schemas, methods=["GET"]),
            Route(prefix, api.create_schema, methods=["POST"]),
            Route(prefix + "/{objectType}", api.get_schema, methods=["GET"]),
        ]
    return routes


class SchemaApi:
    """Handlers for custom object schemas, kept in ``store.schemas`` by name."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    async def list_schemas(self, request: Request) -> Response:
        archived = request.query_params.get("archived", "false").lower() == "true"
        with self.store._lock:
            found = [s for s in self.store.schemas.values() if s["archived"] == archived]
        return JSONResponse({"results": found})

    async def get_schema(self, request: Request) -> Response:
        """By ``objectTypeId`` (``2-7``), fully qualified name or name; else 404."""
        key = str(request.path_params["objectType"])
        with self.store._lock:
            for schema in self.store.schemas.values():
                if key in (schema["objectTypeId"], schema["fullyQualifiedName"], schema["name"]):
                    return JSONResponse(schema)
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find object type {key}")

    async def create_schema(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        with self.store._lock:
            schema = build_schema(body, self.store.now(), len(self.store.schemas) + 1)
            if schema["name"] in self.store.schemas:
                raise ApiError(
                    409,
                    "OBJECT_ALREADY_EXISTS",
                    f"Object type with name {schema['name']} already exists",
                )
            self.store.schemas[schema["name"]] = schema
        return JSONResponse(schema, status_code=201)


def build_schema(body: Mapping[str, Any], now: int, number: int) -> JSON:
    """A new ``ObjectSchema`` from a create request, or a 400 ``ApiError``."""
    name = str(body.get("name") or "")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid object name: {name!r}")
    if name.lower() in {*OBJECT_TYPE_IDS, *(n.rstrip("s") for n in OBJECT_TYPE_IDS)}:
        raise ApiError(400, "VALIDATION_ERROR", f"{name} is the name of a standard object")
    labels = body.get("labels")
    if not isinstance(labels, dict) or not labels.get("singular") or not labels.get("plural"):
        raise ApiError(400, "VALIDATION_ERROR", "labels.singular and labels.plural are required")
    properties = [_property(raw, name, now) for raw in body.get("properties") or []]
    defined = {p["name"] for p in properties}
    required = [str(n) for n in body.get("requiredProperties") or []]
    searchable = [str(n) for n in body.get("searchableProperties") or []]
    secondary = [str(n) for n in body.get("secondaryDisplayProperties") or []]
    primary = body.get("primaryDisplayProperty")
    named = [*required, *searchable, *secondary, *([str(primary)] if primary else [])]
    unknown = sorted({n for n in named if n not in defined})
    if unknown:
        raise ApiError(400, "VALIDATION_ERROR", f"Properties not defined on {name}: {unknown}")
    type_id = f"2-{number}"
    associations: list[JSON] = []
    for target in body.get("associatedObjects") or []:
        to_id = ASSOCIABLE.get(str(target).upper())
        if to_id is None:
            raise ApiError(400, "VALIDATION_ERROR", f"Unknown associated object {target}")
        associations.append(
            {
                "id": str(next(_ids)),
                "fromObjectTypeId": type_id,
                "toObjectTypeId": to_id,
                "name": f"{name}_to_{str(target).lower()}",
                "createdAt": iso(now),
                "updatedAt": iso(now),
            }
        )
    stamp = iso(now)
    return {
        "id": str(number),
        "objectTypeId": type_id,
        "name": name,
        "fullyQualifiedName": f"p{PORTAL_ID}_{name}",
        "labels": {"singular": str(labels["singular"]), "plural": str(labels["plural"])},
        "description": str(body.get("description") or ""),
        "metaType": "PORTAL_SPECIFIC",
        "properties": properties,
        "requiredProperties": required,
        "searchableProperties": searchable,
        "secondaryDisplayProperties": secondary,
        "primaryDisplayProperty": str(primary) if primary else None,
        "associations": associations,
        "allowsSensitiveProperties": False,
        "archived": False,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def _property(raw: Any, object_name: str, now: int) -> JSON:
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("label"):
        raise ApiError(400, "VALIDATION_ERROR", "Every property needs a name and a label")
    kind = str(raw.get("type") or "string")
    if kind not in PROPERTY_TYPES:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid property type: {kind}")
    group = str(raw.get("groupName") or f"{object_name}_information")
    name, label = str(raw["name"]), str(raw["label"])
    return custom_property(raw, name=name, label=label, kind=kind, group=group, now=now).render()
