"""In-memory state of the HubSpot emulator: objects, properties, associations, owners.

Nothing here knows HTTP. The store speaks HubSpot's JSON shapes (the dicts the
CRM v3/v4 APIs return) so the Starlette layer in ``app.py`` only routes and
renders. Values are kept as HubSpot keeps them: every property value is a
string; ``createdate``, ``lastmodifieddate``, ``hs_lastmodifieddate`` and
``hs_object_id`` are derived from the record's own clock fields.

The portal is one abmsync reads marketing activity from: besides HubSpot's own
properties, notes have the custom ``abm_activity_type`` (form_submit,
page_view, ...) and ``abm_activity_url``, which ``examples/mappings/hubspot-notes.yaml``
turns into touchpoints (HubSpot's form, analytics and email-event APIs are
not emulated).
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from abmsync.schema import TouchpointType

JSON = dict[str, Any]

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "notes": "0-46"}
# HubSpot-defined default association type ids, (from, to) -> typeId.
DEFAULT_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("notes", "companies"): 190,
    ("companies", "notes"): 189,
    ("notes", "deals"): 214,
    ("deals", "notes"): 213,
}
# HubSpot's own property groups per object, the first one the home of the object's
# main properties ("contactinformation", "companyinformation", "dealinformation"),
# as a portal's properties API lists them.
DEFAULT_GROUPS: dict[str, list[tuple[str, str]]] = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
    ],
    "companies": [
        ("companyinformation", "Company information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
    ],
    "deals": [
        ("dealinformation", "Deal information"),
        ("deal_activity", "Deal activity"),
        ("analyticsinformation", "Web analytics history"),
    ],
    "notes": [("engagement", "Engagement")],
}
# Default properties that live outside their object's first group.
GROUP_OF: dict[tuple[str, str], str] = {
    ("contacts", "hs_email_optout"): "emailinformation",
    ("contacts", "hubspot_owner_id"): "sales_properties",
    ("companies", "hubspot_owner_id"): "sales_properties",
}
ACTIVITY_TYPE, ACTIVITY_URL = "abm_activity_type", "abm_activity_url"  # custom note properties
SEARCH_RESULT_CAP = 10_000
SEARCH_PAGE_MAX = 200
LIST_PAGE_MAX = 100
BATCH_MAX = 100
SYSTEM_PROPERTIES = ("createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_object_id")
DEFAULT_RETURNED = {
    "contacts": ["email", "firstname", "lastname"],
    "companies": ["domain", "name"],
    "deals": ["amount", "closedate", "dealname", "dealstage", "pipeline"],
    "notes": ["hs_note_body", "hs_timestamp"],
}


# HubSpot's own objects the emulator does not hold: the sandbox app has no scope for
# them, so HubSpot answers 403 MISSING_SCOPES (hubspot-api-nodejs issue #268 shows the body).
UNGRANTED_OBJECT_TYPES = {
    "tickets": "tickets",
    "products": "e-commerce",
    "line_items": "e-commerce",
    "quotes": "crm.objects.quotes.read",
}


def missing_scopes(scope: str) -> ApiError:
    """HubSpot's 403 for a call the app's token has no scope for."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


class ApiError(Exception):
    """A whole-request failure: rendered as ``status`` with HubSpot's error body."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }


@dataclass(frozen=True)
class RecordError:
    """One input of a batch call that failed; rendered as a ``StandardError``."""

    status: int
    category: str
    message: str
    code: str | None = None
    property_name: str | None = None
    detail: str | None = None  # the short message of the one error detail

    def render(self, ids: list[str], trace_id: str | None) -> JSON:
        context: dict[str, list[str]] = {"ids": ids}
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        details: list[JSON] = []
        if self.code is not None:
            detail: JSON = {"message": self.detail or self.message, "code": self.code}
            if self.property_name is not None:
                detail["context"] = {"propertyName": [self.property_name]}
            details.append(detail)
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": details,
            "links": {},
        }

    def as_request_error(self) -> ApiError:
        """This error as the answer to the whole request (an all-or-nothing batch)."""
        details: list[JSON] = []
        if self.code is not None:
            detail: JSON = {"message": self.detail or self.message, "code": self.code}
            if self.property_name is not None:
                detail["context"] = {"propertyName": [self.property_name]}
            details.append(detail)
        extra: JSON = {"errors": details} if details else {}
        return ApiError(self.status, self.category, self.message, **extra)


class RecordRejectedError(Exception):
    """Raised by store writes; carries the per-record error."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class PropertyDef:
    """One property definition, as the properties API describes it."""

    name: str
    label: str
    type: str  # string | number | enumeration | datetime | date | bool
    field_type: str
    group_name: str
    options: list[JSON] = field(default_factory=list)
    description: str = ""
    read_only: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    created_ms: int = 0
    display_order: int = -1

    def render(self) -> JSON:
        stamp = iso(self.created_ms)
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }


@dataclass
class Record:
    """One CRM object; ``properties`` holds only values set by writes."""

    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot renders them: ``2024-05-21T10:15:30.123Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO datetime or an ISO date; None if neither."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _prop(name: str, label: str, kind: str, field_type: str, **extra: Any) -> PropertyDef:
    return PropertyDef(name, label, kind, field_type, "", **extra)  # group set by the caller


def _options(*values: str) -> list[JSON]:
    return [
        {"label": v.title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


def default_properties(obj: str) -> list[PropertyDef]:
    """The HubSpot-defined properties the emulator starts with for ``obj``."""
    system = [
        _prop("createdate", "Create Date", "datetime", "date", read_only=True),
        _prop("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", read_only=True),
        _prop("hubspot_owner_id", "Owner", "string", "text"),
    ]
    own: dict[str, list[PropertyDef]] = {
        "contacts": [
            _prop("email", "Email", "string", "text", has_unique_value=True),
            _prop("firstname", "First Name", "string", "text"),
            _prop("lastname", "Last Name", "string", "text"),
            _prop("jobtitle", "Job Title", "string", "text"),
            _prop("company", "Company Name", "string", "text"),
            _prop("country", "Country", "string", "text"),
            _prop(
                "lifecyclestage",
                "Lifecycle Stage",
                "enumeration",
                "radio",
                options=_options(
                    "subscriber",
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "customer",
                    "evangelist",
                    "other",
                ),
            ),
            _prop(
                "hs_email_optout",
                "Unsubscribed from all email",
                "bool",
                "booleancheckbox",
                options=_options("true", "false"),
            ),
        ],
        "companies": [
            _prop("name", "Company name", "string", "text"),
            _prop("domain", "Company Domain Name", "string", "text"),
            _prop("industry", "Industry", "string", "text"),
            _prop("numberofemployees", "Number of Employees", "number", "number"),
            _prop("annualrevenue", "Annual Revenue", "number", "number"),
            _prop("country", "Country/Region", "string", "text"),
        ],
        "deals": [
            _prop("dealname", "Deal Name", "string", "text"),
            _prop("amount", "Amount", "number", "number"),
            _prop("pipeline", "Pipeline", "string", "text"),
            _prop(
                "dealstage",
                "Deal Stage",
                "enumeration",
                "radio",
                options=_options(
                    "appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"
                ),
            ),
            _prop("closedate", "Close Date", "datetime", "date"),
        ],
        "notes": [
            _prop("hs_note_body", "Note body", "string", "textarea"),
            _prop("hs_timestamp", "Activity date", "datetime", "date"),
            _prop(
                ACTIVITY_TYPE,
                "ABM activity type",
                "enumeration",
                "select",
                options=[
                    {
                        "label": kind.value.replace("_", " ").capitalize(),
                        "value": kind.value,
                        "displayOrder": i,
                        "hidden": False,
                    }
                    for i, kind in enumerate(TouchpointType)
                ],
                description="What the person did: form_submit, page_view, email_open, ...",
                hubspot_defined=False,
            ),
            _prop(
                ACTIVITY_URL,
                "ABM activity URL",
                "string",
                "text",
                description="The page, form or file of the activity",
                hubspot_defined=False,
            ),
        ],
    }
    defs = system + own[obj]
    for prop in defs:
        prop.group_name = GROUP_OF.get((obj, prop.name), DEFAULT_GROUPS[obj][0][0])
    return defs


class HubSpotStore:
    """All state of one emulated HubSpot portal; every public method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    # -- clock -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything and start again with the default schema and owners."""
        with getattr(self, "_lock", threading.RLock()):
            self.frozen_ms: int | None = None
            self.offset_ms = 0
            self._next_id = 1001
            now = self.now()
            self.records: dict[str, dict[int, Record]] = {t: {} for t in OBJECT_TYPE_IDS}
            # Ids of each object in order, rebuilt only after inserts, so listing a
            # page costs a bisect rather than a sort of every record.
            self._order: dict[str, list[int]] = {}
            self.props: dict[str, dict[str, PropertyDef]] = {}
            self.groups: dict[str, dict[str, JSON]] = {}
            for obj in OBJECT_TYPE_IDS:
                defs = default_properties(obj)
                for prop in defs:
                    prop.created_ms = now
                self.props[obj] = {p.name: p for p in defs}
                self.groups[obj] = {
                    name: {"name": name, "label": label, "displayOrder": i, "archived": False}
                    for i, (name, label) in enumerate(DEFAULT_GROUPS[obj])
                }
            # (from_type, from_id) -> {(to_type, to_id): {typeId, ...}}
            self.links: dict[tuple[str, int], dict[tuple[str, int], set[int]]] = {}
            self.owners: list[JSON] = [
                _owner(i, first, last, now)
                for i, (first, last) in enumerate(
                    [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing")], start=1
                )
            ]
            self.schemas: dict[str, JSON] = {}  # custom object schemas by name (schemas.py)

    def now(self) -> int:
        """The portal's clock in epoch ms (frozen or shifted by the sandbox helpers)."""
        if self.frozen_ms is not None:
            return self.frozen_ms
        return int(time.time() * 1000) + self.offset_ms

    def set_clock(self, *, frozen_ms: int | None, offset_ms: int = 0) -> None:
        """Freeze the clock at ``frozen_ms`` (None: run) and shift it by ``offset_ms``."""
        with self._lock:
            self.frozen_ms = frozen_ms
            self.offset_ms = offset_ms

    # -- schema ------------------------------------------------------------------

    def object_type(self, obj: str) -> str:
        """Normalize an object type name or id (``contacts``, ``0-1``) or raise 400."""
        for name, type_id in OBJECT_TYPE_IDS.items():
            if obj in (name, type_id, name.rstrip("s"), name[:-1]):
                return name
        if obj in UNGRANTED_OBJECT_TYPES:
            raise missing_scopes(UNGRANTED_OBJECT_TYPES[obj])
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {obj}")

    def list_properties(self, obj: str) -> list[JSON]:
        with self._lock:
            return [p.render() for p in self.props[obj].values()]

    def get_property(self, obj: str, name: str) -> JSON:
        with self._lock:
            prop = self.props[obj].get(name)
            if prop is None:
                raise ApiError(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist")
            return prop.render()

    def create_property(self, obj: str, body: Mapping[str, Any]) -> JSON:
        """Create a custom property; 409 if it exists, 400 for an unknown group or bad type."""
        with self._lock:
            name = str(body.get("name", ""))
            if name in self.props[obj]:
                raise ApiError(
                    409,
                    "OBJECT_ALREADY_EXISTS",
                    f"Property named '{name}' already exists.",
                    subCategory="PropertyValidationError.PROPERTY_EXISTS",
                )
            kind = str(body.get("type", ""))
            if kind not in {"string", "number", "enumeration", "datetime", "date", "bool"}:
                raise ApiError(400, "VALIDATION_ERROR", f"Invalid property type: {kind}")
            group = str(body.get("groupName", ""))
            if group not in self.groups[obj]:
                raise ApiError(400, "VALIDATION_ERROR", f"Property group '{group}' does not exist.")
            options = [
                {
                    "label": str(o.get("label", o.get("value"))),
                    "value": str(o["value"]),
                    "displayOrder": int(o.get("displayOrder", i)),
                    "hidden": bool(o.get("hidden", False)),
                }
                for i, o in enumerate(body.get("options") or [])
            ]
            if kind in {"enumeration", "bool"} and not options:
                raise ApiError(400, "VALIDATION_ERROR", f"{kind} properties need options")
            prop = PropertyDef(
                name=name,
                label=str(body.get("label", name)),
                type=kind,
                field_type=str(body.get("fieldType", "text")),
                group_name=group,
                options=options,
                description=str(body.get("description", "")),
                hubspot_defined=False,
                has_unique_value=bool(body.get("hasUniqueValue", False)),
                created_ms=self.now(),
            )
            self.props[obj][name] = prop
            return prop.render()

    def list_groups(self, obj: str) -> list[JSON]:
        with self._lock:
            return list(self.groups[obj].values())

    def create_group(self, obj: str, body: Mapping[str, Any]) -> JSON:
        with self._lock:
            name = str(body.get("name", ""))
            if name in self.groups[obj]:
                raise ApiError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property group '{name}' already exists."
                )
            group = {
                "name": name,
                "label": str(body.get("label", name)),
                "displayOrder": int(body.get("displayOrder", -1)),
                "archived": False,
            }
            self.groups[obj][name] = group
            return group

    # -- records -----------------------------------------------------------------

    def render(self, obj: str, record: Record, names: Iterable[str] | None = None) -> JSON:
        """A record as ``SimplePublicObject`` JSON with the requested properties."""
        wanted = list(names) if names is not None else DEFAULT_RETURNED[obj]
        values: dict[str, str | None] = {}
        for name in [*wanted, *SYSTEM_PROPERTIES]:
            if name in self.props[obj] or name in SYSTEM_PROPERTIES:
                values[name] = self.value(record, name)
        result: JSON = {
            "id": str(record.id),
            "properties": values,
            "createdAt": iso(record.created_ms),
            "updatedAt": iso(record.updated_ms),
            "archived": record.archived_ms is not None,
        }
        if record.archived_ms is not None:
            result["archivedAt"] = iso(record.archived_ms)
        return result

    @staticmethod
    def value(record: Record, name: str) -> str | None:
        """One property value as HubSpot returns it (system fields derived)."""
        if name == "createdate":
            return iso(record.created_ms)
        if name in ("lastmodifieddate", "hs_lastmodifieddate"):
            return iso(record.updated_ms)
        if name == "hs_object_id":
            return str(record.id)
        return record.properties.get(name)

    def get(self, obj: str, key: str, *, id_property: str | None = None) -> Record | None:
        """A live record by id, or by a unique property when ``id_property`` is given."""
        with self._lock:
            if id_property and id_property != "hs_object_id":
                wanted = _normalize(id_property, key)
                for record in self.records[obj].values():
                    stored = record.properties.get(id_property)
                    if record.archived_ms is None and stored == wanted:
                        return record
                return None
            found = self.records[obj].get(int(key)) if key.isdigit() else None
            return found if found is not None and found.archived_ms is None else None

    def create(self, obj: str, values: Mapping[str, Any]) -> Record:
        """Create a record or raise :class:`RecordRejectedError`."""
        with self._lock:
            clean = self._validated(obj, values)
            self._check_unique(obj, clean, None)
            now = self.now()
            record = Record(self._next_id, {}, now, now)
            self._next_id += 1
            _apply(record, clean)
            self.records[obj][record.id] = record
            return record

    def create_many(self, obj: str, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
        """Create every row or none: all values and unique properties (against the
        portal and within ``rows``) are checked first; the first bad row raises
        :class:`RecordRejectedError`."""
        with self._lock:
            cleaned = [self._validated(obj, row) for row in rows]
            seen: dict[str, set[str]] = {}
            for values in cleaned:
                self._check_unique(obj, values, None)
                for name in self.unique_properties(obj) & {k for k, v in values.items() if v}:
                    if values[name] in seen.setdefault(name, set()):
                        message = f"{obj[:-1].title()} with {name} {values[name]} is duplicated"
                        raise RecordRejectedError(RecordError(409, "CONFLICT", message))
                    seen[name].add(values[name])
            return [self.create(obj, values) for values in cleaned]

    def update(self, obj: str, record: Record, values: Mapping[str, Any]) -> Record:
        """Update ``record`` in place (its modified time moves) or raise RecordRejectedError."""
        with self._lock:
            clean = self._validated(obj, values)
            self._check_unique(obj, clean, record.id)
            _apply(record, clean)
            record.updated_ms = self.now()
            return record

    def archive(self, obj: str, record: Record) -> None:
        with self._lock:
            now = self.now()
            record.archived_ms = now
            record.updated_ms = now

    def _validated(self, obj: str, values: Mapping[str, Any]) -> dict[str, str]:
        clean: dict[str, str] = {}
        for name, raw in values.items():
            prop = self.props[obj].get(name)
            if prop is None:
                raise RecordRejectedError(
                    _invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
            if prop.read_only:
                message = f'"{name}" is a read only property; its value cannot be set.'
                raise RecordRejectedError(_invalid(name, "READ_ONLY_VALUE", message))
            text = _as_text(raw)
            if text:
                text = self._checked_value(prop, text)
            clean[name] = _normalize(name, text)
        return clean

    @staticmethod
    def _checked_value(prop: PropertyDef, text: str) -> str:
        if prop.type in ("enumeration", "bool"):
            allowed = [o["value"] for o in prop.options]
            chosen = text.split(";") if prop.field_type == "checkbox" else [text]
            for value in chosen:
                if value not in allowed:
                    message = f"{value} was not one of the allowed options: {allowed}"
                    raise RecordRejectedError(_invalid(prop.name, "INVALID_OPTION", message))
        elif prop.type == "number":
            try:
                float(text)
            except ValueError:
                message = f"{text} was not a valid number."
                raise RecordRejectedError(_invalid(prop.name, "INVALID_FLOAT", message)) from None
        elif prop.type in ("datetime", "date"):
            ms = to_ms(text)
            if ms is None:
                message = f"{text} was not a valid long or date."
                raise RecordRejectedError(_invalid(prop.name, "INVALID_DATE", message))
            return iso(ms) if prop.type == "datetime" else iso(ms)[:10]
        return text

    def _check_unique(self, obj: str, values: Mapping[str, str], own_id: int | None) -> None:
        for name, value in values.items():
            prop = self.props[obj][name]
            if not prop.has_unique_value or not value:
                continue
            existing = self.get(obj, value, id_property=name)
            if existing is not None and existing.id != own_id:
                raise RecordRejectedError(
                    RecordError(
                        409,
                        "CONFLICT",
                        f"{obj[:-1].title()} already exists. Existing ID: {existing.id}",
                    )
                )

    def unique_properties(self, obj: str) -> set[str]:
        with self._lock:
            return {p.name for p in self.props[obj].values() if p.has_unique_value}

    def seed(
        self, obj: str, count: int, template: Mapping[str, str], start_ms: int, end_ms: int
    ) -> list[int]:
        """Create ``count`` records cheaply, modified evenly across [start_ms, end_ms].

        ``{i}`` in a template value is replaced by the record's index.
        """
        with self._lock:
            ids: list[int] = []
            span = max(end_ms - start_ms, 0)
            for i in range(count):
                stamp = start_ms + (span * i // max(count - 1, 1))
                values = {k: _normalize(k, v.format(i=i)) for k, v in template.items()}
                record = Record(self._next_id, values, stamp, stamp)
                self._next_id += 1
                self.records[obj][record.id] = record
                ids.append(record.id)
            return ids

    def insert_many(
        self,
        obj: str,
        rows: Sequence[Mapping[str, Any]],
        created_ms: Sequence[int] | None = None,
    ) -> list[int]:
        """Create records in one go, as an import does; return their ids in order.

        Values are validated as by :meth:`create`, and unique properties checked
        against the portal and within ``rows``, before anything is stored: one bad
        row raises :class:`RecordRejectedError` and nothing is created.
        ``created_ms`` sets each record's ``createdate`` (default: now); the
        modification times run up to now, ten records a millisecond.
        """
        if created_ms is not None and len(created_ms) != len(rows):
            raise ValueError(f"{len(rows)} rows but {len(created_ms)} creation times")
        with self._lock:
            cleaned = [self._validated(obj, row) for row in rows]
            for name in self.unique_properties(obj):
                taken = {
                    r.properties[name]
                    for r in self.records[obj].values()
                    if r.archived_ms is None and name in r.properties
                }
                for values in cleaned:
                    value = values.get(name)
                    if not value:
                        continue
                    if value in taken:
                        message = f"{obj[:-1].title()} with {name} {value} already exists."
                        raise RecordRejectedError(RecordError(409, "CONFLICT", message))
                    taken.add(value)
            now = self.now()
            ids: list[int] = []
            for index, values in enumerate(cleaned):
                created = now if created_ms is None else int(created_ms[index])
                # An import writes some ten records a millisecond, ending now.
                modified = now - (len(cleaned) - 1 - index) // 10
                record = Record(self._next_id, {}, min(created, modified), modified)
                _apply(record, values)
                self._next_id += 1
                self.records[obj][record.id] = record
                ids.append(record.id)
            return ids

    def link_many(self, from_obj: str, to_obj: str, pairs: Iterable[tuple[int, int]]) -> int:
        """Associate many pairs of record ids with the default type, both ways; return
        how many. Raises :class:`RecordRejectedError` (linking none) if an id is unknown."""
        type_id = DEFAULT_ASSOCIATION_TYPES[(from_obj, to_obj)]
        inverse = DEFAULT_ASSOCIATION_TYPES[(to_obj, from_obj)]
        with self._lock:
            links = list(pairs)
            sources, targets = self.records[from_obj], self.records[to_obj]
            for from_id, to_id in links:
                if from_id not in sources or to_id not in targets:
                    message = f"No {from_obj} {from_id} or {to_obj} {to_id}"
                    raise RecordRejectedError(RecordError(404, "OBJECT_NOT_FOUND", message))
            for from_id, to_id in links:
                a, b = (from_obj, from_id), (to_obj, to_id)
                self.links.setdefault(a, {}).setdefault(b, set()).add(type_id)
                self.links.setdefault(b, {}).setdefault(a, set()).add(inverse)
            return len(links)

    def ids_by(self, obj: str, name: str) -> dict[str, int]:
        """Ids of live records by their value of property ``name`` (the first one wins)."""
        with self._lock:
            found: dict[str, int] = {}
            for record in self.records[obj].values():
                value = record.properties.get(name)
                if record.archived_ms is None and value is not None:
                    found.setdefault(value, record.id)
            return found

    def add_owner(self, first_name: str, last_name: str, email: str) -> str:
        """Add a user who can own records (as inviting a user does); return the owner id."""
        with self._lock:
            owner = _owner(len(self.owners) + 1, first_name, last_name, self.now())
            owner["email"] = email
            self.owners.append(owner)
            return str(owner["id"])

    # -- reading -----------------------------------------------------------------

    def list_page(
        self, obj: str, *, limit: int, after: str | None, names: list[str] | None, archived: bool
    ) -> JSON:
        """``GET /crm/v3/objects/{type}``: id order, ``after`` is the next id to return."""
        limit = max(1, min(limit, LIST_PAGE_MAX))
        start = int(after) if after and after.isdigit() else 0
        with self._lock:
            records = self.records[obj]
            order = self._order.get(obj)
            if order is None or len(order) != len(records):
                order = self._order[obj] = sorted(records)
            page: list[Record] = []
            for record_id in order[bisect.bisect_left(order, start) :]:
                record = records[record_id]
                if (record.archived_ms is not None) == archived:
                    page.append(record)
                    if len(page) > limit:
                        break
            result: JSON = {"results": [self.render(obj, r, names) for r in page[:limit]]}
            if len(page) > limit:
                result["paging"] = {"next": {"after": str(page[limit].id), "link": ""}}
            return result

    def search(self, obj: str, body: Mapping[str, Any]) -> JSON:
        """``POST /crm/v3/objects/{type}/search`` with HubSpot's limits."""
        limit = int(body.get("limit") or 10)
        if limit > SEARCH_PAGE_MAX or limit < 1:
            raise ApiError(
                400, "VALIDATION_ERROR", f"limit must be between 1 and {SEARCH_PAGE_MAX}"
            )
        after_text = str(body.get("after") or "0")
        offset = int(after_text) if after_text.isdigit() else 0
        if offset + limit > SEARCH_RESULT_CAP:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                "There was a problem with the request.",
                errors=[
                    {
                        "message": "Search results are limited to 10,000; "
                        "narrow the filters to page further.",
                        "code": "SEARCH_RESULT_LIMIT",
                    }
                ],
            )
        groups = body.get("filterGroups") or []
        # "up to five filterGroups with up to 6 filters in each group, with a maximum
        # of 18 filters in total"; "a query can contain a maximum of 3,000 characters"
        # (https://developers.hubspot.com/docs/api-reference/search/guide).
        sizes = [len(g.get("filters") or []) for g in groups]
        if len(groups) > 5 or sum(sizes) > 18 or any(n > 6 for n in sizes):
            raise ApiError(400, "VALIDATION_ERROR", "Too many filter groups or filters")
        if len(str(body.get("query") or "")) > 3000:
            raise ApiError(400, "VALIDATION_ERROR", "query: at most 3000 characters")
        with self._lock:
            props = self.props[obj]
            matches_filters = _compile_groups(self, props, groups)
            matches = [
                r
                for r in self.records[obj].values()
                if r.archived_ms is None
                and matches_filters(r)
                and _query_matches(obj, r, body.get("query"))
            ]
            matches.sort(key=lambda r: r.id)
            for name, descending in reversed(_sorts(body.get("sorts"))):
                prop = props.get(name)

                def key(r: Record, n: str = name, p: PropertyDef | None = prop) -> SortKey:
                    return _sort_key(p, r, n)

                matches.sort(key=key, reverse=descending)
            page = matches[offset : offset + limit]
            names = body.get("properties") or None
            result: JSON = {
                "total": len(matches),
                "results": [self.render(obj, r, names) for r in page],
            }
            if offset + limit < len(matches):
                result["paging"] = {"next": {"after": str(offset + limit)}}
            return result

    # -- associations ------------------------------------------------------------

    def associate(self, from_obj: str, from_id: str, to_obj: str, to_id: str, type_id: int) -> None:
        """Link two live records both ways (HubSpot stores the inverse type too)."""
        with self._lock:
            if self.get(from_obj, from_id) is None or self.get(to_obj, to_id) is None:
                raise RecordRejectedError(
                    RecordError(
                        404, "OBJECT_NOT_FOUND", f"No {from_obj} {from_id} or {to_obj} {to_id}"
                    )
                )
            inverse = DEFAULT_ASSOCIATION_TYPES.get((to_obj, from_obj), type_id)
            a, b = (from_obj, int(from_id)), (to_obj, int(to_id))
            self.links.setdefault(a, {}).setdefault(b, set()).add(type_id)
            self.links.setdefault(b, {}).setdefault(a, set()).add(inverse)

    def disassociate(
        self,
        from_obj: str,
        from_id: str,
        to_obj: str,
        to_id: str,
        type_ids: Iterable[int] | None = None,
    ) -> None:
        """Remove the link of two records both ways: every type, or only ``type_ids``
        (and their inverses). Records that are not linked are left as they are."""
        with self._lock:
            if not (from_id.isdigit() and to_id.isdigit()):
                return
            a, b = (from_obj, int(from_id)), (to_obj, int(to_id))
            forward = self.links.get(a, {}).get(b, set())
            backward = self.links.get(b, {}).get(a, set())
            if type_ids is None:
                forward.clear()
                backward.clear()
            else:
                for type_id in type_ids:
                    forward.discard(type_id)
                    backward.discard(DEFAULT_ASSOCIATION_TYPES.get((to_obj, from_obj), type_id))
            for side, other in ((a, b), (b, a)):
                if not self.links.get(side, {}).get(other, {1}):
                    del self.links[side][other]

    def associations_of(self, from_obj: str, from_id: str, to_obj: str) -> list[JSON]:
        with self._lock:
            linked = self.links.get((from_obj, int(from_id)), {})
            return [
                {
                    "toObjectId": str(to_id),  # a string in the v4 spec (MultiAssociatedObject...)
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                        for t in sorted(types)
                    ],
                }
                for (kind, to_id), types in sorted(linked.items())
                if kind == to_obj and self.get(to_obj, str(to_id)) is not None
            ]

    def owners_page(self, limit: int, after: str | None) -> JSON:
        start = int(after) if after and after.isdigit() else 0
        page = self.owners[start : start + limit]
        result: JSON = {"results": page}
        if start + limit < len(self.owners):
            result["paging"] = {"next": {"after": str(start + limit), "link": ""}}
        return result


def _owner(i: int, first: str, last: str, now: int) -> JSON:
    return {
        "id": str(100 + i),
        "email": f"{first.lower()}@example.com",
        "firstName": first,
        "lastName": last,
        "userId": 9000 + i,
        "type": "PERSON",
        "archived": False,
        "createdAt": iso(now),
        "updatedAt": iso(now),
        "teams": [],
    }


def _invalid(name: str, code: str, message: str) -> RecordError:
    detail = json.dumps([{"isValid": False, "message": message, "error": code, "name": name}])
    return RecordError(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {detail}",
        code=code,
        property_name=name,
        detail=message,
    )


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _normalize(name: str, value: str) -> str:
    """HubSpot stores emails in lower case, so upserts by email ignore case."""
    return value.strip().lower() if name == "email" else value


def _apply(record: Record, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        if value == "":
            record.properties.pop(name, None)  # an empty string clears a property
        else:
            record.properties[name] = value


def _sorts(raw: Any) -> list[tuple[str, bool]]:
    """Sorts as (property, descending); HubSpot accepts objects or ``"-name"`` strings."""
    result: list[tuple[str, bool]] = []
    for sort in raw or []:
        if isinstance(sort, str):
            result.append((sort.lstrip("-"), sort.startswith("-")))
        elif isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
            result.append((sort["propertyName"], sort.get("direction") == "DESCENDING"))
        else:
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid sort: {sort!r}")
    return result


def _comparable(prop: PropertyDef | None, value: str) -> float | str:
    if prop is not None and prop.type in ("datetime", "date"):
        ms = to_ms(value)
        return float(ms) if ms is not None else float("nan")
    if prop is not None and prop.type == "number":
        try:
            return float(value)
        except ValueError:
            return float("nan")
    return value.lower()


def _record_comparable(prop: PropertyDef | None, record: Record, name: str) -> float | str | None:
    """A record's value in comparable form; system fields without string round trips."""
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return float(record.updated_ms)
    if name == "createdate":
        return float(record.created_ms)
    if name == "hs_object_id":
        return float(record.id)
    raw = record.properties.get(name)
    return None if raw is None else _comparable(prop, raw)


SortKey = tuple[int, float | str]


def _sort_key(prop: PropertyDef | None, record: Record, name: str) -> SortKey:
    value = _record_comparable(prop, record, name)
    if value is None:
        return (1, "")  # missing values sort last
    return (0, value)


Predicate = Callable[[Record], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


def _compile_groups(
    store: HubSpotStore, props: Mapping[str, PropertyDef], groups: list[Mapping[str, Any]]
) -> Predicate:
    """filterGroups as one predicate: OR of groups, AND of filters (values parsed once)."""
    compiled = [[_compile_filter(store, props, f) for f in g.get("filters") or []] for g in groups]
    if not compiled:
        return lambda record: True
    return lambda record: any(all(f(record) for f in group) for group in compiled)


def _compile_filter(
    store: HubSpotStore, props: Mapping[str, PropertyDef], spec: Mapping[str, Any]
) -> Predicate:
    name = str(spec.get("propertyName"))
    operator = str(spec.get("operator"))
    prop = props.get(name)
    if prop is None:
        raise ApiError(400, "VALIDATION_ERROR", f"There was a problem with the request: {name}")

    def left(record: Record) -> float | str | None:
        return _record_comparable(prop, record, name)

    if operator == "HAS_PROPERTY":
        return lambda r: left(r) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: left(r) is None
    if operator in ("IN", "NOT_IN"):
        wanted = {_comparable(prop, str(v)) for v in spec.get("values") or []}
        inside = operator == "IN"
        return lambda r: (left(r) is not None and left(r) in wanted) is inside
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", ""))
        positive = operator == "CONTAINS_TOKEN"

        def contains(r: Record) -> bool:
            raw = store.value(r, name)
            return (raw is not None and _contains_token(raw, token)) is positive

        return contains
    value = _comparable(prop, str(spec.get("value")))
    if operator == "NEQ":
        return lambda r: left(r) is None or left(r) != value
    if operator == "BETWEEN":
        high = _comparable(prop, str(spec.get("highValue")))

        def between(r: Record) -> bool:
            own = left(r)
            return type(own) is type(value) and value <= own <= high  # type: ignore[operator]

        return between
    compare = _COMPARE.get(operator)
    if compare is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unknown filter operator {operator}")

    def compared(r: Record) -> bool:
        own = left(r)
        return own is not None and type(own) is type(value) and compare(own, value)

    return compared


def _contains_token(value: str, token: str) -> bool:
    """Whole-token match; ``*`` is a wildcard (``*@example.com``)."""
    wanted = token.lower()
    if "*" in wanted:
        return fnmatch.fnmatchcase(value.lower(), wanted)
    return wanted in re.split(r"[^a-z0-9@._-]+", value.lower()) or wanted in re.split(
        r"[^a-z0-9]+", value.lower()
    )


def _query_matches(obj: str, record: Record, query: Any) -> bool:
    if not query:
        return True
    text = str(query).lower()
    return any(
        text in (record.properties.get(name) or "").lower() for name in DEFAULT_RETURNED[obj]
    )
