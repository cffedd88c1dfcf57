"""Bulk API 2.0 helpers: definitions, syncs, staged data, logs and rejects.

The export flow (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/Export.htm):
create a definition (fields as EML statements, a filter), ``POST /syncs`` with
its URI, poll ``GET /syncs/{id}`` until ``success``, ``warning`` or ``error``,
then page ``GET /syncs/{id}/data`` (``limit`` up to 50,000, ``offset``,
``hasMore``). Imports (…/Tutorials/Import.htm) create a definition, ``POST``
the rows to ``{definition}/data``, sync it and read ``/syncs/{id}/rejects``.

Every definition is created with ``autoDeleteDuration`` and every export with
``dataRetentionDuration`` (ISO-8601 durations, PT1H at least:
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/ImportParameters/import-characteristics.htm),
so neither definitions nor staged data pile up in the customer's instance.
A sync that ends in ``error`` is reported in one line with the ELQ status code
of its first error log entry (…/Reference/troubleshooting.htm).

Pages are read with :class:`OffsetPaginator`, which refuses an offset it has
already served: a page that claims to start elsewhere, or a ``hasMore`` that
does not move on, stops the read instead of looping.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abmsync.connectors.eloqua.client import EloquaClient
from abmsync.connectors.eloqua.errors import EloquaTerminalError, EloquaTransientError, one_line
from abmsync.errors import TerminalError

MAX_PAGE = 50_000  # /syncs/{id}/data limit, https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-syncs-id-data-get.html
LIST_PAGE = 1000  # fields, logs, rejects: at most 1000 per page
MAX_EXPORT_FIELDS = 250  # "An export definition can include a maximum of 250 fields"
MAX_IMPORT_FIELDS = 100  # "An import definition can include a maximum of 100 fields"
DEFINITION_LIFETIME = "P1D"  # autoDeleteDuration of every definition abmsync creates
EXPORT_RETENTION = "PT12H"  # dataRetentionDuration of staged export data (default PT6H)
IMPORT_RETENTION = "PT1H"  # unsynced import data is not kept longer than this
DONE = frozenset({"success", "warning", "error"})


@dataclass(frozen=True)
class Sync:
    """A sync as ``GET /syncs/{id}`` describes it."""

    uri: str
    status: str
    created_at: str  # server time, ISO-8601 (e.g. 2026-05-12T14:23:05.9100000Z)
    synced_instance: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Sync:
        """Read a sync's JSON."""
        uri = str(body.get("uri") or "")
        if not uri:
            raise EloquaTerminalError("Eloqua answered a sync without its URI")
        return cls(
            uri=uri,
            status=str(body.get("status") or "pending"),
            created_at=str(body.get("createdAt") or ""),
            synced_instance=str(body.get("syncedInstanceUri") or ""),
        )


@dataclass(frozen=True)
class Definition:
    """An import definition Eloqua created; ``created_at`` is the server's clock."""

    uri: str
    created_at: str


@dataclass(frozen=True)
class Page:
    """One page of a sync's data (or rejects, or logs)."""

    items: list[dict[str, Any]]
    offset: int
    has_more: bool
    total: int | None


class OffsetPaginator:
    """Follows Eloqua's ``offset``/``limit`` paging; refuses an offset it has already served."""

    def __init__(self, limit: int, offset: int = 0) -> None:
        self.limit = limit
        self.offset = offset
        self.done = False
        self._served: set[int] = set()

    def take(self, page: Page) -> None:
        """Account for ``page`` (read at :attr:`offset`) and move on, or finish."""
        if page.offset != self.offset or self.offset in self._served:
            raise TerminalError(
                f"Eloqua served offset {page.offset} when {self.offset} was asked, or served "
                "it twice: the data is not being paged as documented"
            )
        self._served.add(self.offset)
        self.offset += len(page.items)
        if not page.has_more or not page.items:
            self.done = True


class Bulk:
    """The Bulk API 2.0 of one instance, through an :class:`EloquaClient`."""

    def __init__(
        self,
        client: EloquaClient,
        *,
        poll_seconds: float = 0.5,
        poll_max_seconds: float = 30.0,
        sync_timeout: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Polls a sync first at once, then after ``poll_seconds``, doubling up to the max."""
        self.client = client
        self.poll_seconds = poll_seconds
        self.poll_max_seconds = poll_max_seconds
        self.sync_timeout = sync_timeout
        self.sleep = sleep

    def get(self, path: str, *, what: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a Bulk API path and return its JSON."""
        return self.client.json("GET", "bulk", path, what=what, params=params)

    def listing(self, path: str, *, what: str) -> list[dict[str, Any]]:
        """Every item of a paged Bulk listing (fields, scoring models, logs, rejects)."""
        paginator = OffsetPaginator(LIST_PAGE)
        items: list[dict[str, Any]] = []
        while not paginator.done:
            body = self.get(
                path, what=what, params={"limit": LIST_PAGE, "offset": paginator.offset}
            )
            page = _page(body, paginator.offset)
            paginator.take(page)
            items.extend(page.items)
        return items

    # -- definitions and syncs ------------------------------------------------------------

    def create_export(
        self, parent: str, name: str, fields: Mapping[str, str], filter_: str | None
    ) -> str:
        """Create an export definition under ``parent`` (``contacts``, ``activities``, ...).

        System timestamps come in UTC (``areSystemTimestampsInUTC``), and a
        filter on them is read in UTC too (…/BulkAPI/Tutorials/Filtering.htm).
        """
        if len(fields) > MAX_EXPORT_FIELDS:
            raise TerminalError(
                f"an Eloqua export holds at most {MAX_EXPORT_FIELDS} fields, not {len(fields)}"
            )
        body: dict[str, Any] = {
            "name": name[:100],
            "fields": dict(fields),
            "areSystemTimestampsInUTC": True,
            "autoDeleteDuration": DEFINITION_LIFETIME,
            "dataRetentionDuration": EXPORT_RETENTION,
        }
        if filter_:
            body["filter"] = filter_
        answer = self.client.json(
            "POST", "bulk", f"{parent}/exports", what=f"creating a {parent} export", json_body=body
        )
        return _uri(answer, f"{parent} export")

    def create_import(self, parent: str, definition: Mapping[str, Any]) -> Definition:
        """Create an import definition under ``parent`` (``/contacts/imports/9``)."""
        body = {
            **definition,
            "isSyncTriggeredOnImport": False,
            "autoDeleteDuration": DEFINITION_LIFETIME,
            "dataRetentionDuration": IMPORT_RETENTION,
        }
        answer = self.client.json(
            "POST", "bulk", f"{parent}/imports", what=f"creating a {parent} import", json_body=body
        )
        uri = _uri(answer, f"{parent} import")
        return Definition(uri, str(answer.get("createdAt") or ""))

    def post_data(self, import_uri: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Stage ``rows`` for an import; a lost answer raises OutcomeUnknownError (not resent)."""
        self.client.send(
            "POST",
            "bulk",
            f"{import_uri}/data",
            what=f"posting {len(rows)} rows to {import_uri}",
            json_body=list(rows),
            idempotent=False,
        )

    def start_sync(self, definition_uri: str) -> Sync:
        """``POST /syncs`` for a definition.

        Sent again when its answer is lost: a second export sync only costs
        time; a second import sync finds the staged data already taken.
        """
        answer = self.client.json(
            "POST",
            "bulk",
            "syncs",
            what=f"starting a sync of {definition_uri}",
            json_body={"syncedInstanceUri": definition_uri},
        )
        if not isinstance(answer, Mapping):
            raise EloquaTerminalError(f"Eloqua answered no sync for {definition_uri}")
        return Sync.of(answer)

    def sync(self, sync_uri: str) -> Sync:
        """The sync's status now."""
        answer = self.get(sync_uri, what=f"reading sync {sync_uri}")
        if not isinstance(answer, Mapping):
            raise EloquaTerminalError(f"Eloqua answered nothing for sync {sync_uri}")
        return Sync.of(answer)

    def wait(self, sync: Sync) -> Sync:
        """Poll ``sync`` with backoff until it is done; an ``error`` raises with its ELQ code."""
        started = time.monotonic()
        pause = self.poll_seconds
        current = sync
        while True:
            current = self.sync(current.uri)
            if current.status in DONE:
                break
            if time.monotonic() - started > self.sync_timeout:
                raise EloquaTransientError(
                    f"Eloqua sync {current.uri} still {current.status} after "
                    f"{self.sync_timeout:.0f} s"
                )
            self.sleep(pause)
            pause = min(pause * 2, self.poll_max_seconds)
        if current.status == "error":
            raise EloquaTerminalError(
                f"Eloqua sync {current.uri} ended in error: {self.why(current)}"
            )
        return current

    def why(self, sync: Sync) -> str:
        """The first error (or last) log entry of a sync: ``ELQ-00107 message``."""
        try:
            entries = self.listing(f"{sync.uri}/logs", what=f"reading the logs of {sync.uri}")
        except EloquaTerminalError:
            return "no log entries could be read"
        chosen = next((e for e in entries if str(e.get("severity")) == "error"), None)
        chosen = chosen or (entries[-1] if entries else None)
        if chosen is None:
            return "no log entries"
        return one_line(f"{chosen.get('statusCode') or 'ELQ'} {chosen.get('message') or ''}", 200)

    # -- data -----------------------------------------------------------------------------

    def pages(self, sync_uri: str, *, limit: int, offset: int = 0) -> Iterator[Page]:
        """Pages of a sync's data from ``offset``, ``limit`` records each (at most 50,000)."""
        size = min(max(limit, 1), MAX_PAGE)
        paginator = OffsetPaginator(size, offset)
        while not paginator.done:
            body = self.get(
                f"{sync_uri}/data",
                what=f"reading the data of {sync_uri}",
                params={"limit": size, "offset": paginator.offset},
            )
            page = _page(body, paginator.offset)
            del body
            # httpx keeps a response's bytes and text in a reference cycle (response and
            # stream), which CPython frees only at a full collection: with pages of up to
            # 50,000 records, dozens of megabytes a page would pile up until one runs.
            gc.collect()
            paginator.take(page)
            yield page

    def rejects(self, sync_uri: str) -> list[dict[str, Any]]:
        """Every reject of an import sync (``recordIndex``, ``statusCode``, ``message``)."""
        return self.listing(f"{sync_uri}/rejects", what=f"reading the rejects of {sync_uri}")


def _page(body: object, asked: int) -> Page:
    """A listing page; an answer without ``offset`` is taken to start where it was asked."""
    if not isinstance(body, Mapping):
        raise EloquaTerminalError("Eloqua answered a listing that is not a JSON object")
    items = [item for item in body.get("items") or [] if isinstance(item, dict)]
    offset = body.get("offset")
    total = body.get("totalResults")
    return Page(
        items=items,
        offset=int(offset) if isinstance(offset, int) else asked,
        has_more=bool(body.get("hasMore", False)),
        total=int(total) if isinstance(total, int) else None,
    )


def _uri(answer: object, what: str) -> str:
    if not isinstance(answer, Mapping) or not answer.get("uri"):
        raise EloquaTerminalError(f"Eloqua created a {what} definition without a URI")
    return str(answer["uri"])
