"""HubSpot as an abmsync connector: CRM v3 objects through the official client.

- ``describe`` reads the properties API (types, options, read-only values).
- ``read_changes`` searches on ``hs_lastmodifieddate`` (ascending, 200 a page)
  from the cursor minus an overlap, bisects the time window whenever a search
  would pass HubSpot's 10,000-result cap, de-duplicates on (id, modified), and
  reports archived records as deletes. A full load is the same search from 0.
- ``write`` validates patches against ``describe`` first, then sends batch
  update / upsert / create calls of 100, one ``WriteResult`` per patch;
  per-record failures of a 207 are mapped back through ``objectWriteTraceId``
  and the ones HubSpot calls transient are sent again.
- ``ensure_fields`` creates the ``abmsync`` property group and missing properties.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from pydantic import SecretStr

from abmsync.connectors.base import (
    Batch,
    CheckItem,
    CheckReport,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    ObjectMeta,
    Patch,
    PatchValue,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.hubspot.client import (
    CATEGORY_KINDS,
    AfterPaginator,
    ErrorKind,
    HubSpotClient,
    HubSpotRejectedError,
)
from abmsync.errors import TerminalError

SEARCH_PAGE = 200
SEARCH_CAP = 10_000
BATCH_SIZE = 100
LIST_PAGE = 100
MODIFIED = "hs_lastmodifieddate"
ASSOCIATION_BATCH = 1000  # pairs per batch association call
GROUP = "abmsync"
# The fields the DESIGN's writeback names on contacts; ``check`` reports missing ones.
ABMSYNC_CONTACT_FIELDS = ("abm_score", "abm_grade", "abm_stage", "abm_score_reasons")

_TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "number": FieldType.NUMBER,
    "enumeration": FieldType.PICKLIST,
    "datetime": FieldType.DATETIME,
    "date": FieldType.DATE,
    "bool": FieldType.BOOLEAN,
}
# abmsync type -> (HubSpot type, fieldType) for properties we create.
_CREATE_TYPES: dict[FieldType, tuple[str, str]] = {
    FieldType.TEXT: ("string", "textarea"),
    FieldType.PICKLIST: ("enumeration", "select"),
    FieldType.MULTIPICKLIST: ("enumeration", "checkbox"),
    FieldType.INTEGER: ("number", "number"),
    FieldType.NUMBER: ("number", "number"),
    FieldType.BOOLEAN: ("bool", "booleancheckbox"),
    FieldType.DATE: ("date", "date"),
    FieldType.DATETIME: ("datetime", "date"),
}


@dataclass
class ChangeCursor:
    """Where ``read_changes`` is: newest modification seen, and what it has emitted near it.

    ``seen`` keeps (id -> modified ms) for records within the overlap window, so
    re-reading the overlap (and same-millisecond changes) emits nothing twice.
    """

    modified_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    archived_ms: int | None = None
    archived_seen: list[str] = field(default_factory=list)
    # A full load pages the list endpoint (no 10,000 cap); while it runs, the
    # cursor holds the list position and the newest change before it began.
    list_after: str | None = None
    list_from: int | None = None
    after_load: bool = False  # the next search starts at modified_ms, without the overlap

    @classmethod
    def parse(cls, cursor: Cursor | None) -> ChangeCursor:
        if cursor is None:
            return cls()
        try:
            data = json.loads(cursor.value)
            return cls(
                modified_ms=data.get("modified_ms"),
                seen={str(k): int(v) for k, v in (data.get("seen") or {}).items()},
                archived_ms=data.get("archived_ms"),
                archived_seen=[str(i) for i in data.get("archived_seen") or []],
                list_after=data.get("list_after"),
                list_from=data.get("list_from"),
                after_load=bool(data.get("after_load", False)),
            )
        except (ValueError, AttributeError, TypeError) as exc:
            raise TerminalError(f"HubSpot cursor is not valid JSON state: {exc}") from None

    def observe(self, record_id: str, modified: int, overlap_ms: int) -> bool:
        """Note a record; False if this (id, modified) was emitted before."""
        if self.seen.get(record_id) == modified:
            return False
        self.seen[record_id] = modified
        if self.modified_ms is None or modified > self.modified_ms:
            self.modified_ms = modified
            self.after_load = False
            floor = modified - overlap_ms
            self.seen = {k: v for k, v in self.seen.items() if v >= floor}
        return True

    def to_cursor(self, records: int) -> Cursor:
        value = json.dumps(
            {
                "modified_ms": self.modified_ms,
                "seen": dict(sorted(self.seen.items())),
                "archived_ms": self.archived_ms,
                "archived_seen": sorted(self.archived_seen),
                **(
                    {"list_after": self.list_after, "list_from": self.list_from}
                    if self.list_from is not None
                    else {}
                ),
                **({"after_load": True} if self.after_load else {}),
            },
            separators=(",", ":"),
        )
        observed = (
            datetime.fromtimestamp(self.modified_ms / 1000, tz=UTC)
            if self.modified_ms is not None
            else None
        )
        return Cursor(value=value, observed_at=observed, records=records)


class HubSpotConnector:
    """HubSpot CRM (contacts, companies, deals, notes) through ``hubspot-api-client``."""

    name = "hubspot"

    def __init__(
        self,
        access_token: SecretStr,
        *,
        host: str = "https://api.hubapi.com",
        timeout: float = 10,
        attempts: int = 6,
        overlap_ms: int = 30_000,
        record_attempts: int = 4,
        token_provider: Callable[[], SecretStr] | None = None,
        properties: Mapping[str, Sequence[str]] | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        """``budget`` counts every API call and stops the run before the daily reserve.

        Without one the connector keeps 10% in reserve and has no per-run cap.
        """
        self.client = HubSpotClient(
            access_token,
            host=host,
            timeout=timeout,
            attempts=attempts,
            token_provider=token_provider,
            budget=budget,
        )
        self.budget = self.client.budget
        self.overlap_ms = overlap_ms
        self.record_attempts = record_attempts
        self.properties = dict(properties or {})
        self._meta: dict[str, ObjectMeta] = {}

    # -- check / describe ----------------------------------------------------------

    def check(self) -> CheckReport:
        """Token valid, rate-limit headroom, abmsync's contact properties present."""
        items: list[CheckItem] = []
        try:
            _, _, headers = self.client.call(
                "token check", "objects.basic_api", "get_page_with_http_info", "contacts", limit=1
            )
        except TerminalError as exc:
            return CheckReport(
                connector=self.name, items=[CheckItem(name="auth", ok=False, detail=str(exc))]
            )
        items.append(CheckItem(name="auth", ok=True, detail="access token accepted"))
        items.append(_rate_limit_item(headers))
        existing = set(self.describe("contacts").fields)
        missing = [f for f in ABMSYNC_CONTACT_FIELDS if f not in existing]
        detail = (
            "all abmsync contact properties present"
            if not missing
            else f"missing contact properties: {', '.join(missing)} (run ensure_fields)"
        )
        items.append(CheckItem(name="fields", ok=not missing, detail=detail))
        return CheckReport(connector=self.name, items=items)

    def describe(self, obj: str) -> ObjectMeta:
        """Fields of ``obj`` from the properties API, cached per connector."""
        if obj not in self._meta:
            response = self.client.call(f"describe {obj}", "properties.core_api", "get_all", obj)
            fields = {p.name: _field_meta(obj, p) for p in response.results}
            self._meta[obj] = ObjectMeta(name=obj, label=obj.title(), fields=fields)
        return self._meta[obj]

    # -- read ------------------------------------------------------------------------

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read only these properties of ``obj`` (unknown names are left out): a portal has
        hundreds, and every one read costs bandwidth on every page."""
        known = self.describe(obj).fields
        chosen = [f for f in dict.fromkeys([*fields, MODIFIED, "hs_object_id"]) if f in known]
        self.properties[obj] = chosen

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Changed records since ``cursor`` (all when None), then archived ones as deletes."""
        state = ChangeCursor.parse(cursor)
        full_load = state.modified_ms is None
        names = list(self.properties.get(obj) or sorted(self.describe(obj).fields))
        if full_load:
            yield from self._full_load(obj, state, names)
        if state.modified_ms is None:
            start = 0
        elif state.after_load:
            start = state.modified_ms
        else:
            start = max(state.modified_ms - self.overlap_ms, 0)
        for page in self._search_changes(obj, start, names):
            rows: list[dict[str, str | None]] = []
            for record in page:
                modified = _modified_ms(record)
                if state.observe(str(record.id), modified, self.overlap_ms):
                    rows.append(
                        {"id": str(record.id), **{n: record.properties.get(n) for n in names}}
                    )
            if rows:
                records = _frame(rows, names)
                if obj in ENGAGEMENT_CONTACTS:
                    records = self._with_contacts(obj, records)
                yield Batch(obj=obj, records=records, cursor=state.to_cursor(len(rows)))
        deleted = self._archived_since(obj, state)
        yield Batch(
            obj=obj,
            records=_frame([], names),
            cursor=state.to_cursor(0),
            deleted_ids=[] if full_load else deleted,
        )

    def _full_load(self, obj: str, state: ChangeCursor, names: list[str]) -> Iterator[Batch]:
        """Every record through the list endpoint: 100 a page, no 10,000 cap, resumable.

        Changes made while it runs are left to the search that follows, which
        starts from the newest change seen before the load began.
        """
        if state.list_from is None:
            newest = self._search(obj, 0, None, [MODIFIED], limit=1, descending=True)
            state.list_from = _modified_ms(newest.results[0]) if newest.results else 0
        after = state.list_after
        while True:
            page = self.client.call_json(
                f"list {obj}",
                "objects.basic_api",
                "get_page",
                obj,
                limit=LIST_PAGE,
                after=after,
                properties=names,
            )
            following = ((page.get("paging") or {}).get("next") or {}).get("after")
            if following is not None and str(following) == after:
                raise TerminalError(f"HubSpot returned the page token {following!r} twice")
            done = following is None
            after = state.list_after = None if done else str(following)
            results = page.get("results") or []
            rows = [
                {"id": str(r["id"]), **{n: (r.get("properties") or {}).get(n) for n in names}}
                for r in results
            ]
            began = state.list_from or 0
            for record in results:
                modified = _modified_json_ms(record)
                if modified >= began:  # the search after the load sees it again
                    state.seen[str(record["id"])] = modified
            if done:
                # The load is complete: searches continue from when it began. The list
                # read everything older itself, so no overlap is re-read this once.
                state.modified_ms, state.list_from, state.list_after = state.list_from, None, None
                state.after_load = True
            if rows or done:
                records = _frame(rows, names)
                if rows and obj in ENGAGEMENT_CONTACTS:
                    records = self._with_contacts(obj, records)
                yield Batch(obj=obj, records=records, cursor=state.to_cursor(len(rows)))
            if done:
                return

    def _search(
        self,
        obj: str,
        lo: int,
        hi: int | None,
        names: list[str],
        *,
        after: str | None = None,
        limit: int = SEARCH_PAGE,
        descending: bool = False,
        extra: list[Any] | None = None,
        sort_by: str = MODIFIED,
    ) -> Any:
        filters = [Filter(property_name=MODIFIED, operator="GTE", value=str(lo))]
        if hi is not None:
            filters.append(Filter(property_name=MODIFIED, operator="LTE", value=str(hi)))
        filters.extend(extra or [])
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            sorts=[
                {"propertyName": sort_by, "direction": "DESCENDING" if descending else "ASCENDING"}
            ],
            properties=names,
            limit=limit,
            after=after,
        )
        return self.client.call(f"search {obj}", "objects.search_api", "do_search", obj, request)

    def _search_changes(self, obj: str, start: int, names: list[str]) -> Iterator[list[Any]]:
        """Pages of records modified at or after ``start``, oldest first, past the 10k cap."""
        first = self._search(obj, start, None, names)
        if int(first.total) <= SEARCH_CAP:
            yield from self._pages(obj, start, None, names, first)
            return
        newest = self._search(obj, start, None, [MODIFIED], limit=1, descending=True)
        end = _modified_ms(newest.results[0]) if newest.results else start
        for lo, hi, total in self._windows(obj, start, end):
            if total > SEARCH_CAP:  # more than 10,000 changes in one millisecond
                yield from self._same_millisecond(obj, lo, names)
            else:
                yield from self._pages(obj, lo, hi, names, None)

    def _windows(self, obj: str, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        """Bisect [lo, hi] until every window holds at most 10,000 results."""
        total = int(self._search(obj, lo, hi, [MODIFIED], limit=1).total)
        if total <= SEARCH_CAP or lo >= hi:
            if total:
                yield lo, hi, total
            return
        middle = (lo + hi) // 2
        yield from self._windows(obj, lo, middle)
        yield from self._windows(obj, middle + 1, hi)

    def _pages(
        self, obj: str, lo: int, hi: int | None, names: list[str], first: Any
    ) -> Iterator[list[Any]]:
        paginator = AfterPaginator()
        response = first if first is not None else self._search(obj, lo, hi, names)
        while True:
            yield list(response.results)
            paginator.advance(response)
            if paginator.done or int(paginator.after or 0) + SEARCH_PAGE > SEARCH_CAP:
                return  # anything past the cap is newer and is read on the next run
            response = self._search(obj, lo, hi, names, after=paginator.after)

    def _same_millisecond(self, obj: str, moment: int, names: list[str]) -> Iterator[list[Any]]:
        """Keyset paging on ``hs_object_id`` for one millisecond holding >10,000 changes."""
        last = 0
        while True:
            extra = [Filter(property_name="hs_object_id", operator="GT", value=str(last))]
            response = self._search(obj, moment, moment, names, extra=extra, sort_by="hs_object_id")
            if not response.results:
                return
            yield list(response.results)
            last = int(response.results[-1].id)

    def _archived_since(self, obj: str, state: ChangeCursor) -> list[str]:
        """Ids archived since the cursor (list with ``archived=true``); updates ``state``."""
        floor = None if state.archived_ms is None else state.archived_ms - self.overlap_ms
        already = set(state.archived_seen)
        deleted: list[str] = []
        stamps: dict[str, int] = {}
        paginator = AfterPaginator()
        while not paginator.done:
            response = self.client.call(
                f"list archived {obj}",
                "objects.basic_api",
                "get_page",
                obj,
                limit=LIST_PAGE,
                after=paginator.after,
                archived=True,
                properties=["hs_object_id"],
            )
            for record in response.results:
                archived_at = record.archived_at or record.updated_at
                stamp = _ms(archived_at)
                if floor is not None and stamp < floor:
                    continue
                stamps[str(record.id)] = stamp
                if str(record.id) not in already:
                    deleted.append(str(record.id))
            paginator.advance(response)
        if stamps:
            newest = max(stamps.values())
            if state.archived_ms is None or newest > state.archived_ms:
                state.archived_ms = newest
        if state.archived_ms is not None:
            keep = state.archived_ms - self.overlap_ms
            state.archived_seen = sorted(i for i, s in stamps.items() if s >= keep)
        return deleted

    # -- write -------------------------------------------------------------------------

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then batch update (by id), upsert (by unique property) or create."""
        meta = self.describe(obj)
        results: list[WriteResult | None] = [None] * len(patches)
        groups: dict[tuple[str, str | None], list[int]] = {}
        for index, patch in enumerate(patches):
            problem = validate_patch(meta, patch)
            if problem is not None:
                results[index] = problem
            elif patch.record_id is not None:
                groups.setdefault(("update", None), []).append(index)
            elif patch.external_id is not None:
                groups.setdefault(("upsert", patch.external_id[0]), []).append(index)
            else:
                groups.setdefault(("create", None), []).append(index)
        for (action, _), indexes in groups.items():
            for chunk in _chunks(indexes, patches, action):
                self._send(obj, action, chunk, patches, results)
        return [
            r
            if r is not None
            else WriteResult(
                record_id=patches[i].record_id,
                ok=False,
                error_code="NO_RESULT",
                message="HubSpot returned no result for this record",
            )
            for i, r in enumerate(results)
        ]

    def _send(
        self,
        obj: str,
        action: str,
        chunk: list[int],
        patches: Sequence[Patch],
        results: list[WriteResult | None],
    ) -> None:
        todo = chunk
        for attempt in range(self.record_attempts):
            body = _batch_body(action, todo, patches)
            try:
                response = self.client.call(
                    f"batch {action} {obj}", "objects.batch_api", action, obj, body
                )
            except HubSpotRejectedError as exc:
                for index in todo:
                    results[index] = WriteResult(
                        record_id=patches[index].record_id,
                        ok=False,
                        error_code=exc.vendor.code or exc.vendor.category or str(exc.vendor.status),
                        message=str(exc),
                    )
                return
            for record in response.results:
                index = int(record.object_write_trace_id)
                created = action == "create" or bool(getattr(record, "new", False))
                results[index] = WriteResult(record_id=str(record.id), ok=True, created=created)
            retry: list[int] = []
            for error in getattr(response, "errors", None) or []:
                for index in _error_indexes(error, todo, patches):
                    last = attempt == self.record_attempts - 1
                    if CATEGORY_KINDS.get(error.category) is ErrorKind.TRANSIENT and not last:
                        retry.append(index)
                        continue
                    code = error.errors[0].code if error.errors else None
                    message = error.errors[0].message if error.errors else error.message
                    results[index] = WriteResult(
                        record_id=patches[index].record_id,
                        ok=False,
                        error_code=code or error.category,
                        message=str(message),
                    )
            if not retry:
                return
            todo = retry

    # -- fields and associations ----------------------------------------------------------

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the ``abmsync`` property group and the missing properties; idempotent."""
        obj = spec.obj
        groups = self.client.call(f"list groups {obj}", "properties.groups_api", "get_all", obj)
        if GROUP not in {g.name for g in groups.results}:
            group = PropertyGroupCreate(name=GROUP, label="abmsync", display_order=-1)
            try:
                self.client.call(
                    f"create group {obj}", "properties.groups_api", "create", obj, group
                )
            except HubSpotRejectedError as exc:
                if exc.vendor.status != 409:
                    raise
        self._meta.pop(obj, None)
        existing = set(self.describe(obj).fields)
        created: list[str] = []
        for wanted in spec.fields:
            if wanted.name in existing:
                continue
            try:
                self.client.call(
                    f"create property {obj}.{wanted.name}",
                    "properties.core_api",
                    "create",
                    obj,
                    _property_create(wanted),
                )
            except HubSpotRejectedError as exc:
                if exc.vendor.status != 409:  # created meanwhile (or by our retried call)
                    raise
                continue
            created.append(wanted.name)
        self._meta.pop(obj, None)
        return created

    def associate(self, from_obj: str, from_id: str, to_obj: str, to_id: str) -> None:
        """Link two records with HubSpot's default association (e.g. a note to a contact)."""
        self.client.call(
            f"associate {from_obj} {from_id} with {to_obj} {to_id}",
            "associations.v4.basic_api",
            "create_default",
            from_obj,
            from_id,
            to_obj,
            to_id,
        )

    def associate_many(self, from_obj: str, to_obj: str, pairs: Sequence[tuple[str, str]]) -> int:
        """Link many ``(from_id, to_id)`` pairs with the default association, 1,000 per call.

        Idempotent: linking records that are already linked changes nothing.
        Returns the number of pairs HubSpot confirmed.
        """
        from hubspot.crm.associations.v4 import (
            BatchInputPublicDefaultAssociationMultiPost,
            PublicDefaultAssociationMultiPost,
            PublicObjectId,
        )

        linked = 0
        for first in range(0, len(pairs), ASSOCIATION_BATCH):
            chunk = pairs[first : first + ASSOCIATION_BATCH]
            request = BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    PublicDefaultAssociationMultiPost(
                        _from=PublicObjectId(id=a), to=PublicObjectId(id=b)
                    )
                    for a, b in chunk
                ]
            )
            response = self.client.call(
                f"associate {len(chunk)} {from_obj} with {to_obj}",
                "associations.v4.batch_api",
                "create_default",
                from_obj,
                to_obj,
                request,
            )
            linked += len(response.results or [])
        return linked

    def _with_contacts(self, obj: str, records: pl.DataFrame) -> pl.DataFrame:
        """Add ``contact_id``: the contact an engagement (a touchpoint) is associated with.

        One batch read per page of engagements, not one call per record.
        """
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )

        ids = records["id"].to_list()
        request = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
        )
        response = self.client.call(
            f"read contacts of {len(ids)} {obj}",
            "associations.v4.batch_api",
            "get_page",
            obj,
            ENGAGEMENT_CONTACTS[obj],
            request,
        )
        first: dict[str, str] = {}
        for item in response.results or []:
            linked = sorted(str(to.to_object_id) for to in (item.to or []))
            if linked:
                first[str(item._from.id)] = linked[0]
        contacts = pl.Series("contact_id", [first.get(i) for i in ids], dtype=pl.String)
        return records.with_columns(contacts)

    def associated_ids(self, from_obj: str, from_id: str, to_obj: str) -> list[str]:
        """Ids of ``to_obj`` records associated with one record."""
        response = self.client.call(
            f"read associations of {from_obj} {from_id}",
            "associations.v4.basic_api",
            "get_page",
            from_obj,
            from_id,
            to_obj,
        )
        return [str(item.to_object_id) for item in response.results]


def _rate_limit_item(headers: Mapping[str, str]) -> CheckItem:
    def number(name: str) -> int | None:
        value = headers.get(name)
        return int(value) if value is not None and str(value).isdigit() else None

    daily, daily_left = (
        number("X-HubSpot-RateLimit-Daily"),
        number("X-HubSpot-RateLimit-Daily-Remaining"),
    )
    burst, burst_left = number("X-HubSpot-RateLimit-Max"), number("X-HubSpot-RateLimit-Remaining")
    if daily is None or daily_left is None:
        return CheckItem(name="rate limit", ok=True, detail="no rate-limit headers returned")
    ok = daily_left >= daily * 0.1
    detail = f"daily {daily_left:,}/{daily:,} left"
    if burst is not None and burst_left is not None:
        detail += f", burst {burst_left}/{burst}"
    return CheckItem(name="rate limit", ok=ok, detail=detail)


def _field_meta(obj: str, prop: Any) -> FieldMeta:
    kind = _TYPES.get(prop.type, FieldType.OTHER)
    if kind is FieldType.STRING and prop.field_type == "textarea":
        kind = FieldType.TEXT
    if kind is FieldType.PICKLIST and prop.field_type == "checkbox":
        kind = FieldType.MULTIPICKLIST
    metadata = prop.modification_metadata
    read_only = bool(metadata.read_only_value) if metadata is not None else False
    options = [o.value for o in prop.options or []]
    is_picklist = kind in (FieldType.PICKLIST, FieldType.MULTIPICKLIST)
    return FieldMeta(
        name=prop.name,
        label=prop.label or "",
        type=kind,
        picklist=options if is_picklist else None,
        restricted_picklist=is_picklist,
        writable=not read_only and not prop.calculated,
        external_id=bool(prop.has_unique_value) or (obj == "contacts" and prop.name == "email"),
    )


def _property_create(spec: FieldMeta) -> Any:
    kind, field_type = _CREATE_TYPES.get(spec.type, ("string", "text"))
    values = list(spec.picklist or [])
    if spec.type is FieldType.BOOLEAN:
        values = ["true", "false"]
    options = [
        OptionInput(label=v, value=v, hidden=False, display_order=i) for i, v in enumerate(values)
    ]
    return PropertyCreate(
        name=spec.name,
        label=spec.label or spec.name,
        type=kind,
        field_type=field_type,
        group_name=GROUP,
        options=options or None,
        has_unique_value=spec.external_id,
        description="Managed by abmsync",
    )


def _hub_value(value: PatchValue) -> str:
    """HubSpot takes every property value as a string; an empty string clears it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _batch_body(action: str, indexes: list[int], patches: Sequence[Patch]) -> Any:
    def values(index: int) -> dict[str, str]:
        return {k: _hub_value(v) for k, v in patches[index].values.items()}

    if action == "update":
        return BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(
                    id=patches[i].record_id, properties=values(i), object_write_trace_id=str(i)
                )
                for i in indexes
            ]
        )
    if action == "upsert":
        inputs = []
        for i in indexes:
            key = patches[i].external_id
            assert key is not None
            inputs.append(
                SimplePublicObjectBatchInputUpsert(
                    id=key[1],
                    id_property=key[0],
                    properties=values(i),
                    object_write_trace_id=str(i),
                )
            )
        return BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
    return BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(
                properties=values(i), object_write_trace_id=str(i)
            )
            for i in indexes
        ]
    )


def _chunks(indexes: list[int], patches: Sequence[Patch], action: str) -> Iterator[list[int]]:
    """Batches of at most 100 with no key twice (HubSpot rejects duplicate ids in a batch)."""
    pending = list(indexes)
    while pending:
        chunk: list[int] = []
        keys: set[str] = set()
        later: list[int] = []
        for index in pending:
            key = _key(patches[index], action)
            if len(chunk) >= BATCH_SIZE or (key is not None and key in keys):
                later.append(index)
                continue
            chunk.append(index)
            if key is not None:
                keys.add(key)
        yield chunk
        pending = later


def _key(patch: Patch, action: str) -> str | None:
    if action == "update":
        return patch.record_id
    if action == "upsert" and patch.external_id is not None:
        key = patch.external_id[1]
        return key.lower() if patch.external_id[0] == "email" else key
    return None


def _error_indexes(error: Any, todo: list[int], patches: Sequence[Patch]) -> list[int]:
    """Which patches a 207 error is about: by ``objectWriteTraceId``, else by id."""
    context = error.context or {}
    traces = context.get("objectWriteTraceId") or []
    if traces:
        return [int(t) for t in traces if str(t).isdigit() and int(t) in todo]
    ids = set(context.get("ids") or [])
    return [i for i in todo if _patch_key(patches[i]) in ids]


def _patch_key(patch: Patch) -> str | None:
    """The id HubSpot reports a patch's record under: its id, else its upsert value."""
    if patch.record_id is not None:
        return patch.record_id
    return patch.external_id[1] if patch.external_id is not None else None


def _modified_ms(record: Any) -> int:
    text = (record.properties or {}).get(MODIFIED)
    if text:
        return _ms(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    return _ms(record.updated_at)


def _modified_json_ms(record: Mapping[str, Any]) -> int:
    """``_modified_ms`` of a record as raw JSON."""
    text = (record.get("properties") or {}).get(MODIFIED) or record.get("updatedAt")
    return _ms(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def _ms(moment: datetime) -> int:
    """Epoch milliseconds, rounded (float seconds * 1000 can land just below)."""
    return round(moment.timestamp() * 1000)


# Engagement objects read as touchpoints, and the object that says whose touchpoint it is.
ENGAGEMENT_CONTACTS = {"notes": "contacts"}


def _frame(rows: list[dict[str, str | None]], names: list[str]) -> pl.DataFrame:
    columns = ["id", *[n for n in names if n != "id"]]
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String))
