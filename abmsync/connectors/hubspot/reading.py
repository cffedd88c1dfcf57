"""Reading HubSpot changes: full loads by list, then searches on the modification time.

Mixed into :class:`~abmsync.connectors.hubspot.connector.HubSpotConnector`.
A first read (no cursor) pages the list endpoint, which has no result cap and
resumes mid-load from its cursor; later reads search ``hs_lastmodifieddate``
after the cursor with an overlap window, splitting the range into windows
under the search API's 10,000-result cap, and keyset-paging a millisecond
that alone holds more. Archived records come back as deletions. Engagements
(notes) get the contact they are associated with: inline on the list endpoint
(``associations=contacts``), one batch call per page of a search (searches
return no associations).
Answers are read as plain JSON: the SDK's models parse every timestamp with
dateutil, which costs more than the call itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from abmsync.connectors.base import Batch, Cursor, ObjectMeta
from abmsync.connectors.hubspot.client import AfterPaginator, HubSpotClient
from abmsync.errors import TerminalError

SEARCH_PAGE = 200
SEARCH_CAP = 10_000
# A cursor handed out in the middle of a read carries its ``seen`` map only up to
# this size: encoding a map of every record of a mass update on every 200-record
# page is quadratic. A larger map is left out (the read's last cursor has it all),
# so a read resumed from such a cursor may hand a record of the overlap out twice.
SEEN_IN_PROGRESS = 10_000
LIST_PAGE = 100
MODIFIED = "hs_lastmodifieddate"
# Engagement objects read as touchpoints, and the object that says whose touchpoint it is.
ENGAGEMENT_CONTACTS = {"notes": "contacts"}


@dataclass
class ChangeCursor:
    """Where ``read_changes`` is: newest modification seen, and what it has emitted near it.

    ``seen`` keeps (id -> modified ms) for records within the overlap window, so
    re-reading the overlap (and same-millisecond changes) emits nothing twice.
    ``floor_ms`` is where a completed full load began: the list read every record
    changed before it, so no search reaches back past it.
    """

    modified_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    archived_ms: int | None = None
    archived_seen: list[str] = field(default_factory=list)
    # A full load pages the list endpoint (no 10,000 cap); while it runs, the
    # cursor holds the list position and the newest change before it began.
    list_after: str | None = None
    list_from: int | None = None
    floor_ms: int | None = None
    _kept: int = field(default=0, repr=False)  # size of ``seen`` after the last pruning

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
                floor_ms=data.get("floor_ms")
                # Written before the floor: the first search after a load skipped the overlap.
                or (data.get("modified_ms") if data.get("after_load") else None),
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
            # Pruned once the map has doubled, not on every newer stamp: reading
            # oldest first moves the stamp on almost every record (O(n^2) otherwise).
            if len(self.seen) > 2 * self._kept + 1000:
                floor = self.start(overlap_ms)
                self.seen = {k: v for k, v in self.seen.items() if v >= floor}
                self._kept = len(self.seen)
        return True

    def start(self, overlap_ms: int) -> int:
        """Where the next search starts: an overlap before the newest change, not past the floor."""
        if self.modified_ms is None:
            return 0
        start = max(self.modified_ms - overlap_ms, 0)
        return start if self.floor_ms is None else max(start, self.floor_ms)

    def to_cursor(self, records: int, *, final: bool = True) -> Cursor:
        """The state as a cursor; one in the middle of a read (``final=False``) leaves
        out a ``seen`` map larger than ``SEEN_IN_PROGRESS``."""
        seen = self.seen if final or len(self.seen) <= SEEN_IN_PROGRESS else {}
        value = json.dumps(
            {
                "modified_ms": self.modified_ms,
                "seen": dict(sorted(seen.items())),
                "archived_ms": self.archived_ms,
                "archived_seen": sorted(self.archived_seen),
                **(
                    {"list_after": self.list_after, "list_from": self.list_from}
                    if self.list_from is not None
                    else {}
                ),
                **({"floor_ms": self.floor_ms} if self.floor_ms is not None else {}),
            },
            separators=(",", ":"),
        )
        observed = (
            datetime.fromtimestamp(self.modified_ms / 1000, tz=UTC)
            if self.modified_ms is not None
            else None
        )
        return Cursor(value=value, observed_at=observed, records=records)


class ChangeReader:
    """``read_changes`` and its paging, for a connector with a client and ``describe``."""

    client: HubSpotClient
    overlap_ms: int
    properties: dict[str, list[str]]

    def describe(self, obj: str) -> ObjectMeta:
        raise NotImplementedError

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Changed records since ``cursor`` (all when None), then archived ones as deletes."""
        state = ChangeCursor.parse(cursor)
        full_load = state.modified_ms is None
        names = list(self.properties.get(obj) or sorted(self.describe(obj).fields))
        if full_load:
            yield from self._full_load(obj, state, names)
        if state.floor_ms is not None and state.start(self.overlap_ms) > state.floor_ms:
            state.floor_ms = None  # the overlap no longer reaches back to the load
        for page in self._search_changes(obj, state.start(self.overlap_ms), names):
            rows: list[dict[str, str | None]] = []
            for record in page:
                properties = record.get("properties") or {}
                if state.observe(str(record["id"]), _modified_json_ms(record), self.overlap_ms):
                    rows.append({"id": str(record["id"]), **{n: properties.get(n) for n in names}})
            if rows:
                records = _frame(rows, names)
                if obj in ENGAGEMENT_CONTACTS:
                    records = self._with_contacts(obj, records)
                cursor = state.to_cursor(len(rows), final=False)
                yield Batch(obj=obj, records=records, cursor=cursor)
        deleted = self._archived_since(obj, state)
        yield Batch(
            obj=obj,
            records=_frame([], names),
            cursor=state.to_cursor(0),
            deleted_ids=[] if full_load else deleted,
        )

    def _full_load(self, obj: str, state: ChangeCursor, names: list[str]) -> Iterator[Batch]:
        """Every record through the list endpoint: 100 a page, no 10,000 cap, resumable.

        Changes made while it runs are left to the searches that follow, which
        start from the newest change seen before the load began and never reach
        back past it (the list read everything older).
        """
        if state.list_from is None:
            newest = self._search(obj, 0, None, [MODIFIED], limit=1, descending=True)
            found = newest.get("results") or []
            state.list_from = _modified_json_ms(found[0]) if found else 0
        after = state.list_after
        linked = ENGAGEMENT_CONTACTS.get(obj)
        # An engagement's contact comes inline (``associations=contacts``), not by a batch call.
        inline = {"associations": [linked]} if linked else {}
        while True:
            page = self.client.call_json(
                f"list {obj}",
                "objects.basic_api",
                "get_page",
                obj,
                limit=LIST_PAGE,
                after=after,
                properties=names,
                **inline,
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
            # Searches after the load start where it began, never earlier: records
            # that young are noted as seen, so no search emits them again.
            began = state.list_from or 0
            for record in results:
                modified = _modified_json_ms(record)
                if modified >= began:
                    state.seen[str(record["id"])] = modified
            if done:
                # The load is complete: searches continue from when it began. The list
                # read everything older itself, so no overlap reaches back past it.
                state.modified_ms, state.list_from, state.list_after = state.list_from, None, None
                state.floor_ms = state.modified_ms
            if rows or done:
                records = _frame(rows, names)
                if linked:
                    contacts = [_first_linked(r, linked) for r in results]
                    records = records.with_columns(
                        pl.Series("contact_id", contacts, dtype=pl.String)
                    )
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
        return self.client.call_json(
            f"search {obj}", "objects.search_api", "do_search", obj, request
        )

    def _search_changes(self, obj: str, start: int, names: list[str]) -> Iterator[list[Any]]:
        """Pages of records modified at or after ``start``, oldest first, past the 10k cap."""
        first = self._search(obj, start, None, names)
        if int(first.get("total") or 0) <= SEARCH_CAP:
            yield from self._pages(obj, start, None, names, first)
            return
        newest = self._search(obj, start, None, [MODIFIED], limit=1, descending=True)
        found = newest.get("results") or []
        end = _modified_json_ms(found[0]) if found else start
        for lo, hi, total in self._windows(obj, start, end):
            if total > SEARCH_CAP:  # more than 10,000 changes in one millisecond
                yield from self._same_millisecond(obj, lo, names)
            else:
                yield from self._pages(obj, lo, hi, names, None)

    def _windows(self, obj: str, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        """Bisect [lo, hi] until every window holds at most 10,000 results."""
        total = int(self._search(obj, lo, hi, [MODIFIED], limit=1).get("total") or 0)
        if total <= SEARCH_CAP or lo >= hi:
            if total:
                yield lo, hi, total
            return
        middle = (lo + hi) // 2
        yield from self._windows(obj, lo, middle)
        yield from self._windows(obj, middle + 1, hi)

    def _pages(
        self, obj: str, lo: int, hi: int | None, names: list[str], first: Any
    ) -> Iterator[list[dict[str, Any]]]:
        paginator = AfterPaginator()
        response = first if first is not None else self._search(obj, lo, hi, names)
        while True:
            yield list(response.get("results") or [])
            paginator.advance_json(response)
            if paginator.done or int(paginator.after or 0) + SEARCH_PAGE > SEARCH_CAP:
                return  # anything past the cap is newer and is read on the next run
            response = self._search(obj, lo, hi, names, after=paginator.after)

    def _same_millisecond(
        self, obj: str, moment: int, names: list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset paging on ``hs_object_id`` for one millisecond holding >10,000 changes."""
        last = 0
        while True:
            extra = [Filter(property_name="hs_object_id", operator="GT", value=str(last))]
            response = self._search(obj, moment, moment, names, extra=extra, sort_by="hs_object_id")
            results = response.get("results") or []
            if not results:
                return
            yield list(results)
            last = int(results[-1]["id"])

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

    def _with_contacts(self, obj: str, records: pl.DataFrame) -> pl.DataFrame:
        """Add ``contact_id``: the contact an engagement (a touchpoint) is associated with.

        One batch read per page of engagements, not one call per record.
        """
        ids = records["id"].to_list()
        # Plain JSON both ways: SDK models cost a Configuration (and logger
        # set-up) per object, more than the call itself.
        page = self.client.call_json(
            f"read contacts of {len(ids)} {obj}",
            "associations.v4.batch_api",
            "get_page",
            obj,
            ENGAGEMENT_CONTACTS[obj],
            {"inputs": [{"id": i} for i in ids]},
        )
        first: dict[str, str] = {}
        for item in page.get("results") or []:
            linked = sorted(str(to["toObjectId"]) for to in (item.get("to") or []))
            if linked:
                first[str(item["from"]["id"])] = linked[0]  # the same rule as _first_linked
        contacts = pl.Series("contact_id", [first.get(i) for i in ids], dtype=pl.String)
        return records.with_columns(contacts)


def _first_linked(record: Mapping[str, Any], to_obj: str) -> str | None:
    """The lowest id (as text) of the ``to_obj`` records a listed record links to inline."""
    links = ((record.get("associations") or {}).get(to_obj) or {}).get("results") or []
    return min((str(link["id"]) for link in links), default=None)


def _modified_json_ms(record: Mapping[str, Any]) -> int:
    """A record's ``hs_lastmodifieddate`` (else ``updatedAt``) in epoch ms, from its JSON."""
    text = (record.get("properties") or {}).get(MODIFIED) or record.get("updatedAt")
    return _ms(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def _ms(moment: datetime) -> int:
    """Epoch milliseconds, rounded (float seconds * 1000 can land just below)."""
    return round(moment.timestamp() * 1000)


def _frame(rows: list[dict[str, str | None]], names: list[str]) -> pl.DataFrame:
    columns = ["id", *[n for n in names if n != "id"]]
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String))
