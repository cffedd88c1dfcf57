"""Bulk API 2.0 of the Salesforce emulator: query jobs and ingest jobs over CSV.

The resources are the ones simple-salesforce's ``bulk2`` calls, under
``/services/data/vXX.X/jobs/``:

- ``GET query`` and ``GET ingest`` list the jobs of each kind.
- ``POST query`` creates a query job (``query``/``queryAll``); the SOQL goes
  through the same translator as REST queries, is checked at once (a refused
  query is a 400 on create) and run in the background, in one statement, so
  the results are a snapshot. ``GET query/{id}`` moves the job one state per
  poll (``UploadComplete`` → ``InProgress`` → ``JobComplete``), as a real org
  makes a client wait, and stays ``InProgress`` until the background work is
  done: a job over a million rows answers its create and its polls at once,
  as Salesforce's asynchronous jobs do, instead of holding the request.
  ``GET query/{id}/results?locator=&maxRecords=`` pages the CSV with the
  ``Sforce-Locator`` (``"null"`` on the last page) and
  ``Sforce-NumberOfRecords`` headers.
- ``POST ingest`` opens an ingest job (insert, update, upsert, delete);
  ``PUT ingest/{id}/batches`` uploads its CSV; ``PATCH ingest/{id}`` with
  ``UploadComplete`` checks the header and then processes every row, in the
  background, through the validation of sObject Collections (so the same
  error codes and the same per-record faults);
  ``successfulResults/``, ``failedResults/`` and ``unprocessedrecords/`` answer
  CSV with the ``sf__Id``, ``sf__Created`` and ``sf__Error`` columns.

Every request is authorized and charged to the daily API quota like a REST call.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from abmsync.sandbox.salesforce.ingest import apply_record
from abmsync.sandbox.salesforce.soql import SoqlError, prepare_bulk_query
from abmsync.sandbox.salesforce.store import RecordError, format_datetime

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.app import SalesforceSandbox

DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";"}
DELIMITERS["TAB"] = "\t"
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete")
# Polls of GET job it takes a job to finish after upload: UploadComplete, InProgress, JobComplete.
_PROGRESS = ("UploadComplete", "InProgress", "JobComplete")
_NULL = "#N/A"  # Bulk API 2.0's way of setting a field to null
# How long a poll waits for a job's background work before answering: a small job
# completes within its polls as before; a big one answers InProgress meanwhile.
_POLL_GRACE = 1.0


class BulkError(Exception):
    """An error answer of the Bulk API: status and ``[{"errorCode", "message"}]``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = [{"errorCode": code, "message": message}]


@dataclass
class Job:
    """One Bulk 2.0 job and what the emulator knows about it."""

    id: str
    operation: str
    object: str
    created: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    external_id: str | None = None
    error: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # query results, or the uploaded rows
    uploaded: bool = False
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)  # background work over

    @property
    def is_query(self) -> bool:
        return self.operation in ("query", "queryAll")

    def info(self, version: str, owner: str) -> dict[str, Any]:
        """The job as ``GET jobs/{kind}/{id}`` describes it."""
        answer: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": owner,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        done = self.state == "JobComplete"
        if self.is_query:
            answer["numberRecordsProcessed"] = len(self.rows) if done else 0
        else:
            answer["externalIdFieldName"] = self.external_id
            answer["jobType"] = "V2Ingest"
            # Where the CSV goes, relative and without a leading slash, as the Bulk API 2.0
            # guide's "Create a Job" answer shows it (create_job.htm).
            answer["contentUrl"] = f"services/data/v{version}/jobs/ingest/{self.id}/batches"
            answer["numberRecordsProcessed"] = len(self.successes) + len(self.failures)
            answer["numberRecordsFailed"] = len(self.failures)
        answer["retries"] = 0
        answer["totalProcessingTime"] = 0
        if self.error:
            answer["errorMessage"] = self.error
        return answer

    def csv(self, header: list[str], rows: list[list[str]]) -> str:
        """Rows as CSV in this job's delimiter and line ending, every value quoted."""
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[self.delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()


class BulkJobs:
    """The Bulk 2.0 jobs of one emulated org."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def endpoint(self, request: Request) -> Response:
        """``/services/data/{version}/jobs/{rest}``: authorize, charge, dispatch."""
        version = str(request.path_params["version"]).removeprefix("v")
        parts = [p for p in str(request.path_params["rest"]).split("/") if p]
        from abmsync.sandbox.salesforce.app import ApiError  # app.py imports this module

        sandbox = self.sandbox
        try:
            sandbox.authorize(request.headers.get("authorization", ""))
            sandbox.count_call()
            try:
                raw = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)
            response = self.handle(request.method, version, parts, dict(request.query_params), raw)
        except (BulkError, ApiError) as error:
            response = JSONResponse(error.body, status_code=error.status)
        response.headers["Sforce-Limit-Info"] = sandbox.limit_header()
        return response

    def handle(
        self, method: str, version: str, parts: list[str], params: dict[str, str], raw: bytes
    ) -> Response:
        """Route one request below ``jobs/``."""
        match [method, *parts]:
            case ["POST", "query"]:
                return self._json(self.create_query(_json_body(raw)), version)
            case ["POST", "ingest"]:
                return self._json(self.create_ingest(_json_body(raw)), version)
            case ["GET", "query" | "ingest" as kind]:
                return JSONResponse(self.list_jobs(kind == "query", version))
            case ["GET", "query" | "ingest" as kind, job_id]:
                return self._json(self.poll(self._job(kind, job_id)), version)
            case ["PATCH", "query" | "ingest" as kind, job_id]:
                state = str(_json_body(raw).get("state", ""))
                return self._json(self.set_state(self._job(kind, job_id), state), version)
            case ["DELETE", "query" | "ingest" as kind, job_id]:
                with self._lock:
                    self.jobs.pop(self._job(kind, job_id).id)
                return Response(status_code=204)
            case ["GET", "query", job_id, "results"]:
                return self.results(self._job("query", job_id), params)
            case ["PUT", "ingest", job_id, "batches"]:
                self.upload(self._job("ingest", job_id), raw)
                return Response(status_code=201)
            case ["GET", "ingest", job_id, kind]:
                job = self._job("ingest", job_id)
                text = self.ingest_results(job, kind.lower())
                return Response(text, media_type="text/csv; charset=UTF-8")
        raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")

    def list_jobs(self, queries: bool, version: str) -> dict[str, Any]:
        """``GET jobs/query`` or ``jobs/ingest``: every job of that kind, in one page."""
        owner = self.sandbox.store.admin_id
        with self._lock:
            jobs = [j.info(version, owner) for j in self.jobs.values() if j.is_query == queries]
        return {"done": True, "records": jobs, "nextRecordsUrl": None}

    def _json(self, job: Job, version: str) -> Response:
        return JSONResponse(job.info(version, self.sandbox.store.admin_id))

    def _job(self, kind: str, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.is_query != (kind == "query"):
            raise BulkError(404, "NOT_FOUND", f"Job {job_id} does not exist")
        return job

    def _new_job(self, payload: dict[str, Any], operation: str, obj: str) -> Job:
        delimiter = str(payload.get("columnDelimiter") or "COMMA")
        line_ending = str(payload.get("lineEnding") or "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise BulkError(400, "INVALIDJOB", "unsupported columnDelimiter or lineEnding")
        job_id = f"7505g{next(self._ids):010d}AAA"
        created = format_datetime(self.sandbox.store.clock())
        job = Job(job_id, operation, obj, created, delimiter, line_ending)
        with self._lock:
            self.jobs[job_id] = job
        return job

    # -- query jobs ----------------------------------------------------------------

    def create_query(self, payload: dict[str, Any]) -> Job:
        """Create a query job and run its SOQL (a snapshot, like a real job's start)."""
        operation = str(payload.get("operation", ""))
        if operation not in ("query", "queryAll"):
            raise BulkError(400, "INVALIDJOB", f"Invalid operation for query job: {operation}")
        try:
            obj, header, rows = prepare_bulk_query(
                self.sandbox.store,
                str(payload.get("query", "")),
                include_deleted=operation == "queryAll",
            )
        except SoqlError as error:
            raise BulkError(400, error.code, error.message) from error
        job = self._new_job(payload, operation, obj)
        job.header = header
        job.state = _PROGRESS[0]

        def run() -> None:
            job.rows = rows()

        _in_background(job, run)
        return job

    def results(self, job: Job, params: dict[str, str]) -> Response:
        """One page of a finished query job's CSV, with the locator of the next."""
        if job.state != "JobComplete":
            raise BulkError(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}, not complete")
        offset = 0
        locator = params.get("locator", "")
        if locator and locator != "null":
            try:
                offset = int(base64.b64decode(locator.encode()).decode())
            except ValueError as error:
                raise BulkError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from error
        try:
            size = int(params.get("maxRecords") or len(job.rows) or 1)
        except ValueError as error:
            raise BulkError(400, "INVALIDJOB", "maxRecords must be a number") from error
        if size < 1 or offset < 0 or offset > len(job.rows):
            raise BulkError(400, "INVALID_LOCATOR", "locator or maxRecords out of range")
        page = job.rows[offset : offset + size]
        end = offset + len(page)
        following = base64.b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
        headers = {"Sforce-Locator": following, "Sforce-NumberOfRecords": str(len(page))}
        return Response(
            job.csv(job.header, page), media_type="text/csv; charset=UTF-8", headers=headers
        )

    # -- job state -------------------------------------------------------------------

    def poll(self, job: Job) -> Job:
        """``GET`` a job: a finished upload moves one state towards ``JobComplete``, which
        it reaches only once the job's background work is done."""
        if job.state == _PROGRESS[-2]:
            job.done.wait(_POLL_GRACE)
        with self._lock:
            if job.state in _PROGRESS[:-1]:
                following = _PROGRESS[_PROGRESS.index(job.state) + 1]
                if following != _PROGRESS[-1] or job.done.is_set():
                    job.state = following
        return job

    def set_state(self, job: Job, state: str) -> Job:
        """``PATCH`` a job: close an ingest job's upload (and process it) or abort a job."""
        if state == job.state:
            return job  # the same request again (its answer was lost): nothing to do
        if state == "Aborted" and job.state not in ("JobComplete", "Failed"):
            job.state = "Aborted"
            job.unprocessed = [] if job.is_query else list(job.rows)
            return job
        if state == "UploadComplete" and not job.is_query and job.state == "Open":
            if not job.uploaded:
                job.state, job.error = "Failed", "InvalidBatch : No data was uploaded"
                return job
            if self.refused(job):
                job.done.set()
                return job
            job.state = "UploadComplete"
            _in_background(job, partial(self.process, job))
            return job
        raise BulkError(
            400, "INVALIDJOBSTATE", f"Cannot change the state of job {job.id} from {job.state}"
        )

    # -- ingest jobs ---------------------------------------------------------------------

    def create_ingest(self, payload: dict[str, Any]) -> Job:
        """Open an ingest job for ``object`` and ``operation``."""
        operation = str(payload.get("operation", ""))
        if operation not in INGEST_OPERATIONS:
            raise BulkError(400, "INVALIDJOB", f"Invalid operation for ingest job: {operation}")
        if str(payload.get("contentType") or "CSV") != "CSV":
            raise BulkError(400, "INVALIDJOB", "contentType must be CSV")
        obj = self.sandbox.store.get_object(str(payload.get("object", "")))
        if obj is None:
            raise BulkError(
                400, "INVALIDJOB", f"sObject type '{payload.get('object')}' is not supported"
            )
        key = payload.get("externalIdFieldName")
        if operation == "upsert":
            spec = obj.field(str(key or ""))
            if spec is None or not (spec.external_id or spec.type == "id"):
                raise BulkError(
                    400, "INVALIDJOB", f"{key} is not an external id field of {obj.name}"
                )
            key = spec.name
        job = self._new_job(payload, operation, obj.name)
        job.external_id = str(key) if operation == "upsert" else None
        return job

    def upload(self, job: Job, raw: bytes) -> None:
        """``PUT batches``: the job's CSV (sending it again replaces it)."""
        if job.state != "Open":
            raise BulkError(400, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads")
        text = raw.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter])
        rows = [row for row in reader if row]
        if not rows:
            raise BulkError(400, "INVALIDBATCH", "The CSV has no header row")
        job.header, job.rows, job.uploaded = rows[0], rows[1:], True

    def refused(self, job: Job) -> bool:
        """Fail a closed upload whose header is wrong (at once: no row is processed)."""
        obj = self.sandbox.store.get_object(job.object)
        assert obj is not None  # checked when the job was created
        unknown = [name for name in job.header if obj.field(name) is None]
        if unknown:
            job.state = "Failed"
            job.error = f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = list(job.rows)
            return True
        if job.operation == "delete" and [n.lower() for n in job.header] != ["id"]:
            job.state, job.error = "Failed", "InvalidBatch : A delete job takes only an Id column"
            job.unprocessed = list(job.rows)
            return True
        return False

    def process(self, job: Job) -> None:
        """Apply every uploaded row the way sObject Collections would, record by record."""
        obj = self.sandbox.store.get_object(job.object)
        assert obj is not None  # checked when the job was created
        for row in job.rows:
            if len(row) != len(job.header):
                error = RecordError("INVALID_BATCH", "the row has the wrong number of columns")
                job.failures.append(["", _error_text(error), *row])
                continue
            values: dict[str, Any] = {
                name: (None if value == _NULL else value)
                for name, value in zip(job.header, row, strict=True)
                if value != ""
            }
            rid, outcome = apply_record(self.sandbox, job.operation, obj, job.external_id, values)
            if isinstance(outcome, RecordError):
                job.failures.append([rid, _error_text(outcome), *row])
            else:
                job.successes.append([rid, "true" if outcome else "false", *row])

    def ingest_results(self, job: Job, kind: str) -> str:
        """``successfulResults``, ``failedResults`` or ``unprocessedrecords`` as CSV."""
        if kind == "successfulresults":
            return job.csv(["sf__Id", "sf__Created", *job.header], job.successes)
        if kind == "failedresults":
            return job.csv(["sf__Id", "sf__Error", *job.header], job.failures)
        if kind == "unprocessedrecords":
            return job.csv(job.header, job.unprocessed) if job.header else ""
        raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")


def _in_background(job: Job, work: Callable[[], None]) -> None:
    """Do ``work`` for ``job`` in a thread of its own; ``job.done`` is set when it is over."""

    def run() -> None:
        try:
            work()
        except Exception as error:  # a fault of the emulator: the job fails, as a real one can
            job.state, job.error = "Failed", f"InternalServerError : {error}"
        finally:
            job.done.set()

    threading.Thread(target=run, name=f"bulk-job-{job.id}", daemon=True).start()


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError as error:
        raise BulkError(400, "JSON_PARSER_ERROR", "invalid JSON") from error
    if not isinstance(body, dict):
        raise BulkError(400, "JSON_PARSER_ERROR", "the request body must be a JSON object")
    return body


def _error_text(error: RecordError) -> str:
    """The ``sf__Error`` column: ``CODE:message:fields --``."""
    return f"{error.code}:{error.message}:{','.join(error.fields)} --"
