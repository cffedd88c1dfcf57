"""Entity records on the Web API: how a row reads as JSON and how a request body writes one.

Reading follows "Query data using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/overview):
lookups as ``_<name>_value``, choices as integers, and the formatted-value,
lookup-logical-name and associated-navigation-property annotations only when
``Prefer: odata.include-annotations`` asks for them. Writing binds lookups with
``<navigation property>@odata.bind`` as "Associate table rows on create"
documents.

Guesses:
- Columns a client may not set (``IsValidForCreate``/``IsValidForUpdate`` false,
  e.g. ``createdon``, ``versionnumber``) are ignored on write, not rejected.
- A lookup's formatted value is the target record's primary name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata import AttributeDef, EntityDef
from abmsync.sandbox.dynamics.store import DataverseStore, Row, is_guid, parse_stamp

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
_BIND = re.compile(r"(?:.*/)?([A-Za-z0-9_]+)\(([0-9a-fA-F-]{36})\)$")
_KEY_PAIR = re.compile(r"\s*([A-Za-z0-9_]+)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")


class Annotations:
    """Which instance annotations ``Prefer: odata.include-annotations`` asked for."""

    def __init__(self, pattern: str | None) -> None:
        self.patterns = [p.strip() for p in (pattern or "").split(",") if p.strip()]

    def wants(self, term: str) -> bool:
        for pattern in self.patterns:
            if pattern in ("*", term) or (pattern.endswith(".*") and term.startswith(pattern[:-1])):
                return True
        return False

    @property
    def any(self) -> bool:
        return bool(self.patterns)


def etag(row: Row) -> str:
    return f'W/"{row["versionnumber"]}"'


class Serializer:
    """Turns stored rows into Web API JSON for one request."""

    def __init__(self, store: DataverseStore, annotations: Annotations) -> None:
        self.store = store
        self.annotations = annotations
        self._names: dict[tuple[str, str], str | None] = {}

    def row(
        self,
        table: EntityDef,
        raw: Row,
        select: list[AttributeDef] | None = None,
        expand: list[tuple[AttributeDef, str, list[AttributeDef] | None]] | None = None,
    ) -> dict[str, Any]:
        """One record as the Web API returns it."""
        out: dict[str, Any] = {"@odata.etag": etag(raw)}
        attributes = select if select else list(table.attributes.values())
        for attribute in attributes:
            self._attribute(out, attribute, raw)
        primary = table.primary_id
        out[primary] = raw[primary]
        for attribute, nav, nested in expand or []:
            target_id, target = raw.get(attribute.name), raw.get(attribute.name + "__t")
            if target_id is None or attribute.nav.get(str(target)) != nav:
                out[nav] = None
                continue
            child = self.store.tables[str(target)]
            found = self.store.get_raw(child.name, str(target_id))
            out[nav] = None if found is None else self.row(child, found, nested)
        return out

    def _attribute(self, out: dict[str, Any], attribute: AttributeDef, raw: Row) -> None:
        name, value = attribute.name, raw.get(attribute.name)
        if attribute.is_lookup:
            key = f"_{name}_value"
            out[key] = value
            if value is not None:
                target = str(raw[name + "__t"])
                if self.annotations.wants(FORMATTED):
                    out[f"{key}@{FORMATTED}"] = self._name(target, str(value))
                if self.annotations.wants(NAVIGATION):
                    out[f"{key}@{NAVIGATION}"] = attribute.nav.get(target, name)
                if self.annotations.wants(LOOKUP_NAME):
                    out[f"{key}@{LOOKUP_NAME}"] = target
            return
        if attribute.type == "Boolean" and value is not None:
            value = bool(value)
        out[name] = value
        if value is None or not self.annotations.wants(FORMATTED):
            return
        formatted = format_value(attribute, value)
        if formatted is not None:
            out[f"{name}@{FORMATTED}"] = formatted

    def _name(self, target: str, record_id: str) -> str | None:
        if (target, record_id) not in self._names:
            table = self.store.tables.get(target)
            found = self.store.get_raw(target, record_id) if table else None
            name = found.get(table.primary_name) if found and table else None
            self._names[target, record_id] = None if name is None else str(name)
        return self._names[target, record_id]


def format_value(attribute: AttributeDef, value: Any) -> str | None:
    """The ``FormattedValue`` annotation of a column value (en-US formats)."""
    kind = attribute.type
    if attribute.has_options:
        option = attribute.option(int(value))
        return option.label if option else None
    if kind == "Boolean":
        return "Yes" if value else "No"
    if kind == "Money":
        return f"${float(value):,.2f}"
    if kind in ("Integer", "BigInt"):
        return f"{int(value):,}"
    if kind in ("Decimal", "Double"):
        return f"{float(value):,.2f}"
    if kind == "DateTime":
        moment = parse_stamp(str(value))
        if attribute.date_only:
            return f"{moment.month}/{moment.day}/{moment.year}"
        hour = moment.hour % 12 or 12
        half = "AM" if moment.hour < 12 else "PM"
        return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} {half}"
    return None


def navigation(table: EntityDef, nav: str) -> tuple[AttributeDef, str] | None:
    """The lookup attribute and target table a single-valued navigation property names."""
    for attribute in table.attributes.values():
        for target, name in attribute.nav.items():
            if name == nav:
                return attribute, target
    return None


def parse_body(
    store: DataverseStore, table: EntityDef, body: Any, *, creating: bool
) -> dict[str, Any]:
    """A request body as store values: lookups from ``@odata.bind`` as ``(table, id)``."""
    if not isinstance(body, dict):
        raise errors.payload_error(table.entity_set, "The request body is not a JSON object.")
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata.") or ("@" in key and not key.endswith("@odata.bind")):
            continue  # instance annotations (@odata.type, @odata.etag, formatted values)
        if key.endswith("@odata.bind"):
            nav = key.removesuffix("@odata.bind")
            found = navigation(table, nav)
            if found is None:
                raise errors.payload_error(
                    table.entity_set,
                    f"An undeclared property '{nav}' which only has property annotations in the "
                    "payload but no property value was found in the payload. In OData, only "
                    "declared navigation properties and declared named streams can be "
                    "represented as properties without values.",
                )
            attribute, target = found
            values[attribute.name] = None if value is None else _bound(store, target, value, nav)
            continue
        column = table.attributes.get(key)
        if column is not None and column.is_lookup:
            raise errors.payload_error(
                table.entity_set,
                "A 'PrimitiveValue' node with non-null value was found when trying to read the "
                "value of a navigation property; however, a 'StartArray' node, a 'StartObject' "
                "node, or a 'PrimitiveValue' node with null value was expected.",
            )
        writable = column is None or (
            column.valid_for_create if creating else column.valid_for_update
        )
        if not writable and column is not None and column.type != "Uniqueidentifier":
            continue
        values[key] = value
    return values


def _bound(store: DataverseStore, target: str, value: Any, nav: str) -> tuple[str, str]:
    match = _BIND.match(str(value))
    target_table = store.tables.get(target)
    if not match or target_table is None or match.group(1) != target_table.entity_set:
        raise DataverseError(
            400,
            errors.PAYLOAD,
            f"URL '{value}' for the navigation property '{nav}' does not refer to a record "
            f"of table '{target}'.",
        )
    return target, match.group(2).lower()


def parse_key(table: EntityDef, text: str) -> str | dict[str, Any]:
    """The key in ``leads(<key>)``: a GUID, or alternate key column values."""
    text = unquote(text).strip()
    if is_guid(text):
        return text.lower()
    values: dict[str, Any] = {}
    for match in _KEY_PAIR.finditer(text):
        name, literal = match.group(1), match.group(2).strip()
        if literal.startswith("'"):
            values[name] = literal[1:-1].replace("''", "'")
        elif re.fullmatch(r"-?\d+", literal):
            values[name] = int(literal)
        elif is_guid(literal):
            values[name] = literal.lower()
        else:
            values[name] = literal
    if not values:
        raise DataverseError(
            400, errors.ODATA, f"Bad Request - Error in query syntax: '{table.entity_set}({text})'."
        )
    for key in table.keys:
        if set(key.attributes) == set(values):
            return values
    if set(values) == {table.primary_id}:
        return str(values[table.primary_id]).lower()
    raise DataverseError(
        400,
        errors.ODATA,
        f"The key attributes ({', '.join(values)}) do not match an alternate key defined for "
        f"entity '{table.name}'.",
    )


def key_values(store: DataverseStore, table: EntityDef, key: str | dict[str, Any]) -> Row:
    """The store values an alternate key in a URL stands for (lookups with their target)."""
    if isinstance(key, str):
        return {table.primary_id: key}
    out: Row = {}
    for name, value in key.items():
        attribute = table.attributes[name]
        out[name] = value
        if attribute.is_lookup:
            out[name] = (store._infer_target(attribute, str(value)), str(value))
    return out


def find(store: DataverseStore, table: EntityDef, key: str | dict[str, Any]) -> str | None:
    """The id of the record a key names, or None."""
    if isinstance(key, str):
        return key if store.get_raw(table.name, key) is not None else None
    return store.find_by_key(table.name, key)


def key_text(key: str | dict[str, Any]) -> str:
    if isinstance(key, str):
        return key
    return ",".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in key.items())


Entity = Callable[[str], EntityDef | None]
