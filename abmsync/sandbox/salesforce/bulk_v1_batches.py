"""Bulk API 1.0 batches: their state, and what processing one does to the org.

An ingest batch writes its records one by one through the same planning as
sObject Collections (``SalesforceSandbox._plan``), so it gets the same
validation, error codes and injected lock failures; each record's outcome
becomes one row of the batch result. Whole-batch problems (a field the
object lacks, more than 10,000 records, unreadable content) fail the batch
with a ``stateMessage`` such as ``InvalidBatch : Field name not found : Foo``.

A query batch runs its SOQL through the REST query translator and keeps the
rows as one or more result files. With PK chunking
(async_api_headers_enable_pk_chunking.htm) the original batch becomes
``NotProcessed`` and one new batch per chunk of record ids is queued, each
querying ``Id >= lower AND Id < upper``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from abmsync.sandbox.salesforce.bulk_v1_formats import (
    FormatError,
    Outcome,
    query_results,
    read_records,
)
from abmsync.sandbox.salesforce.ingest import apply_record, row_id
from abmsync.sandbox.salesforce.soql import SoqlError, translate
from abmsync.sandbox.salesforce.store import ObjectDef, RecordError

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.bulk_v1 import BulkV1Jobs
    from abmsync.sandbox.salesforce.bulk_v1_jobs import Job

MAX_RECORDS = 10_000  # records per batch (asynch_api_concepts_limits.htm, "Batch size")
# Bulk queries refuse these (asynch_api_using_bulk_query.htm).
_UNSUPPORTED_QUERY = re.compile(r"\b(OFFSET|GROUP\s+BY|TYPEOF)\b|\bCOUNT\s*\(", re.IGNORECASE)
# A CSV query with no rows answers this line instead of a header (clients such as
# SFDO-Tooling/CumulusCI test for it in the first row of a result file).
NO_RECORDS = b"Records not found for this query"


class BulkV1Error(Exception):
    """An error answer: ``<error><exceptionCode>...`` with an HTTP status (400 by default)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Batch:
    """One batch: the request as sent, its state and, once processed, its results."""

    id: str
    job_id: str
    request: bytes
    created: str
    modstamp: str
    state: str = "Queued"
    final_state: str = "Completed"  # the state InProgress moves on to
    message: str = ""
    chunk: bool = False  # a batch PK chunking made: it runs as it is, never chunked again
    processed: int = 0
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    result_files: dict[str, bytes] = field(default_factory=dict)

    def finish(self, state: str, message: str) -> None:
        """End the batch at once in ``Failed`` or ``NotProcessed`` with ``message``."""
        self.state = self.final_state = state
        self.message = message

    def info(self, fmt: str) -> dict[str, Any]:
        """The ``batchInfo`` fields, in the order the guide's examples list them."""
        return {
            "id": self.id,
            "jobId": self.job_id,
            "state": self.state,
            "stateMessage": self.message or None,
            "createdDate": json_datetime(self.created, fmt),
            "systemModstamp": json_datetime(self.modstamp, fmt),
            "numberRecordsProcessed": self.processed,
            "numberRecordsFailed": self.failed,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }


def json_datetime(stamp: str, fmt: str) -> str:
    """XML documents write ``...000Z``; JSON ones keep ``...000+0000`` (the guide's examples)."""
    return stamp if fmt == "JSON" else stamp.replace("+0000", "Z")


def process(jobs: BulkV1Jobs, job: Job, batch: Batch) -> None:
    """Process a batch leaving ``Queued``: write its records or run its query."""
    try:
        if job.is_query:
            _run_query(jobs, job, batch)
        else:
            _ingest(jobs, job, batch)
    except (BulkV1Error, FormatError) as error:
        batch.finish("Failed", f"{error.code} : {error.message}")


# -- ingest ------------------------------------------------------------------------------


def _ingest(jobs: BulkV1Jobs, job: Job, batch: Batch) -> None:
    obj = jobs.sandbox.store.get_object(job.object)
    assert obj is not None  # checked when the job was created
    columns, records = read_records(batch.request, job.content_type)
    if len(records) > MAX_RECORDS:
        raise BulkV1Error("InvalidBatch", f"Exceeded max number of records: {MAX_RECORDS}")
    unknown = next((name for name in columns if obj.field(name) is None), None)
    if unknown is not None:
        raise BulkV1Error("InvalidBatch", f"Field name not found : {unknown}")
    for values in records:
        outcome = _apply(jobs, job, obj, values)
        batch.outcomes.append(outcome)
        batch.processed += 1
        batch.failed += 0 if outcome.success else 1


def _apply(jobs: BulkV1Jobs, job: Job, obj: ObjectDef, values: dict[str, Any]) -> Outcome:
    """Write one record as the job's operation says; the record's outcome."""
    if job.operation in ("delete", "hardDelete"):
        rid = row_id(values)
        if rid and not rid.startswith(obj.prefix or "\0"):
            return _failed(rid, RecordError("INVALID_ID_FIELD", f"Invalid id for {obj.name}"))
    rid, outcome = apply_record(jobs.sandbox, job.operation, obj, job.external_id, values)
    if isinstance(outcome, RecordError):
        return _failed(rid, outcome)
    return Outcome(rid, True, outcome)


def _failed(rid: str, error: RecordError) -> Outcome:
    return Outcome(rid, False, False, error.code, error.message, tuple(error.fields))


# -- queries -----------------------------------------------------------------------------


def _run_query(jobs: BulkV1Jobs, job: Job, batch: Batch) -> None:
    soql = batch.request.decode("utf-8", "replace").strip()
    unsupported = _UNSUPPORTED_QUERY.search(soql)
    if unsupported:
        raise BulkV1Error(
            "InvalidBatch",
            f"Failed to process query: MALFORMED_QUERY: {unsupported.group(0).strip()} "
            "is not supported by bulk queries",
        )
    store = jobs.sandbox.store
    try:
        query = translate(soql, store, include_deleted=job.operation == "queryAll")
    except SoqlError as error:
        raise BulkV1Error(
            "InvalidBatch", f"Failed to process query: {error.code}: {error.message}"
        ) from error
    if query.obj.name != job.object:
        raise BulkV1Error(
            "InvalidBatch", f"Failed to process query: the job's object is {job.object}"
        )
    if job.chunking is not None and not batch.chunk:
        _chunk(jobs, job, batch, soql, query.obj)
        return
    records = [
        store.to_json(query.obj, dict(zip(query.fields, row, strict=True)))
        for row in store.select(query.sql)
    ]
    size = jobs.result_rows or len(records) or 1
    for start in range(0, max(len(records), 1), size):
        page = records[start : start + size]
        body = query_results(query.obj, query.fields, page, job.content_type, job.api_version)
        if not records and job.content_type == "CSV":
            body = NO_RECORDS
        batch.result_files[jobs.new_result_id()] = body
    batch.processed = len(records)


def _chunk(jobs: BulkV1Jobs, job: Job, batch: Batch, soql: str, obj: ObjectDef) -> None:
    """Split a PK-chunked query into one queued batch per ``chunkSize`` record ids."""
    if re.search(r"\b(ORDER\s+BY|LIMIT)\b", soql, re.IGNORECASE):
        raise BulkV1Error(
            "InvalidBatch", "PK chunking works only with queries whose only condition is WHERE"
        )
    assert job.chunking is not None
    size, start = job.chunking
    # Deleted records' ids count towards the chunks too (the header's documentation).
    ids = [
        str(row[0])
        for row in jobs.sandbox.store.select(f'SELECT "Id" FROM "{obj.name}" ORDER BY "Id"')
        if str(row[0]) >= start
    ]
    head, has_where, condition = _split_where(soql)
    for offset in range(0, len(ids), size):
        bounds = f"Id >= '{ids[offset]}'"
        if offset + size < len(ids):
            bounds += f" AND Id < '{ids[offset + size]}'"
        where = f"({condition}) AND {bounds}" if has_where else bounds
        jobs.queue_batch(job, f"{head} WHERE {where}".encode(), chunk=True)
    batch.finish("NotProcessed", "")


def _split_where(soql: str) -> tuple[str, bool, str]:
    """``SELECT ... FROM X`` and the condition after ``WHERE`` (if there is one)."""
    parts = re.split(r"\bWHERE\b", soql, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) == 1:
        return soql.strip(), False, ""
    return parts[0].strip(), True, parts[1].strip()
