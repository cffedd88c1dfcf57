"""Records of the Dataverse emulator, kept in SQLite.

One SQLite table per Dataverse table, one column per attribute; a lookup is
two columns, the GUID (``ownerid``) and the target table (``ownerid__t``).
Timestamps are stored as ``2026-01-01T00:00:00Z`` (date-only columns as
``2026-01-01``), which sorts as text. Every create, update and delete takes the
next value of one org-wide ``versionnumber`` counter, which is what change
tracking pages and delta tokens are built on; deletions are logged with their
version so a delta can report them.

Writes are validated the way Dataverse validates them (unknown columns, types,
string lengths, option values, lookup targets) and raise
:class:`~abmsync.sandbox.dynamics.errors.DataverseError` with Dataverse's codes.
Qualifying a lead and merging records happen here too, so tests and the seeder
can do in process what a user does in the Dynamics UI.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata import (
    FIRST_CUSTOM_OPTION,
    AttributeDef,
    EntityDef,
    KeyDef,
    Option,
    name_navigation,
    standard_tables,
)

Row = dict[str, Any]
STAMP = "%Y-%m-%dT%H:%M:%SZ"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_AFFINITY = {"Integer": "INTEGER", "BigInt": "INTEGER", "Boolean": "INTEGER", "Picklist": "INTEGER"}
_AFFINITY |= {"State": "INTEGER", "Status": "INTEGER", "Decimal": "REAL", "Double": "REAL"}
_AFFINITY |= {"Money": "REAL"}
_EDM = {"Integer": "Edm.Int32", "BigInt": "Edm.Int64", "Decimal": "Edm.Decimal"}
_EDM |= {"Double": "Edm.Double", "Money": "Edm.Decimal", "Boolean": "Edm.Boolean"}
_EDM |= {"DateTime": "Edm.DateTimeOffset", "Uniqueidentifier": "Edm.Guid"}
_EDM |= {"Picklist": "Edm.Int32", "State": "Edm.Int32", "Status": "Edm.Int32"}
_NAMED = ("lead", "contact", "systemuser")  # tables whose fullname is first + last name


def is_guid(text: Any) -> bool:
    return isinstance(text, str) and bool(_GUID.match(text))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def format_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STAMP)


def parse_stamp(text: str) -> datetime:
    """An ISO 8601 timestamp (``Z`` or an offset; a bare date is midnight UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class DataverseStore:
    """All tables and records of one emulated Dataverse org."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tables: dict[str, EntityDef] = {}
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE _deleted (entity TEXT, id TEXT, version INTEGER, at TEXT)")
        self.version = 1000
        self._where: dict[str, str] = {}  # record id -> table (a hint, checked on use)
        self._depth = 0
        for table in standard_tables().values():
            self.create_table(table)
        self.admin_id = self.create(
            "systemuser",
            {"firstname": "# abmsync", "lastname": "sandbox", "fullname": "# abmsync-sandbox"}
            | {"domainname": "abmsync-sandbox@sandbox.local", "isdisabled": False},
        )
        self.business_unit_id = str(uuid.uuid4())
        self.organization_id = str(uuid.uuid4())

    # -- schema -------------------------------------------------------------------

    def table(self, logical: str) -> EntityDef:
        """The table named ``logical`` or a 404 as Dataverse answers for an unknown one."""
        table = self.tables.get(logical)
        if table is None:
            raise DataverseError(
                404, errors.NOT_FOUND, f"Could not find entity with name '{logical}'."
            )
        return table

    def table_by_set(self, entity_set: str) -> EntityDef | None:
        return next((t for t in self.tables.values() if t.entity_set == entity_set), None)

    def create_table(self, table: EntityDef) -> None:
        """Add a table (a standard one at start-up, or a custom one from metadata)."""
        with self.lock:
            if table.name in self.tables:
                raise DataverseError(
                    400,
                    errors.METADATA_EXISTS,
                    f"An entity with the specified name {table.name} already exists.",
                )
            columns = []
            for attribute in table.attributes.values():
                columns.extend(self._columns(attribute))
            self.db.execute(f"CREATE TABLE {quote('t_' + table.name)} ({', '.join(columns)})")
            self.tables[table.name] = table

    def _columns(self, attribute: AttributeDef) -> list[str]:
        affinity = _AFFINITY.get(attribute.type, "TEXT")
        column = f"{quote(attribute.name)} {affinity}"
        if attribute.type == "Uniqueidentifier":
            column += " PRIMARY KEY"
        if attribute.is_lookup:
            return [column, f"{quote(attribute.name + '__t')} TEXT"]
        return [column]

    def get_attribute(self, logical: str, name: str) -> AttributeDef | None:
        """The column ``name`` of table ``logical``, or None."""
        return self.table(logical).attributes.get(name)

    def add_attribute(self, logical: str, attribute: AttributeDef) -> None:
        """Add a column to a table (``ALTER TABLE``); 'already exists' when it does."""
        with self.lock:
            table = self.table(logical)
            if attribute.name in table.attributes:
                raise DataverseError(
                    400,
                    errors.METADATA_EXISTS,
                    f"An attribute with the specified name {attribute.name} already exists "
                    f"for entity {logical}.",
                )
            name_navigation(logical, attribute)
            for column in self._columns(attribute):
                self.db.execute(f"ALTER TABLE {quote('t_' + logical)} ADD COLUMN {column}")
            table.attributes[attribute.name] = attribute

    def add_picklist_attribute(self, logical: str, name: str, display: str) -> AttributeDef:
        """Add a custom Choice column with no options yet."""
        attribute = AttributeDef(name, "Picklist", display=display, custom=True)
        self.add_attribute(logical, attribute)
        return attribute

    def add_option(self, logical: str, attribute: str, label: str, state: int | None = None) -> int:
        """Add an option to a Choice/Status column and return its value; idempotent by label."""
        with self.lock:
            column = self.table(logical).attributes[attribute]
            for option in column.options:
                if option.label == label:
                    return option.value
            values = [o.value for o in column.options if o.value >= FIRST_CUSTOM_OPTION]
            value = max(values, default=FIRST_CUSTOM_OPTION - 1) + 1
            if column.type == "Status" and state is None:
                state = 0
            column.options.append(Option(value, label, state))
            return value

    def option_value(self, logical: str, attribute: str, label: str) -> int:
        """The value of the option labelled ``label`` (KeyError when there is none)."""
        for option in self.table(logical).attributes[attribute].options:
            if option.label == label:
                return option.value
        raise KeyError(f"{logical}.{attribute} has no option {label!r}")

    def add_key(self, logical: str, key: KeyDef) -> None:
        """Define an alternate key (unique across the table's records)."""
        with self.lock:
            table = self.table(logical)
            if any(k.name == key.name for k in table.keys):
                raise DataverseError(
                    400,
                    errors.METADATA_EXISTS,
                    f"An entity key with the specified name {key.name} already exists.",
                )
            for name in key.attributes:
                if name not in table.attributes:
                    raise errors.unknown_property(name, logical)
            table.keys.append(key)

    # -- transactions -------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen, or none (a $batch changeset, a bulk insert)."""
        with self.lock:
            name = f"sp{self._depth}"
            self._depth += 1
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            else:
                self.db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    def _next_version(self) -> int:
        self.version += 1
        return self.version

    # -- values -------------------------------------------------------------------

    def _convert(self, table: EntityDef, name: str, value: Any) -> dict[str, Any]:
        """SQL column values for one attribute value, validated as Dataverse does."""
        attribute = table.attributes.get(name)
        if attribute is None:
            raise errors.payload_error(
                table.entity_set,
                f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM."
                f"{table.name}'. Make sure to only use property names that are defined by "
                "the type or mark the type as open type.",
            )
        if attribute.is_lookup:
            return self._convert_lookup(table, attribute, value)
        if value is None:
            return {name: None}
        kind = attribute.type
        bad = errors.payload_error(
            table.entity_set,
            f"Cannot convert the literal '{value}' to the expected type "
            f"'{_EDM.get(kind, 'Edm.String')}'.",
        )
        if kind in ("String", "Memo"):
            if not isinstance(value, str):
                raise bad
            if len(value) > attribute.max_length:
                raise DataverseError(
                    400,
                    errors.TOO_LONG,
                    f"A validation error occurred. The length of the '{name}' attribute of the "
                    f"'{table.name}' entity exceeded the maximum allowed length of "
                    f"'{attribute.max_length}'.",
                )
            return {name: value}
        if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise bad
            if kind == "Integer" and not -(2**31) <= value < 2**31:
                raise bad
            if attribute.has_options and attribute.option(value) is None:
                accepted = ",".join(str(o.value) for o in attribute.options)
                raise DataverseError(
                    400,
                    errors.PICKLIST_RANGE,
                    f"A validation error occurred. The value {value} of '{name}' on record of "
                    f"type '{table.name}' is outside the valid range. Accepted Values: {accepted}",
                )
            return {name: value}
        if kind in ("Decimal", "Double", "Money"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            return {name: float(value)}
        if kind == "Boolean":
            if not isinstance(value, bool | int) or value not in (0, 1):
                raise bad
            return {name: int(value)}
        if kind == "DateTime":
            return {name: _stamp_value(value, attribute.date_only, bad)}
        if kind == "Uniqueidentifier":
            if not is_guid(value):
                raise bad
            return {name: str(value).lower()}
        return {name: value}

    def _convert_lookup(self, table: EntityDef, attribute: AttributeDef, value: Any) -> Row:
        name = attribute.name
        if value is None:
            return {name: None, name + "__t": None}
        if isinstance(value, tuple | list) and len(value) == 2:
            target, record_id = str(value[0]), str(value[1]).lower()
        elif is_guid(value):
            record_id = str(value).lower()
            target = self._infer_target(attribute, record_id)
        else:
            raise errors.payload_error(
                table.entity_set,
                f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'.",
            )
        if target not in attribute.targets:
            raise errors.payload_error(
                table.entity_set,
                f"A navigation property for '{name}' cannot bind to entity '{target}'.",
            )
        if not self._exists(target, record_id):
            raise errors.not_found(target, record_id)
        return {name: record_id, name + "__t": target}

    def _infer_target(self, attribute: AttributeDef, record_id: str) -> str:
        hint = self._where.get(record_id)
        if hint in attribute.targets:
            return hint
        for target in attribute.targets:
            if target in self.tables and self._exists(target, record_id):
                return target
        return attribute.targets[0]

    def _exists(self, logical: str, record_id: str) -> bool:
        if logical not in self.tables:
            return False
        table = self.tables[logical]
        found = self.db.execute(
            f"SELECT 1 FROM {quote('t_' + logical)} WHERE {quote(table.primary_id)} = ?",
            (record_id,),
        ).fetchone()
        return found is not None

    # -- writes -------------------------------------------------------------------

    def _prepare(self, table: EntityDef, values: Mapping[str, Any], *, new: bool) -> Row:
        row: Row = {}
        for name, value in values.items():
            row.update(self._convert(table, name, value))
        now = format_stamp(self.clock())
        if new:
            row.setdefault(table.primary_id, str(uuid.uuid4()))
            if "createdon" in table.attributes and not row.get("createdon"):
                row["createdon"] = now
            if "ownerid" in table.attributes and row.get("ownerid") is None:
                row["ownerid"], row["ownerid__t"] = self.admin_id, "systemuser"
            for creator in ("createdby", "modifiedby"):
                if creator in table.attributes and row.get(creator) is None:
                    row[creator], row[creator + "__t"] = self.admin_id, "systemuser"
            state = table.attributes.get("statecode")
            if state is not None and row.get("statecode") is None:
                row["statecode"] = state.options[0].value if state.options else 0
            status = table.attributes.get("statuscode")
            if status is not None and row.get("statuscode") is None and status.options:
                same = [o for o in status.options if o.state == row.get("statecode")]
                row["statuscode"] = (same or status.options)[0].value
            if "merged" in table.attributes:
                row.setdefault("merged", 0)
        if "modifiedon" in table.attributes:
            row["modifiedon"] = now
        row["versionnumber"] = self._next_version()
        return row

    def _fullname(self, table: EntityDef, row: Row, old: Row | None = None) -> None:
        if table.name not in _NAMED or ("fullname" in row and old is None and row["fullname"]):
            return
        if old is not None and "firstname" not in row and "lastname" not in row:
            return
        merged = {**(old or {}), **row}
        parts = [merged.get("firstname"), merged.get("lastname")]
        row["fullname"] = " ".join(p for p in parts if p) or row.get("fullname")

    def _check_keys(self, table: EntityDef, row: Row, record_id: str) -> None:
        for key in table.keys:
            if not any(name in row for name in key.attributes):
                continue
            current = self.get_raw(table.name, record_id) or {}
            values = {name: row.get(name, current.get(name)) for name in key.attributes}
            if any(v is None for v in values.values()):
                continue
            found = self.find_by_key(table.name, values)
            if found is not None and found != record_id:
                raise DataverseError(
                    412, errors.DUPLICATE, "A record with matching key values already exists."
                )

    def create(self, logical: str, values: Mapping[str, Any]) -> str:
        """Create one record; return its id. Lookups as GUIDs or ``(table, guid)``."""
        return self.insert_many(logical, [values])[0]

    def insert_many(self, logical: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create records in one transaction (all or none); return their ids in order."""
        with self.lock:
            table = self.table(logical)
            prepared = []
            with self.transaction():
                for values in rows:
                    row = self._prepare(table, values, new=True)
                    self._fullname(table, row)
                    if table.keys:
                        self._check_keys(table, row, row[table.primary_id])
                        self._insert(table, [row])
                    prepared.append(row)
                if not table.keys:
                    self._insert(table, prepared)
            ids = [str(row[table.primary_id]) for row in prepared]
            for record_id in ids:
                self._where[record_id] = logical
            return ids

    def _insert(self, table: EntityDef, rows: list[Row]) -> None:
        groups: dict[tuple[str, ...], list[Row]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        for names, group in groups.items():
            columns = ", ".join(quote(n) for n in names)
            marks = ", ".join("?" for _ in names)
            try:
                self.db.executemany(
                    f"INSERT INTO {quote('t_' + table.name)} ({columns}) VALUES ({marks})",
                    [tuple(row[n] for n in names) for row in group],
                )
            except sqlite3.IntegrityError:
                raise DataverseError(
                    412, errors.DUPLICATE, "A record with matching key values already exists."
                ) from None

    def update(self, logical: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Change some columns of a record (404 ``0x80040217`` when it does not exist)."""
        with self.lock:
            table = self.table(logical)
            record_id = record_id.lower()
            old = self.get_raw(logical, record_id)
            if old is None:
                raise errors.not_found(logical, record_id)
            row = self._prepare(table, values, new=False)
            row.pop(table.primary_id, None)
            self._fullname(table, row, old)
            if table.keys:
                self._check_keys(table, row, record_id)
            self._set(table, record_id, row)

    def _set(self, table: EntityDef, record_id: str, row: Row) -> None:
        assignments = ", ".join(f"{quote(n)} = ?" for n in row)
        self.db.execute(
            f"UPDATE {quote('t_' + table.name)} SET {assignments} "
            f"WHERE {quote(table.primary_id)} = ?",
            (*row.values(), record_id),
        )

    def touch(self, logical: str, record_id: str, columns: Mapping[str, Any]) -> None:
        """Set raw column values (system-set fields such as ``merged``) with a new version."""
        table = self.table(logical)
        row = dict(columns)
        row["versionnumber"] = self._next_version()
        if "modifiedon" in table.attributes:
            row["modifiedon"] = format_stamp(self.clock())
        self._set(table, record_id, row)

    def delete(self, logical: str, record_id: str) -> None:
        """Delete a record (404 when absent); change tracking reports it as deleted."""
        with self.lock:
            table = self.table(logical)
            record_id = record_id.lower()
            if not self._exists(logical, record_id):
                raise errors.not_found(logical, record_id)
            with self.transaction():
                self.db.execute(
                    f"DELETE FROM {quote('t_' + logical)} WHERE {quote(table.primary_id)} = ?",
                    (record_id,),
                )
                self.db.execute(
                    "INSERT INTO _deleted VALUES (?, ?, ?, ?)",
                    (logical, record_id, self._next_version(), format_stamp(self.clock())),
                )
            self._where.pop(record_id, None)

    # -- reads --------------------------------------------------------------------

    def get_raw(self, logical: str, record_id: str) -> Row | None:
        """The stored columns of a record (lookups with their ``__t`` target column)."""
        table = self.table(logical)
        found = self.select(logical, f"{quote(table.primary_id)} = ?", [record_id.lower()])
        return found[0] if found else None

    def select(
        self,
        logical: str,
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]:
        """Rows of a table matching a SQL condition (from :mod:`.odata`)."""
        sql = f"SELECT * FROM {quote('t_' + logical)}"
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self.lock:
            cursor = self.db.execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def count(self, logical: str, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = f"SELECT COUNT(*) FROM {quote('t_' + logical)}"
        if where:
            sql += f" WHERE {where}"
        with self.lock:
            return int(self.db.execute(sql, tuple(params)).fetchone()[0])

    def get(self, logical: str, record_id: str) -> Row | None:
        """A record by id with attribute logical names (lookups as GUIDs), or None."""
        raw = self.get_raw(logical, record_id)
        return None if raw is None else _public(raw)

    def reference(self, logical: str, record_id: str, attribute: str) -> tuple[str, str] | None:
        """The ``(table, id)`` a lookup of a record points at, or None."""
        raw = self.get_raw(logical, record_id) or {}
        if raw.get(attribute) is None:
            return None
        return str(raw[attribute + "__t"]), str(raw[attribute])

    def rows(self, logical: str) -> list[Row]:
        """Every record of a table (attribute logical names)."""
        return [_public(raw) for raw in self.select(logical, order="versionnumber")]

    def find_by_key(self, logical: str, values: Mapping[str, Any]) -> str | None:
        """The id of the record whose columns equal ``values`` (an alternate key), or None."""
        table = self.table(logical)
        where = " AND ".join(f"{quote(n)} = ?" for n in values)
        found = self.select(logical, where, list(values.values()), limit=1)
        return None if not found else str(found[0][table.primary_id])

    def changed_rows(self, logical: str, since: int, upto: int, limit: int) -> list[Row]:
        """Rows whose version is in (since, upto], oldest change first."""
        return self.select(
            logical,
            "versionnumber > ? AND versionnumber <= ?",
            [since, upto],
            order="versionnumber",
            limit=limit,
        )

    def deleted_ids(self, logical: str, since: int, upto: int) -> list[tuple[str, int]]:
        """(id, version) of records deleted in (since, upto] and not present now."""
        table = self.table(logical)
        with self.lock:
            found = self.db.execute(
                f"SELECT d.id, MAX(d.version) FROM _deleted d WHERE d.entity = ? AND "
                f"d.version > ? AND d.version <= ? AND NOT EXISTS (SELECT 1 FROM "
                f"{quote('t_' + logical)} r WHERE r.{quote(table.primary_id)} = d.id) "
                "GROUP BY d.id ORDER BY MAX(d.version)",
                (logical, since, upto),
            ).fetchall()
        return [(str(i), int(v)) for i, v in found]

    # -- business operations ------------------------------------------------------

    def qualify_lead(
        self,
        lead_id: str,
        *,
        create_account: bool = True,
        create_contact: bool = True,
        create_opportunity: bool = True,
        status: int = 3,
        existing_account: str | None = None,
    ) -> dict[str, str]:
        """QualifyLead; see :func:`abmsync.sandbox.dynamics.operations.qualify_lead`."""
        from abmsync.sandbox.dynamics import operations

        return operations.qualify_lead(
            self,
            lead_id,
            create_account=create_account,
            create_contact=create_contact,
            create_opportunity=create_opportunity,
            status=status,
            existing_account=existing_account,
        )

    def merge(
        self,
        logical: str,
        target: str,
        subordinate: str,
        update_content: Mapping[str, Any] | None = None,
    ) -> None:
        """Merge; see :func:`abmsync.sandbox.dynamics.operations.merge`."""
        from abmsync.sandbox.dynamics import operations

        operations.merge(self, logical, target, subordinate, update_content)


def _stamp_value(value: Any, date_only: bool, bad: DataverseError) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        return value.isoformat() if date_only else f"{value.isoformat()}T00:00:00Z"
    elif isinstance(value, str):
        try:
            moment = parse_stamp(value)
        except ValueError:
            raise bad from None
    else:
        raise bad
    return moment.date().isoformat() if date_only else format_stamp(moment)


def _public(raw: Row) -> Row:
    """A stored row with the lookups' target columns left out and booleans as bools."""
    return {k: v for k, v in raw.items() if not k.endswith("__t")}
