"""Bulk API 1.0 jobs: what a ``jobInfo`` may say, the job's states and its description.

Fields and values follow the JobInfo reference of the Bulk API Developer
Guide (asynch_api_reference_jobinfo.htm): ``operation`` is one of insert,
update, upsert, delete, hardDelete, query and queryAll; ``contentType``
defaults to XML; ``concurrencyMode`` is Parallel (the default) or Serial;
upsert needs ``externalIdFieldName``. A job is ``Open`` until it is
``Closed`` or ``Aborted``; no other state can be requested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abmsync.sandbox.salesforce.bulk_v1_batches import Batch, BulkV1Error, json_datetime
from abmsync.sandbox.salesforce.store import Store

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
# ZIP_CSV, ZIP_XML and ZIP_JSON (binary attachments) are refused as unsupported here.
CONTENT_TYPES = ("CSV", "XML", "JSON")
# PK chunking (async_api_headers_enable_pk_chunking.htm): default and largest chunk size.
DEFAULT_CHUNK = 100_000
MAX_CHUNK = 250_000


@dataclass
class Job:
    """One Bulk 1.0 job and its batches, in the order they were added."""

    id: str
    operation: str
    object: str
    content_type: str
    created: str
    concurrency: str = "Parallel"
    external_id: str | None = None
    state: str = "Open"
    api_version: str = "62.0"
    modstamp: str = ""
    chunking: tuple[int, str] | None = None  # (chunk size, start row) when PK chunking
    batches: dict[str, Batch] = field(default_factory=dict)

    @property
    def is_query(self) -> bool:
        return self.operation in ("query", "queryAll")

    @property
    def answer_format(self) -> str:
        """JSON jobs answer in JSON; CSV and XML jobs answer in XML."""
        return "JSON" if self.content_type == "JSON" else "XML"

    def change_state(self, state: str, now: str) -> None:
        """Close or abort the job; anything else is ``InvalidJobState``."""
        if state == "Closed" and self.state == "Open":
            self.state = "Closed"
        elif state == "Aborted" and self.state in ("Open", "Closed"):
            self.state = "Aborted"
        else:
            raise BulkV1Error(
                "InvalidJobState", f"Cannot change the state of job {self.id} to {state!r}"
            )
        self.modstamp = now

    def info(self, owner: str, fmt: str) -> dict[str, Any]:
        """The ``jobInfo`` fields, in the order the guide's examples list them."""
        states = [b.state for b in self.batches.values()]
        stamp = self.modstamp or self.created
        answer: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": owner,
            "createdDate": json_datetime(self.created, fmt),
            "systemModstamp": json_datetime(stamp, fmt),
            "state": self.state,
            "externalIdFieldName": self.external_id,
            "concurrencyMode": self.concurrency,
            "contentType": self.content_type,
            "numberBatchesQueued": states.count("Queued"),
            "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesCompleted": states.count("Completed"),
            "numberBatchesFailed": states.count("Failed"),
            "numberBatchesTotal": len(states),
            "numberRecordsProcessed": sum(b.processed for b in self.batches.values()),
            "numberRetries": 0,
            "apiVersion": float(self.api_version) if fmt == "JSON" else self.api_version,
            "numberRecordsFailed": sum(b.failed for b in self.batches.values()),
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        return answer


def job_from_document(fields: dict[str, str], store: Store, job_id: str, now: str) -> Job:
    """A new job from the fields of a ``jobInfo`` request, or ``InvalidJob``."""
    operation = fields.get("operation", "")
    if operation not in OPERATIONS:
        raise BulkV1Error("InvalidJob", f"Invalid operation: {operation!r}")
    obj = store.get_object(fields.get("object", ""))
    if obj is None:
        raise BulkV1Error("InvalidJob", f"Unable to find object: {fields.get('object', '')}")
    content_type = fields.get("contentType") or "XML"
    if content_type not in CONTENT_TYPES:
        raise BulkV1Error("InvalidJob", f"Unsupported content type: {content_type}")
    concurrency = fields.get("concurrencyMode") or "Parallel"
    if concurrency not in ("Parallel", "Serial"):
        raise BulkV1Error("InvalidJob", f"Invalid concurrency mode: {concurrency}")
    external_id = None
    if operation == "upsert":
        key = fields.get("externalIdFieldName", "")
        spec = obj.field(key)
        if spec is None or not (spec.external_id or spec.type == "id"):
            raise BulkV1Error(
                "InvalidJob", f"Invalid external ID field name for {obj.name}: {key!r}"
            )
        external_id = spec.name
    return Job(
        job_id, operation, obj.name, content_type, now, concurrency, external_id, modstamp=now
    )


def pk_chunking(header: str) -> tuple[int, str] | None:
    """Read ``Sforce-Enable-PKChunking``: ``TRUE``, ``FALSE`` or ``chunkSize=N; startRow=ID``."""
    text = header.strip()
    if not text or text.lower() == "false":
        return None
    size, start = DEFAULT_CHUNK, ""
    for part in (p.strip() for p in text.split(";")):
        key, _, value = part.partition("=")
        if part.lower() == "true" or not part:
            continue
        if key.strip() == "chunkSize" and value.strip().isdigit():
            size = int(value)
        elif key.strip() == "startRow" and value.strip():
            start = value.strip()
        elif key.strip() != "parent":  # parent names the object of a sharing-object query
            raise BulkV1Error("InvalidJob", f"Invalid Sforce-Enable-PKChunking value: {part}")
    if not 1 <= size <= MAX_CHUNK:
        raise BulkV1Error(
            "InvalidJob", f"Chunk size {size} is out of range: the maximum is {MAX_CHUNK}"
        )
    return size, start
