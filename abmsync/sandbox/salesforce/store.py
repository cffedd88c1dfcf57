"""Records of the Salesforce emulator, kept in SQLite.

One table per sObject, one column per stored field, values stored as Salesforce
would hand them out (timestamps as ``2026-01-01T00:00:00.000+0000``, which
sorts as text; ids in their 18-character form). Deleted records stay in their
table with ``IsDeleted = 1`` (the recycle bin) and are logged for the
``deleted/`` resource. Validation of writes returns the error codes Salesforce
uses, one per record, so the emulator's composite endpoints can answer record
by record. The org knows a couple of hundred objects
(:mod:`~abmsync.sandbox.salesforce.catalog`); the tables of the rarely used
ones are only created when first needed, which keeps a new org cheap.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from abmsync.sandbox.salesforce.catalog import org_objects
from abmsync.sandbox.salesforce.formats import (
    format_datetime,
    long_id,
    parse_datetime,
    record_id,
)
from abmsync.sandbox.salesforce.schema import (
    ADDRESS_PARTS,
    NUMBER_TYPES,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    Traits,
    Value,
)
from abmsync.sandbox.salesforce.standard import add_child, make_field, system_fields
from abmsync.sandbox.salesforce.validation import RecordError, clean_values, custom_field

__all__ = [
    "NUMBER_TYPES",
    "TEXT_TYPES",
    "FieldDef",
    "ObjectDef",
    "Record",
    "RecordError",
    "Store",
    "Value",
    "custom_field",
    "format_datetime",
    "parse_datetime",
    "record_id",
]

Record = dict[str, Value]

# Salesforce type name -> SQLite column affinity.
_AFFINITY = {"int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL"}
_AFFINITY["boolean"] = "INTEGER"
# Objects whose tables exist from the start (the rest are made on first use).
_EAGER = ("Lead", "Contact", "Account", "Opportunity", "Campaign", "CampaignMember", "Task", "User")


def fold(value: Any) -> Any:
    """Text folded for SOQL's case-insensitive comparisons (a SQLite function)."""
    return value.casefold() if isinstance(value, str) else value


class Savepoint:
    """An open :meth:`Store.atomic` block."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo = undo

    def rollback(self) -> None:
        """Undo every write since the block began."""
        self._undo()


class Store:
    """All records of one emulated org; safe to call from several threads."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.objects = org_objects()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("soql_fold", 1, fold, deterministic=True)
        self._db.execute("CREATE TABLE _deleted (obj TEXT, id TEXT, deleted_at TEXT)")
        self._lock = threading.RLock()
        self._tables: set[str] = set()
        self._counter = 0
        self._kept = itertools.count(1)
        self._custom_prefixes = 0
        self.admin_id = ""
        for name in _EAGER:
            self.ensure_table(self.objects[name])
        self.admin_id = self.create(
            "User",
            {
                "Username": "admin@abmsync.sandbox",
                "LastName": "Admin",
                "Email": "admin@abmsync.sandbox",
                "Alias": "admin",
            },
        )

    @contextmanager
    def atomic(self) -> Iterator[Savepoint]:
        """Hold the store for writes that can be undone together (``rollback()``), as
        ``allOrNone`` composite requests and sObject Tree need; an exception undoes them."""
        with self._lock:
            self._db.execute("SAVEPOINT atomic")
            point = Savepoint(self._rollback)
            try:
                yield point
            except BaseException:
                self._rollback()
                raise
            finally:
                self._db.execute("RELEASE atomic")

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK TO atomic")
        # Tables created lazily inside the block are gone again.
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        self._tables = {name for (name,) in rows} & self._tables

    # -- schema ---------------------------------------------------------------

    def ensure_table(self, obj: ObjectDef) -> None:
        """Create the table of ``obj`` unless it exists."""
        with self._lock:
            if obj.name in self._tables:
                return
            columns = ", ".join(
                f'"{f.name}" {_AFFINITY.get(f.type, "TEXT")}'
                for f in obj.fields.values()
                if f.stored
            )
            self._db.execute(f'CREATE TABLE "{obj.name}" ({columns}, PRIMARY KEY ("Id"))')
            if "SystemModstamp" in obj.fields:
                self._db.execute(
                    f'CREATE INDEX "{obj.name}_stamp" ON "{obj.name}" ("SystemModstamp", "Id")'
                )
            self._tables.add(obj.name)

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
            fields = [*system_fields(), make_field("Name", length=80, name_field=True)]
            traits = Traits(feed_enabled=False)
            obj = ObjectDef(name, prefix, label, {f.name: f for f in fields}, traits)
            self.objects[name] = obj
            for spec in fields:
                add_child(self.objects, obj, spec)
            self.ensure_table(obj)
            return obj

    def add_field(self, obj: ObjectDef, spec: FieldDef) -> None:
        """Add a custom field to ``obj`` (a new, empty column)."""
        with self._lock:
            obj.fields[spec.name] = spec
            add_child(self.objects, obj, spec)
            if obj.name not in self._tables:
                return  # the column comes with the table
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

    def keep(self, sql: str) -> tuple[str, int]:
        """Keep the rows of ``sql``, in order, in a temporary table: its name and row count.

        What a query locator holds: a snapshot of the result, handed out a page
        at a time with :meth:`kept_rows` and dropped with :meth:`drop_kept`.
        """
        with self._lock:
            name = f"_kept_{next(self._kept)}"
            self._db.execute(f'CREATE TEMP TABLE "{name}" AS {sql}')
            (count,) = self._db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()
            return name, int(count)

    def kept_rows(self, name: str, start: int, stop: int) -> list[tuple[Any, ...]]:
        """Rows ``start`` to ``stop`` (0-based, ``stop`` excluded) of a kept result.

        ``KeyError`` if it is gone (a composite request that kept it was rolled back).
        """
        with self._lock:
            try:
                return self._db.execute(
                    f'SELECT * FROM "{name}" WHERE rowid > ? AND rowid <= ? ORDER BY rowid',
                    (start, stop),
                ).fetchall()
            except sqlite3.OperationalError as gone:
                if "no such table" not in str(gone):
                    raise
                raise KeyError(name) from gone

    def drop_kept(self, name: str) -> None:
        """Drop a kept result."""
        with self._lock:
            self._db.execute(f'DROP TABLE IF EXISTS temp."{name}"')

    def get(self, obj: ObjectDef, rid: str, *, deleted: bool = False) -> Record | None:
        """One record by id (15 or 18 characters), or None."""
        self.ensure_table(obj)
        # Ids are stored in their 18-character form, of which a 15-character id is
        # the prefix: a range on the primary key finds it without a scan.
        query = f'SELECT * FROM "{obj.name}" WHERE "Id" = ?'
        params: tuple[str, ...] = (rid,)
        if len(rid) == 15:
            query = f'SELECT * FROM "{obj.name}" WHERE "Id" >= ? AND "Id" < ?'
            params = (rid, rid + "~")
        with self._lock:
            row = self._db.execute(query, params).fetchone()
        if row is None:
            return None
        record = self.to_json(obj, dict(zip(obj.columns, row, strict=True)))
        if record.get("IsDeleted") and not deleted:
            return None
        return record

    def find(self, obj: ObjectDef, field_name: str, value: Value) -> list[str]:
        """Ids of live records whose ``field_name`` equals ``value``."""
        self.ensure_table(obj)
        with self._lock:
            rows = self._db.execute(
                f'SELECT "Id" FROM "{obj.name}" WHERE "{field_name}" = ? AND "IsDeleted" = 0',
                (value,),
            ).fetchall()
        return [r[0] for r in rows]

    def changed_ids(self, obj: ObjectDef, start: datetime, end: datetime) -> list[str]:
        """Ids of live records whose SystemModstamp is in ``[start, end)``."""
        self.ensure_table(obj)
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

    @staticmethod
    def address(spec: FieldDef, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """A compound address from its components in ``row``; None when all are empty."""
        prefix = spec.name.removesuffix("Address")
        parts = {key: row.get(prefix + part) for part, key in ADDRESS_PARTS.items()}
        return parts if any(v is not None for v in parts.values()) else None

    # -- writes ---------------------------------------------------------------

    def _now(self) -> str:
        return format_datetime(self.clock())

    def _defaults(self, obj: ObjectDef, now: str) -> dict[str, Any]:
        """Column values of a new record before its own values are applied."""
        row: dict[str, Any] = {
            f.name: int(bool(f.default)) if f.type == "boolean" else f.default
            for f in obj.fields.values()
            if f.stored and (f.default is not None or f.type == "boolean")
        }
        stamps = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
        row |= {name: now for name in stamps if name in obj.fields}
        if "OwnerId" in obj.fields:
            row["OwnerId"] = self.admin_id or None
        if self.admin_id:
            for name in ("CreatedById", "LastModifiedById"):
                if name in obj.fields:
                    row[name] = self.admin_id
        return row

    def create(self, obj_name: str, values: Mapping[str, Any], *, trusted: bool = False) -> str:
        """Insert a record; ``trusted`` (seed data) may set read-only fields and timestamps."""
        obj = self._require(obj_name)
        clean = self.clean(obj, values, creating=True, trusted=trusted)
        self.ensure_table(obj)
        with self._lock:
            self._counter += 1
            row = self._defaults(obj, self._now())
            row["Id"] = record_id(obj.prefix or "000", self._counter)
            row |= clean
            _compute_name(obj, row)
            self._insert(obj, row)
            return str(row["Id"])

    def insert_many(self, obj_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert records in one statement, as a data load does; return their ids in order.

        Each row is checked and converted as ``create(..., trusted=True)`` does, so
        it may set read-only fields, ``CreatedDate`` and ``SystemModstamp``; the
        first bad value raises :class:`RecordError` before anything is stored.
        Modification stamps are the store's clock unless a row gives them. For
        seeding: one ``create`` per record costs a statement and a lock round trip.
        """
        obj = self._require(obj_name)
        cleaned = [self.clean(obj, row, creating=True, trusted=True) for row in rows]
        self.ensure_table(obj)
        columns = obj.columns
        with self._lock:
            base = self._defaults(obj, self._now())
            ids: list[str] = []
            values: list[tuple[Any, ...]] = []
            for clean in cleaned:
                self._counter += 1
                row = {**base, "Id": record_id(obj.prefix or "000", self._counter), **clean}
                _compute_name(obj, row)
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
            name = _compute_name(obj, {**current, **changes})
            if name is not None:
                changes["Name"] = name
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
                changes["MasterRecordId"] = long_id(master_id)
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

    def clean(
        self, obj: ObjectDef, values: Mapping[str, Any], *, creating: bool, trusted: bool = False
    ) -> dict[str, Any]:
        """Validate and convert ``values`` to column values, or raise :class:`RecordError`."""
        return clean_values(obj, values, creating=creating, trusted=trusted)


def _compute_name(obj: ObjectDef, row: dict[str, Any]) -> str | None:
    """Fill a person's compound ``Name`` from FirstName and LastName; return it."""
    spec = obj.fields.get("Name")
    first = obj.fields.get("FirstName")
    if spec is None or spec.createable or first is None or first.compound != "Name":
        return None
    parts = [row.get("FirstName"), row.get("LastName")]
    row["Name"] = " ".join(str(p) for p in parts if p) or None
    return str(row["Name"]) if row["Name"] else None
