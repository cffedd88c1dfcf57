"""In-memory state of the HubSpot emulator: records, associations, owners and the clock.

Nothing here knows HTTP. The store speaks HubSpot's JSON shapes (the dicts the
CRM v3/v4 APIs return) so the Starlette layer in ``app.py`` only routes and
renders. Records and their values are in :mod:`~abmsync.sandbox.hubspot.records`,
the property catalog in :mod:`~abmsync.sandbox.hubspot.properties`, search in
:mod:`~abmsync.sandbox.hubspot.search` and the errors in
:mod:`~abmsync.sandbox.hubspot.errors`.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from abmsync.sandbox.hubspot.errors import (
    UNGRANTED_OBJECT_TYPES,
    ApiError,
    RecordError,
    RecordRejectedError,
    missing_scopes,
)
from abmsync.sandbox.hubspot.properties import (
    DEFAULT_RETURNED,
    SYSTEM_PROPERTIES,
    PropertyDef,
    checked_values,
    default_groups,
    default_properties,
    new_group,
    new_property,
)
from abmsync.sandbox.hubspot.records import (
    JSON,
    OBJECT_TYPE_IDS,
    Record,
    apply_values,
    iso,
    normalize,
    property_value,
)
from abmsync.sandbox.hubspot.search import search_records, search_window

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
LIST_PAGE_MAX = 100
BATCH_MAX = 100


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
            # (object, unique property) -> value -> id of the live record holding it,
            # built on first lookup and kept up to date by every write, so upserts and
            # uniqueness checks cost a dictionary lookup, not a scan of every record.
            self._unique: dict[tuple[str, str], dict[str, int]] = {}
            # Moves on every write: a search's matches are kept for the pages that
            # follow (same filters and sorts, another ``after``) until it moves.
            self._version = 0
            self._searched: tuple[str, int, list[Record]] | None = None
            self.props: dict[str, dict[str, PropertyDef]] = {}
            self.groups: dict[str, dict[str, JSON]] = {}
            for obj in OBJECT_TYPE_IDS:
                defs = default_properties(obj)
                for prop in defs:
                    prop.created_ms = now
                self.props[obj] = {p.name: p for p in defs}
                self.groups[obj] = default_groups(obj)
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
            prop = new_property(body, self.props[obj], self.groups[obj], self.now())
            self.props[obj][prop.name] = prop
            return prop.render()

    def list_groups(self, obj: str) -> list[JSON]:
        with self._lock:
            return list(self.groups[obj].values())

    def create_group(self, obj: str, body: Mapping[str, Any]) -> JSON:
        """Create a property group; 409 if it exists."""
        with self._lock:
            group = new_group(body, self.groups[obj])
            self.groups[obj][group["name"]] = group
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
        return property_value(record, name)

    def get(self, obj: str, key: str, *, id_property: str | None = None) -> Record | None:
        """A live record by id, or by a unique property when ``id_property`` is given."""
        with self._lock:
            if id_property and id_property != "hs_object_id":
                wanted = normalize(id_property, key)
                found_id = self._unique_index(obj, id_property).get(wanted)
                record = self.records[obj].get(found_id) if found_id is not None else None
                if record is None or record.archived_ms is not None:
                    return None
                return record if record.properties.get(id_property) == wanted else None
            found = self.records[obj].get(int(key)) if key.isdigit() else None
            return found if found is not None and found.archived_ms is None else None

    def create(self, obj: str, values: Mapping[str, Any]) -> Record:
        """Create a record or raise :class:`RecordRejectedError`."""
        with self._lock:
            clean = checked_values(self.props[obj], values)
            self._check_unique(obj, clean, None)
            now = self.now()
            record = Record(self._next_id, {}, now, now)
            self._next_id += 1
            apply_values(record, clean)
            self.records[obj][record.id] = record
            self._index_record(obj, record, add=True)
            return record

    def create_many(self, obj: str, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
        """Create every row or none: all values and unique properties (against the
        portal and within ``rows``) are checked first; the first bad row raises
        :class:`RecordRejectedError`."""
        with self._lock:
            cleaned = [checked_values(self.props[obj], row) for row in rows]
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
            clean = checked_values(self.props[obj], values)
            self._check_unique(obj, clean, record.id)
            self._index_record(obj, record, add=False)
            apply_values(record, _forward_only(self.props[obj], record, clean))
            self._index_record(obj, record, add=True)
            record.updated_ms = self.now()
            return record

    def archive(self, obj: str, record: Record) -> None:
        with self._lock:
            now = self.now()
            self._index_record(obj, record, add=False)
            record.archived_ms = now
            record.updated_ms = now

    def _unique_index(self, obj: str, name: str) -> dict[str, int]:
        """Value -> live record id for one unique property (built on first use)."""
        index = self._unique.get((obj, name))
        if index is None:
            index = {
                r.properties[name]: r.id
                for r in self.records[obj].values()
                if r.archived_ms is None and name in r.properties
            }
            self._unique[(obj, name)] = index
        return index

    def _index_record(self, obj: str, record: Record, *, add: bool) -> None:
        """Enter (or remove) ``record``'s unique values in the indexes built so far.

        Every write of a record calls this (before and after), which is when
        cached search matches stop being valid.
        """
        self._version += 1
        for (indexed, name), index in self._unique.items():
            value = record.properties.get(name) if indexed == obj else None
            if value is None:
                continue
            if add and record.archived_ms is None:
                index[value] = record.id
            elif index.get(value) == record.id:
                del index[value]

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
                values = {k: normalize(k, v.format(i=i)) for k, v in template.items()}
                record = Record(self._next_id, values, stamp, stamp)
                self._next_id += 1
                self.records[obj][record.id] = record
                ids.append(record.id)
            self._forget_indexes(obj)
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
            cleaned = [checked_values(self.props[obj], row) for row in rows]
            for name in self.unique_properties(obj):
                taken = set(self._unique_index(obj, name))
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
                apply_values(record, values)
                self._next_id += 1
                self.records[obj][record.id] = record
                ids.append(record.id)
            self._forget_indexes(obj)
            return ids

    def _forget_indexes(self, obj: str) -> None:
        """Drop ``obj``'s unique indexes after a bulk insert; the next lookup rebuilds them."""
        self._version += 1
        for key in [k for k in self._unique if k[0] == obj]:
            del self._unique[key]

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
        limit, offset = search_window(body)
        query = json.dumps(
            [obj, {k: v for k, v in body.items() if k not in ("after", "limit", "properties")}],
            sort_keys=True,
            default=str,
        )
        with self._lock:
            cached = self._searched
            if cached is not None and cached[:2] == (query, self._version):
                matches = cached[2]
            else:
                matches = search_records(obj, self.props[obj], self.records[obj].values(), body)
                self._searched = (query, self._version, matches)
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


LIFECYCLE = "lifecyclestage"


def _forward_only(
    props: Mapping[str, PropertyDef], record: Record, values: Mapping[str, str]
) -> Mapping[str, str]:
    """``values`` without a lifecycle stage that would move the record backwards.

    HubSpot moves lifecycle stages forward only: an update to an earlier stage
    is answered as a success and silently not applied; clearing the value first
    (an empty string, in a separate request) lets the earlier stage be set
    (https://integrate.hubspot.com/t/update-lifecycle-stage-using-api/1333).
    """
    new, current = values.get(LIFECYCLE), record.properties.get(LIFECYCLE)
    prop = props.get(LIFECYCLE)
    if not new or not current or prop is None:
        return values
    order = [option["value"] for option in prop.options]
    if new in order and current in order and order.index(new) < order.index(current):
        return {k: v for k, v in values.items() if k != LIFECYCLE}
    return values
