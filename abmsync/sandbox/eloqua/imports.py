"""Bulk import definitions and what an import sync does to the site's data.

An import definition maps the staged data's keys to writable statements and
optionally names ``identifierFieldName`` (which must be one of those keys:
ELQ-00112 "{field} must be contained within Fields, if specified"),
``updateRule`` (always | ifNewIsNotNull | ifExistingIsNull | useFieldRule),
``isUpdatingMultipleMatchedRecords``, ``importRule`` for contacts and accounts
(createAndUpdate, the default, | updateOnly | createOnly, since release 26B:
https://docs.oracle.com/en/cloud/saas/readiness/marketing/26b/eloq-26b/26B-eloqua-wn-f47446.htm;
answered back only when the definition named it), ``syncActions`` and, for custom objects,
``mapDataCards*`` linking each record to a contact
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/Import.htm,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/ImportExportParameters.htm).

A sync applies every staged record it can and rejects the others one by one;
rejects carry ``fieldValues``, ``message``, ``statusCode`` (ELQ codes of
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_EloquaStatusCodes.html),
``recordIndex`` and ``invalidFields``.

Identifiers an import accepts: ``{{Contact.Id}}`` / ``{{Account.Id}}`` (update
only: an unknown id is rejected, never created), any contact or account field
(match case-insensitively, create when nothing matches), a custom object field
(match an instance, create when none). Without an identifier, contacts match
on the email address column when there is one.

Guesses:
- ``recordIndex`` counts staged records from 1 (production clients map it so:
  rudder-server's Eloqua uploader).
- Reject codes: invalid email ELQ-00002 "Invalid email address."; unknown
  contact id ELQ-00085 "Contact does not exist."; unknown account id
  ELQ-00034; a value too long or not a number/date ELQ-00144; a repeated
  identifier in one sync ELQ-00026 "Duplicate identifier."; another contact's
  email address ELQ-00011 "Duplicate email address."; several matches
  without ``isUpdatingMultipleMatchedRecords`` ELQ-00135; a new contact without
  an email address or account without a company name ELQ-00061; an empty or
  malformed identifier ELQ-00032.
- ``always`` writes empty values too (clearing the field).
- ``importRule`` rejects: a record ``updateOnly`` cannot match ELQ-00034 "Total
  unmatched records."; one ``createOnly`` finds existing ELQ-00048 "Contact
  already exists." (the release note names no codes).
- The sandbox's ``partial_failure`` fault rejects single records with ELQ-00107.
- Custom object records whose contact cannot be found are imported unlinked
  (counted under ELQ-00034).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.exports import check_common
from abmsync.sandbox.eloqua.fields import FieldDef, value_problem
from abmsync.sandbox.eloqua.records import CustomObject, CustomObjectField, Instance, Record
from abmsync.sandbox.eloqua.statements import Statement, parse_statement
from abmsync.sandbox.eloqua.store import EloquaStore, coerce
from abmsync.sandbox.eloqua.sync_actions import check_sync_actions, run_sync_actions

UPDATE_RULES = ("always", "ifNewIsNotNull", "ifExistingIsNull", "useFieldRule")
IMPORT_RULES = ("createAndUpdate", "updateOnly", "createOnly")
# "An import definition can include a maximum of 100 fields" (exports: 250):
# https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/bulk-limits.htm
MAX_IMPORT_FIELDS = 100
LOG_MESSAGES = {
    "ELQ-00107": "There was an error processing the record.",
    "ELQ-00002": "Invalid email addresses.",
    "ELQ-00011": "Duplicate email addresses.",
    "ELQ-00026": "Duplicate identifier.",
    "ELQ-00032": "Malformed records.",
    "ELQ-00034": "Total unmatched records.",
    "ELQ-00061": "Rejected records (missing fields).",
    "ELQ-00085": "Contact does not exist.",
    "ELQ-00048": "Contact already exists.",
    "ELQ-00135": "Multiple matched record limit exceeded.",
    "ELQ-00144": "Total records with rejected fields.",
}
CREATED = {
    "contacts": ("ELQ-00004", "Contacts created."),
    "accounts": ("ELQ-00005", "Accounts created."),
}
UPDATED = {
    "contacts": ("ELQ-00022", "Contacts updated."),
    "accounts": ("ELQ-00023", "Accounts updated."),
}


@dataclass(frozen=True)
class Column:
    """One import column: its statement and what it writes."""

    name: str
    statement: Statement
    target: str  # "id" | "field" | "object_field"
    field: FieldDef | CustomObjectField | None = None


@dataclass
class Reject:
    """One staged record the sync could not apply."""

    field_values: dict[str, str]
    message: str
    status_code: str
    record_index: int
    invalid_fields: list[str]

    def render(self) -> dict[str, Any]:
        """As ``/syncs/{id}/rejects`` lists it."""
        return {
            "fieldValues": self.field_values,
            "message": self.message,
            "statusCode": self.status_code,
            "recordIndex": self.record_index,
            "invalidFields": self.invalid_fields,
        }


@dataclass
class Outcome:
    """What an import sync did: logs as (severity, code, message, count), and rejects."""

    logs: list[tuple[str, str, str, int]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    imported: list[int] = field(default_factory=list)


class _RejectedError(Exception):
    def __init__(self, code: str, message: str, invalid: list[str]) -> None:
        super().__init__(message)
        self.code, self.message, self.invalid = code, message, invalid


@dataclass
class ImportPlan:
    """A checked import definition."""

    entity: str  # contacts | accounts | customObject
    columns: dict[str, Column]
    identifier: str | None
    update_rule: str
    multiple: bool
    sync_actions: list[dict[str, Any]]
    parent: CustomObject | None = None
    map_source: str | None = None
    map_statement: Statement | None = None
    map_case_sensitive: bool = False
    import_rule: str = "createAndUpdate"  # contacts and accounts: updateOnly | createOnly
    zone: tzinfo = UTC  # where wall-clock dates in the data are read: the site's zone

    def apply(
        self,
        store: EloquaStore,
        rows: Sequence[Mapping[str, Any]],
        fails: Callable[[], bool] | None = None,
    ) -> Outcome:
        """Apply staged rows under the store lock; the outcome holds logs and rejects.

        ``fails`` (the sandbox's partial-failure fault) rejects a record when it says so.
        """
        outcome = Outcome()
        self.zone = store.zone
        counts: Counter[str] = Counter()
        seen: set[str] = set()
        with store.lock:
            for index, raw in enumerate(rows, start=1):
                values = {name: _text(raw[name]) for name in self.columns if name in raw}
                try:
                    if fails is not None and fails():
                        message = "There was an error processing the record."
                        raise _RejectedError("ELQ-00107", message, [])
                    self._check_values(values)
                    self._check_identifier(values, seen)
                    if self.entity == "customObject":
                        ids = [self._apply_instance(store, values, counts)]
                    else:
                        ids = self._apply_record(store, values, counts)
                except _RejectedError as rejected:
                    outcome.rejects.append(
                        Reject(values, rejected.message, rejected.code, index, rejected.invalid)
                    )
                    continue
                outcome.imported.extend(ids)
            actions = run_sync_actions(store, self.sync_actions, self.entity, outcome.imported)
        outcome.logs = self._logs(len(rows), counts, outcome) + actions
        return outcome

    # -- one record ------------------------------------------------------------------

    def _check_values(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            column = self.columns[name]
            if column.field is None:
                continue
            is_email = isinstance(column.field, FieldDef) and column.field.is_email
            problem = value_problem(column.field.data_type, value, is_email=is_email)
            if problem == "Invalid email address.":
                raise _RejectedError("ELQ-00002", problem, [name])
            if problem is not None:
                raise _RejectedError("ELQ-00144", problem, [name])

    def _check_identifier(self, values: Mapping[str, str], seen: set[str]) -> None:
        if self.identifier is None:
            return
        key = values.get(self.identifier, "").strip().lower()
        if not key:
            raise _RejectedError("ELQ-00032", "Identifier field is empty.", [self.identifier])
        if key in seen:
            raise _RejectedError("ELQ-00026", "Duplicate identifier.", [self.identifier])
        seen.add(key)

    def _apply_record(
        self, store: EloquaStore, values: Mapping[str, str], counts: Counter[str]
    ) -> list[int]:
        kind = "contact" if self.entity == "contacts" else "account"
        table = store.contacts if kind == "contact" else store.accounts
        targets = self._match_records(store, kind, table, values)
        if self.import_rule == "updateOnly" and not targets:
            raise _RejectedError("ELQ-00034", "Total unmatched records.", self._keys())
        if self.import_rule == "createOnly" and targets:
            thing = "Contact" if kind == "contact" else "Account"
            raise _RejectedError("ELQ-00048", f"{thing} already exists.", self._keys())
        if kind == "contact":
            self._check_email_free(store, values, targets)
        if not targets:
            record = store.create_record(kind, self._new_values(kind, values))
            counts["created"] += 1
            return [record.id]
        for record in targets:
            store.write_values(kind, record, self._updates(record.values, values))
            counts["updated"] += 1
        return [record.id for record in targets]

    def _keys(self) -> list[str]:
        """The columns records are matched on, for a reject's ``invalidFields``."""
        if self.identifier is not None:
            return [self.identifier]
        return [n for n, c in self.columns.items() if _is_email(c)]

    def _check_email_free(
        self, store: EloquaStore, values: Mapping[str, str], targets: list[Record]
    ) -> None:
        """Email addresses are unique among contacts: another contact's address is refused."""
        for name, column in self.columns.items():
            if _is_email(column) and values.get(name):
                owners = set(store.find_records("contact", "C_EmailAddress", values[name]))
                if owners - {record.id for record in targets}:
                    raise _RejectedError("ELQ-00011", "Duplicate email address.", [name])

    def _match_records(
        self, store: EloquaStore, kind: str, table: Mapping[int, Record], values: Mapping[str, str]
    ) -> list[Record]:
        name = self.identifier
        if name is None:
            email = next((n for n, c in self.columns.items() if _is_email(c)), None)
            if email is None or not values.get(email):
                return []
            name = email
        column, key = self.columns[name], values[name].strip()
        if column.target == "id":
            record = table.get(int(key)) if key.isdigit() else None
            if record is None:
                if kind == "contact":
                    raise _RejectedError("ELQ-00085", "Contact does not exist.", [name])
                raise _RejectedError("ELQ-00034", "Account does not exist.", [name])
            return [record]
        assert isinstance(column.field, FieldDef)
        found = store.find_records(kind, column.field.internal_name, key)
        if len(found) > 1 and not self.multiple:
            raise _RejectedError("ELQ-00135", "Multiple matched record limit exceeded.", [name])
        return [table[record_id] for record_id in found]

    def _new_values(self, kind: str, values: Mapping[str, str]) -> dict[str, Any]:
        clean = {}
        for name, column in self.columns.items():
            if column.target == "field" and name in values:
                assert isinstance(column.field, FieldDef)
                clean[column.field.internal_name] = coerce(
                    column.field.data_type, values[name], self.zone
                )
        required = "C_EmailAddress" if kind == "contact" else "M_CompanyName"
        if not clean.get(required):
            missing = [n for n, c in self.columns.items() if _writes(c, required)] or [required]
            raise _RejectedError("ELQ-00061", "Rejected records (missing fields).", missing)
        return clean

    def _updates(self, existing: Mapping[Any, Any], values: Mapping[str, str]) -> dict[Any, Any]:
        """Keyed by internal name (records) or field id (custom object records)."""
        updates: dict[Any, Any] = {}
        for name, column in self.columns.items():
            if column.field is None or name not in values:
                continue
            key: Any = (
                column.field.id if column.target == "object_field" else column.field.internal_name
            )
            new = coerce(column.field.data_type, values[name], self.zone)
            rule = self.update_rule
            if rule == "useFieldRule":
                rule = getattr(column.field, "update_type", "always")
            if rule == "ifNewIsNotNull" and new is None:
                continue
            if rule == "ifExistingIsNull" and existing.get(key) is not None:
                continue
            updates[key] = new
        return updates

    def _apply_instance(
        self, store: EloquaStore, values: Mapping[str, str], counts: Counter[str]
    ) -> int:
        assert self.parent is not None
        contact_id = self._linked_contact(store, values, counts)
        found: Instance | None = None
        if self.identifier is not None:
            column = self.columns[self.identifier]
            assert isinstance(column.field, CustomObjectField)
            key = values[self.identifier].strip().lower()
            found = next(
                (
                    i
                    for i in self.parent.instances.values()
                    if str(i.values.get(column.field.id, "")).lower() == key
                ),
                None,
            )
        if found is None:
            made = store.create_instance(self.parent.id, self._updates({}, values), contact_id)
            counts["created"] += 1
            return made.id
        changes = self._updates(found.values, values)
        for key_id, value in changes.items():
            if value is None:
                found.values.pop(key_id, None)
            else:
                found.values[key_id] = value
        if contact_id is not None:
            found.contact_id = contact_id
        found.updated_at = store.now()
        counts["updated"] += 1
        return found.id

    def _linked_contact(
        self, store: EloquaStore, values: Mapping[str, str], counts: Counter[str]
    ) -> int | None:
        if self.map_source is None or self.map_statement is None:
            return None
        key = values.get(self.map_source, "").strip()
        shape = self.map_statement.shape()
        contact_id: int | None = None
        if shape == ("contact", "id"):
            contact_id = int(key) if key.isdigit() and int(key) in store.contacts else None
        elif key:
            name = self.map_statement.segments[1].arg or ""
            for record in store.contacts.values():
                have = record.values.get(name)
                if have is None:
                    continue
                same = (
                    str(have) == key
                    if self.map_case_sensitive
                    else str(have).lower() == key.lower()
                )
                if same:
                    contact_id = record.id
                    break
        counts["linked" if contact_id is not None else "unmatched"] += 1
        return contact_id

    # -- logs ----------------------------------------------------------------------

    def _logs(
        self, staged: int, counts: Counter[str], outcome: Outcome
    ) -> list[tuple[str, str, str, int]]:
        logs = [
            ("information", "ELQ-00130", "Total records staged for import.", staged),
            ("information", "ELQ-00137", "Ready for data import processing.", 0),
            ("information", "ELQ-00001", "Total records processed.", staged),
        ]
        if self.entity == "customObject":
            created = ("ELQ-00007", "CustomObject data created.")
            updated = ("ELQ-00012", "CustomObject data updated.")
        else:
            created, updated = CREATED[self.entity], UPDATED[self.entity]
        logs.append(("information", *created, counts["created"]))
        logs.append(("information", *updated, counts["updated"]))
        if self.map_source is not None:
            logs.append(("information", "ELQ-00025", "CustomObject data linked.", counts["linked"]))
            if counts["unmatched"]:
                logs.append(
                    ("warning", "ELQ-00034", "Total unmatched records.", counts["unmatched"])
                )
        by_code = Counter(reject.status_code for reject in outcome.rejects)
        for code, count in sorted(by_code.items()):
            logs.append(("warning", code, LOG_MESSAGES[code], count))
        if outcome.rejects:
            logs.append(("warning", "ELQ-00060", "Total rejected records.", len(outcome.rejects)))
        return logs


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _is_email(column: Column) -> bool:
    return isinstance(column.field, FieldDef) and column.field.is_email


def _writes(column: Column, internal_name: str) -> bool:
    return isinstance(column.field, FieldDef) and column.field.internal_name == internal_name


# -- definitions ---------------------------------------------------------------------


def _column(
    store: EloquaStore, entity: str, name: str, text: Any, parent: CustomObject | None
) -> Column:
    statement = parse_statement(text) if isinstance(text, str) else None
    invalid = errors.failure(f"fields.{name}", "Must be a writable field of this import.", text)
    if statement is None:
        raise invalid
    shape = statement.shape()
    if entity in ("contacts", "accounts"):
        prefix = "contact" if entity == "contacts" else "account"
        fields = store.contact_fields if entity == "contacts" else store.account_fields
        if shape == (prefix, "id"):
            return Column(name, statement, "id")
        if shape == (prefix, "field"):
            arg = (statement.segments[1].arg or "").lower()
            found = next((f for k, f in fields.items() if k.lower() == arg), None)
            if found is not None and not found.is_read_only:
                return Column(name, statement, "field", found)
        raise invalid
    assert parent is not None
    first = statement.segments[0]
    if first.is_("CustomObject") and first.index == parent.id and shape[1:] == ("field",):
        segment = statement.segments[1]
        made = parent.fields.get(segment.index) if segment.index is not None else None
        if made is None and segment.arg:
            made = parent.field_named(segment.arg)
        if made is not None:
            return Column(name, statement, "object_field", made)
    raise invalid


def compile_import(
    store: EloquaStore, entity: str, body: Mapping[str, Any], parent: CustomObject | None = None
) -> ImportPlan:
    """Check an import definition as Eloqua does; raise 400 failures, else return its plan."""
    check_common(body)
    fields = body.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise errors.failure("fields", "Must contain at least one field.")
    if len(fields) > MAX_IMPORT_FIELDS:
        raise errors.failure(
            "fields", f"Must contain at most {MAX_IMPORT_FIELDS} fields.", str(len(fields))
        )
    with store.lock:
        columns = {
            name: _column(store, entity, name, text, parent) for name, text in fields.items()
        }
    identifier = body.get("identifierFieldName")
    if identifier is not None and identifier not in columns:
        raise errors.failure(
            "identifierFieldName",
            f"{identifier} must be contained within Fields, if specified.",
            identifier,
        )
    if identifier is None and any(c.target == "id" for c in columns.values()):
        raise errors.failure("identifierFieldName", "Must be specified when importing record ids.")
    rule = body.get("updateRule", "always")
    if rule not in UPDATE_RULES:
        raise errors.failure("updateRule", f"Must be one of: {', '.join(UPDATE_RULES)}.", rule)
    import_rule = body.get("importRule", "createAndUpdate")
    if import_rule not in IMPORT_RULES or (import_rule != "createAndUpdate" and parent):
        allowed = ", ".join(IMPORT_RULES) if parent is None else "createAndUpdate"
        raise errors.failure("importRule", f"Must be one of: {allowed}.", import_rule)
    for flag in ("isSyncTriggeredOnImport", "isUpdatingMultipleMatchedRecords", "mapDataCards"):
        if flag in body and not isinstance(body[flag], bool):
            raise errors.failure(flag, "Must be a boolean value.", body[flag])
    plan = ImportPlan(
        entity,
        columns,
        identifier,
        rule,
        bool(body.get("isUpdatingMultipleMatchedRecords", False)),
        check_sync_actions(body.get("syncActions")),
        parent,
    )
    plan.import_rule = import_rule
    if body.get("mapDataCards"):
        _map_data_cards(plan, body)
    return plan


def _map_data_cards(plan: ImportPlan, body: Mapping[str, Any]) -> None:
    if plan.entity != "customObject":
        raise errors.failure("mapDataCards", "Only custom object imports map data cards.")
    source = body.get("mapDataCardsSourceField")
    if source not in plan.columns:
        raise errors.failure("mapDataCardsSourceField", "Must be contained within Fields.", source)
    entity_type = body.get("mapDataCardsEntityType", "Contact")
    if str(entity_type).lower() != "contact":
        raise errors.failure("mapDataCardsEntityType", "Must be Contact.", entity_type)
    text = body.get("mapDataCardsEntityField")
    statement = parse_statement(text) if isinstance(text, str) else None
    if statement is None or statement.shape() not in (("contact", "id"), ("contact", "field")):
        raise errors.failure("mapDataCardsEntityField", "Must be a contact field statement.", text)
    plan.map_source = source
    plan.map_statement = statement
    plan.map_case_sensitive = bool(body.get("mapDataCardsCaseSensitiveMatch", False))
