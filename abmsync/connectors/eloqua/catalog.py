"""What the connector knows of an instance's objects: ``describe``, ``ensure_fields``.

Objects are ``contacts``, ``accounts``, ``activities`` and custom objects by
name (``ABM_Touchpoint``). Fields come from the Bulk API's fields endpoints
(``/contacts/fields``, ``/accounts/fields``, ``/customObjects/{id}/fields``:
name, internalName, dataType, hasReadOnlyConstraint, statement), typed as:

=============== ============================================================
Bulk dataType   abmsync type
=============== ============================================================
emailAddress    EMAIL
string          STRING (TEXT when the application API says ``largeText``)
number          NUMBER
date            DATETIME
boolean         BOOLEAN
=============== ============================================================

The Bulk API does not say how long a string may be; the application API
does (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/bulk_data_types.htm:
"small text is 100 for contact fields and 250 for custom object fields;
large text is 32,000 for both"), so ``describe`` of contacts also reads
``GET /api/REST/1.0/assets/contact/fields?depth=complete`` and of a custom
object ``GET /api/REST/2.0/assets/customObject/{id}``. Accounts report no length.

Fields are named by internal name (``C_EmailAddress``, ``ABM_Type1``); a
custom object field's display name is also accepted in patches and
selections where it names no other field (:meth:`Described.resolve`).
Pseudo fields complete the objects: ``ContactId``/``AccountId``/
``CustomObjectInstanceId`` (the record ids), the contact's ``AccountId``
(``{{Contact.Account.Id}}``), the contact's lead score of the first active
scoring model (``LeadScoreRating``, ``LeadScoreProfile``,
``LeadScoreEngagement``), the contact's email status (``IsSubscribed``,
``IsBounced``: ``{{Contact.Email.IsSubscribed}}``), and a custom object record's ``ContactId``, the
contact it is linked to: read as ``{{CustomObject[N].Contact.Id}}``, written
by staging the id in the object's own ``ContactId`` field, which
``mapDataCards`` matches on ``{{Contact.Id}}`` (the docs' mapping matches a
record's source field against a contact field; an object without that field
gets a read-only ``ContactId``).

An import can match records on any field (``identifierFieldName``), so every
writable short text field is an upsert key (``external_id``).

``ensure_fields`` creates contact fields with ``POST /api/REST/1.0/assets/contact/field``.
Eloqua derives a field's internal name from its name: ``C_`` + the name with
other characters than letters, digits and ``_`` as ``_`` + ``1``. A wanted
name of that shape (``C_ABM_Score1``) is created as ``ABM Score``, so it gets
the name asked for; the names Eloqua gave are returned either way. A custom
object (``POST /api/REST/2.0/assets/customObject``) or its missing fields
(``PUT`` of the object) are created for any other object.

Guesses:
    - The contact's account is ``{{Contact.Account.Id}}`` and a custom object
      record's contact ``{{CustomObject[N].Contact.Id}}`` (EML's dot notation
      for related entities; the docs show ``{{Contact.Account.Field(M_CompanyName)}}``).
    - Account fields cannot be created through the API (the REST reference
      documents contact fields only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from abmsync.connectors.base import FieldMeta, FieldType, ObjectMeta, Patch
from abmsync.connectors.eloqua.bulk import Bulk
from abmsync.connectors.eloqua.client import EloquaClient
from abmsync.connectors.eloqua.custom_objects import ensure_custom_object, is_link_field
from abmsync.connectors.eloqua.errors import EloquaTerminalError
from abmsync.connectors.eloqua.values import Column
from abmsync.errors import ConfigError

log = logging.getLogger(__name__)

CONTACTS, ACCOUNTS, ACTIVITIES = "contacts", "accounts", "activities"
TEXT_LENGTH = {"contacts": 100, "custom": 250}
LARGE_TEXT_LENGTH = 32_000
SYSTEM_TIMESTAMPS = frozenset(
    {
        "C_DateCreated",
        "C_DateModified",
        "C_LastModifiedByExtIntegrateSystem",
        "M_DateCreated",
        "M_DateModified",
        "M_LastModifiedByExtIntegrateSystem",
        "CreatedAt",
        "UpdatedAt",
    }
)
BULK_TYPES = {
    "emailaddress": FieldType.EMAIL,
    "string": FieldType.STRING,
    "number": FieldType.NUMBER,
    "date": FieldType.DATETIME,
    "boolean": FieldType.BOOLEAN,
}
# abmsync type -> (Eloqua dataType, displayType) of a field ensure_fields creates
CREATE_TYPES: dict[FieldType, tuple[str, str]] = {
    FieldType.TEXT: ("largeText", "textArea"),
    FieldType.INTEGER: ("numeric", "text"),
    FieldType.NUMBER: ("numeric", "text"),
    FieldType.DATE: ("date", "text"),
    FieldType.DATETIME: ("date", "text"),
}
LEAD_SCORE = {
    "LeadScoreRating": "Rating",
    "LeadScoreProfile": "ProfileScore",
    "LeadScoreEngagement": "EngagementScore",
}
# A contact's email status (the Bulk API's special contact fields, e.g. the bounceback
# tutorial's {{Contact.Email.IsBounced}}), read as booleans.
EMAIL_STATUS = {
    "IsSubscribed": "{{Contact.Email.IsSubscribed}}",
    "IsBounced": "{{Contact.Email.IsBounced}}",
}
LINK_FIELD = "ContactId"  # a custom object record's contact: read linked, written by mapping
INTERNAL_NAME = re.compile(r"^C_(?P<base>[A-Za-z0-9_]+?)(?P<number>\d+)$")


@dataclass(frozen=True)
class Described:
    """An object as ``describe`` found it, and what reading and writing it needs."""

    meta: ObjectMeta
    kind: str  # contacts | accounts | custom | activities
    parent: str  # the Bulk API path: contacts, accounts, customObjects/9, activities
    id_column: str  # ContactId, AccountId, CustomObjectInstanceId, ActivityId
    statements: dict[str, str] = field(default_factory=dict)  # column -> EML statement
    modified: str | None = None  # the column whose statement filters changes
    custom_object_id: int | None = None
    writes: dict[str, str] = field(default_factory=dict)  # import statements unlike the read
    aliases: dict[str, str] = field(default_factory=dict)  # display name -> field name

    def import_statement(self, name: str) -> str:
        """The statement an import writes ``name`` through."""
        return self.writes.get(name, self.statements[name])

    def resolve(self, name: str) -> str:
        """The field ``name`` stands for (itself, or the field whose display name it is)."""
        return name if name in self.meta.fields else self.aliases.get(name, name)

    def resolve_patch(self, patch: Patch) -> Patch:
        """``patch`` with its field names resolved (see :meth:`resolve`)."""
        if not self.aliases:
            return patch
        key = patch.external_id
        return patch.model_copy(
            update={
                "values": {self.resolve(k): v for k, v in patch.values.items()},
                "external_id": (self.resolve(key[0]), key[1]) if key else None,
            }
        )

    def column(self, name: str, site_zone: tzinfo) -> Column:
        """The read column of a field: its statement, type and time zone."""
        spec = self.meta.fields.get(name)
        kind = spec.type if spec is not None else FieldType.STRING
        if kind in (FieldType.ID, FieldType.REFERENCE):
            kind = FieldType.STRING
        zone = UTC if name in SYSTEM_TIMESTAMPS else site_zone
        return Column(name, self.statements[name], kind, zone)


class Catalog:
    """Describes objects (cached per connector) and creates missing fields."""

    def __init__(self, client: EloquaClient, bulk: Bulk) -> None:
        self.client = client
        self.bulk = bulk
        self._described: dict[str, Described] = {}
        self._custom_objects: dict[str, int] | None = None

    def forget(self, obj: str | None = None) -> None:
        """Drop cached descriptions (after creating fields)."""
        if obj is None:
            self._described.clear()
            self._custom_objects = None
        else:
            self._described.pop(obj, None)

    def describe(self, obj: str) -> Described:
        """The object ``obj``: fields, statements, ids (cached)."""
        if obj not in self._described:
            if obj == CONTACTS:
                described = self._contacts()
            elif obj == ACCOUNTS:
                described = self._accounts()
            elif obj == ACTIVITIES:
                from abmsync.connectors.eloqua.activities import described_activities

                described = described_activities()
            else:
                described = self._custom(obj)
            self._described[obj] = described
        return self._described[obj]

    # -- reading definitions ------------------------------------------------------------

    def _fields(self, parent: str) -> list[dict[str, Any]]:
        return self.bulk.listing(f"{parent}/fields", what=f"reading the {parent} fields")

    def _contacts(self) -> Described:
        items = self._fields(CONTACTS)
        rest = {
            str(f.get("internalName")): str(f.get("dataType") or "")
            for f in self._rest_contact_fields()
        }
        fields: dict[str, FieldMeta] = {}
        statements: dict[str, str] = {}
        for item in items:
            name = str(item.get("internalName") or item.get("name"))
            fields[name] = _field(item, name, rest.get(name), TEXT_LENGTH["contacts"])
            statements[name] = str(item.get("statement") or f"{{{{Contact.Field({name})}}}}")
        fields["ContactId"] = FieldMeta(
            name="ContactId", label="Eloqua Contact ID", type=FieldType.ID, writable=False
        )
        statements["ContactId"] = "{{Contact.Id}}"
        fields["AccountId"] = FieldMeta(
            name="AccountId",
            label="Account",
            type=FieldType.REFERENCE,
            reference_to=ACCOUNTS,
            writable=False,
        )
        statements["AccountId"] = "{{Contact.Account.Id}}"
        for column, statement in EMAIL_STATUS.items():
            fields[column] = FieldMeta(
                name=column, label=column, type=FieldType.BOOLEAN, writable=False
            )
            statements[column] = statement
        for column, statement in self._lead_score().items():
            fields[column] = FieldMeta(
                name=column, label=column, type=FieldType.STRING, writable=False
            )
            statements[column] = statement
        meta = ObjectMeta(name=CONTACTS, label="Contacts", fields=fields)
        return Described(meta, CONTACTS, CONTACTS, "ContactId", statements, "C_DateModified")

    def _accounts(self) -> Described:
        fields: dict[str, FieldMeta] = {}
        statements: dict[str, str] = {}
        for item in self._fields(ACCOUNTS):
            name = str(item.get("internalName") or item.get("name"))
            fields[name] = _field(item, name, None, None)
            statements[name] = str(item.get("statement") or f"{{{{Account.Field({name})}}}}")
        fields["AccountId"] = FieldMeta(
            name="AccountId", label="Eloqua Account ID", type=FieldType.ID, writable=False
        )
        statements["AccountId"] = "{{Account.Id}}"
        modified = next((n for n in ("M_DateModified", "M_Date_Modified") if n in fields), None)
        meta = ObjectMeta(name=ACCOUNTS, label="Accounts", fields=fields)
        return Described(meta, ACCOUNTS, ACCOUNTS, "AccountId", statements, modified)

    def custom_object_id(self, name: str) -> int | None:
        """The id of the custom object called ``name`` (any case), or None."""
        if self._custom_objects is None:
            found: dict[str, int] = {}
            for item in self.bulk.listing("customObjects", what="listing the custom objects"):
                match = re.search(r"/customObjects/(\d+)", str(item.get("uri") or ""))
                if match and item.get("name"):
                    found.setdefault(str(item["name"]).lower(), int(match.group(1)))
            self._custom_objects = found
        return self._custom_objects.get(name.lower())

    def _custom(self, obj: str) -> Described:
        object_id = self.custom_object_id(obj)
        if object_id is None:
            raise EloquaTerminalError(
                f"Eloqua has no object {obj!r}: use contacts, accounts, activities or the "
                "name of a custom object"
            )
        parent = f"customObjects/{object_id}"
        entity = f"CustomObject[{object_id}]"
        rest: dict[str, str] = {}
        for item in self._rest_custom_object(object_id).get("fields") or []:
            if isinstance(item, Mapping):
                key = str(item.get("internalName") or item.get("name"))
                rest[key] = str(item.get("dataType") or "")
        fields: dict[str, FieldMeta] = {}
        statements: dict[str, str] = {}
        writes: dict[str, str] = {}
        displays: dict[str, str] = {}
        for item in self._fields(parent):
            display = str(item.get("name") or "")
            name = str(item.get("internalName") or display)
            if is_link_field(display, name):
                # The field a record's contact id is staged in for mapDataCards.
                writes[LINK_FIELD] = str(item.get("statement") or "")
                continue
            fields[name] = _field(item, name, rest.get(name), TEXT_LENGTH["custom"])
            statements[name] = str(item.get("statement") or "")
            if display and display != name:
                displays[display] = name
        fields["CustomObjectInstanceId"] = FieldMeta(
            name="CustomObjectInstanceId", label="Record ID", type=FieldType.ID, writable=False
        )
        statements["CustomObjectInstanceId"] = f"{{{{{entity}.Id}}}}"
        fields[LINK_FIELD] = FieldMeta(
            name=LINK_FIELD,
            label="Linked contact",
            type=FieldType.REFERENCE,
            reference_to=CONTACTS,
            writable=LINK_FIELD in writes,
        )
        statements[LINK_FIELD] = f"{{{{{entity}.Contact.Id}}}}"
        fields["UpdatedAt"] = FieldMeta(
            name="UpdatedAt", label="Updated at", type=FieldType.DATETIME, writable=False
        )
        statements["UpdatedAt"] = f"{{{{{entity}.UpdatedAt}}}}"
        fields["CreatedAt"] = FieldMeta(
            name="CreatedAt", label="Created at", type=FieldType.DATETIME, writable=False
        )
        statements["CreatedAt"] = f"{{{{{entity}.CreatedAt}}}}"
        meta = ObjectMeta(name=obj, label=obj, fields=fields)
        aliases = {d: n for d, n in displays.items() if d not in fields}
        return Described(
            meta,
            "custom",
            parent,
            "CustomObjectInstanceId",
            statements,
            "UpdatedAt",
            object_id,
            writes,
            aliases,
        )

    def _rest_contact_fields(self) -> list[dict[str, Any]]:
        """Every contact field in the application API's shape (``dataType`` text|largeText...)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.client.json(
                "GET",
                "rest",
                "assets/contact/fields",
                version="1.0",
                what="reading the contact field types",
                params={"depth": "complete", "count": 1000, "page": page},
            )
            elements = [e for e in (body or {}).get("elements") or [] if isinstance(e, dict)]
            found.extend(elements)
            total = int((body or {}).get("total") or 0)
            if not elements or len(found) >= total:
                return found
            page += 1

    def _rest_custom_object(self, object_id: int) -> dict[str, Any]:
        body = self.client.json(
            "GET",
            "rest",
            f"assets/customObject/{object_id}",
            version="2.0",
            what=f"reading custom object {object_id}",
            params={"depth": "complete"},
        )
        return body if isinstance(body, dict) else {}

    def _lead_score(self) -> dict[str, str]:
        """Column -> statement of the first active lead scoring model's scores."""
        models = self.bulk.listing("contacts/scoring/models", what="reading the scoring models")
        active = sorted(
            (m for m in models if str(m.get("status") or "").lower() == "active"),
            key=lambda m: int(m.get("id") or 0),
        )
        found: dict[str, str] = {}
        if active:
            statements = _model_statements(active[0].get("fields"))
            for column, key in LEAD_SCORE.items():
                if key in statements:
                    found[column] = statements[key]
        return found

    # -- creating fields -------------------------------------------------------------------

    def ensure(self, obj: str, wanted: Sequence[FieldMeta]) -> list[str]:
        """Create the fields of ``wanted`` that ``obj`` lacks; the names Eloqua gave them."""
        if obj == CONTACTS:
            created = self._ensure_contact_fields(wanted)
        elif obj in (ACCOUNTS, ACTIVITIES):
            missing = [f.name for f in wanted if f.name not in self.describe(obj).meta.fields]
            if missing:
                raise ConfigError(
                    f"Eloqua's API cannot create {obj} fields: create {', '.join(missing)} in "
                    "Eloqua's settings"
                )
            created = []
        else:
            created = ensure_custom_object(self, obj, wanted)
        if created:
            self.forget(obj)
        return created

    def _ensure_contact_fields(self, wanted: Sequence[FieldMeta]) -> list[str]:
        existing = self.describe(CONTACTS).meta.fields
        labels = {meta.label.lower(): name for name, meta in existing.items() if meta.label}
        created: list[str] = []
        for spec in wanted:
            display = display_name(spec)
            if spec.name in existing or display.lower() in labels:
                continue
            data_type, display_type = create_type(spec, TEXT_LENGTH["contacts"])
            body = {
                "type": "ContactField",
                "name": display,
                "dataType": data_type,
                "displayType": display_type,
                "updateType": "always",
            }
            answer = self.client.json(
                "POST",
                "rest",
                "assets/contact/field",
                version="1.0",
                what=f"creating contact field {display!r}",
                json_body=body,
            )
            internal = str((answer or {}).get("internalName") or "")
            if not internal:
                raise EloquaTerminalError(
                    f"Eloqua created contact field {display!r} without a name"
                )
            if internal != spec.name:
                log.warning(
                    "eloqua: contact field %r was created as %s, not %s: use %s in the rules",
                    display,
                    internal,
                    spec.name,
                    internal,
                )
            created.append(internal)
        return created


def display_name(spec: FieldMeta) -> str:
    """The name to create a contact field under, so Eloqua gives it ``spec.name``."""
    match = INTERNAL_NAME.match(spec.name)
    if match:
        return match.group("base").replace("_", " ").strip()
    return spec.label or spec.name


def create_type(spec: FieldMeta, text_length: int) -> tuple[str, str]:
    """Eloqua (dataType, displayType) for a field abmsync asks for."""
    if spec.type in CREATE_TYPES:
        return CREATE_TYPES[spec.type]
    if spec.length is not None and spec.length > text_length:
        return "largeText", "textArea"
    return "text", "text"


def _field(
    item: Mapping[str, Any], name: str, rest_type: str | None, text: int | None
) -> FieldMeta:
    """A Bulk field item as :class:`FieldMeta` (see the module docstring's table)."""
    bulk_type = str(item.get("dataType") or "string").lower()
    kind = BULK_TYPES.get(bulk_type, FieldType.STRING)
    length: int | None = None
    if rest_type == "largeText":
        kind, length = FieldType.TEXT, LARGE_TEXT_LENGTH
    elif kind in (FieldType.STRING, FieldType.EMAIL) and rest_type is not None:
        length = text
    writable = not bool(item.get("hasReadOnlyConstraint", False))
    return FieldMeta(
        name=name,
        label=str(item.get("name") or name),
        type=kind,
        length=length,
        writable=writable,
        external_id=writable and kind in (FieldType.STRING, FieldType.EMAIL),
    )


def _model_statements(fields: object) -> dict[str, str]:
    """A scoring model's ``fields`` (a list of {name, statement} or a name -> statement map)."""
    if isinstance(fields, Mapping):
        return {str(k): str(v) for k, v in fields.items()}
    found: dict[str, str] = {}
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, Mapping) and item.get("name") and item.get("statement"):
            found[str(item["name"])] = str(item["statement"])
    return found
