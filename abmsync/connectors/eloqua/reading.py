"""Reading Eloqua changes through Bulk exports: windows, resumption, deletions, activities.

For contacts, accounts and custom object records a read is:

1. **Changes.** One export of the records modified at or after the cursor's
   mark less ``overlap_seconds`` (all records on a first read), filtered on
   ``C_DateModified`` / ``M_DateModified`` / the record's ``UpdatedAt``.
   The window's upper bound is the sync's ``createdAt``, the server's clock:
   Eloqua stages an export's data when its sync runs, so the snapshot holds
   every change up to then, and the cursor's mark moves there once the last
   page is stored. (The filter itself states no upper bound: no server time
   is known before the definition exists, and this machine's clock may be
   ahead or behind; changes staged after ``createdAt`` are emitted and
   noted, so the next window does not emit them again.) Pages of
   ``page_size`` records become batches; a record whose (id, modified) pair
   was emitted before is skipped, and pairs are kept only within the overlap
   of the upper bound. Each batch's cursor holds the sync and the offset
   after it: a read cut short (budget, crash) resumes on that sync while
   Eloqua keeps its data (``dataRetentionDuration`` PT12H), else starts the
   window over (a restarted first load may emit its older records again).
2. **Deletions.** Eloqua exports no deletions, so every run (or every
   ``reconcile_every`` seconds of server time) exports only the record ids of
   all records (``{{Contact.Id}}``, 50,000 a page) and reports the ids the
   cursor knew and the export no longer lists, each once. A first read
   reconciles nothing: it has just listed every record.

Calls per run of a record object: 1 definition + 1 sync + the polls + one
per ``page_size`` records changed, and the same again for the id export
(1,000,000 contacts: 20 pages of ids, some 25 MB of JSON).

Activities read each type (EmailSend ... Unsubscribe) with its own window
filtered on ``{{Activity.CreatedAt}}`` (9 exports a run); bouncebacks are
recorded hours or days late
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/ExportingActivities/Exporting-activities.htm),
so that type reads with ``bounceback_overlap_seconds`` and every type
de-duplicates on ActivityId.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import cached_property
from typing import Any

import polars as pl

from abmsync.connectors.base import Batch, Cursor, FieldType
from abmsync.connectors.eloqua.activities import (
    BOUNCEBACK,
    COLUMNS,
    STATEMENTS,
    TYPES,
    activity_key,
)
from abmsync.connectors.eloqua.bulk import MAX_EXPORT_FIELDS, MAX_PAGE, Bulk, Sync
from abmsync.connectors.eloqua.catalog import ACTIVITIES, Catalog, Described
from abmsync.connectors.eloqua.cursors import ActivityCursor, PendingExport, RecordCursor, Window
from abmsync.connectors.eloqua.errors import EloquaGoneError, EloquaTerminalError
from abmsync.connectors.eloqua.values import (
    Column,
    filter_time,
    floor_second,
    frame,
    iso,
    minus,
    parse_time,
    quote,
    typed,
)
from abmsync.errors import ConfigError

log = logging.getLogger(__name__)
# Always read with contacts: email status and Eloqua's own lead score.
CONTACT_EXTRAS = (
    "IsSubscribed",
    "IsBounced",
    "LeadScoreRating",
    "LeadScoreProfile",
    "LeadScoreEngagement",
)


@dataclass(frozen=True)
class Export:
    """What one window exports: where from, which columns, how to filter, how to key rows."""

    parent: str
    name: str
    columns: list[Column]
    key: str  # the column identifying a row (record id, ActivityId)
    stamp: str  # the column whose value, with the key, marks a row as seen
    filters: list[str]  # ANDed with the window's lower bound
    bounded_by: str  # the statement the lower bound compares

    @cached_property
    def stamp_column(self) -> Column | None:
        """The column of :attr:`stamp`, typed (None: the stamp is not read)."""
        return next((c for c in self.columns if c.name == self.stamp), None)

    @property
    def fingerprint(self) -> str:
        """Identifies the columns: a resumed export must read the ones it started with."""
        text = "|".join(f"{c.name}={c.statement}" for c in self.columns)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class ChangeReader:
    """``read_changes`` over the Bulk API; see the module docstring."""

    def __init__(
        self,
        bulk: Bulk,
        catalog: Catalog,
        *,
        page_size: int,
        overlap_seconds: float,
        bounceback_overlap_seconds: float,
        reconcile_every: float,
        site_zone: tzinfo,
    ) -> None:
        self.bulk = bulk
        self.catalog = catalog
        self.page_size = page_size
        self.overlap_seconds = overlap_seconds
        self.bounceback_overlap_seconds = bounceback_overlap_seconds
        self.reconcile_every = reconcile_every
        self.site_zone = site_zone
        self.selected: dict[str, list[str]] = {}  # obj -> fields chosen by select_fields

    def columns(self, described: Described) -> list[Column]:
        """The columns read: the id, the selected fields (or all), the pseudo fields."""
        obj = described.meta.name
        fields = described.statements
        chosen = self.selected.get(obj)
        always = [described.id_column]
        if described.modified is not None:
            always.append(described.modified)
        if described.kind == "contacts":
            always += ["AccountId", *(c for c in CONTACT_EXTRAS if c in fields)]
        if described.kind == "custom":
            always += ["ContactId", "CreatedAt"]
        names = list(fields) if chosen is None else [n for n in chosen if n in fields]
        ordered = list(dict.fromkeys([described.id_column, *names, *always]))
        if len(ordered) > MAX_EXPORT_FIELDS:
            raise ConfigError(
                f"Eloqua exports at most {MAX_EXPORT_FIELDS} fields and {obj} would need "
                f"{len(ordered)}: map fewer fields, or select the ones the rules use"
            )
        return [described.column(name, self.site_zone) for name in ordered]

    def read(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield the changes of ``obj`` after ``cursor`` (see the module docstring)."""
        described = self.catalog.describe(obj)
        if described.kind == ACTIVITIES:
            yield from self._activities(cursor)
            return
        yield from self._records(described, cursor)

    # -- records ------------------------------------------------------------------------------

    def _records(self, described: Described, cursor: Cursor | None) -> Iterator[Batch]:
        obj = described.meta.name
        state = RecordCursor.parse(cursor)
        first = state.window.mark is None
        modified = described.modified
        export = Export(
            parent=described.parent,
            name=f"abmsync {obj} changes",
            columns=self.columns(described),
            key=described.id_column,
            stamp=modified or described.id_column,
            filters=[],
            bounded_by=described.statements[modified] if modified else "",
        )

        def cursor_for(records: int) -> Cursor:
            if first and state.window.export is None and state.window.mark is not None:
                # A first read lists every record: nothing to reconcile before the next run.
                state.reconciled_at = state.window.mark
            return state.to_cursor(records)

        upper: str | None = None
        for batch, upper in self._window(  # noqa: B007 - the last batch's upper is kept
            obj,
            export,
            state.window,
            self.overlap_seconds,
            cursor_for,
            remember=lambda ids: state.remember(_ints(ids)),
        ):
            yield batch
        if first or upper is None or not self._reconcile_due(state, upper):
            return
        alive = self._live_ids(described)
        gone = sorted(state.known - alive)
        state.forget(gone)
        state.reconciled_at = upper
        yield Batch(
            obj=obj,
            records=frame(export.columns, []),
            cursor=state.to_cursor(0),
            deleted_ids=[str(i) for i in gone],
        )

    def _reconcile_due(self, state: RecordCursor, upper: str) -> bool:
        if self.reconcile_every <= 0 or state.reconciled_at is None:
            return True
        last, now = parse_time(state.reconciled_at), parse_time(upper)
        if last is None or now is None:
            return True
        return (now - last).total_seconds() >= self.reconcile_every

    def _live_ids(self, described: Described) -> set[int]:
        """Every record id of the object now (one export of the id alone)."""
        id_column = described.id_column
        uri = self.bulk.create_export(
            described.parent,
            f"abmsync {described.meta.name} ids",
            {id_column: described.statements[id_column]},
            None,
        )
        sync = self.bulk.wait(self.bulk.start_sync(uri))
        ids: set[int] = set()
        for page in self.bulk.pages(sync.uri, limit=MAX_PAGE):
            ids.update(_ints(str(item.get(id_column) or "") for item in page.items))
        return ids

    # -- activities ------------------------------------------------------------------------------

    def _activities(self, cursor: Cursor | None) -> Iterator[Batch]:
        state = ActivityCursor.parse(cursor)
        for activity_type in TYPES:
            statements = STATEMENTS[activity_type]
            columns = [
                Column(name, statement, _read_type(COLUMNS[name]))
                for name, statement in statements.items()
            ]
            export = Export(
                parent=ACTIVITIES,
                name=f"abmsync {activity_type} activities",
                columns=columns,
                key="ActivityId",
                stamp="ActivityDate",
                filters=[f"'{{{{Activity.Type}}}}' = '{activity_type}'"],
                bounded_by="{{Activity.CreatedAt}}",
            )
            overlap = (
                self.bounceback_overlap_seconds
                if activity_type == BOUNCEBACK
                else self.overlap_seconds
            )
            all_columns = [Column(n, "", _read_type(k)) for n, k in COLUMNS.items()]
            for batch, _ in self._window(
                ACTIVITIES,
                export,
                state.window(activity_type),
                overlap,
                lambda records: state.to_cursor(records),
                shape=all_columns,
                derive=activity_key,
            ):
                yield batch

    # -- one window of one export ---------------------------------------------------------------

    def _window(
        self,
        obj: str,
        export: Export,
        window: Window,
        overlap: float,
        cursor: Callable[[int], Cursor],
        *,
        remember: Callable[[list[str]], None] | None = None,
        shape: Sequence[Column] | None = None,
        derive: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> Iterator[tuple[Batch, str]]:
        """Batches of one window's export, resumed when the cursor holds one under way.

        Yields each batch with the window's upper bound (the sync's creation time).
        """
        pending = window.export
        if pending is not None and pending.columns != export.fingerprint:
            log.info("eloqua: %s: the fields read changed; starting the window over", obj)
            pending = window.export = None
        if pending is not None:
            try:
                yield from self._pages(
                    obj, export, window, overlap, cursor, remember, shape, derive
                )
                return
            except _RestartWindowError:
                log.info("eloqua: %s: the export under way is gone; starting the window over", obj)
                window.export = None
        sync = self._start(export, window, overlap)
        window.export = PendingExport(
            sync=sync.uri,
            offset=0,
            upper=_upper(sync),
            columns=export.fingerprint,
        )
        try:
            yield from self._pages(obj, export, window, overlap, cursor, remember, shape, derive)
        except _RestartWindowError:
            raise EloquaGoneError(
                f"Eloqua lost the data of export sync {sync.uri} while it was being read"
            ) from None

    def _start(self, export: Export, window: Window, overlap: float) -> Sync:
        """Create the export of the window from its lower bound on, sync it, wait for it."""
        filters = list(export.filters)
        lower = window.lower_bound(overlap)
        if lower is not None and export.bounded_by:
            literal = quote(filter_time(floor_second(lower)))
            filters.append(f"'{export.bounded_by}' >= '{literal}'")
        uri = self.bulk.create_export(
            export.parent,
            export.name,
            {c.name: c.statement for c in export.columns},
            " AND ".join(filters) or None,
        )
        return self.bulk.wait(self.bulk.start_sync(uri))

    def _pages(
        self,
        obj: str,
        export: Export,
        window: Window,
        overlap: float,
        cursor: Callable[[int], Cursor],
        remember: Callable[[list[str]], None] | None,
        shape: Sequence[Column] | None,
        derive: Callable[[pl.DataFrame], pl.DataFrame] | None,
    ) -> Iterator[tuple[Batch, str]]:
        pending = window.export
        assert pending is not None
        first = True
        try:
            if pending.offset:
                self.bulk.wait(self.bulk.sync(pending.sync))
            pages = self.bulk.pages(pending.sync, limit=self.page_size, offset=pending.offset)
            # Pairs older than the overlap below this export's upper bound are not kept:
            # the next window starts after them, and this sync lists each row once.
            upper_bound = parse_time(pending.upper)
            floor = iso(minus(upper_bound, overlap)) if upper_bound is not None else ""
            for page in pages:
                first = False
                everything = frame(shape or export.columns, page.items)
                keys = everything[export.key].fill_null("").cast(pl.String).to_list()
                records = everything.filter(
                    self._fresh(window, export, page.items, everything, keys, floor)
                )
                if derive is not None:
                    records = derive(records)
                if remember is not None:
                    remember(keys)
                pending.offset = page.offset + len(page.items)
                upper = pending.upper
                if not page.has_more or not page.items:
                    window.close(upper, overlap)
                yield Batch(obj=obj, records=records, cursor=cursor(records.height)), upper
        except EloquaGoneError:
            if first:
                raise _RestartWindowError() from None
            raise

    def _fresh(
        self,
        window: Window,
        export: Export,
        items: Sequence[Mapping[str, Any]],
        records: pl.DataFrame,
        keys: Sequence[str],
        floor: str,
    ) -> pl.Series:
        """Which rows are new: their (key, stamp) pair not emitted before. Notes them."""
        if export.stamp in records.columns:
            stamps = records[export.stamp].fill_null("").cast(pl.String).to_list()
        else:
            column = export.stamp_column
            stamps = [
                str((typed(column.type, raw, column.zone) if column else raw) or "")
                for raw in (item.get(export.stamp) for item in items)
            ]
        fresh = [window.observe(k, st, floor) for k, st in zip(keys, stamps, strict=True)]
        return pl.Series(fresh, dtype=pl.Boolean())


class _RestartWindowError(Exception):
    """The export under way is gone before its first page was read: start the window over."""


def _read_type(kind: FieldType) -> FieldType:
    """Ids and references read as text."""
    return FieldType.STRING if kind in (FieldType.ID, FieldType.REFERENCE) else kind


def _ints(values: Any) -> list[int]:
    found = []
    for value in values:
        text = str(value).strip()
        if text.isdigit():
            found.append(int(text))
    return found


def _upper(sync: Sync) -> str:
    """The sync's creation time (the server's clock) as the window's upper bound."""
    moment = parse_time(sync.created_at)
    if moment is None:
        raise EloquaTerminalError(
            f"Eloqua sync {sync.uri} has no readable createdAt ({sync.created_at!r})"
        )
    return iso(moment)
