"""In-memory state of the emulated Eloqua site: records, fields, activities, custom objects.

Nothing here knows HTTP. Values are kept as Python values keyed by field
internal name (``C_EmailAddress``...): text as ``str``, numbers as ``int`` or
``float``, dates as UTC-aware ``datetime``; an empty value is absent. One
re-entrant lock guards everything, so a Bulk sync can read or write many
records as one step (``with store.lock: ...``).

Guesses:
- The site's time zone is America/New_York (:data:`~.formats.SITE_TIME_ZONE`).
- A fresh site has one active lead scoring model, id 1.
- Activity ids come from one sequence shared by all activity types.
- Deleting a contact removes it everywhere; its activities stay (Eloqua keeps them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from abmsync.sandbox.eloqua.fields import (
    ACTIVITY_DATES,
    ACTIVITY_FIELDS,
    ACTIVITY_NUMBERS,
    ACTIVITY_TYPES,
    FieldDef,
    derive_internal_name,
    render_contact_field,
    standard_account_fields,
    standard_contact_fields,
)
from abmsync.sandbox.eloqua.formats import SITE_TIME_ZONE, parse_datetime, parse_number
from abmsync.sandbox.eloqua.records import (
    Activity,
    CustomObject,
    CustomObjectField,
    Instance,
    Record,
    ScoringModel,
)

SITE_ZONE = ZoneInfo(SITE_TIME_ZONE)


def coerce(data_type: str, value: Any, zone: tzinfo | None = None) -> Any:
    """A stored value for a field of ``data_type``; ValueError when it does not fit."""
    if value is None or value == "":
        return None
    if data_type == "numeric":
        return parse_number(value)
    if data_type == "date":
        moment = parse_datetime(value, zone or UTC)
        return moment.astimezone(UTC)
    return str(value)


class EloquaStore:
    """The site's data behind one lock; ``clock`` replaces real UTC time."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self.zone = SITE_ZONE
        self.contact_fields: dict[str, FieldDef] = standard_contact_fields()
        self.account_fields: dict[str, FieldDef] = standard_account_fields()
        self.contacts: dict[int, Record] = {}
        self.accounts: dict[int, Record] = {}
        self.activities: dict[int, Activity] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.custom_objects: dict[int, CustomObject] = {}
        self.models: dict[int, ScoringModel] = {
            1: ScoringModel(1, "Lead Scoring Model", "Active", self.now())
        }
        self.scores: dict[tuple[int, int], dict[str, str]] = {}
        self.list_members: dict[str, set[int]] = {}  # sync action destination -> member ids
        self._next = {"contact": 1, "account": 1, "activity": 1, "campaign": 1, "object": 1}
        self._next_field = {"contact": 100200, "account": 100300, "object": 1000}

    # -- clock and ids ---------------------------------------------------------------

    def now(self) -> datetime:
        """The site's clock: the ``clock`` given to the app, else real UTC time."""
        moment = self._clock() if self._clock else datetime.now(UTC)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _take(self, kind: str) -> int:
        number = self._next[kind]
        self._next[kind] += 1
        return number

    @contextmanager
    def locked(self) -> Iterator[EloquaStore]:
        """``with store.locked():`` — hold the lock across several calls."""
        with self.lock:
            yield self

    # -- contacts and accounts -------------------------------------------------------

    def _fields(self, entity: str) -> dict[str, FieldDef]:
        return self.contact_fields if entity == "contact" else self.account_fields

    def _table(self, entity: str) -> dict[int, Record]:
        return self.contacts if entity == "contact" else self.accounts

    def _stamps(self, entity: str) -> tuple[str, str]:
        return (
            ("C_DateCreated", "C_DateModified")
            if entity == "contact"
            else ("M_DateCreated", "M_DateModified")
        )

    def clean_values(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values keyed by known internal names, coerced; ValueError for unknown names."""
        fields = self._fields(entity)
        by_lower = {name.lower(): name for name in fields}
        clean: dict[str, Any] = {}
        for key, value in values.items():
            name = by_lower.get(key.lower())
            if name is None:
                raise ValueError(f"unknown {entity} field {key!r}")
            clean[name] = coerce(fields[name].data_type, value)
        return clean

    def _add(self, entity: str, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        created_key, modified_key = self._stamps(entity)
        ids = []
        with self.lock:
            for row in rows:
                values = {k: v for k, v in self.clean_values(entity, row).items() if v is not None}
                now = self.now()
                values.setdefault(created_key, now)
                values.setdefault(modified_key, values[created_key])
                record = Record(self._take(entity), values)
                self._derive(entity, record)
                self._table(entity)[record.id] = record
                ids.append(record.id)
        return ids

    def _derive(self, entity: str, record: Record) -> None:
        if entity == "contact":
            email = record.values.get("C_EmailAddress")
            if email and "@" in email:
                record.values["C_EmailAddressDomain"] = email.split("@", 1)[1].lower()
            else:
                record.values.pop("C_EmailAddressDomain", None)

    def _update(self, entity: str, record_id: int, values: Mapping[str, Any]) -> None:
        with self.lock:
            record = self._table(entity).get(record_id)
            if record is None:
                raise KeyError(f"no {entity} {record_id}")
            self.write_values(entity, record, self.clean_values(entity, values))

    def write_values(self, entity: str, record: Record, clean: Mapping[str, Any]) -> bool:
        """Apply coerced values; bump the modified stamp when something changed."""
        _, modified_key = self._stamps(entity)
        changed = False
        with self.lock:
            for name, value in clean.items():
                if record.values.get(name) != value:
                    changed = True
                    if value is None:
                        record.values.pop(name, None)
                    else:
                        record.values[name] = value
            if changed and modified_key not in clean:
                record.values[modified_key] = self.now()
            self._derive(entity, record)
        return changed

    def create_record(self, entity: str, clean: Mapping[str, Any]) -> Record:
        """A new contact or account from coerced values (imports and REST creates)."""
        created_key, modified_key = self._stamps(entity)
        with self.lock:
            now = self.now()
            values = {k: v for k, v in clean.items() if v is not None}
            values.setdefault(created_key, now)
            values.setdefault(modified_key, now)
            record = Record(self._take(entity), values)
            self._derive(entity, record)
            self._table(entity)[record.id] = record
            return record

    def find_records(self, entity: str, field_name: str, value: Any) -> list[int]:
        """Ids of records whose field equals ``value`` (text compares case-insensitively)."""
        fields = self._fields(entity)
        by_lower = {name.lower(): name for name in fields}
        name = by_lower.get(field_name.lower())
        if name is None:
            raise ValueError(f"unknown {entity} field {field_name!r}")
        wanted = coerce(fields[name].data_type, value)
        with self.lock:
            found = []
            for record in self._table(entity).values():
                have = record.values.get(name)
                if isinstance(have, str) and isinstance(wanted, str):
                    if have.lower() == wanted.lower():
                        found.append(record.id)
                elif have == wanted:
                    found.append(record.id)
            return found

    def add_contacts(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create contacts; stamps C_DateCreated/C_DateModified with now unless given."""
        return self._add("contact", rows)

    def update_contact(self, contact_id: int, values: Mapping[str, Any]) -> None:
        """Change a contact's values; C_DateModified moves to now."""
        self._update("contact", contact_id, values)

    def delete_contact(self, contact_id: int) -> None:
        """Delete a contact: gone from REST and Bulk (exports never list deletions)."""
        with self.lock:
            self.contacts.pop(contact_id, None)
            for key in [k for k in self.scores if k[0] == contact_id]:
                del self.scores[key]
            for members in self.list_members.values():
                members.discard(contact_id)

    def contact(self, contact_id: int) -> dict[str, Any] | None:
        """A copy of a contact's values (plus ``AccountId``), or None."""
        with self.lock:
            record = self.contacts.get(contact_id)
            if record is None:
                return None
            return {**record.values, "AccountId": record.account_id}

    def find_contacts(self, field_name: str, value: Any) -> list[int]:
        """Ids of contacts whose field equals ``value`` (text compares case-insensitively)."""
        return self.find_records("contact", field_name, value)

    def add_accounts(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create accounts; stamps M_DateCreated/M_DateModified with now unless given."""
        return self._add("account", rows)

    def update_account(self, account_id: int, values: Mapping[str, Any]) -> None:
        """Change an account's values; M_DateModified moves to now."""
        self._update("account", account_id, values)

    def delete_account(self, account_id: int) -> None:
        """Delete an account; its contacts lose the link."""
        with self.lock:
            self.accounts.pop(account_id, None)
            for record in self.contacts.values():
                if record.account_id == account_id:
                    record.account_id = None

    def account(self, account_id: int) -> dict[str, Any] | None:
        """A copy of an account's values, or None."""
        with self.lock:
            record = self.accounts.get(account_id)
            return None if record is None else dict(record.values)

    def find_accounts(self, field_name: str, value: Any) -> list[int]:
        """Ids of accounts whose field equals ``value``."""
        return self.find_records("account", field_name, value)

    def link_contact_to_account(self, contact_id: int, account_id: int | None) -> None:
        """Make ``account_id`` the contact's company (``{{Contact.Account...}}``)."""
        with self.lock:
            if account_id is not None and account_id not in self.accounts:
                raise KeyError(f"no account {account_id}")
            record = self.contacts[contact_id]
            if record.account_id != account_id:
                record.account_id = account_id
                record.values["C_DateModified"] = self.now()

    # -- fields ----------------------------------------------------------------------

    def add_contact_field(
        self,
        name: str,
        data_type: str,
        *,
        display_type: str = "text",
        update_type: str = "always",
        internal_name: str | None = None,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """Create a custom contact field as ``POST /assets/contact/field`` does; its REST JSON."""
        made = self.create_field(
            "contact", name, data_type, display_type, update_type, internal_name, created_by
        )
        return render_contact_field(made)

    def add_account_field(self, name: str, data_type: str, **options: Any) -> FieldDef:
        """Create a custom account field (internal name ``M_<name>1``)."""
        return self.create_field(
            "account",
            name,
            data_type,
            options.get("display_type", "text"),
            options.get("update_type", "always"),
            options.get("internal_name"),
            options.get("created_by"),
        )

    def create_field(
        self,
        entity: str,
        name: str,
        data_type: str,
        display_type: str,
        update_type: str,
        internal_name: str | None,
        created_by: str | None,
    ) -> FieldDef:
        """A new custom field; ValueError when the name is taken."""
        fields = self._fields(entity)
        with self.lock:
            if any(f.name.lower() == name.lower() for f in fields.values()):
                raise ValueError(f"a {entity} field named {name!r} exists")
            prefix = "C_" if entity == "contact" else "M_"
            internal = internal_name or derive_internal_name(name, prefix, set(fields))
            field_id = self._next_field[entity]
            self._next_field[entity] += 1
            now = self.now()
            definition = FieldDef(
                field_id,
                name,
                internal,
                data_type,
                display_type=display_type,
                is_standard=False,
                update_type=update_type,
                created_at=now,
                updated_at=now,
                created_by=created_by,
            )
            fields[internal] = definition
            return definition

    # -- activities and campaigns ----------------------------------------------------

    def add_campaign(self, name: str, **values: Any) -> int:
        """A campaign activities can point at (``{{Activity.Campaign...}}``)."""
        with self.lock:
            campaign_id = self._take("campaign")
            self.campaigns[campaign_id] = {"id": campaign_id, "name": name, **values}
            return campaign_id

    def campaign(self, campaign_id: int) -> dict[str, Any] | None:
        """A campaign's data, or None."""
        with self.lock:
            found = self.campaigns.get(campaign_id)
            return None if found is None else dict(found)

    def add_activities(self, activity_type: str, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Record activities of one type; rows use the documented column names."""
        if activity_type not in ACTIVITY_TYPES:
            raise ValueError(f"unknown activity type {activity_type!r}")
        columns = ACTIVITY_FIELDS[activity_type]
        ids = []
        with self.lock:
            for row in rows:
                unknown = set(row) - set(columns) - {"EmailDeploymentId"}
                if unknown:
                    raise ValueError(f"{activity_type} has no column(s) {sorted(unknown)}")
                values: dict[str, Any] = {}
                for key, value in row.items():
                    name = "DeploymentId" if key == "EmailDeploymentId" else key
                    if name in ACTIVITY_DATES:
                        values[name] = coerce("date", value)
                    elif name in ACTIVITY_NUMBERS:
                        values[name] = coerce("numeric", value)
                    else:
                        values[name] = coerce("text", value)
                activity_id = self._take("activity")
                values["ActivityId"] = activity_id
                values["ActivityType"] = activity_type
                if values.get("ActivityDate") is None:
                    values["ActivityDate"] = self.now()
                self.activities[activity_id] = Activity(activity_id, activity_type, values)
                ids.append(activity_id)
        return ids

    # -- custom objects --------------------------------------------------------------

    def add_custom_object(self, name: str, fields: Sequence[tuple[str, str]]) -> int:
        """A custom object with (field name, REST data type) fields; returns its id."""
        with self.lock:
            object_id = self._take("object")
            made = CustomObject(object_id, name, {}, self.now())
            self.custom_objects[object_id] = made
            for field_name, data_type in fields:
                self.add_custom_object_field(object_id, field_name, data_type)
            return object_id

    def add_custom_object_field(
        self, object_id: int, name: str, data_type: str
    ) -> CustomObjectField:
        """One more field on a custom object (internal name ``<name>1``)."""
        with self.lock:
            found = self.custom_objects[object_id]
            taken = {f.internal_name for f in found.fields.values()}
            field_id = self._next_field["object"]
            self._next_field["object"] += 1
            made = CustomObjectField(
                field_id, name, derive_internal_name(name, "", taken), data_type
            )
            found.fields[field_id] = made
            return made

    def custom_object_id(self, name: str) -> int | None:
        """The id of the custom object called ``name`` (any case), or None."""
        with self.lock:
            for found in self.custom_objects.values():
                if found.name.lower() == name.lower():
                    return found.id
            return None

    def create_instance(
        self, object_id: int, values: Mapping[int, Any], contact_id: int | None
    ) -> Instance:
        """A new custom object record from field-id keyed, coerced values."""
        with self.lock:
            found = self.custom_objects[object_id]
            now = self.now()
            instance_id = max(found.instances, default=0) + 1
            kept = {k: v for k, v in values.items() if v is not None}
            made = Instance(instance_id, kept, contact_id, now, now)
            found.instances[instance_id] = made
            return made

    def custom_object_instances(self, custom_object_id: int) -> list[dict[str, Any]]:
        """Every instance: ``Id``, ``ContactId``, ``CreatedAt``, ``UpdatedAt`` and its values."""
        with self.lock:
            found = self.custom_objects[custom_object_id]
            rows = []
            for instance in found.instances.values():
                row: dict[str, Any] = {
                    "Id": instance.id,
                    "ContactId": instance.contact_id,
                    "CreatedAt": instance.created_at,
                    "UpdatedAt": instance.updated_at,
                }
                for field_id, value in instance.values.items():
                    row[found.fields[field_id].internal_name] = value
                rows.append(row)
            return rows

    # -- lead scoring ----------------------------------------------------------------

    def add_scoring_model(self, name: str, status: str = "Active") -> int:
        """A lead scoring model; returns its id."""
        with self.lock:
            model_id = max(self.models, default=0) + 1
            self.models[model_id] = ScoringModel(model_id, name, status, self.now())
            return model_id

    def set_lead_score(
        self, contact_id: int, *, model_id: int, rating: str, profile: str, engagement: str
    ) -> None:
        """Set a contact's score in a model (created if missing); e.g. rating ``A1``."""
        with self.lock:
            if contact_id not in self.contacts:
                raise KeyError(f"no contact {contact_id}")
            if model_id not in self.models:
                self.models[model_id] = ScoringModel(
                    model_id, f"Lead Scoring Model {model_id}", "Active", self.now()
                )
            self.scores[(contact_id, model_id)] = {
                "Rating": rating,
                "ProfileScore": profile,
                "EngagementScore": engagement,
            }
