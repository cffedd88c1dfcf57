"""Request bodies and query values as HubSpot reads them, refused as HubSpot refuses them.

HubSpot deserializes each body into a typed input model and answers 400 when it
cannot: a body that is not JSON (or not UTF-8) is ``Invalid input JSON on line 1,
column N: ...``, a value of the wrong JSON type is ``Cannot deserialize value of
type ...`` (https://github.com/HubSpot/hubspot-api-python/issues/307), and a
missing required field is ``Cannot build <Model>, some of required attributes are
not set [label]`` (https://github.com/HubSpot/hubspot-api-python/issues/25). The
shapes below are the input models of the CRM v3 object specs
(``SimplePublicObjectInputForCreate``, ``SimplePublicObjectBatchInput``...).

Property values are a ``Map<String, String>``; Jackson turns a JSON number or
boolean into its text, as HubSpot does (a deal created with ``"amount": 0``
works: https://github.com/HubSpot/hubspot-api-nodejs/issues/329), but an array
or object there is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from abmsync.sandbox.hubspot.errors import ApiError
from abmsync.sandbox.hubspot.records import JSON

# field -> (kind, required); a kind is "str", "int", "bool", "strmap", "strlist",
# "list" (of anything), ("enum", values), or a nested shape: ("object", Shape)
# for one object, ("list", Shape) for a list of objects.
Shape = Mapping[str, tuple[Any, bool]]

OBJECT_ID: Shape = {"id": ("str", True)}
ASSOCIATION_SPEC: Shape = {
    "associationCategory": (
        ("enum", ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")),
        True,
    ),
    "associationTypeId": ("int", True),
}
ASSOCIATION: Shape = {
    "to": (("object", OBJECT_ID), True),
    "types": (("list", ASSOCIATION_SPEC), True),
}
CREATE_INPUT: Shape = {
    "properties": ("strmap", True),
    # Required in the spec, optional in practice: HubSpot's own create examples
    # send only properties (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/guide).
    "associations": (("list", ASSOCIATION), False),
    "objectWriteTraceId": ("str", False),
}
UPDATE_INPUT: Shape = {
    "id": ("str", True),
    "idProperty": ("str", False),
    "objectWriteTraceId": ("str", False),
    "properties": ("strmap", True),
}
PATCH_INPUT: Shape = {"properties": ("strmap", True), "objectWriteTraceId": ("str", False)}
BATCH_SHAPES: dict[str, Shape] = {
    "create": {"inputs": (("list", CREATE_INPUT), True)},
    "update": {"inputs": (("list", UPDATE_INPUT), True)},
    "upsert": {"inputs": (("list", UPDATE_INPUT), True)},
    "archive": {"inputs": (("list", OBJECT_ID), True)},
    "read": {
        "inputs": (("list", OBJECT_ID), True),
        "idProperty": ("str", False),
        "properties": ("strlist", False),
        "propertiesWithHistory": ("strlist", False),
    },
}
FILTER: Shape = {
    "propertyName": ("str", True),
    "operator": ("str", True),
    "value": ("str", False),
    "highValue": ("str", False),
    "values": ("strlist", False),
}
SEARCH: Shape = {
    "after": ("str", False),
    "limit": ("int", False),
    "query": ("str", False),
    "properties": ("strlist", False),
    "sorts": ("list", False),
    "filterGroups": (("list", {"filters": (("list", FILTER), True)}), False),
}
_PAIR: Shape = {"from": (("object", OBJECT_ID), True), "to": (("object", OBJECT_ID), True)}
_LABELLED_PAIR: Shape = {**_PAIR, "types": (("list", ASSOCIATION_SPEC), True)}
# The v4 association batch inputs (associations.json), by action.
ASSOCIATION_BATCH_SHAPES: dict[str, Shape] = {
    "associate": {"inputs": (("list", _PAIR), True)},
    "create": {"inputs": (("list", _LABELLED_PAIR), True)},
    "labels/archive": {"inputs": (("list", _LABELLED_PAIR), True)},
    "read": {"inputs": (("list", {"id": ("str", True), "after": ("str", False)}), True)},
    "archive": {
        "inputs": (
            ("list", {"from": (("object", OBJECT_ID), True), "to": (("list", OBJECT_ID), True)}),
            True,
        )
    },
}
MODEL_NAMES = {
    id(OBJECT_ID): "SimplePublicObjectId",
    id(ASSOCIATION_SPEC): "AssociationSpec",
    id(ASSOCIATION): "PublicAssociationsForObject",
    id(CREATE_INPUT): "SimplePublicObjectInputForCreate",
    id(UPDATE_INPUT): "SimplePublicObjectBatchInput",
    id(PATCH_INPUT): "SimplePublicObjectInput",
    id(FILTER): "Filter",
    id(SEARCH): "PublicObjectSearchRequest",
}


def invalid_json(detail: str) -> ApiError:
    """HubSpot's 400 for a body it cannot read into its input model."""
    return ApiError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1, column 1: {detail}")


async def read_json(request: Request) -> Any:
    """The parsed body (None when there is none); 400 when it is not UTF-8 JSON."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid_json("Invalid UTF-8 start byte in the request body") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}",
        ) from None


async def json_object(request: Request) -> JSON:
    """A body that must be a JSON object when present (none reads as ``{}``)."""
    data = await read_json(request)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise invalid_json(f"Cannot deserialize an object from {_json_kind(data)} value")
    return data


async def read_body(request: Request, shape: Shape, model: str | None = None) -> JSON:
    """The body checked against ``shape`` (an empty body is a missing model)."""
    data = await read_json(request)
    name = model or MODEL_NAMES.get(id(shape), "input")
    if data is None:
        missing = sorted(k for k, (_, required) in shape.items() if required)
        raise invalid_json(
            f"Cannot build {name}, some of required attributes are not set {missing}"
        )
    check(data, shape, name)
    assert isinstance(data, dict)
    return data


def check(data: Any, shape: Shape, name: str) -> None:
    """Raise HubSpot's 400 unless ``data`` is an object of ``shape``."""
    if not isinstance(data, dict):
        raise invalid_json(
            f"Cannot deserialize value of type `{name}` from {_json_kind(data)} value"
        )
    missing = sorted(k for k, (_, required) in shape.items() if required and data.get(k) is None)
    if missing:
        raise invalid_json(
            f"Cannot build {name}, some of required attributes are not set {missing}"
        )
    for key, (kind, _) in shape.items():
        if data.get(key) is not None:
            _check_value(data[key], kind, f"{name}.{key}")


def _check_value(value: Any, kind: Any, where: str) -> None:
    if isinstance(kind, tuple) and kind[0] == "enum":
        if value not in kind[1]:
            raise invalid_json(f"{where}: '{value}' is not one of {list(kind[1])}")
        return
    if isinstance(kind, tuple) and kind[0] == "object":
        check(value, kind[1], MODEL_NAMES.get(id(kind[1]), where))
        return
    if isinstance(kind, tuple):
        if not isinstance(value, list):
            raise _wrong(where, "java.util.ArrayList", value)
        for item in value:
            check(item, kind[1], MODEL_NAMES.get(id(kind[1]), where))
        return
    if kind == "str" and not _scalar(value):
        raise _wrong(where, "java.lang.String", value)
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise _wrong(where, "int", value)
    if kind == "bool" and not isinstance(value, bool):
        raise _wrong(where, "boolean", value)
    if kind == "list" and not isinstance(value, list):
        raise _wrong(where, "java.util.ArrayList", value)
    if kind == "strlist" and not (isinstance(value, list) and all(_scalar(v) for v in value)):
        raise _wrong(where, "java.util.ArrayList<java.lang.String>", value)
    if kind == "strmap" and not (
        isinstance(value, dict) and all(v is None or _scalar(v) for v in value.values())
    ):
        raise _wrong(where, "java.util.LinkedHashMap<java.lang.String,java.lang.String>", value)


def _unset(model: str, missing: list[str]) -> str:
    return f"Cannot build {model}, some of required attributes are not set {missing}"


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return "String" if isinstance(value, str) else "scalar"


def _wrong(where: str, java_type: str, value: Any) -> ApiError:
    return invalid_json(
        f"Cannot deserialize value of type `{java_type}` from {_json_kind(value)} value "
        f"(through reference chain: {where})"
    )


def query_int(query: QueryParams, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query value in [low, high]; HubSpot answers 400 for anything else
    rather than clamping it (https://github.com/HubSpot/hubspot-api-python/issues/143:
    a page ``limit`` over the cap is a 400 VALIDATION_ERROR)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"{name}: '{raw}' is not a valid integer") from None
    if not low <= value <= high:
        raise ApiError(
            400, "VALIDATION_ERROR", f"{name} must be between {low} and {high}; got {value}"
        )
    return value


def query_bool(query: QueryParams, name: str) -> bool:
    """A boolean query value (``true``/``false``); 400 for anything else."""
    raw = query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise ApiError(400, "VALIDATION_ERROR", f"{name}: '{raw}' is not a valid boolean")
    return raw == "true"
