"""HubSpot's published OpenAPI 3 specs, loaded as JSON Schema validators per operation.

One spec file per API (contacts, companies, deals, notes, properties, owners,
associations v4), each with its own ``components``. Schemas are converted from
OpenAPI 3.0 to JSON Schema (draft 4, which OpenAPI 3.0's schema object
extends): ``nullable: true`` becomes ``anyOf [..., null]``, ``$ref`` to
``#/components/...`` resolves inside the same file. For answers an object that
declares ``properties`` and no ``additionalProperties`` is closed: a field the
spec does not declare is a divergence (for requests it is not, HubSpot ignores it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft4Validator, FormatChecker, ValidationError

from .defects import REQUEST_DEFECTS, RESPONSE_DEFECTS, apply_defects

SPECS = Path(__file__).resolve().parents[5] / "shared" / "vendor-specs" / "hubspot"
METHODS = ("get", "put", "post", "delete", "patch")
# The object type ids HubSpot accepts in place of the names
# (https://developers.hubspot.com/docs/guides/api/crm/understanding-the-crm#object-type-ids).
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "notes": "0-46"}
INT32 = (-(2**31), 2**31 - 1)

FORMATS = FormatChecker(formats=())


def _date_time(value: object) -> bool:
    # ISO 8601 with a zone, as HubSpot writes it: 2019-10-30T03:30:17.883Z
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _int32(value: object) -> bool:
    return not isinstance(value, int) or INT32[0] <= value <= INT32[1]


FORMATS.checks("date-time", raises=ValueError)(_date_time)
FORMATS.checks("uuid", raises=ValueError)(_uuid)
FORMATS.checks("int32")(_int32)


def _valid(check: Callable[[object], bool]) -> Callable[[object], bool]:
    def checked(value: object) -> bool:
        try:
            return check(value)
        except ValueError:
            return False

    return checked


# The same formats for the Rust validator, which only says yes or no, fast: a
# page of 100 records takes it well under a millisecond, jsonschema ~80 ms.
RUST_FORMATS = {"date-time": _valid(_date_time), "uuid": _valid(_uuid), "int32": _int32}


class SchemaCheck:
    """A JSON Schema check: a fast yes from jsonschema_rs, jsonschema's errors for a no."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.detailed = Draft4Validator(schema, format_checker=FORMATS)
        self.fast = jsonschema_rs.Draft4Validator(
            schema, formats=RUST_FORMATS, validate_formats=True
        )

    def errors(self, instance: Any) -> list[ValidationError]:
        """Every way ``instance`` breaks the schema, in document order (none: it fits)."""
        if self.fast.is_valid(instance):
            return []
        found = self.detailed.iter_errors(instance)
        return sorted(found, key=lambda error: [str(part) for part in error.absolute_path])


def convert(node: Any, *, closed: bool) -> Any:
    """An OpenAPI 3.0 schema (any depth) as JSON Schema; ``closed`` shuts declared objects."""
    if isinstance(node, list):
        return [convert(item, closed=closed) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: convert(value, closed=closed)
        for key, value in node.items()
        if key not in ("nullable", "example", "description") and not key.startswith("x-")
    }
    if "properties" in node:
        out["properties"] = {
            name: convert(sub, closed=closed) for name, sub in node["properties"].items()
        }
        if closed and "additionalProperties" not in node:
            out["additionalProperties"] = False
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass
class Document:
    """One spec file, with its components converted once for answers and once for requests."""

    name: str
    raw: dict[str, Any]
    _checks: dict[tuple[str, str], SchemaCheck] = field(default_factory=dict)

    @cached_property
    def response_components(self) -> dict[str, Any]:
        return self._components(closed=True)

    @cached_property
    def request_components(self) -> dict[str, Any]:
        return self._components(closed=False)

    def _components(self, *, closed: bool) -> dict[str, Any]:
        components: dict[str, Any] = convert(self.raw["components"], closed=closed)
        defects = RESPONSE_DEFECTS if closed else REQUEST_DEFECTS
        apply_defects(components["schemas"], defects)
        return components

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Follow ``$ref`` to a component (responses, parameters) of this file."""
        while "$ref" in node:
            found: Any = self.raw
            for part in node["$ref"].removeprefix("#/").split("/"):
                found = found[part]
            node = found
        return node

    def validator(self, key: str, schema: dict[str, Any], *, response: bool) -> SchemaCheck:
        """A check of ``schema`` (raw OpenAPI), cached under ``key``."""
        cache_key = (key, "response" if response else "request")
        if cache_key not in self._checks:
            components = self.response_components if response else self.request_components
            root = {"components": components, "allOf": [convert(schema, closed=response)]}
            self._checks[cache_key] = SchemaCheck(root)
        return self._checks[cache_key]


@dataclass(frozen=True)
class Operation:
    """One documented method on one path template of one spec file."""

    document: Document
    method: str
    template: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.template}"

    @cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))

    def matches(self, segments: tuple[str, ...]) -> int | None:
        """How many literal segments match ``segments`` (None: the path does not fit)."""
        if len(segments) != len(self.segments):
            return None
        literal = 0
        for mine, theirs in zip(self.segments, segments, strict=True):
            if mine.startswith("{") and mine.endswith("}"):
                continue
            if mine != theirs:
                return None
            literal += 1
        return literal


class Contract:
    """Every operation of every spec file, found by method and concrete path."""

    def __init__(self, documents: list[Document]) -> None:
        self.operations = [
            Operation(document, method, template, body)
            for document in documents
            for template, item in document.raw["paths"].items()
            for method, body in item.items()
            if method in METHODS
        ]
        # The object-type segment as each spec spells it: deals under 0-3, the rest by name.
        self.spellings: dict[str, str] = {}
        for operation in self.operations:
            if operation.segments[:3] == ("crm", "v3", "objects"):
                spelled = operation.segments[3]
                for name, type_id in OBJECT_TYPE_IDS.items():
                    if spelled in (name, type_id):
                        self.spellings.update(dict.fromkeys((name, type_id, name[:-1]), spelled))
                        if name.endswith("ies"):
                            self.spellings[name[:-3] + "y"] = spelled

    @classmethod
    def load(cls, folder: Path = SPECS) -> Contract:
        """Every ``*.json`` spec in ``folder``."""
        documents = [
            Document(path.stem, json.loads(path.read_text()))
            for path in sorted(folder.glob("*.json"))
        ]
        if not documents:
            raise FileNotFoundError(f"no HubSpot specs in {folder}")
        return cls(documents)

    def find(self, method: str, path: str) -> Operation | None:
        """The documented operation for ``method`` on ``path``; literal segments win."""
        segments = tuple(part for part in path.strip("/").split("/"))
        if segments[:3] == ("crm", "v3", "objects") and len(segments) > 3:
            segments = (*segments[:3], self.spellings.get(segments[3], segments[3]), *segments[4:])
        best: tuple[int, Operation] | None = None
        for operation in self.operations:
            if operation.method != method.lower():
                continue
            score = operation.matches(segments)
            if score is not None and (best is None or score > best[0]):
                best = (score, operation)
        return None if best is None else best[1]
