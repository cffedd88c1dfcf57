"""Records and describe metadata of the Salesforce emulator, kept in SQLite.

One table per sObject, one column per field, values stored as Salesforce
would hand them out (timestamps as ``2026-01-01T00:00:00.000+0000``, which
sorts as text). Deleted records stay in their table with ``IsDeleted = 1``
(the recycle bin) and are logged for the ``deleted/`` resource. Validation of
writes returns the error codes Salesforce uses, one per record, so the
emulator's composite endpoints can answer record by record.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

Value = str | int | float | bool | None
Record = dict[str, Value]

# Salesforce type name -> SQLite column affinity.
_AFFINITY = {"int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL"}
_AFFINITY["boolean"] = "INTEGER"
TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "reference"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class RecordError(Exception):
    """One record rejected: the Salesforce ``statusCode``, message and fields."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        """The ``errors[]`` item of a composite result."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with what ``describe`` reports about it."""

    name: str
    type: str = "string"
    length: int = 0
    label: str = ""
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    external_id: bool = False
    default: Value = None
    reference_to: tuple[str, ...] = ()
    precision: int = 0
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        """The field as ``GET sobjects/{Obj}/describe`` lists it."""
        text = self.type in TEXT_TYPES
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length if text else 0,
            "precision": self.precision,
            "scale": self.scale,
            "custom": self.custom,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": v == self.default}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "externalId": self.external_id,
            "idLookup": self.type == "id" or self.external_id,
            "unique": self.type == "id",
            "defaultedOnCreate": self.default is not None or self.type == "boolean",
            "referenceTo": list(self.reference_to),
            "calculated": False,
            "soapType": _soap_type(self.type),
        }


@dataclass
class ObjectDef:
    """An sObject: its key prefix (the first three characters of its ids) and fields."""

    name: str
    prefix: str
    label: str = ""
    fields: dict[str, FieldDef] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        """A field by name; SOQL and the REST API ignore case."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lowered), None)

    def describe(self, version: str) -> dict[str, Any]:
        """The object as ``GET sobjects/{Obj}/describe`` returns it."""
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields.values()],
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The object as the ``GET sobjects`` list shows it."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label or self.name,
            "labelPlural": (self.label or self.name) + "s",
            "keyPrefix": self.prefix,
            "custom": self.custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }


def _soap_type(kind: str) -> str:
    return {
        "id": "tns:ID",
        "reference": "tns:ID",
        "boolean": "xsd:boolean",
        "int": "xsd:int",
        "date": "xsd:date",
        "datetime": "xsd:dateTime",
    }.get(kind, "xsd:double" if kind in NUMBER_TYPES else "xsd:string")


def _f(name: str, kind: str = "string", length: int = 0, **options: Any) -> FieldDef:
    if kind in ("id", "reference"):
        length = 18
    return FieldDef(name=name, type=kind, length=length, **options)


def _ro(name: str, kind: str, **options: Any) -> FieldDef:
    return _f(name, kind, updateable=False, createable=False, **options)


def _picklist(name: str, values: str, *, restricted: bool = False, **options: Any) -> FieldDef:
    return _f(
        name, "picklist", 255, picklist=tuple(values.split("|")), restricted=restricted, **options
    )


def _system_fields(owner: bool = True) -> list[FieldDef]:
    fields = [
        _ro("Id", "id", nillable=False),
        _ro("IsDeleted", "boolean", nillable=False),
        _ro("CreatedDate", "datetime", nillable=False),
        _ro("CreatedById", "reference", reference_to=("User",)),
        _ro("LastModifiedDate", "datetime", nillable=False),
        _ro("LastModifiedById", "reference", reference_to=("User",)),
        _ro("SystemModstamp", "datetime", nillable=False),
    ]
    if owner:
        fields.append(_f("OwnerId", "reference", reference_to=("User", "Group")))
    return fields


_INDUSTRIES = (
    "Agriculture|Banking|Biotechnology|Chemicals|Communications|Construction|Consulting|"
    "Education|Electronics|Energy|Engineering|Finance|Healthcare|Insurance|Manufacturing|"
    "Media|Retail|Software|Technology|Telecommunications|Transportation|Other"
)
_LEAD_SOURCES = "Web|Phone Inquiry|Partner Referral|Purchased List|Other"
_STAGES = (
    "Prospecting|Qualification|Needs Analysis|Value Proposition|Proposal/Price Quote|"
    "Negotiation/Review|Closed Won|Closed Lost"
)


def standard_objects() -> dict[str, ObjectDef]:
    """The standard objects abmsync reads and writes, with realistic fields."""
    lead = [
        *_system_fields(),
        _ro("MasterRecordId", "reference", reference_to=("Lead",)),
        _f("FirstName", length=40),
        _f("LastName", length=80, nillable=False),
        _f("Company", length=255, nillable=False),
        _f("Title", length=128),
        _f("Email", "email", 80),
        _f("Phone", "phone", 40),
        _f("Website", "url", 255),
        _picklist(
            "Status",
            "Open - Not Contacted|Working - Contacted|Closed - Converted|Closed - Not Converted",
            restricted=True,
            nillable=False,
            default="Open - Not Contacted",
        ),
        _picklist("LeadSource", _LEAD_SOURCES),
        _picklist("Industry", _INDUSTRIES),
        _picklist("Rating", "Hot|Warm|Cold"),
        _f("AnnualRevenue", "currency", precision=18, scale=0),
        _f("NumberOfEmployees", "int", precision=8),
        _f("Country", length=80),
        _f("State", length=80),
        _f("City", length=40),
        _f("Description", "textarea", 32000),
        _f("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        _ro("IsConverted", "boolean", nillable=False),
        _ro("ConvertedDate", "date"),
        _ro("ConvertedAccountId", "reference", reference_to=("Account",)),
        _ro("ConvertedContactId", "reference", reference_to=("Contact",)),
        _ro("ConvertedOpportunityId", "reference", reference_to=("Opportunity",)),
    ]
    contact = [
        *_system_fields(),
        _ro("MasterRecordId", "reference", reference_to=("Contact",)),
        _f("AccountId", "reference", reference_to=("Account",)),
        _f("FirstName", length=40),
        _f("LastName", length=80, nillable=False),
        _f("Title", length=128),
        _f("Email", "email", 80),
        _f("Phone", "phone", 40),
        _f("Department", length=80),
        _picklist("LeadSource", _LEAD_SOURCES),
        _f("MailingCountry", length=80),
        _f("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        _f("Description", "textarea", 32000),
    ]
    account = [
        *_system_fields(),
        _ro("MasterRecordId", "reference", reference_to=("Account",)),
        _f("Name", length=255, nillable=False),
        _f("Website", "url", 255),
        _picklist("Industry", _INDUSTRIES),
        _picklist("Type", "Prospect|Customer - Direct|Customer - Channel|Partner|Other"),
        _f("AnnualRevenue", "currency", precision=18, scale=0),
        _f("NumberOfEmployees", "int", precision=8),
        _f("BillingCountry", length=80),
        _f("BillingState", length=80),
        _f("BillingCity", length=40),
        _f("ParentId", "reference", reference_to=("Account",)),
        _f("Description", "textarea", 32000),
    ]
    opportunity = [
        *_system_fields(),
        _f("Name", length=120, nillable=False),
        _f("AccountId", "reference", reference_to=("Account",)),
        _picklist("StageName", _STAGES, restricted=True, nillable=False),
        _f("CloseDate", "date", nillable=False),
        _f("Amount", "currency", precision=18, scale=2),
        _f("Probability", "percent", precision=3, scale=0),
        _ro("IsClosed", "boolean", nillable=False),
        _ro("IsWon", "boolean", nillable=False),
        _picklist("LeadSource", _LEAD_SOURCES),
        _picklist("Type", "New Business|Existing Business"),
        _f("CampaignId", "reference", reference_to=("Campaign",)),
    ]
    campaign = [
        *_system_fields(),
        _f("Name", length=80, nillable=False),
        _picklist("Type", "Conference|Webinar|Trade Show|Email|Advertisement|Other"),
        _picklist("Status", "Planned|In Progress|Completed|Aborted"),
        _f("StartDate", "date"),
        _f("EndDate", "date"),
        _f("IsActive", "boolean", nillable=False, default=False),
        _f("ParentId", "reference", reference_to=("Campaign",)),
    ]
    member = [
        *_system_fields(owner=False),
        _f("CampaignId", "reference", reference_to=("Campaign",), nillable=False),
        _f("LeadId", "reference", reference_to=("Lead",)),
        _f("ContactId", "reference", reference_to=("Contact",)),
        _f("Status", length=40, default="Sent"),
        _f("HasResponded", "boolean", nillable=False, default=False),
        _f("FirstRespondedDate", "date"),
    ]
    task = [
        *_system_fields(),
        _f("Subject", length=255),
        _f("WhoId", "reference", reference_to=("Lead", "Contact")),
        _f("WhatId", "reference", reference_to=("Account", "Opportunity", "Campaign")),
        _f("ActivityDate", "date"),
        _picklist(
            "Status",
            "Not Started|In Progress|Completed|Waiting on someone else|Deferred",
            restricted=True,
            nillable=False,
            default="Not Started",
        ),
        _picklist("Priority", "High|Normal|Low", restricted=True, nillable=False, default="Normal"),
        _picklist("Type", "Call|Email|Meeting|Other"),
        _f("TaskSubtype", length=40),
        _f("Description", "textarea", 32000),
    ]
    user = [
        *_system_fields(owner=False),
        _f("Username", length=80, nillable=False),
        _f("FirstName", length=40),
        _f("LastName", length=80, nillable=False),
        _f("Email", "email", 128, nillable=False),
        _f("Alias", length=8),
        _f("Title", length=80),
        _f("Department", length=80),
        _f("IsActive", "boolean", nillable=False, default=True),
    ]
    objects = {
        "Lead": ("00Q", lead),
        "Contact": ("003", contact),
        "Account": ("001", account),
        "Opportunity": ("006", opportunity),
        "Campaign": ("701", campaign),
        "CampaignMember": ("00v", member),
        "Task": ("00T", task),
        "User": ("005", user),
    }
    return {
        name: ObjectDef(name, prefix, name, {f.name: f for f in fields})
        for name, (prefix, fields) in objects.items()
    }


def format_datetime(moment: datetime) -> str:
    """A UTC timestamp the way Salesforce writes one: ``2026-01-01T00:00:00.000+0000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z``, ``+00:00`` or ``+0000``); naive means UTC."""
    moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def record_id(prefix: str, number: int) -> str:
    """An 18-character id: key prefix, pod, a base-62 counter and the case checksum."""
    digits = ""
    while len(digits) < 7:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    short = f"{prefix}5g000{digits}"
    suffix = ""
    for chunk in range(3):
        part = short[chunk * 5 : chunk * 5 + 5]
        bits = sum(1 << i for i, c in enumerate(part) if "A" <= c <= "Z")
        suffix += _CHECKSUM[bits]
    return short + suffix


class Store:
    """All records of one emulated org; safe to call from several threads."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.objects = standard_objects()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE _deleted (obj TEXT, id TEXT, deleted_at TEXT)")
        self._lock = threading.RLock()
        self._counter = 0
        self._custom_prefixes = 0
        self.admin_id = ""
        for obj in self.objects.values():
            self._create_table(obj)
        self.admin_id = self.create(
            "User",
            {
                "Username": "admin@abmsync.sandbox",
                "LastName": "Admin",
                "Email": "admin@abmsync.sandbox",
                "Alias": "admin",
            },
        )

    # -- schema ---------------------------------------------------------------

    def _create_table(self, obj: ObjectDef) -> None:
        columns = ", ".join(
            f'"{f.name}" {_AFFINITY.get(f.type, "TEXT")}' for f in obj.fields.values()
        )
        self._db.execute(f'CREATE TABLE "{obj.name}" ({columns}, PRIMARY KEY ("Id"))')
        self._db.execute(
            f'CREATE INDEX "{obj.name}_stamp" ON "{obj.name}" ("SystemModstamp", "Id")'
        )

    def get_object(self, name: str) -> ObjectDef | None:
        """An object by name, ignoring case as Salesforce does."""
        found = self.objects.get(name)
        if found is not None:
            return found
        return next((o for o in self.objects.values() if o.name.lower() == name.lower()), None)

    def add_object(self, name: str, label: str) -> ObjectDef:
        """Create a custom object (``Foo__c``) with the standard system fields and ``Name``."""
        with self._lock:
            self._custom_prefixes += 1
            prefix = f"a{self._custom_prefixes:02d}"
            fields = [*_system_fields(), _f("Name", length=80)]
            obj = ObjectDef(name, prefix, label, {f.name: f for f in fields})
            self.objects[name] = obj
            self._create_table(obj)
            return obj

    def add_field(self, obj: ObjectDef, spec: FieldDef) -> None:
        """Add a custom field to ``obj`` (a new, empty column)."""
        with self._lock:
            obj.fields[spec.name] = spec
            kind = _AFFINITY.get(spec.type, "TEXT")
            self._db.execute(f'ALTER TABLE "{obj.name}" ADD COLUMN "{spec.name}" {kind}')
            if spec.external_id:  # upserts look records up by it, as Salesforce indexes it
                self._db.execute(
                    f'CREATE INDEX "{obj.name}_{spec.name}" ON "{obj.name}" ("{spec.name}")'
                )

    # -- reads ----------------------------------------------------------------

    def select(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL statement (the output of the SOQL translator)."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def get(self, obj: ObjectDef, rid: str, *, deleted: bool = False) -> Record | None:
        """One record by id (15 or 18 characters), or None."""
        # A 15-character id is a prefix of the 18-character one: a range on the
        # primary key finds it (an OR with substr() would scan the whole table).
        query = f'SELECT * FROM "{obj.name}" WHERE "Id" = ?'
        params: tuple[str, ...] = (rid,)
        if len(rid) == 15:
            query = f'SELECT * FROM "{obj.name}" WHERE "Id" >= ? AND "Id" < ?'
            params = (rid, rid + "~")
        with self._lock:
            row = self._db.execute(query, params).fetchone()
        if row is None:
            return None
        record = self.to_json(obj, dict(zip(obj.fields, row, strict=True)))
        if record.get("IsDeleted") and not deleted:
            return None
        return record

    def find(self, obj: ObjectDef, field_name: str, value: Value) -> list[str]:
        """Ids of live records whose ``field_name`` equals ``value``."""
        with self._lock:
            rows = self._db.execute(
                f'SELECT "Id" FROM "{obj.name}" WHERE "{field_name}" = ? AND "IsDeleted" = 0',
                (value,),
            ).fetchall()
        return [r[0] for r in rows]

    def changed_ids(self, obj: ObjectDef, start: datetime, end: datetime) -> list[str]:
        """Ids of live records whose SystemModstamp is in ``[start, end)``."""
        rows = self.select(
            f'SELECT "Id" FROM "{obj.name}" WHERE "SystemModstamp" >= ? '
            'AND "SystemModstamp" < ? AND "IsDeleted" = 0 ORDER BY "SystemModstamp"',
            (format_datetime(start), format_datetime(end)),
        )
        return [r[0] for r in rows]

    def deleted_since(self, obj: ObjectDef, start: datetime, end: datetime) -> list[Record]:
        """Records deleted in ``[start, end)``: ``{"id", "deletedDate"}``."""
        rows = self.select(
            "SELECT id, deleted_at FROM _deleted WHERE obj = ? AND deleted_at >= ? "
            "AND deleted_at < ? ORDER BY deleted_at",
            (obj.name, format_datetime(start), format_datetime(end)),
        )
        return [{"id": r[0], "deletedDate": r[1]} for r in rows]

    @staticmethod
    def to_json(obj: ObjectDef, row: Mapping[str, Any]) -> Record:
        """Column values as the REST API returns them (booleans as booleans)."""
        out: Record = {}
        for name, value in row.items():
            spec = obj.fields.get(name)
            if spec is not None and spec.type == "boolean" and value is not None:
                value = bool(value)
            out[name] = value
        return out

    # -- writes ---------------------------------------------------------------

    def _now(self) -> str:
        return format_datetime(self.clock())

    def create(self, obj_name: str, values: Mapping[str, Any], *, trusted: bool = False) -> str:
        """Insert a record; ``trusted`` (seed data) may set read-only fields and timestamps."""
        obj = self._require(obj_name)
        clean = self.clean(obj, values, creating=True, trusted=trusted)
        with self._lock:
            self._counter += 1
            now = self._now()
            row: dict[str, Any] = {
                f.name: int(bool(f.default)) if f.type == "boolean" else f.default
                for f in obj.fields.values()
                if f.default is not None or f.type == "boolean"
            }
            row |= {
                "Id": record_id(obj.prefix, self._counter),
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
                "IsDeleted": 0,
            }
            if "OwnerId" in obj.fields:
                row["OwnerId"] = self.admin_id or None
            if self.admin_id:
                row["CreatedById"] = row["LastModifiedById"] = self.admin_id
            row |= clean
            self._insert(obj, row)
            return str(row["Id"])

    def insert_many(self, obj_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert records in one statement, as a data load does; return their ids in order.

        Each row is checked and converted as ``create(..., trusted=True)`` does, so
        it may set read-only fields and ``CreatedDate``; the first bad value raises
        :class:`RecordError` before anything is stored. Modification stamps are the
        store's clock unless a row gives them. For seeding: one ``create`` per
        record costs a statement and a lock round trip each.
        """
        obj = self._require(obj_name)
        cleaned = [self.clean(obj, row, creating=True, trusted=True) for row in rows]
        columns = list(obj.fields)
        with self._lock:
            now = self._now()
            base: dict[str, Any] = {
                f.name: int(bool(f.default)) if f.type == "boolean" else f.default
                for f in obj.fields.values()
                if f.default is not None or f.type == "boolean"
            }
            base |= {"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now}
            base["IsDeleted"] = 0
            if "OwnerId" in obj.fields:
                base["OwnerId"] = self.admin_id or None
            if self.admin_id:
                base["CreatedById"] = base["LastModifiedById"] = self.admin_id
            ids: list[str] = []
            values: list[tuple[Any, ...]] = []
            for clean in cleaned:
                self._counter += 1
                row = {**base, "Id": record_id(obj.prefix, self._counter), **clean}
                ids.append(str(row["Id"]))
                values.append(tuple(row.get(name) for name in columns))
            names = ", ".join(f'"{n}"' for n in columns)
            marks = ", ".join("?" for _ in columns)
            self._db.executemany(f'INSERT INTO "{obj.name}" ({names}) VALUES ({marks})', values)
            return ids

    def add_picklist_values(self, obj_name: str, field_name: str, values: Iterable[str]) -> None:
        """Add values to a picklist, as an admin does in Setup (existing ones are kept)."""
        obj = self._require(obj_name)
        with self._lock:
            spec = obj.field(field_name)
            if spec is None or spec.type not in ("picklist", "multipicklist"):
                raise RecordError("INVALID_FIELD", f"{obj.name}.{field_name} is not a picklist")
            added = tuple(v for v in dict.fromkeys(values) if v not in spec.picklist)
            obj.fields[spec.name] = replace(spec, picklist=spec.picklist + added)

    def _insert(self, obj: ObjectDef, row: Mapping[str, Any]) -> None:
        names = ", ".join(f'"{n}"' for n in row)
        marks = ", ".join("?" for _ in row)
        self._db.execute(
            f'INSERT INTO "{obj.name}" ({names}) VALUES ({marks})', tuple(row.values())
        )

    def update(
        self, obj_name: str, rid: str, values: Mapping[str, Any], *, trusted: bool = False
    ) -> str:
        """Update a live record; raise :class:`RecordError` if it is missing or a value is bad."""
        obj = self._require(obj_name)
        clean = self.clean(obj, values, creating=False, trusted=trusted)
        with self._lock:
            current = self._live(obj, rid)
            now = self._now()
            changes: dict[str, Any] = {"LastModifiedDate": now, "SystemModstamp": now, **clean}
            self._set(obj, str(current["Id"]), changes)
            return str(current["Id"])

    def _live(self, obj: ObjectDef, rid: str) -> Record:
        """The record ``rid``, which must exist and not be in the recycle bin."""
        current = self.get(obj, rid, deleted=True)
        if current is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {rid}")
        if current["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return current

    def _set(self, obj: ObjectDef, rid: str, changes: Mapping[str, Any]) -> None:
        assignments = ", ".join(f'"{n}" = ?' for n in changes)
        self._db.execute(
            f'UPDATE "{obj.name}" SET {assignments} WHERE "Id" = ?', (*changes.values(), rid)
        )

    def delete(self, obj_name: str, rid: str, *, master_id: str | None = None) -> str:
        """Move a record to the recycle bin (``IsDeleted``); a merge also sets MasterRecordId."""
        obj = self._require(obj_name)
        with self._lock:
            current = self._live(obj, rid)
            now = self._now()
            changes: dict[str, Any] = {"IsDeleted": 1, "SystemModstamp": now}
            if master_id is not None:
                changes["MasterRecordId"] = master_id
            self._set(obj, str(current["Id"]), changes)
            self._db.execute(
                "INSERT INTO _deleted VALUES (?, ?, ?)", (obj.name, current["Id"], now)
            )
            return str(current["Id"])

    def _require(self, name: str) -> ObjectDef:
        obj = self.get_object(name)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj

    # -- validation -----------------------------------------------------------

    def clean(
        self, obj: ObjectDef, values: Mapping[str, Any], *, creating: bool, trusted: bool = False
    ) -> dict[str, Any]:
        """Validate and convert ``values`` to column values, or raise :class:`RecordError`."""
        out: dict[str, Any] = {}
        for raw_name, value in values.items():
            if raw_name == "attributes" or (raw_name == "Id" and not trusted):
                continue
            spec = obj.field(raw_name)
            if spec is None:
                raise RecordError(
                    "INVALID_FIELD",
                    f"No such column '{raw_name}' on sobject of type {obj.name}",
                    [raw_name],
                )
            writable = spec.createable if creating else spec.updateable
            if not writable and not trusted:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [spec.name],
                )
            out[spec.name] = _column_value(obj, spec, value)
        if creating and not trusted:
            missing = [
                f.name
                for f in obj.fields.values()
                if f.createable
                and not f.nillable
                and f.default is None
                and f.type != "boolean"
                and out.get(f.name) in (None, "")
            ]
            if missing:
                raise RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        return out


def _column_value(obj: ObjectDef, spec: FieldDef, value: Any) -> Any:
    """One JSON value checked against ``spec`` and converted to its column value."""
    if value is None or value == "":
        if not spec.nillable and spec.type == "boolean":
            raise RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.name}: null", [spec.name])
        if spec.restricted and not spec.nillable:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label or spec.name}: bad value for restricted picklist field: ",
                [spec.name],
            )
        return None
    if spec.type == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _bad_type(spec, value)
    if spec.type == "int" or spec.type in NUMBER_TYPES:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise _bad_type(spec, value)
        return int(number) if spec.type == "int" else number
    if spec.type == "datetime":
        try:
            return format_datetime(parse_datetime(str(value)))
        except ValueError:
            raise _bad_type(spec, value) from None
    if spec.type == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise _bad_type(spec, value) from None
    if not isinstance(value, str):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    if spec.restricted and spec.picklist:
        chosen = value.split(";") if spec.type == "multipicklist" else [value]
        bad = next((v for v in chosen if v not in spec.picklist), None)
        if bad is not None:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label or spec.name}: bad value for restricted picklist field: {bad}",
                [spec.name],
            )
    if spec.length and len(value) > spec.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{spec.label or spec.name}: data value too large: {value[:20]}... "
            f"(max length={spec.length})",
            [spec.name],
        )
    if spec.type == "email" and "@" not in value:
        raise RecordError(
            "INVALID_EMAIL_ADDRESS",
            f"{spec.label or spec.name}: invalid email address: {value}",
            [spec.name],
        )
    return value


def _bad_type(spec: FieldDef, value: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{spec.label or spec.name}: value not of required type: {value}",
        [spec.name],
    )


def custom_field(name: str, metadata: Mapping[str, Any]) -> FieldDef:
    """A :class:`FieldDef` from Tooling API ``CustomField`` metadata (Text, Number, ...)."""
    kind = str(metadata.get("type", "Text"))
    label = str(metadata.get("label") or name)
    common: dict[str, Any] = {
        "label": label,
        "external_id": bool(metadata.get("externalId", False)),
    }
    if kind in ("Text", "Email", "Phone", "Url", "TextArea", "LongTextArea"):
        sf_type = {
            "Text": "string",
            "Email": "email",
            "Phone": "phone",
            "Url": "url",
            "TextArea": "textarea",
            "LongTextArea": "textarea",
        }[kind]
        default_length = {"Text": 255, "TextArea": 255, "LongTextArea": 32768}.get(kind, 80)
        return _f(name, sf_type, int(metadata.get("length") or default_length), **common)
    if kind in ("Number", "Currency", "Percent"):
        precision = int(metadata.get("precision") or 18)
        scale = int(metadata.get("scale") or 0)
        sf_type = {"Number": "double", "Currency": "currency", "Percent": "percent"}[kind]
        return _f(name, sf_type, precision=precision, scale=scale, **common)
    if kind == "Checkbox":
        default = str(metadata.get("defaultValue", "false")).lower() == "true"
        return _f(name, "boolean", nillable=False, default=default, **common)
    if kind in ("Date", "DateTime"):
        return _f(name, kind.lower(), **common)
    if kind == "Lookup":
        target = str(metadata.get("referenceTo") or "")
        if not target:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", "Lookup needs referenceTo", ["type"])
        return _f(name, "reference", reference_to=(target,), **common)
    if kind in ("Picklist", "MultiselectPicklist"):
        value_set = metadata.get("valueSet") or {}
        values = (value_set.get("valueSetDefinition") or {}).get("value") or []
        names = tuple(str(v.get("fullName") or v.get("label")) for v in values)
        sf_type = "picklist" if kind == "Picklist" else "multipicklist"
        length = 255 if kind == "Picklist" else 4099
        restricted = bool(value_set.get("restricted", False))
        return _f(name, sf_type, length, picklist=names, restricted=restricted, **common)
    raise RecordError("FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type: {kind}", ["type"])
