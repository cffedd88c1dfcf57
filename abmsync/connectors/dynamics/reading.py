"""Reading Dataverse changes with change tracking: delta links, deleted entities, merges.

As "Use change tracking to synchronize data with external systems"
(https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems)
documents: a GET of the entity set with ``Prefer: odata.track-changes`` lists
every row, page by page (``@odata.nextLink``), and its last page carries an
``@odata.deltaLink``; a GET of that link lists the rows changed since (each
once, latest values) and ``$deletedEntity`` items (``"reason": "deleted"``)
for rows deleted since, then a new delta link. Change tracking allows no
``$filter``, ``$orderby``, ``$expand`` or ``$top``, so the parties of
activities are read with one more (``$batch``) call per page, and the name of
a polymorphic lookup's record (a campaign response's campaign) comes from the
``OData.Community.Display.V1.FormattedValue`` annotation, asked for with
``Prefer: odata.include-annotations`` when such a lookup is read
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/select-columns#formatted-values),
as ``<lookup>_name``.

The cursor value is JSON: ``{"next": link, "started": iso, "reload": bool}``
while a listing pages, ``{"delta": link}`` once it is done. When Dataverse
refuses a delta link (``0x80044352`` ExpiredVersionStamp: the token is older
than the org keeps changes, 90 days unless changed; or a 400 for a link it no
longer understands), or a resumed ``next`` link, or the delta link does not
select a column that is now read, the object is listed again in full, and
every batch of that listing has ``full_listing`` set (its last batch also
``listing_complete``) so the engine can tombstone what the listing never
yields: deletions in between are not lost. A first load is not such a
listing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import polars as pl

from abmsync.connectors.base import Batch, Cursor, FieldType
from abmsync.connectors.dynamics.batch import Operation, decode_batch, encode_batch
from abmsync.connectors.dynamics.client import (
    ChangeTokenExpiredError,
    DataverseClient,
    DynamicsTerminalError,
)
from abmsync.connectors.dynamics.metadata import Catalog, Described
from abmsync.errors import ConfigError, TerminalError

log = logging.getLogger(__name__)
LOOKUP_TARGET = "Microsoft.Dynamics.CRM.lookuplogicalname"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
# Tables whose merged-away rows (merged = true, masterid set) are deletions.
MERGEABLE = frozenset({"lead", "contact", "account"})
MERGE_COLUMNS = ("merged", "masterid")
# The activity party that says whose activity it is, by ParticipationTypeMask
# (https://learn.microsoft.com/power-apps/developer/data-platform/activityparty-entity).
PARTY_MASKS = {"campaignresponse": 11, "phonecall": 2, "appointment": 5}  # Customer, To, Required
PARTY_CHUNK = 200  # activity ids per activityparties query (URL length stays ~10 KB)
_POLARS = {
    FieldType.INTEGER: pl.Int64,
    FieldType.PICKLIST: pl.Int64,
    FieldType.NUMBER: pl.Float64,
    FieldType.BOOLEAN: pl.Boolean,
}


@dataclass(frozen=True)
class ChangeCursor:
    """Where a read is: a page link of a listing under way, or the delta link after it."""

    next: str | None = None
    delta: str | None = None
    started: str | None = None
    reload: bool = False  # the listing is a full listing started over

    @classmethod
    def parse(cls, cursor: Cursor | None) -> ChangeCursor:
        if cursor is None:
            return cls()
        try:
            state = json.loads(cursor.value)
            return cls(
                next=state.get("next"),
                delta=state.get("delta"),
                started=state.get("started"),
                reload=bool(state.get("reload", False)),
            )
        except (ValueError, AttributeError) as error:
            raise ConfigError(f"unreadable Dynamics 365 cursor {cursor.value[:60]!r}") from error

    def dump(self, records: int, observed_at: datetime | None) -> Cursor:
        state: dict[str, object]
        if self.delta is not None:
            state = {"delta": self.delta}
        else:
            state = {"next": self.next, "started": self.started, "reload": self.reload}
        return Cursor(value=json.dumps(state), observed_at=observed_at, records=records)


class LinkPaginator:
    """Follows ``@odata.nextLink``; refuses a link it has already followed."""

    def __init__(self) -> None:
        self._followed: set[str] = set()

    def next_link(self, page: Mapping[str, Any]) -> str | None:
        """The next page's URL, or None on the last page (the one with the delta link)."""
        link = page.get("@odata.nextLink")
        if link is None:
            return None
        if link in self._followed:
            raise TerminalError(f"Dynamics 365 returned the page link {link[:120]} twice")
        self._followed.add(str(link))
        return str(link)


def prefer(page_size: int, *, formatted: bool = False) -> str:
    """The ``Prefer`` header of every change-tracking request (first page, next and delta).

    ``formatted`` adds the formatted values (every column gets one: asked for
    only when a lookup's record name is read).
    """
    annotations = f"{LOOKUP_TARGET},{FORMATTED}" if formatted else LOOKUP_TARGET
    return (
        f"odata.track-changes,odata.maxpagesize={page_size},"
        f'odata.include-annotations="{annotations}"'
    )


def names_lookups(described: Described, names: Sequence[str]) -> bool:
    """Whether reading ``names`` reads a polymorphic lookup, whose record name is read too."""
    return any(described.columns[n].polymorphic for n in names)


def selected_in(link: str) -> set[str]:
    """The properties a (delta) link's ``$select`` names."""
    values = parse_qs(urlsplit(link).query).get("$select") or [""]
    return {name.strip() for name in values[0].split(",") if name.strip()}


def is_deleted(row: Mapping[str, Any]) -> bool:
    """A ``$deletedEntity`` item of a delta page."""
    return row.get("reason") == "deleted" or str(row.get("@odata.context", "")).endswith(
        "$deletedEntity"
    )


def records_frame(
    described: Described, names: Sequence[str], rows: list[dict[str, Any]]
) -> pl.DataFrame:
    """Rows as a typed frame: logical names, lookups as ids, ``<lookup>_type`` where polymorphic.

    Datetimes stay ISO strings (``2026-11-28T10:00:00Z``), choices integers
    (but labels for those abmsync created), money floats; the primary id
    column keeps its name (``leadid``). A polymorphic lookup also gives
    ``<lookup>_name``, its record's name (null unless formatted values were asked for).
    """
    columns: dict[str, list[Any]] = {}
    schema: dict[str, Any] = {}
    for name in names:
        column = described.columns[name]
        kind = described.meta.fields[name].type
        wire = column.wire_name
        schema[name] = _POLARS.get(kind, pl.String)
        values = [row.get(wire) for row in rows]
        if column.labelled:
            labels = {v: k for k, v in described.choices.get(name, {}).items()}
            schema[name] = pl.String
            values = [labels.get(int(v), str(v)) if v is not None else None for v in values]
        elif kind is FieldType.NUMBER:
            values = [float(v) if v is not None else None for v in values]
        elif kind in (FieldType.INTEGER, FieldType.PICKLIST):
            values = [int(v) if v is not None else None for v in values]
        columns[name] = values
        if column.polymorphic:
            schema[f"{name}_type"] = pl.String
            columns[f"{name}_type"] = [row.get(f"{wire}@{LOOKUP_TARGET}") for row in rows]
            schema[f"{name}_name"] = pl.String
            columns[f"{name}_name"] = [row.get(f"{wire}@{FORMATTED}") for row in rows]
    return pl.DataFrame(columns, schema=schema)


def _newest(rows: Iterable[Mapping[str, Any]]) -> datetime | None:
    stamps = [str(row["modifiedon"]) for row in rows if row.get("modifiedon")]
    if not stamps:
        return None
    moment = datetime.fromisoformat(max(stamps))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ChangeReader:
    """``read_changes`` for one org: listings, deltas, fallbacks, parties."""

    def __init__(self, client: DataverseClient, catalog: Catalog, page_size: int) -> None:
        self.client = client
        self.catalog = catalog
        self.page_size = page_size
        self.selected: dict[str, set[str]] = {}  # obj -> columns chosen by select_fields

    def columns(self, described: Described) -> list[str]:
        """The columns read: those selected (with the id and merge columns), or all."""
        obj = described.table.logical
        chosen = self.selected.get(obj)
        names = list(described.columns)
        if chosen is None:
            return names
        keep = chosen | {described.table.primary_id, "modifiedon", *MERGE_COLUMNS}
        # ``regardingobjectid_name`` or ``_type`` alone reads the lookup it comes with
        derived = {n.rpartition("_")[0] for n in chosen if n.endswith(("_name", "_type"))}
        return [
            n for n in names if n in keep or (n in derived and described.columns[n].polymorphic)
        ]

    def read(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield the changes of ``obj`` after ``cursor`` (see the module docstring)."""
        described = self.catalog.describe(obj)
        if not described.table.change_tracking:
            raise ConfigError(
                f"change tracking is off for Dynamics 365 table {obj}: turn on 'Track "
                "changes' in its table settings (Advanced options)"
            )
        names = self.columns(described)
        wire = {described.columns[n].wire_name for n in names}
        state = ChangeCursor.parse(cursor)
        link = state.delta or state.next
        if link is None:
            yield from self._listing(described, names, reload=False)
            return
        if state.delta is not None and not wire <= selected_in(state.delta):
            log.warning("dynamics: %s: columns added since the last read; listing it again", obj)
            yield from self._listing(described, names, reload=True)
            return
        try:
            page = self._get(link, described, names)
        except DynamicsTerminalError as error:
            if not isinstance(error, ChangeTokenExpiredError) and (
                error.vendor is None or error.vendor.status != 400
            ):
                raise
            log.warning("dynamics: %s: %s; listing it again in full", obj, error)
            yield from self._listing(described, names, reload=True)
            return
        started = state.started or datetime.now(UTC).isoformat()
        yield from self._pages(described, names, page, started, reload=state.reload)

    def _listing(self, described: Described, names: list[str], *, reload: bool) -> Iterator[Batch]:
        started = datetime.now(UTC).isoformat()
        select = ",".join(described.columns[n].wire_name for n in names)
        page = self._get(described.table.entity_set, described, names, {"$select": select})
        yield from self._pages(described, names, page, started, reload=reload)

    def _get(
        self,
        url: str,
        described: Described,
        names: Sequence[str],
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        formatted = names_lookups(described, names)
        return self.client.get_json(
            url,
            what=f"reading changes of {described.table.logical}",
            params=params,
            headers={"Prefer": prefer(self.page_size, formatted=formatted)},
        )

    def _pages(
        self,
        described: Described,
        names: list[str],
        page: dict[str, Any],
        started: str,
        *,
        reload: bool,
    ) -> Iterator[Batch]:
        paginator = LinkPaginator()
        while True:
            batch, following = self._batch(described, names, page, paginator, started, reload)
            yield batch
            if following is None:
                return
            page = self._get(following, described, names)

    def _batch(
        self,
        described: Described,
        names: list[str],
        page: Mapping[str, Any],
        paginator: LinkPaginator,
        started: str,
        reload: bool,
    ) -> tuple[Batch, str | None]:
        """One page as a Batch, and the link of the page after it (None at the end)."""
        obj = described.table.logical
        primary = described.table.primary_id
        rows: list[dict[str, Any]] = []
        deleted: list[str] = []
        for row in page.get("value") or []:
            if is_deleted(row):
                deleted.append(str(row["id"]))
                continue
            rows.append(row)
            # A merged-away lead, contact or account stays as a row (the engine reads
            # masterid) and is a deletion too, as the Salesforce connector does.
            if obj in MERGEABLE and row.get("merged") and row.get("_masterid_value"):
                deleted.append(str(row[primary]))
        following = paginator.next_link(page)
        delta = page.get("@odata.deltaLink")
        if following is None and delta is None:
            raise TerminalError(
                f"Dynamics 365 sent neither a next nor a delta link reading {obj}: "
                "is change tracking on for the table?"
            )
        frame = records_frame(described, names, rows)
        if obj in PARTY_MASKS:
            frame = self._with_parties(obj, primary, frame)
        state = ChangeCursor(
            next=following, delta=None if following else str(delta), started=started, reload=reload
        )
        batch = Batch(
            obj=obj,
            records=frame,
            cursor=state.dump(frame.height, _newest(rows)),
            deleted_ids=list(dict.fromkeys(deleted)),
            full_listing=reload,
            listing_complete=reload and following is None,
        )
        return batch, following

    def _with_parties(self, obj: str, primary: str, frame: pl.DataFrame) -> pl.DataFrame:
        """``customer_id`` and ``customer_type`` from each activity's party (one call a page)."""
        ids = [str(i) for i in frame[primary].to_list() if i]
        found: dict[str, tuple[str | None, str | None]] = {}
        if ids:
            for row in self._parties(obj, ids):
                activity = str(row.get("_activityid_value"))
                party = row.get("_partyid_value")
                if activity not in found and party:
                    found[activity] = (str(party), row.get(f"_partyid_value@{LOOKUP_TARGET}"))
        ids_column = frame[primary].to_list()
        return frame.with_columns(
            pl.Series(
                "customer_id",
                [found.get(str(i), (None, None))[0] for i in ids_column],
                dtype=pl.String,
            ),
            pl.Series(
                "customer_type",
                [found.get(str(i), (None, None))[1] for i in ids_column],
                dtype=pl.String,
            ),
        )

    def _parties(self, obj: str, ids: list[str]) -> list[dict[str, Any]]:
        """The ``activityparties`` of ``ids`` with ``obj``'s mask, queried in one ``$batch``.

        Each query names up to :data:`PARTY_CHUNK` ids (a URL stays well under
        Dataverse's limit); the queries travel in one batch, so a page costs one call.
        """
        mask = PARTY_MASKS[obj]
        operations = []
        for first in range(0, len(ids), PARTY_CHUNK):
            # ``_activityid_value eq ... or ...`` rather than the ``In`` query function:
            # plain OData, and no doubt about how a lookup is named in ``PropertyName``.
            matches = " or ".join(
                f"_activityid_value eq {i}" for i in ids[first : first + PARTY_CHUNK]
            )
            query = urlencode(
                {
                    "$select": "_activityid_value,_partyid_value,participationtypemask",
                    "$filter": f"participationtypemask eq {mask} and ({matches})",
                },
                quote_via=quote,
                safe="$',()[]",  # the request line of a batch part must hold no spaces
            )
            operations.append(
                Operation(
                    "GET",
                    f"{self.client.base_url}activityparties?{query}",
                    headers={"Prefer": f'odata.include-annotations="{LOOKUP_TARGET}"'},
                )
            )
        content, content_type = encode_batch(operations)
        answer = self.client.send(
            "POST",
            "$batch",
            what=f"reading the parties of {obj}",
            content=content,
            headers={"Content-Type": content_type},
        )
        rows: list[dict[str, Any]] = []
        for part in decode_batch(answer.content, answer.headers.get("content-type", "")):
            body = part.body if isinstance(part.body, dict) else {}
            if not part.ok:
                raise DynamicsTerminalError(
                    f"Dynamics 365 reading the parties of {obj} failed ({part.status}: "
                    f"{str(body.get('error', body))[:200]})"
                )
            rows.extend(body.get("value") or [])
        return rows
