"""The seam every connector implements: a small Protocol and the typed data it passes.

A connector (Salesforce, HubSpot, Dynamics 365, Eloqua, files) knows its
vendor's API and nothing of rules or scoring. The engine talks to every one of
them through ``Connector``:

- ``check`` says whether the connector can run (auth, permissions, quota);
- ``describe`` returns an object's fields, types, picklists and writability;
- ``read_changes`` yields batches of changed and deleted records after a cursor;
- ``write`` sends patches and returns one ``WriteResult`` per patch, in order;
- ``ensure_fields`` creates the fields abmsync writes to (score, grade, ...);
- ``close`` releases its HTTP connections once the caller is done with it.

Whoever builds connectors closes them: :class:`Connectors` holds them by
system name and closes every one on leaving a ``with`` block, so no keep-alive
connection outlives the command, the run or the test that opened it.

``validate_patch`` checks a patch against ``describe`` metadata before it is
sent, so every connector rejects the same bad values with the same error codes
(the Salesforce codes, which admins already know from their logs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from abmsync.closing import Closing

PatchValue = str | int | float | bool | None


class FieldType(StrEnum):
    """Vendor field types, normalized; each connector maps its own names onto these."""

    STRING = "string"
    TEXT = "text"  # long text area
    EMAIL = "email"
    URL = "url"
    PHONE = "phone"
    ID = "id"
    REFERENCE = "reference"  # a lookup to another record
    PICKLIST = "picklist"
    MULTIPICKLIST = "multipicklist"  # values joined with ';'
    INTEGER = "integer"
    NUMBER = "number"  # double, currency, percent
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    OTHER = "other"  # anything abmsync does not type-check (address, json, ...)


TEXT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.URL,
        FieldType.PHONE,
        FieldType.ID,
        FieldType.REFERENCE,
        FieldType.PICKLIST,
        FieldType.MULTIPICKLIST,
    }
)


class FieldMeta(BaseModel):
    """One field of a vendor object as ``describe`` reports it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="API name, e.g. 'ABM_Score__c' or 'abm_score'")
    label: str = Field(default="", description="what admins see in the vendor UI")
    type: FieldType = FieldType.STRING
    length: int | None = Field(default=None, description="maximum characters of a text field")
    picklist: list[str] | None = Field(default=None, description="allowed values, if a picklist")
    restricted_picklist: bool = Field(
        default=False, description="the vendor rejects values outside ``picklist``"
    )
    writable: bool = True
    external_id: bool = Field(default=False, description="usable as an upsert key")
    reference_to: str | None = Field(
        default=None, description="the object a reference (lookup) field points to"
    )
    relationship: str | None = Field(
        default=None,
        description="name that reads the referenced record's fields, e.g. 'Campaign' in "
        "'Campaign.Name'",
    )


class ObjectMeta(BaseModel):
    """A vendor object (``Lead``, ``contacts``, ...) and its fields by API name."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str = ""
    fields: dict[str, FieldMeta] = Field(default_factory=dict)


class Cursor(BaseModel):
    """Where ``read_changes`` left off; ``value`` is opaque to the engine.

    The engine stores a cursor only after the batch that carried it is
    committed, and hands it back unchanged on the next run.
    """

    model_config = ConfigDict(frozen=True)

    value: str = Field(description="connector-specific position (timestamp, token, JSON)")
    observed_at: datetime | None = Field(
        default=None, description="newest modification time the cursor covers, for display"
    )
    records: int = Field(default=0, description="records in the batch that carried it")


@dataclass(frozen=True)
class Batch:
    """One page of changes: upserted records (vendor field names) and deleted ids.

    ``cursor`` is valid once this batch (and every batch before it) is stored.

    ``full_listing`` marks a batch of a listing of every live record of the
    object, started over because the vendor could no longer say what changed
    (an expired change token): records the listing never yields were deleted
    meanwhile. ``listing_complete`` marks its last batch, after which the
    engine tombstones every stored record the listing did not yield. A
    connector's first load of an object is not such a listing: nothing is
    stored yet.
    """

    obj: str
    records: pl.DataFrame
    cursor: Cursor
    deleted_ids: list[str] = field(default_factory=list)
    full_listing: bool = False
    listing_complete: bool = False


class Patch(BaseModel):
    """Values to write to one record, found by its id or by an external id.

    With neither ``record_id`` nor ``external_id`` the patch creates a record.
    """

    model_config = ConfigDict(frozen=True)

    obj: str
    record_id: str | None = None
    external_id: tuple[str, str] | None = Field(
        default=None, description="(field, value) to upsert on, e.g. ('ABM_Key__c', 'k1')"
    )
    values: dict[str, PatchValue] = Field(default_factory=dict)


class WriteResult(BaseModel):
    """The outcome of one patch; connectors return them in patch order."""

    model_config = ConfigDict(frozen=True)

    record_id: str | None = None
    ok: bool
    error_code: str | None = Field(default=None, description="vendor code, e.g. 'STRING_TOO_LONG'")
    message: str | None = None
    created: bool = False


class FieldSpec(BaseModel):
    """Fields abmsync needs on a vendor object (its own score, grade, stage fields)."""

    model_config = ConfigDict(frozen=True)

    obj: str
    fields: list[FieldMeta]


class CheckItem(BaseModel):
    """One line of a connector check: what was checked, whether it passed, and detail."""

    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str = ""


class CheckReport(BaseModel):
    """What ``Connector.check`` found, one item per line (auth, permissions, quota)."""

    model_config = ConfigDict(frozen=True)

    connector: str
    items: list[CheckItem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every item passed."""
        return all(item.ok for item in self.items)


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from a system it syncs with."""

    name: str

    def check(self) -> CheckReport:
        """Verify credentials, permissions and remaining quota without changing anything."""
        ...

    def describe(self, obj: str) -> ObjectMeta:
        """Return the fields of ``obj`` with types, picklists and writability."""
        ...

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield records of ``obj`` changed (or deleted) after ``cursor``; all when ``None``."""
        ...

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Apply ``patches`` and return one result per patch, in the same order."""
        ...

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the fields of ``spec`` that do not exist yet; return their names."""
        ...

    def close(self) -> None:
        """Close the connector's HTTP connections; it is not used afterwards."""
        ...


class Connectors(Closing, dict[str, Connector]):
    """Connectors by system name; leaving a ``with`` block closes every one of them."""

    def close(self) -> None:
        """Close each connector, every one even when closing another fails."""
        with ExitStack() as stack:
            for connector in self.values():
                stack.callback(connector.close)


@runtime_checkable
class SelectsFields(Protocol):
    """A connector told which fields the mappings read.

    It may read only those (HubSpot, where hundreds exist; Dynamics; Eloqua),
    or read them in addition to its default ones (Salesforce, whose
    relationship fields such as ``Campaign.Name`` are read only when asked).
    """

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read ``fields`` of ``obj`` from now on; names the connector does not know are left
        out, but for a relationship field that ``describe`` cannot resolve (``ConfigError``)."""
        ...


# Error codes shared by every connector (the names Salesforce uses).
INVALID_FIELD = "INVALID_FIELD"
NOT_WRITABLE = "INVALID_FIELD_FOR_INSERT_UPDATE"
INVALID_TYPE = "INVALID_TYPE_ON_FIELD_IN_RECORD"
RESTRICTED_PICKLIST = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
STRING_TOO_LONG = "STRING_TOO_LONG"


def validate_patch(meta: ObjectMeta, patch: Patch) -> WriteResult | None:
    """Check ``patch`` against ``meta``; return a failed result, or ``None`` if it is valid.

    Checks, per value in order: the field exists, is writable, the value has
    the field's type, a restricted picklist contains it, a text value fits the
    length. The first problem found is reported. ``None`` clears a field and
    is always type-valid.
    """
    if patch.external_id is not None:
        key = meta.fields.get(patch.external_id[0])
        if key is None or not key.external_id:
            return _failed(
                patch,
                INVALID_FIELD,
                f"{patch.external_id[0]!r} is not an external id field of {meta.name}",
            )
    for name, value in patch.values.items():
        problem = _field_problem(meta, name, value)
        if problem is not None:
            return _failed(patch, *problem)
    return None


def _field_problem(meta: ObjectMeta, name: str, value: PatchValue) -> tuple[str, str] | None:
    """The (error code, message) for one value, or ``None`` if it is acceptable."""
    spec = meta.fields.get(name)
    if spec is None:
        return INVALID_FIELD, f"no such field {name!r} on {meta.name}"
    if not spec.writable:
        return NOT_WRITABLE, f"{meta.name}.{name} is not writable"
    if value is None:
        return None
    if not _has_type(spec.type, value):
        return INVALID_TYPE, f"{meta.name}.{name} expects {spec.type.value}, got {value!r}"
    if spec.restricted_picklist and spec.picklist is not None and isinstance(value, str):
        chosen = value.split(";") if spec.type is FieldType.MULTIPICKLIST else [value]
        outside = [v for v in chosen if v not in spec.picklist]
        if outside:
            return (
                RESTRICTED_PICKLIST,
                f"{meta.name}.{name}: {outside[0]!r} is not one of {spec.picklist}",
            )
    if spec.length is not None and isinstance(value, str) and len(value) > spec.length:
        return (
            STRING_TOO_LONG,
            f"{meta.name}.{name}: {len(value)} characters, at most {spec.length} allowed",
        )
    return None


def _has_type(kind: FieldType, value: str | int | float | bool) -> bool:
    """Whether ``value`` can be written to a field of ``kind`` without coercion."""
    if kind in TEXT_TYPES:
        return isinstance(value, str)
    if kind is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if kind is FieldType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is FieldType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is FieldType.DATETIME:
        return isinstance(value, str) and _parses(datetime.fromisoformat, value)
    if kind is FieldType.DATE:
        return isinstance(value, str) and _parses(date.fromisoformat, value)
    return True


def _parses(parse: Callable[[str], object], value: str) -> bool:
    """Whether ``parse(value)`` succeeds (ISO 8601 date or datetime)."""
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _failed(patch: Patch, code: str, message: str) -> WriteResult:
    return WriteResult(record_id=patch.record_id, ok=False, error_code=code, message=message)
