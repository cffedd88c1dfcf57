"""Bulk API 2.0 for big reads and writes: query jobs and ingest jobs over CSV.

simple-salesforce's ``bulk2`` runs a whole job in one call; a lost answer or
an expired token in the middle would then mean starting over (and, for an
insert, risking duplicates). So :class:`BulkApi` drives its job client one
request at a time, each under :meth:`SalesforceClient.call` and so under the
shared retry policy, and polls the job itself. Every step may be repeated
safely: a job created twice leaves an empty job behind, the upload is a
``PUT``, closing a closed job changes nothing, the rest are reads.

Each of those requests, every status poll included, is counted by the
client's API budget. The budget may stop a job before it is closed (an open
job is never run); once an ingest job is closed Salesforce applies it, so
polling it and reading its results are never refused (:meth:`ApiBudget.finishing`).

Query results are paged by ``Sforce-Locator`` (:class:`LocatorPaginator`) and
parsed with polars into the same typed frame the REST path builds
(:func:`csv_frame`). Ingest results come back as ``successfulResults`` and
``failedResults`` CSV, which echo the uploaded columns; rows are matched back
to their patches by those values, not by position, since Salesforce does not
promise an order.
"""

from __future__ import annotations

import csv
import io
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client

from abmsync.connectors.base import FieldMeta, FieldType, Patch, PatchValue, WriteResult
from abmsync.connectors.salesforce.client import RETRYABLE_RECORD_CODES, SalesforceClient
from abmsync.errors import TerminalError, TransientError

DEFAULT_PAGE_SIZE = 50_000  # records per results page (Bulk 2.0 ``maxRecords``)
NULL = "#N/A"  # sets a field to null in Bulk 2.0 CSV; an empty cell leaves it as it is
UNPROCESSED = "BULK_UNPROCESSED"  # a row the job never reached
_OPERATIONS = {"create": Operation.insert, "update": Operation.update, "upsert": Operation.upsert}
_FINISHED = ("JobComplete", "Failed", "Aborted")
MAX_POLL_DELAY = 2.0  # seconds between status polls, at most
# An ingest job's calls besides its status polls: create, upload, close, and the
# successful and failed results.
INGEST_CALLS = 5
# The pace assumed for an ingest job, to count the polls it takes: Salesforce runs a
# job's data in internal batches of 10,000 records, each taking seconds; a slow org
# (triggers, flows) makes a job take longer and poll more, never wrong, only dearer.
INGEST_ROWS_PER_SECOND = 2_000
# CSV one ingest job uploads, at most: Salesforce takes 150 MB once base64-encoded and
# says to upload no more than 100 MB (upload-job-data.htm); bigger sets run as several jobs.
MAX_UPLOAD_BYTES = 100_000_000
_RESULTS = ("successfulResults", "failedResults")


class LocatorPaginator:
    """Follows ``Sforce-Locator``; refuses a locator it has already followed."""

    def __init__(self) -> None:
        self._followed: set[str] = set()

    def next_locator(self, locator: str) -> str | None:
        """The locator of the next results page, or ``None`` after the last page."""
        if not locator or locator == "null":
            return None
        if locator in self._followed:
            raise TerminalError(f"Salesforce returned Bulk 2.0 locator {locator} twice")
        self._followed.add(locator)
        return locator


@dataclass(frozen=True)
class RowOutcome:
    """What an ingest job did with one uploaded row."""

    record_id: str | None
    created: bool = False
    error: str | None = None  # the ``sf__Error`` text, ``CODE:message:fields --``


class BulkApi:
    """Bulk 2.0 jobs through a :class:`SalesforceClient`, one retried request at a time."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        attempts: int = 6,
        poll_interval: float = 0.05,
        job_timeout: float = 3600.0,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.client = client
        self.max_upload_bytes = max_upload_bytes
        self.page_size = page_size
        self.attempts = attempts
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout

    # -- query jobs --------------------------------------------------------------------

    def query(self, obj: str, soql: str, *, include_deleted: bool = False) -> Iterator[str]:
        """Run ``soql`` as a query job; yield its results one CSV page at a time."""
        operation = Operation.query_all if include_deleted else Operation.query
        job: Any = self.client.call(lambda sf: _jobs(sf, obj).create_job(operation, soql))
        job_id = str(job["id"])
        self._wait(obj, job_id, is_query=True)
        paginator = LocatorPaginator()
        locator: str | None = ""
        while locator is not None:
            page = self.client.call(
                lambda sf, at=locator: _jobs(sf, obj).get_query_results(  # type: ignore[misc]
                    job_id, at, self.page_size
                )
            )
            yield str(page.get("records") or "")
            locator = paginator.next_locator(str(page.get("locator") or ""))

    # -- ingest jobs -------------------------------------------------------------------

    def write(self, obj: str, kind: str, key: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Creates, updates by Id or upserts by ``key`` as ingest jobs; one result per patch.

        Rows failing with a transient code (``UNABLE_TO_LOCK_ROW``) go into another
        job, as the REST path sends them again.
        """
        out: list[WriteResult | None] = [None] * len(patches)
        pending = list(range(len(patches)))
        for round_ in range(self.attempts):
            header, rows = csv_rows([patches[i] for i in pending], kind, key)
            outcomes = [
                outcome
                for part in _parts(rows, self.max_upload_bytes)
                for outcome in self.ingest(obj, _OPERATIONS[kind], header, part, key or None)
            ]
            again: list[int] = []
            for index, outcome in zip(pending, outcomes, strict=True):
                result = _write_result(patches[index], outcome)
                last = round_ == self.attempts - 1
                retryable = result.error_code in RETRYABLE_RECORD_CODES | {UNPROCESSED}
                if not result.ok and retryable and not last:
                    again.append(index)
                else:
                    out[index] = result
            if not again:
                break
            pending = again
            time.sleep(0.05 * 2**round_)
        return [r for r in out if r is not None]

    def ingest(
        self,
        obj: str,
        operation: Operation,
        header: list[str],
        rows: list[list[str]],
        external_id: str | None = None,
    ) -> list[RowOutcome]:
        """Upload ``rows`` as one ingest job and wait; one outcome per row, in order."""
        job: Any = self.client.call(
            lambda sf: _jobs(sf, obj).create_job(operation, external_id_field=external_id)
        )
        job_id = str(job["id"])
        data = _to_csv(header, rows)
        self.client.call(lambda sf: _jobs(sf, obj).upload_job_data(job_id, data))
        self.client.call(lambda sf: _jobs(sf, obj).close_job(job_id))
        # Closed, the job runs whatever we do: see it through even past the budget.
        with self.client.budget.finishing():
            self._wait(obj, job_id, is_query=False)
            texts = {kind: self._results(obj, job_id, kind) for kind in _RESULTS}
        waiting: dict[tuple[str, ...], deque[int]] = {}
        for index, row in enumerate(rows):
            waiting.setdefault(tuple(row), deque()).append(index)
        outcomes: list[RowOutcome | None] = [None] * len(rows)
        for kind, text in texts.items():
            for result in _parse_csv(text):
                queue = waiting.get(tuple(result.get(name, "") for name in header))
                if not queue:
                    continue  # not a row of ours: nothing to report it against
                rid = result.get("sf__Id") or None
                outcome = RowOutcome(rid, result.get("sf__Created") == "true")
                if kind == "failedResults":
                    outcome = RowOutcome(rid, error=result.get("sf__Error") or "UNKNOWN:--")
                outcomes[queue.popleft()] = outcome
        missing = RowOutcome(None, error=f"{UNPROCESSED}:the job did not process this row:--")
        return [o or missing for o in outcomes]

    def ingest_calls(self, rows: int) -> int:
        """API calls one ingest job of ``rows`` rows is expected to take.

        Create, upload, close, two result reads, and the status polls
        :meth:`_wait` makes (every ``poll_interval`` seconds, doubling up to
        ``MAX_POLL_DELAY``) while the job runs at ``INGEST_ROWS_PER_SECOND``.
        """
        running = rows / INGEST_ROWS_PER_SECOND
        polls, waited, delay = 1, 0.0, self.poll_interval
        while waited < running:
            waited += delay
            delay = min(delay * 2, MAX_POLL_DELAY)
            polls += 1
        return INGEST_CALLS + polls

    def _results(self, obj: str, job_id: str, kind: str) -> str:
        """One ingest job's ``successfulResults`` or ``failedResults`` CSV."""
        return str(self.client.call(lambda sf: _jobs(sf, obj).get_ingest_results(job_id, kind)))

    def _wait(self, obj: str, job_id: str, *, is_query: bool) -> None:
        """Poll the job until it is complete; a failed or aborted job is terminal."""
        deadline = time.monotonic() + self.job_timeout
        delay = self.poll_interval
        while True:
            info: Any = self.client.call(lambda sf: _jobs(sf, obj).get_job(job_id, is_query))
            state = str(info.get("state", ""))
            if state == "JobComplete":
                return
            if state in _FINISHED:
                detail = info.get("errorMessage") or state
                raise TerminalError(f"Salesforce Bulk 2.0 job {job_id} on {obj} {state}: {detail}")
            if time.monotonic() > deadline:
                raise TransientError(f"Salesforce Bulk 2.0 job {job_id} still {state}")
            time.sleep(delay)
            delay = min(delay * 2, MAX_POLL_DELAY)


def _jobs(sf: Salesforce, obj: str) -> _Bulk2Client:
    """simple-salesforce's Bulk 2.0 job client for ``obj``, with ``sf``'s current token."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {sf.session_id}",
        "X-PrettyPrint": "1",
    }
    return _Bulk2Client(obj, sf.bulk2_url, headers, sf.session)


# -- CSV ----------------------------------------------------------------------------------


def csv_cell(value: PatchValue) -> str:
    """One patch value as a Bulk 2.0 CSV cell (``#N/A`` clears the field)."""
    if value is None or value == "":
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_rows(patches: Sequence[Patch], kind: str, key: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of an ingest job: the key column, then every field patched."""
    fields = sorted({name for patch in patches for name in patch.values})
    lead = ["Id"] if kind == "update" else [key] if kind == "upsert" else []
    fields = [name for name in fields if name not in lead]
    rows: list[list[str]] = []
    for patch in patches:
        row = [patch.record_id or ""] if kind == "update" else []
        if kind == "upsert":
            row.append(patch.external_id[1] if patch.external_id else "")
        # A field this patch leaves alone stays empty: Bulk 2.0 then does not touch it.
        row += [csv_cell(patch.values[name]) if name in patch.values else "" for name in fields]
        rows.append(row)
    return [*lead, *fields], rows


def _parts(rows: list[list[str]], limit: int) -> Iterator[list[list[str]]]:
    """``rows`` in runs whose CSV stays under ``limit`` bytes (counted with room for
    quoting), in order; one row over the limit on its own still forms a run."""
    part: list[list[str]] = []
    size = 0
    for row in rows:
        row_size = sum(len(cell.encode()) + 3 for cell in row) + 1
        if part and size + row_size > limit:
            yield part
            part, size = [], 0
        part.append(row)
        size += row_size
    if part:
        yield part


def _to_csv(header: list[str], rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def parse_error(text: str) -> tuple[str, str]:
    """(code, message) from an ``sf__Error`` cell: ``STRING_TOO_LONG:Title: ...:Title --``."""
    code, _, rest = text.partition(":")
    message = rest.removesuffix("--").rstrip()
    message, _, fields = message.rpartition(":")
    if not message:  # no fields part
        message = fields
    return code.strip() or "UNKNOWN", message.strip()


def _write_result(patch: Patch, outcome: RowOutcome) -> WriteResult:
    rid = outcome.record_id or patch.record_id
    if outcome.error is None:
        return WriteResult(record_id=rid, ok=True, created=outcome.created)
    code, message = parse_error(outcome.error)
    return WriteResult(record_id=rid, ok=False, error_code=code, message=message)


# Column types of a read frame by field type; anything else is a string.
POLARS_TYPES: dict[FieldType, Any] = {
    FieldType.INTEGER: pl.Int64,
    FieldType.NUMBER: pl.Float64,
    FieldType.BOOLEAN: pl.Boolean,
    FieldType.DATE: pl.Date,
    FieldType.DATETIME: pl.Datetime("ms", "UTC"),
}


def csv_frame(fields: Mapping[str, FieldMeta], text: str) -> pl.DataFrame:
    """Query results CSV as the REST path's frame: one column per field, typed by describe.

    ``fields`` are the queried fields by column name; a relationship field's
    column is its path (``Campaign.Name``), as Bulk 2.0 names it.
    """
    schema = {name: POLARS_TYPES.get(spec.type, pl.String) for name, spec in fields.items()}
    if not text.strip():
        return pl.DataFrame(schema=schema)
    raw = pl.read_csv(io.StringIO(text), infer_schema=False)
    columns: list[pl.Expr] = []
    for name, spec in fields.items():
        # Bulk CSV has no null: an empty cell is one (Salesforce stores no empty strings).
        cell = pl.when(pl.col(name) != "").then(pl.col(name))
        kind = spec.type
        if kind is FieldType.BOOLEAN:
            column = cell == "true"
        elif kind is FieldType.INTEGER:
            column = cell.cast(pl.Float64).cast(pl.Int64)
        elif kind is FieldType.NUMBER:
            column = cell.cast(pl.Float64)
        elif kind is FieldType.DATE:
            column = cell.str.to_date("%Y-%m-%d")
        elif kind is FieldType.DATETIME:
            column = (
                cell.str.replace(r"Z$", "+0000")
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.3f%z", time_unit="ms")
                .dt.convert_time_zone("UTC")
            )
        else:
            column = cell
        columns.append(column.alias(name))
    return raw.select(columns).cast(pl.Schema(schema))
