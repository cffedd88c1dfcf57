"""Bulk API 1.0 of the Salesforce emulator, under ``/services/async/{version}/job``.

Resources, as the Bulk API Developer Guide (1.0) documents them
(https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/):

- ``POST job`` creates a job from a ``jobInfo`` (XML or JSON body);
  ``GET job/{id}`` describes it; ``POST job/{id}`` with ``state`` ``Closed``
  or ``Aborted`` closes or aborts it.
- ``POST job/{id}/batch`` adds a batch: records as CSV, XML or JSON (the
  request's Content-Type must be the job's), or the SOQL of a query job.
  ``GET job/{id}/batch`` lists the batches, ``GET .../batch/{bid}`` describes
  one, ``.../request`` returns what was sent, ``.../result`` the per-record
  results of an ingest batch or the result ids of a query batch, and
  ``.../result/{rid}`` one file of query results.

Requests authenticate with the ``X-SFDC-Session`` header, whose value is the
OAuth access token; a bad one answers 400 ``InvalidSessionId`` (jsforce's
Bulk 1.0 client, jsforce/jsforce src/api/bulk.ts ``isSessionExpired``,
recognises an expired session by exactly that status and code). Every
request counts against the daily API quota ("Each HTTP request counts as
one call", asynch_api_concepts_limits.htm).

Batches run in the background in Salesforce; here each status read (of the
batch, the batch list or the job) moves every unfinished batch of the job
one state along ``Queued → InProgress → Completed`` (or ``Failed``), and the
records are written when a batch leaves ``Queued``. A batch still queued
when its job is aborted becomes ``NotProcessed`` and writes nothing.
Answers about a job are XML unless the job's ``contentType`` is JSON
(async_api_headers_content_type.htm); the job-creating answer mirrors the
request body's format.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from abmsync.sandbox.salesforce.bulk_v1_batches import Batch, BulkV1Error, process
from abmsync.sandbox.salesforce.bulk_v1_formats import (
    MEDIA_TYPES,
    FormatError,
    document,
    document_list,
    ingest_results,
    read_document,
    result_list,
)
from abmsync.sandbox.salesforce.bulk_v1_jobs import Job, job_from_document, pk_chunking
from abmsync.sandbox.salesforce.rest import ApiError
from abmsync.sandbox.salesforce.store import format_datetime

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.app import SalesforceSandbox

# Batch size limits (asynch_api_concepts_limits.htm, "Batch size"): 10,000,000 characters
# (the 10 MB file limit) and some content; the 10,000-record limit fails the batch later.
MAX_BATCH_CHARS = 10_000_000
_VERSION = re.compile(r"\d{2,3}\.\d")


class BulkV1Jobs:
    """The Bulk 1.0 jobs of one emulated org and the endpoint that serves them."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox
        self.jobs: dict[str, Job] = {}
        # Rows per query result file. Salesforce splits large results into several
        # files (each listed in ``result-list``); tests lower this to see the split.
        self.result_rows: int | None = None
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    async def endpoint(self, request: Request) -> Response:
        """``/services/async/{version}/{rest}``: authenticate, charge, dispatch."""
        version = str(request.path_params["version"])
        parts = [p for p in str(request.path_params["rest"]).split("/") if p]
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = "JSON" if media_type == MEDIA_TYPES["JSON"] else "XML"
        job = self.jobs.get(parts[1]) if len(parts) > 1 else None
        if job is not None:
            fmt = job.answer_format
        try:
            self._authenticate(request.headers.get("x-sfdc-session", ""))
            try:
                raw = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)
            with self._lock:
                status, body, answer_type = self.handle(
                    request.method, version, parts, request.headers, media_type, raw
                )
        except (BulkV1Error, FormatError) as error:
            status, answer_type = getattr(error, "status", 400), fmt
            body = document(
                "error", {"exceptionCode": error.code, "exceptionMessage": error.message}, fmt
            )
        return Response(body, status, headers={"Content-Type": MEDIA_TYPES[answer_type]})

    def _authenticate(self, session_id: str) -> None:
        try:
            if not session_id.strip() or " " in session_id.strip():  # a bare session id
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.sandbox.authorize(session_id)
            self.sandbox.count_call()
        except ApiError as error:
            if error.status == 401:
                raise BulkV1Error("InvalidSessionId", "Invalid session id") from error
            # The daily request limit: the nearest documented Bulk 1.0 code.
            raise BulkV1Error("ExceededQuota", "TotalRequests Limit exceeded.", 403) from error

    def handle(
        self,
        method: str,
        version: str,
        parts: list[str],
        headers: Mapping[str, str],
        media_type: str,
        raw: bytes,
    ) -> tuple[int, bytes, str]:
        """Route one request; return (status, body, answer format)."""
        if not _VERSION.fullmatch(version):
            raise BulkV1Error("InvalidUrl", f"Invalid API version in URI: {version}", 404)
        if not parts or parts[0] != "job":
            raise BulkV1Error("InvalidOperation", f"Unknown operation in URI: {'/'.join(parts)}")
        match [method, *parts[1:]]:
            case ["POST"]:
                fmt = "JSON" if media_type == MEDIA_TYPES["JSON"] else "XML"
                fields = read_document(raw, media_type)
                chunking = pk_chunking(headers.get("sforce-enable-pkchunking", ""))
                job = self.create_job(fields, version, chunking)
                return 201, document("jobInfo", job.info(self._owner(), fmt), fmt), fmt
            case ["GET", job_id]:
                job = self._job(job_id)
                self.advance(job)
                return self._doc(200, job, "jobInfo", job.info(self._owner(), job.answer_format))
            case ["POST", job_id]:
                job = self._job(job_id)
                job.change_state(read_document(raw, media_type).get("state", ""), self._now())
                return self._doc(200, job, "jobInfo", job.info(self._owner(), job.answer_format))
            case ["POST", job_id, "batch"]:
                job = self._job(job_id)
                batch = self.add_batch(job, media_type, raw)
                return self._doc(201, job, "batchInfo", batch.info(job.answer_format))
            case ["GET", job_id, "batch"]:
                job = self._job(job_id)
                self.advance(job)
                fmt = job.answer_format
                infos = [b.info(fmt) for b in job.batches.values()]
                return 200, document_list("batchInfoList", "batchInfo", infos, fmt), fmt
            case ["GET", job_id, "batch", batch_id]:
                job = self._job(job_id)
                self.advance(job)
                return self._doc(
                    200, job, "batchInfo", self._batch(job, batch_id).info(job.answer_format)
                )
            case ["GET", job_id, "batch", batch_id, "request"]:
                job = self._job(job_id)
                return 200, self._batch(job, batch_id).request, job.content_type
            case ["GET", job_id, "batch", batch_id, "result"]:
                job = self._job(job_id)
                return self.results(job, self._batch(job, batch_id))
            case ["GET", job_id, "batch", batch_id, "result", result_id]:
                job = self._job(job_id)
                batch = self._batch(job, batch_id)
                self._require_completed(batch)
                if result_id not in batch.result_files:
                    raise BulkV1Error("InvalidBatch", f"Invalid result id: {result_id}")
                return 200, batch.result_files[result_id], job.content_type
        raise BulkV1Error("InvalidUrl", f"Unsupported {method} on {'/'.join(parts)}", 404)

    def _owner(self) -> str:
        return self.sandbox.store.admin_id

    def _doc(self, status: int, job: Job, root: str, fields: Any) -> tuple[int, bytes, str]:
        return status, document(root, fields, job.answer_format), job.answer_format

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise BulkV1Error("InvalidJob", f"Invalid job id: {job_id}")
        return job

    @staticmethod
    def _batch(job: Job, batch_id: str) -> Batch:
        batch = job.batches.get(batch_id)
        if batch is None:
            raise BulkV1Error("InvalidBatch", f"Invalid batch id: {batch_id}")
        return batch

    def _new_id(self, prefix: str) -> str:
        # Pod "5h" keeps these ids apart from the Bulk 2.0 jobs' "5g" ones.
        return f"{prefix}5h{next(self._ids):010d}AAA"

    def _now(self) -> str:
        # Job and batch stamps have whole seconds (``...:45.000Z`` in the guide's examples).
        return format_datetime(self.sandbox.store.clock().replace(microsecond=0))

    # -- jobs ----------------------------------------------------------------------

    def create_job(
        self, fields: dict[str, str], version: str, chunking: tuple[int, str] | None
    ) -> Job:
        """Check a ``jobInfo`` and open the job it describes."""
        job = job_from_document(fields, self.sandbox.store, self._new_id("750"), self._now())
        job.api_version = version
        job.chunking = chunking if job.is_query else None  # the header is for bulk queries
        self.jobs[job.id] = job
        return job

    def advance(self, job: Job) -> None:
        """Move every unfinished batch of ``job`` one state on (a status read)."""
        for batch in list(job.batches.values()):
            if batch.state == "Queued":
                if job.state == "Aborted":
                    batch.finish("NotProcessed", "Job was aborted before the batch was processed")
                    continue
                batch.state = "InProgress"
                process(self, job, batch)
            elif batch.state == "InProgress":
                batch.state = batch.final_state
            batch.modstamp = self._now()

    # -- batches ---------------------------------------------------------------------

    def add_batch(self, job: Job, media_type: str, raw: bytes) -> Batch:
        """Queue a batch of records (or a query's SOQL) on an open job."""
        if job.state != "Open":
            raise BulkV1Error("InvalidJobState", f"Job {job.id} is {job.state}, not Open")
        if media_type != MEDIA_TYPES[job.content_type]:
            raise BulkV1Error(
                "InvalidBatch",
                f"Content-Type {media_type or '(none)'} does not match the job's "
                f"contentType {job.content_type} ({MEDIA_TYPES[job.content_type]})",
            )
        if not raw.strip():
            raise BulkV1Error("InvalidBatch", "Empty batch: a batch must contain some content")
        if len(raw.decode("utf-8", "replace")) > MAX_BATCH_CHARS:
            raise BulkV1Error(
                "InvalidBatch", f"Exceeded max size limit of {MAX_BATCH_CHARS} characters"
            )
        return self.queue_batch(job, raw)

    def queue_batch(self, job: Job, raw: bytes, *, chunk: bool = False) -> Batch:
        """Add a ``Queued`` batch with this request body (a PK chunk's query) to ``job``."""
        now = self._now()
        batch = Batch(self._new_id("751"), job.id, raw, now, now, chunk=chunk)
        job.batches[batch.id] = batch
        return batch

    def new_result_id(self) -> str:
        """A fresh id for one file of query results."""
        return self._new_id("752")

    def results(self, job: Job, batch: Batch) -> tuple[int, bytes, str]:
        """``batch/{id}/result``: per-record results, or the ids of the query result files."""
        self._require_completed(batch)
        if job.is_query:
            fmt = job.answer_format
            return 200, result_list(list(batch.result_files), fmt), fmt
        return 200, ingest_results(batch.outcomes, job.content_type), job.content_type

    @staticmethod
    def _require_completed(batch: Batch) -> None:
        if batch.state == "Completed":
            return
        if batch.state in ("Queued", "InProgress"):
            raise BulkV1Error("InvalidBatch", "Batch not completed")
        raise BulkV1Error("InvalidBatch", "Records not found for this batch")
