"""Bulk export definitions: which statements mean what, filters, and the data a sync stages.

An export definition maps column names to statements
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/Export.htm);
:func:`compile_export` checks it the way Eloqua does (at most 250 fields, every
statement valid for the entity, the filter parseable, activity exports
restricted to exactly one ``{{Activity.Type}}``, at most 10 contact fields in
an activity export, no contact fields in an activity filter:
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/ExportingActivities/Exporting-activities.htm)
and :meth:`ExportPlan.run` takes the snapshot a sync stages.

System timestamps (``C_DateCreated``, ``C_DateModified``, ``M_DateCreated``,
``M_DateModified``, ``{{Contact.CreatedAt}}``/``UpdatedAt`` and the account,
custom object and activity ``CreatedAt``/``UpdatedAt``) are written in UTC
when ``areSystemTimestampsInUTC`` is true, else in the site's time zone; filter
values on them are read in the same zone
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/system-timestamps.htm).
Other date fields are always in the site's time zone.

Guesses:
- ``{{Contact.Email.IsSubscribed}}``/``IsBounced`` export ``true``/``false``;
  ``{{Contact.Email.Format}}`` exports ``""`` (no preference).
- Lead score columns export what :meth:`EloquaStore.set_lead_score` stored.
- ``EXISTS`` works on ``{{ContactList[n]}}`` and ``{{AccountList[n]}}`` as filled
  by import sync actions; other containers and ``STATUS`` are refused.
- Rows come out in id order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.fields import (
    ACTIVITY_TYPES,
    FieldDef,
    activity_column,
    activity_kind,
)
from abmsync.sandbox.eloqua.formats import export_timestamp, number_text, parse_duration
from abmsync.sandbox.eloqua.records import CustomObject, Record
from abmsync.sandbox.eloqua.statements import (
    Exists,
    FilterError,
    Junction,
    Node,
    Not,
    Statement,
    Typed,
    comparisons,
    evaluate,
    literal,
    parse_filter,
    parse_statement,
    required_comparisons,
)
from abmsync.sandbox.eloqua.store import EloquaStore

MAX_FIELDS = 250
MAX_ACTIVITY_CONTACT_FIELDS = 10
KINDS = {"text": "text", "largeText": "text", "numeric": "number", "date": "date"}
INVALID_STATEMENT = "Must be a valid Eloqua Markup Language statement for this export."


@dataclass(frozen=True)
class Reader:
    """How one statement reads a row: the value's kind, the zone of its literals, a getter."""

    kind: str  # text | number | date
    zone: tzinfo
    get: Callable[[Any], Any]

    def __call__(self, row: Any) -> Typed:
        return Typed(self.kind, self.get(row), self.zone)


@dataclass(frozen=True)
class Zones:
    """Where dates of an export are written: system timestamps and the rest."""

    system: tzinfo
    site: tzinfo


def render(typed: Typed) -> str:
    """A value as export data writes it: text as is, numbers and dates formatted, empty ``""``."""
    if typed.value is None:
        return ""
    if typed.kind == "date":
        return export_timestamp(typed.value, typed.zone)
    if typed.kind == "number":
        return number_text(typed.value)
    return str(typed.value)


def _field_reader(
    definition: FieldDef, zones: Zones, pick: Callable[[Any], Record | None]
) -> Reader:
    zone = zones.system if definition.system else zones.site
    name = definition.internal_name

    def read(row: Any) -> Any:
        record = pick(row)
        return None if record is None else record.values.get(name)

    return Reader(KINDS[definition.data_type], zone, read)


def _lookup_field(fields: Mapping[str, FieldDef], name: str | None) -> FieldDef | None:
    if not name:
        return None
    return next((f for k, f in fields.items() if k.lower() == name.lower()), None)


class Source:
    """The records of one export entity and what each statement reads from them."""

    entity = ""

    def __init__(self, store: EloquaStore, zones: Zones) -> None:
        self.store = store
        self.zones = zones

    def reader(self, statement: Statement) -> Reader | None:
        """How to read ``statement`` from a row, or None when it is not valid here."""
        raise NotImplementedError

    def rows(self) -> Iterable[Any]:
        """The rows the export walks, in id order (call under the store lock)."""
        raise NotImplementedError

    def contact_reader(
        self, statement: Statement, skip: int, pick: Callable[[Any], Record | None]
    ) -> Reader | None:
        """Contact statements from segment ``skip`` on (``Contact.Field(X)``...)."""
        shape = statement.shape()[skip:]
        segments = statement.segments[skip:]
        store, zones = self.store, self.zones
        if shape == ("contact", "id"):
            return Reader("number", zones.site, lambda row: getattr(pick(row), "id", None))
        if shape == ("contact", "field"):
            found = _lookup_field(store.contact_fields, segments[1].arg)
            return None if found is None else _field_reader(found, zones, pick)
        if shape in (("contact", "createdat"), ("contact", "updatedat")):
            name = "C_DateCreated" if shape[1] == "createdat" else "C_DateModified"
            return _field_reader(store.contact_fields[name], zones, pick)
        if shape[:2] == ("contact", "email") and len(shape) == 3:
            return self._email_reader(shape[2], pick)
        if shape[:2] == ("contact", "account") and len(shape) >= 3:
            return self._account_of_contact(shape, segments, pick)
        if shape[:3] == ("contact", "leadscore", "model") and len(shape) == 4:
            return self._score_reader(segments, pick)
        return None

    def _email_reader(self, what: str, pick: Callable[[Any], Record | None]) -> Reader | None:
        site = self.zones.site
        if what == "issubscribed":
            return Reader("text", site, lambda row: _flag(pick(row), "subscribed"))
        if what == "isbounced":
            return Reader("text", site, lambda row: _flag(pick(row), "bounced"))
        if what == "format":
            return Reader("text", site, lambda row: None)
        return None

    def _account_of_contact(
        self,
        shape: tuple[str, ...],
        segments: tuple[Any, ...],
        pick: Callable[[Any], Record | None],
    ) -> Reader | None:
        store = self.store

        def account(row: Any) -> Record | None:
            contact = pick(row)
            return (
                None
                if contact is None or contact.account_id is None
                else store.accounts.get(contact.account_id)
            )

        if shape[2:] == ("id",):
            return Reader("number", self.zones.site, lambda row: getattr(account(row), "id", None))
        if shape[2:] == ("field",):
            found = _lookup_field(store.account_fields, segments[2].arg)
            return None if found is None else _field_reader(found, self.zones, account)
        return None

    def _score_reader(
        self, segments: tuple[Any, ...], pick: Callable[[Any], Record | None]
    ) -> Reader | None:
        model_id = segments[2].index
        what = {
            "rating": "Rating",
            "profilescore": "ProfileScore",
            "engagementscore": "EngagementScore",
        }
        column = what.get(segments[3].name.lower())
        if model_id is None or model_id not in self.store.models or column is None:
            return None
        scores = self.store.scores

        def read(row: Any) -> Any:
            contact = pick(row)
            score = None if contact is None else scores.get((contact.id, model_id))
            return None if score is None else score[column]

        return Reader("text", self.zones.site, read)


def _flag(record: Record | None, name: str) -> str | None:
    return None if record is None else str(getattr(record, name)).lower()


class Contacts(Source):
    """``/contacts/exports``."""

    entity = "contact"

    def reader(self, statement: Statement) -> Reader | None:
        return self.contact_reader(statement, 0, lambda row: row)

    def rows(self) -> Iterable[Any]:
        return [self.store.contacts[k] for k in sorted(self.store.contacts)]


class Accounts(Source):
    """``/accounts/exports``."""

    entity = "account"

    def reader(self, statement: Statement) -> Reader | None:
        shape, zones = statement.shape(), self.zones
        if shape == ("account", "id"):
            return Reader("number", zones.site, lambda row: row.id)
        if shape == ("account", "field"):
            found = _lookup_field(self.store.account_fields, statement.segments[1].arg)
            return None if found is None else _field_reader(found, zones, lambda row: row)
        if shape in (("account", "createdat"), ("account", "updatedat")):
            name = "M_DateCreated" if shape[1] == "createdat" else "M_DateModified"
            return _field_reader(self.store.account_fields[name], zones, lambda row: row)
        return None

    def rows(self) -> Iterable[Any]:
        return [self.store.accounts[k] for k in sorted(self.store.accounts)]


class Activities(Source):
    """``/activities/exports`` of one activity type."""

    entity = "activity"

    def __init__(self, store: EloquaStore, zones: Zones, activity_type: str) -> None:
        super().__init__(store, zones)
        self.activity_type = activity_type
        self.contact_fields = 0

    def reader(self, statement: Statement) -> Reader | None:
        shape = statement.shape()
        if shape[:2] == ("activity", "contact") and shape != ("activity", "contact", "id"):
            reader = self.contact_reader(statement, 1, self._contact)
            if reader is not None:
                self.contact_fields += 1
            return reader
        column = activity_column(self.activity_type, statement.text)
        if column is None:
            return None
        kind = activity_kind(column)
        zone = self.zones.system if kind == "date" else self.zones.site
        campaigns = self.store.campaigns

        def read(row: Any) -> Any:
            value = row.values.get(column)
            if value is None and column in ("CampaignName", "CRMCampaignId"):
                campaign = campaigns.get(row.values.get("CampaignId") or 0) or {}
                value = campaign.get("name" if column == "CampaignName" else "crmId")
            return value

        return Reader(kind, zone, read)

    def _contact(self, row: Any) -> Record | None:
        contact_id = row.values.get("ContactId")
        return None if contact_id is None else self.store.contacts.get(int(contact_id))

    def rows(self) -> Iterable[Any]:
        found = self.store.activities
        return [found[k] for k in sorted(found) if found[k].type == self.activity_type]


class CustomObjects(Source):
    """``/customObjects/{id}/exports``."""

    entity = "customobject"

    def __init__(self, store: EloquaStore, zones: Zones, custom_object: CustomObject) -> None:
        super().__init__(store, zones)
        self.custom_object = custom_object

    def reader(self, statement: Statement) -> Reader | None:
        first = statement.segments[0]
        if not first.is_("CustomObject") or first.index != self.custom_object.id:
            return None
        shape, zones = statement.shape()[1:], self.zones
        if shape == ("id",):
            return Reader("number", zones.site, lambda row: row.id)
        if shape in (("createdat",), ("updatedat",)):
            attribute = "created_at" if shape[0] == "createdat" else "updated_at"
            return Reader("date", zones.system, lambda row: getattr(row, attribute))
        if shape == ("field",):
            return self._field_reader(statement.segments[1])
        if shape[:1] == ("contact",):
            contacts = self.store.contacts
            return self.contact_reader(statement, 1, lambda row: contacts.get(row.contact_id or 0))
        return None

    def _field_reader(self, segment: Any) -> Reader | None:
        found = self.custom_object.fields.get(segment.index) if segment.index is not None else None
        if found is None and segment.arg:
            found = self.custom_object.field_named(segment.arg)
        if found is None:
            return None
        field_id = found.id
        return Reader(KINDS[found.data_type], self.zones.site, lambda row: row.values.get(field_id))

    def rows(self) -> Iterable[Any]:
        found = self.custom_object.instances
        return [found[k] for k in sorted(found)]


@dataclass
class ExportPlan:
    """A checked export definition, ready to take snapshots."""

    source: Source
    columns: dict[str, Reader]
    filter: Node | None
    max_records: int | None

    def run(self) -> list[dict[str, str]]:
        """The staged rows: every matching record's columns, rendered (takes the store lock)."""
        lookup_cache: dict[str, Reader] = {}
        rows: list[dict[str, str]] = []
        with self.source.store.lock:
            for row in self.source.rows():
                if self.filter is not None and not self._passes(row, lookup_cache):
                    continue
                rows.append({name: render(read(row)) for name, read in self.columns.items()})
                if self.max_records is not None and len(rows) >= self.max_records:
                    break
        return rows

    def _passes(self, row: Any, cache: dict[str, Reader]) -> bool:
        assert self.filter is not None

        def lookup(statement: Statement) -> Typed:
            return self._typed(statement, row, cache)

        return evaluate(self.filter, lookup, self._exists(row))

    def _typed(self, statement: Statement, row: Any, cache: dict[str, Reader]) -> Typed:
        if statement.shape() == ("activity", "type"):
            return Typed("text", row.type, UTC)
        if statement.text not in cache:
            reader = self.source.reader(statement)
            assert reader is not None  # checked by compile_export
            cache[statement.text] = reader
        return cache[statement.text](row)

    def _exists(self, row: Any) -> Callable[[Exists], bool]:
        members = self.source.store.list_members

        def check(node: Exists) -> bool:
            wanted = node.statement.text.replace(" ", "").lower()
            return any(row.id in ids for key, ids in members.items() if key.lower() == wanted)

        return check


def source_for(
    store: EloquaStore,
    entity: str,
    zones: Zones,
    body: Mapping[str, Any],
    parent: CustomObject | None,
) -> tuple[Source, Node | None]:
    """The source of an export and its parsed filter; 400 failures for bad filters."""
    text = body.get("filter")
    node: Node | None = None
    if text not in (None, ""):
        if not isinstance(text, str):
            raise errors.failure("filter", "Must be a string value.", text)
        try:
            node = parse_filter(text)
        except FilterError as exc:
            raise errors.failure("filter", str(exc), text) from None
    if entity == "contacts":
        return Contacts(store, zones), node
    if entity == "accounts":
        return Accounts(store, zones), node
    if entity == "activities":
        return Activities(store, zones, _activity_type(node, text)), node
    assert parent is not None
    return CustomObjects(store, zones, parent), node


def _activity_type(node: Node | None, text: Any) -> str:
    """The one activity type an activity filter must pin down."""
    constraint = "Must contain exactly one '{{Activity.Type}}' = '<activity type>' criterion."
    if node is None:
        raise errors.failure("filter", constraint, text)
    named = [c for c in comparisons(node) if c.statement.shape() == ("activity", "type")]
    required = [
        c for c in required_comparisons(node) if c.statement.shape() == ("activity", "type")
    ]
    if len(named) != 1 or len(required) != 1 or required[0].op != "=":
        raise errors.failure("filter", constraint, text)
    for activity_type in ACTIVITY_TYPES:
        if activity_type.lower() == required[0].value.lower():
            return activity_type
    raise errors.failure("filter", f"'{required[0].value}' is not an activity type.", text)


def compile_export(
    store: EloquaStore,
    entity: str,
    body: Mapping[str, Any],
    parent: CustomObject | None = None,
) -> ExportPlan:
    """Check an export definition as Eloqua does; raise 400 failures, else return its plan."""
    check_common(body)
    fields = body.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise errors.failure("fields", "Must contain at least one field.")
    if len(fields) > MAX_FIELDS:
        raise errors.failure(
            "fields", f"Must contain at most {MAX_FIELDS} fields.", str(len(fields))
        )
    utc = body.get("areSystemTimestampsInUTC", False)
    if not isinstance(utc, bool):
        raise errors.failure("areSystemTimestampsInUTC", "Must be a boolean value.", utc)
    zones = Zones(UTC if utc else store.zone, store.zone)
    with store.lock:
        source, node = source_for(store, entity, zones, body, parent)
        columns: dict[str, Reader] = {}
        for name, text in fields.items():
            statement = parse_statement(text) if isinstance(text, str) else None
            reader = None if statement is None else source.reader(statement)
            if reader is None:
                raise errors.failure(f"fields.{name}", INVALID_STATEMENT, text)
            columns[name] = reader
        if isinstance(source, Activities) and source.contact_fields > MAX_ACTIVITY_CONTACT_FIELDS:
            raise errors.failure("fields", "Must contain at most 10 contact fields.")
        if node is not None:
            _check_filter(source, node, body.get("filter"))
    max_records = body.get("maxRecords")
    if max_records is not None and (not isinstance(max_records, int) or max_records < 1):
        raise errors.failure("maxRecords", "Must be a positive integer.", max_records)
    return ExportPlan(source, columns, node, max_records)


def _check_filter(source: Source, node: Node, text: Any) -> None:
    for found in comparisons(node):
        shape = found.statement.shape()
        if shape == ("activity", "type"):
            continue
        contact = shape[:2] == ("activity", "contact") and shape != ("activity", "contact", "id")
        if isinstance(source, Activities) and contact:
            constraint = "Contact fields cannot be used in the filter of an activity export."
            raise errors.failure("filter", constraint, text)
        reader = source.reader(found.statement)
        if reader is None:
            constraint = f"'{found.statement.text}' is not a valid statement for this export."
            raise errors.failure("filter", constraint, text)
        if found.op != "~":
            try:
                literal(reader.kind, found.value, reader.zone)
            except ValueError:
                constraint = f"'{found.value}' is not a valid {reader.kind} value."
                raise errors.failure("filter", constraint, text) from None
    for node_ in _exists_nodes(node):
        first = node_.statement.segments[0]
        if node_.status is not None or first.name.lower() not in ("contactlist", "accountlist"):
            raise errors.failure(
                "filter", f"'{node_.statement.text}' is not a supported container.", text
            )


def _exists_nodes(node: Node) -> list[Exists]:
    if isinstance(node, Exists):
        return [node]
    if isinstance(node, Not):
        return _exists_nodes(node.item)
    if isinstance(node, Junction):
        return [found for item in node.items for found in _exists_nodes(item)]
    return []


def check_common(body: Mapping[str, Any]) -> None:
    """Checks every definition shares: its name and durations."""
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise errors.failure(
            "name",
            "Must be a string value, at least 1 character and at most 100 characters long.",
            name,
        )
    retention = body.get("dataRetentionDuration")
    if retention is not None:
        span = parse_duration(retention) if isinstance(retention, str) else None
        if span is None or not 3600 <= span.total_seconds() <= 14 * 86400:
            raise errors.failure(
                "dataRetentionDuration",
                "Must be an ISO-8601 duration between PT1H and P14D.",
                retention,
            )
    auto_delete = body.get("autoDeleteDuration")
    if auto_delete is not None and (
        not isinstance(auto_delete, str) or parse_duration(auto_delete) is None
    ):
        raise errors.failure("autoDeleteDuration", "Must be an ISO-8601 duration.", auto_delete)
