"""``SalesforceConnector``: the Connector Protocol over the Salesforce REST API.

- ``read_changes`` runs SOQL (``queryAll``, so merged-away and deleted rows are
  seen) on ``SystemModstamp >= cursor - overlap`` ordered by
  ``SystemModstamp, Id``, follows ``nextRecordsUrl`` and drops every
  (Id, SystemModstamp) pair it already handed out (:class:`ChangeWindow`).
  Deletions come from the ``IsDeleted`` rows and the ``deleted/`` resource.
- ``write`` validates each patch against ``describe`` (no call for a bad one),
  then sends sObject Collections of 200: POST creates, PATCH updates by Id,
  PATCH ``composite/sobjects/{Obj}/{ExtField}`` upserts. Records that fail
  with a transient code (``UNABLE_TO_LOCK_ROW``) are sent again.
- Big reads and writes go through Bulk API 2.0 (:mod:`.bulk`): a read whose
  first REST page reports more than ``bulk_threshold`` records (or every read,
  with ``bulk_reads=True``) runs a query job instead of paging; a group of
  patches is sent as one ingest job when that takes fewer API calls than its
  collections of 200 (:meth:`.BulkApi.ingest_calls`: create, upload, close,
  polls, two result reads; from some 2,400 patches on), or above
  ``bulk_write_threshold`` if one is given.
- ``ensure_fields`` creates missing custom fields (and custom objects) with
  the Tooling API.
- ``select_fields`` adds the relationship fields a mapping reads
  (``Campaign.Name``, :mod:`.related`) to the query; every plain field of the
  object is read in any case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import polars as pl
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
from abmsync.connectors.salesforce.bulk import (
    DEFAULT_PAGE_SIZE,
    POLARS_TYPES,
    BulkApi,
    csv_frame,
)
from abmsync.connectors.salesforce.client import (
    RETRYABLE_RECORD_CODES,
    OutcomeUnknownError,
    SalesforceClient,
    SalesforceTerminalError,
)
from abmsync.connectors.salesforce.related import is_related, path_value, related_field
from abmsync.errors import AbmsyncError, ConfigError, TerminalError

T = TypeVar("T")
COLLECTION_SIZE = 200
# A create whose answer was lost: not re-sent (it may exist); read changes before retrying.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_BULK_THRESHOLD = 50_000  # records a read must expect to run as a Bulk 2.0 query job
# A cursor handed out in the middle of a read carries its seen pairs only up to this
# many: encoding every pair of a mass update on every page is quadratic. Past it the
# pairs are left out (the read's last cursor has them all), so a read resumed from
# such a cursor may hand a record of the overlap out twice.
SEEN_IN_PROGRESS = 10_000
ABM_FIELDS = ("ABM_Score__c", "ABM_Grade__c", "ABM_Stage__c", "ABM_Score_Reasons__c")
DEFAULT_EXPECTED_FIELDS: Mapping[str, Sequence[str]] = {"Lead": ABM_FIELDS, "Contact": ABM_FIELDS}

_TYPES = {
    "id": FieldType.ID,
    "string": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "url": FieldType.URL,
    "phone": FieldType.PHONE,
    "reference": FieldType.REFERENCE,
    "picklist": FieldType.PICKLIST,
    "combobox": FieldType.PICKLIST,
    "multipicklist": FieldType.MULTIPICKLIST,
    "int": FieldType.INTEGER,
    "long": FieldType.INTEGER,
    "double": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "percent": FieldType.NUMBER,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
}


def format_stamp(moment: datetime) -> str:
    """An aware datetime the way Salesforce writes it: ``2026-01-01T00:00:00.000+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_stamp(text: str) -> datetime:
    """A Salesforce timestamp (``2026-01-01T00:00:00.000+0000``) as an aware datetime.

    ``fromisoformat`` reads this form (Python 3.11+) 60 times faster than ``strptime``.
    """
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


@dataclass
class ChangeWindow:
    """Incremental-read state: the newest SystemModstamp seen and the pairs near it.

    The next read starts ``overlap`` before :attr:`stamp` (Salesforce stamps a
    record when its transaction starts, so a change can become visible after
    newer ones) and drops each (Id, SystemModstamp) pair in :attr:`seen`,
    so two records changed in the same millisecond are neither missed nor
    handed out twice.
    """

    overlap: timedelta = DEFAULT_OVERLAP
    stamp: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    # Deletions handed out, with when they happened: the deleted/ resource and the
    # IsDeleted rows report the same deletion, and overlapping windows report it again.
    gone: dict[str, str] = field(default_factory=dict)
    _pruned_at: datetime | None = field(default=None, repr=False)  # start at the last pruning

    @classmethod
    def load(cls, cursor: Cursor | None, overlap: timedelta) -> ChangeWindow:
        """The state a cursor carries; a fresh one for ``None``."""
        if cursor is None:
            return cls(overlap)
        try:
            state = json.loads(cursor.value)
            stamp = datetime.fromisoformat(state["stamp"]) if state.get("stamp") else None
            return cls(overlap, stamp, dict(state.get("seen") or {}), dict(state.get("gone") or {}))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"unreadable Salesforce cursor {cursor.value[:60]!r}") from error

    @property
    def start(self) -> datetime | None:
        """Where the next query starts: ``stamp - overlap``, down to the whole second."""
        if self.stamp is None:
            return None
        return (self.stamp - self.overlap).replace(microsecond=0)

    def is_new(self, record_id: str, stamp: str) -> bool:
        """Whether this version of the record has not been handed out yet."""
        return self.seen.get(record_id) != stamp

    def observe(self, record_id: str, stamp: str) -> None:
        """Remember a handed-out version and move :attr:`stamp` forward."""
        self.seen[record_id] = stamp
        moment = parse_stamp(stamp)
        if self.stamp is None or moment > self.stamp:
            self.stamp = moment

    def deleted(self, record_id: str, stamp: str) -> bool:
        """Note a deletion; whether it is new (not handed out by this or an earlier read)."""
        if record_id in self.gone:
            return False
        self.gone[record_id] = stamp
        return True

    def cursor(self, records: int, *, final: bool = True) -> Cursor:
        """A cursor for the state so far, forgetting pairs the next query cannot return.

        One in the middle of a read (``final=False``) leaves out more than
        ``SEEN_IN_PROGRESS`` pairs.
        """
        start = self.start
        if start is not None and start != self._pruned_at:
            self.seen = _since(self.seen, start)
            self.gone = _since(self.gone, start)
            self._pruned_at = start
        small = final or len(self.seen) + len(self.gone) <= SEEN_IN_PROGRESS
        value = {
            "stamp": self.stamp.isoformat() if self.stamp else None,
            "seen": self.seen if small else {},
            "gone": self.gone if small else {},
        }
        return Cursor(value=json.dumps(value), observed_at=self.stamp, records=records)


class NextRecordsPaginator:
    """Follows ``nextRecordsUrl``; refuses a page token it has already followed."""

    def __init__(self) -> None:
        self._followed: set[str] = set()

    def next_url(self, page: Mapping[str, Any]) -> str | None:
        """The next page's URL, or ``None`` when the result is complete."""
        if page.get("done", True):
            return None
        url = str(page["nextRecordsUrl"])
        if url in self._followed:
            raise TerminalError(f"Salesforce returned page token {url} twice")
        self._followed.add(url)
        return url


class SalesforceConnector:
    """Reads and writes one Salesforce org; see the module docstring."""

    name = "salesforce"

    def __init__(
        self,
        instance_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        api_version: str = "62.0",
        verify: bool | str = True,
        timeout: float = 10,
        overlap: timedelta = DEFAULT_OVERLAP,
        attempts: int = 6,
        expected_fields: Mapping[str, Sequence[str]] = DEFAULT_EXPECTED_FIELDS,
        bulk_reads: bool | None = None,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        bulk_write_threshold: int | None = None,
        bulk_page_size: int = DEFAULT_PAGE_SIZE,
        budget: ApiBudget | None = None,
    ) -> None:
        """``bulk_reads``: always (True), never (False) or above ``bulk_threshold`` (None).

        ``bulk_write_threshold``: patches of one kind above it are sent as an ingest
        job; by default (None) they are when that takes fewer API calls.

        ``budget`` counts every API call and stops the run before the daily
        reserve (default: 10% reserve, no per-run cap); it is :attr:`budget`.
        """
        self.client = SalesforceClient(
            instance_url,
            client_id,
            client_secret,
            username=username,
            password=password,
            api_version=api_version,
            verify=verify,
            timeout=timeout,
            attempts=attempts,
            budget=budget,
        )
        self.budget = self.client.budget
        self.overlap = overlap
        self.attempts = attempts
        self.expected_fields = expected_fields
        self._meta: dict[str, ObjectMeta] = {}
        # obj -> relationship path (``Campaign.Name``) -> the parent's field it reads
        self._related: dict[str, dict[str, FieldMeta]] = {}
        self.bulk_reads = bulk_reads
        self.bulk_threshold = bulk_threshold
        self.bulk_write_threshold = bulk_write_threshold
        self.bulk = BulkApi(self.client, page_size=bulk_page_size, attempts=attempts)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # -- check --------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Login, remaining daily API quota and abmsync's fields, one line each."""
        items: list[CheckItem] = []
        try:
            self.client.authenticate()
            items.append(CheckItem(name="login", ok=True, detail=self.client.instance_url))
            limits = self.client.call(lambda sf: sf.limits())
            daily = limits["DailyApiRequests"]
            remaining, maximum = int(daily["Remaining"]), int(daily["Max"])
            items.append(
                CheckItem(
                    name="API quota",
                    ok=remaining > 0,
                    detail=f"{remaining} of {maximum} daily API requests left",
                )
            )
            for obj, names in self.expected_fields.items():
                meta = self.describe(obj, fresh=True)
                missing = [n for n in names if n not in meta.fields]
                detail = f"missing {', '.join(missing)}" if missing else "all present"
                items.append(CheckItem(name=f"{obj} fields", ok=not missing, detail=detail))
        except AbmsyncError as error:
            items.append(CheckItem(name=_next_check(items), ok=False, detail=str(error)))
        return CheckReport(connector=self.name, items=items)

    # -- describe -------------------------------------------------------------------

    def describe(self, obj: str, *, fresh: bool = False) -> ObjectMeta:
        """Fields of ``obj`` with normalized types, picklists and writability (cached)."""
        if fresh or obj not in self._meta:
            try:
                raw = self.client.call(lambda sf: sf.restful(f"sobjects/{obj}/describe"))
            except SalesforceTerminalError as error:
                if error.status != 404:
                    raise
                raise SalesforceTerminalError(
                    f"Salesforce has no object {obj!r} ({error})", status=404, code=error.code
                ) from None
            if not isinstance(raw, dict):
                raise TerminalError(f"Salesforce sent no describe for {obj}")
            self._meta[obj] = _object_meta(raw)
        return self._meta[obj]

    # -- read -----------------------------------------------------------------------

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read the relationship fields among ``fields`` (``Campaign.Name``) from now on.

        Each is checked against ``describe`` (``ConfigError`` naming the unknown
        relationship or field); plain fields are read anyway.
        """
        paths = [name for name in dict.fromkeys(fields) if is_related(name)]
        self._related[obj] = {path: related_field(self.describe, obj, path) for path in paths}

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield pages of records changed since ``cursor`` (all on ``None``), then deletions."""
        meta = self.describe(obj)
        window = ChangeWindow.load(cursor, self.overlap)
        columns = {n: f for n, f in meta.fields.items() if f.type is not FieldType.OTHER}
        columns.update(self._related.get(obj, {}))
        fields = list(columns)
        soql = f"SELECT {', '.join(fields)} FROM {meta.name}"
        start = window.start
        if start is not None:
            soql += f" WHERE SystemModstamp >= {start.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        soql += " ORDER BY SystemModstamp, Id"
        deleted = self._deleted_ids(meta.name, start, window) if start is not None else []
        if self.bulk_reads:
            yield from self._read_bulk(meta, columns, soql, window, deleted)
            return
        paginator = NextRecordsPaginator()
        page: Any = self.client.call(lambda sf: sf.query(soql, include_deleted=True))
        if self.bulk_reads is None and int(page.get("totalSize") or 0) > self.bulk_threshold:
            # Cheaper as one query job than as thousands of pages; this page is dropped.
            yield from self._read_bulk(meta, columns, soql, window, deleted)
            return
        while True:
            rows: list[dict[str, Any]] = []
            for record in page["records"]:
                rid, stamp = str(record["Id"]), str(record["SystemModstamp"])
                master = record.get("MasterRecordId")
                if _hand_out(window, rid, stamp, bool(record.get("IsDeleted")), master, deleted):
                    rows.append(record)
            url = paginator.next_url(page)
            yield Batch(
                obj=meta.name,
                records=_frame(columns, rows),
                cursor=window.cursor(len(rows), final=url is None),
                deleted_ids=list(dict.fromkeys(deleted)),
            )
            deleted = []
            if url is None:
                return
            page = self.client.call(
                lambda sf, url=url: sf.query_more(url, identifier_is_url=True)  # type: ignore[misc]
            )

    def _read_bulk(
        self,
        meta: ObjectMeta,
        columns: Mapping[str, FieldMeta],
        soql: str,
        window: ChangeWindow,
        deleted: list[str],
    ) -> Iterator[Batch]:
        """``read_changes`` as a Bulk 2.0 query job: one batch per results page."""
        for text, last in _with_last(self.bulk.query(meta.name, soql, include_deleted=True)):
            frame = csv_frame(columns, text)
            masters = frame["MasterRecordId"] if "MasterRecordId" in frame.columns else None
            keep: list[bool] = []
            for index, (rid, moment, is_deleted) in enumerate(
                frame.select("Id", "SystemModstamp", "IsDeleted").iter_rows()
            ):
                master = masters[index] if masters is not None else None
                stamp = format_stamp(moment)
                keep.append(_hand_out(window, rid, stamp, bool(is_deleted), master, deleted))
            rows = frame.filter(pl.Series(keep, dtype=pl.Boolean))
            yield Batch(
                obj=meta.name,
                records=rows,
                cursor=window.cursor(rows.height, final=last),
                deleted_ids=list(dict.fromkeys(deleted)),
            )
            deleted = []

    def _deleted_ids(self, obj: str, start: datetime, window: ChangeWindow) -> list[str]:
        """Ids the ``deleted/`` resource reports since ``start`` (hard deletes included),
        but for those already handed out."""
        now = datetime.now(start.tzinfo)
        end = now + timedelta(minutes=1)
        # deleted/ only reaches back 30 days (INVALID_REPLICATION_DATE before that,
        # resources_getdeleted.htm); older deletions still show as IsDeleted rows of
        # the queryAll read, so a cursor older than that asks from the earliest day.
        start = max(start, now - timedelta(days=30) + timedelta(minutes=5))
        answer = self.client.call(lambda sf: getattr(sf, obj).deleted(start, end))
        return [
            str(r["id"])
            for r in answer.get("deletedRecords", [])
            if window.deleted(str(r["id"]), str(r.get("deletedDate") or format_stamp(end)))
        ]

    # -- write ----------------------------------------------------------------------

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then send in collections of 200; one result per patch, in order."""
        meta = self.describe(obj)
        results: list[WriteResult | None] = [None] * len(patches)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, patch in enumerate(patches):
            failure = validate_patch(meta, patch)
            if failure is not None:
                results[index] = failure
            elif patch.record_id is not None:
                groups.setdefault(("update", ""), []).append(index)
            elif patch.external_id is not None:
                groups.setdefault(("upsert", patch.external_id[0]), []).append(index)
            else:
                groups.setdefault(("create", ""), []).append(index)
        for (kind, key), indices in groups.items():
            if self._bulk_write(len(indices)):
                sent = self.bulk.write(meta.name, kind, key, [patches[i] for i in indices])
                for index, result in zip(indices, sent, strict=True):
                    results[index] = result
                continue
            for first in range(0, len(indices), COLLECTION_SIZE):
                chunk = indices[first : first + COLLECTION_SIZE]
                sent = self._send(meta.name, kind, key, [patches[i] for i in chunk])
                for index, result in zip(chunk, sent, strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    def _bulk_write(self, patches: int) -> bool:
        """Whether ``patches`` patches of one kind go as an ingest job rather than collections.

        By call cost, unless ``bulk_write_threshold`` was given: then above it.
        """
        if self.bulk_write_threshold is not None:
            return patches > self.bulk_write_threshold
        return self.bulk.ingest_calls(patches) < -(-patches // COLLECTION_SIZE)

    def _send(self, obj: str, kind: str, key: str, patches: list[Patch]) -> list[WriteResult]:
        """One collection call; records failing with a transient code are sent again."""
        path = f"composite/sobjects/{obj}/{key}" if kind == "upsert" else "composite/sobjects"
        method = "POST" if kind == "create" else "PATCH"
        out: list[WriteResult | None] = [None] * len(patches)
        pending = list(range(len(patches)))
        for round_ in range(self.attempts):
            body = {"allOrNone": False, "records": [_payload(obj, patches[i]) for i in pending]}
            try:
                answer: Any = self.client.call(
                    lambda sf, body=body: sf.restful(path, method=method, json=body),  # type: ignore[misc]
                    idempotent=kind != "create",
                )
            except OutcomeUnknownError as error:
                for index in pending:
                    out[index] = WriteResult(
                        record_id=None, ok=False, error_code=OUTCOME_UNKNOWN, message=str(error)
                    )
                break
            again: list[int] = []
            for index, item in zip(pending, answer, strict=True):
                result = _write_result(patches[index], item, created=kind == "create")
                last = round_ == self.attempts - 1
                if not result.ok and result.error_code in RETRYABLE_RECORD_CODES and not last:
                    again.append(index)
                else:
                    out[index] = result
            if not again:
                break
            pending = again
            time.sleep(0.05 * 2**round_)
        return [r for r in out if r is not None]

    # -- fields ---------------------------------------------------------------------

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the custom fields (and custom object) of ``spec`` that are missing."""
        meta = self._describe_or_create(spec.obj)
        created: list[str] = []
        existing = {name.lower() for name in meta.fields}
        for wanted in spec.fields:
            if wanted.name.lower() in existing:
                continue
            if not wanted.name.endswith("__c"):
                raise ConfigError(
                    f"cannot create {meta.name}.{wanted.name}: custom field names end in __c"
                )
            body = {"FullName": f"{meta.name}.{wanted.name}", "Metadata": field_metadata(wanted)}
            try:
                self.client.call(
                    lambda sf, body=body: sf.restful(  # type: ignore[misc]
                        "tooling/sobjects/CustomField", method="POST", json=body
                    )
                )
            except SalesforceTerminalError as error:
                # A retry after a lost answer, or a concurrent run, created it first.
                if error.code != "DUPLICATE_DEVELOPER_NAME":
                    raise
            created.append(wanted.name)
        if created:
            self.describe(spec.obj, fresh=True)
        return created

    def _describe_or_create(self, obj: str) -> ObjectMeta:
        try:
            return self.describe(obj, fresh=True)
        except SalesforceTerminalError as error:
            if error.status != 404 or not obj.endswith("__c"):
                raise
        body = {
            "FullName": obj,
            "Metadata": {
                "label": obj.removesuffix("__c").replace("_", " "),
                "pluralLabel": obj.removesuffix("__c").replace("_", " ") + "s",
                "nameField": {"type": "Text", "label": "Name"},
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
            },
        }
        self.client.call(
            lambda sf: sf.restful("tooling/sobjects/CustomObject", method="POST", json=body)
        )
        return self.describe(obj, fresh=True)


def _hand_out(
    window: ChangeWindow,
    rid: str,
    stamp: str,
    is_deleted: bool,
    master: object,
    deleted: list[str],
) -> bool:
    """Observe one read row; whether it goes into the batch (deletions go to ``deleted``)."""
    if not window.is_new(rid, stamp):
        return False
    window.observe(rid, stamp)
    if is_deleted:
        if window.deleted(rid, stamp):
            deleted.append(rid)
        return bool(master)  # a plain deletion is dropped; a merge loser stays visible
    return True


def _since(pairs: dict[str, str], start: datetime) -> dict[str, str]:
    """The (id, stamp) pairs stamped at or after ``start``.

    Salesforce's stamps (``2026-01-01T00:00:00.000+0000``) compare as text; any
    other form is parsed.
    """
    key = format_stamp(start)
    return {
        i: s
        for i, s in pairs.items()
        if (s >= key if len(s) == len(key) and s.endswith("+0000") else parse_stamp(s) >= start)
    }


def _with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """Each item with whether it is the last."""
    iterator = iter(items)
    try:
        held = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield held, False
        held = item
    yield held, True


def _next_check(items: list[CheckItem]) -> str:
    names = ["login", "API quota", "fields"]
    return names[min(len(items), len(names) - 1)]


def _object_meta(raw: Mapping[str, Any]) -> ObjectMeta:
    fields: dict[str, FieldMeta] = {}
    for item in raw["fields"]:
        kind = _TYPES.get(str(item["type"]), FieldType.OTHER)
        values = [str(v["value"]) for v in item.get("picklistValues") or [] if v.get("active")]
        fields[item["name"]] = FieldMeta(
            name=item["name"],
            label=item.get("label") or "",
            type=kind,
            length=int(item["length"]) if item.get("length") else None,
            picklist=values or None,
            restricted_picklist=bool(item.get("restrictedPicklist")),
            writable=bool(item.get("updateable") or item.get("createable")),
            external_id=bool(item.get("externalId")),
            reference_to=(item.get("referenceTo") or [None])[0],
            relationship=item.get("relationshipName") or None,
        )
    return ObjectMeta(name=raw["name"], label=raw.get("label") or "", fields=fields)


def _frame(fields: Mapping[str, FieldMeta], rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Records as a polars frame with one typed column per vendor field or relationship path."""
    columns: dict[str, list[Any]] = {}
    schema: dict[str, Any] = {}
    for name, spec in fields.items():
        kind = spec.type
        schema[name] = POLARS_TYPES.get(kind, pl.String)
        values = [path_value(row, name) if is_related(name) else row.get(name) for row in rows]
        if kind is FieldType.DATETIME:
            values = [parse_stamp(v) if v else None for v in values]
        elif kind is FieldType.DATE:
            values = [date.fromisoformat(v) if v else None for v in values]
        elif kind is FieldType.NUMBER:
            values = [float(v) if v is not None else None for v in values]
        columns[name] = values
    return pl.DataFrame(columns, schema=schema)


def _payload(obj: str, patch: Patch) -> dict[str, PatchValue | dict[str, str]]:
    record: dict[str, PatchValue | dict[str, str]] = {"attributes": {"type": obj}}
    record.update(patch.values)
    if patch.record_id is not None:
        record["Id"] = patch.record_id
    if patch.external_id is not None:
        record[patch.external_id[0]] = patch.external_id[1]
    return record


def _write_result(patch: Patch, item: Mapping[str, Any], *, created: bool) -> WriteResult:
    rid = item.get("id") or patch.record_id
    if item.get("success"):
        return WriteResult(record_id=rid, ok=True, created=bool(item.get("created", created)))
    errors = item.get("errors") or [{}]
    return WriteResult(
        record_id=rid,
        ok=False,
        error_code=errors[0].get("statusCode"),
        message=errors[0].get("message"),
    )


def field_metadata(spec: FieldMeta) -> dict[str, Any]:
    """Tooling API ``CustomField`` metadata for a field abmsync needs."""
    label = spec.label or spec.name.removesuffix("__c").replace("_", " ")
    base: dict[str, Any] = {"label": label}
    if spec.external_id:
        base["externalId"] = True
    kind = spec.type
    simple = {
        FieldType.EMAIL: "Email",
        FieldType.URL: "Url",
        FieldType.PHONE: "Phone",
        FieldType.DATE: "Date",
        FieldType.DATETIME: "DateTime",
    }
    if kind in simple:
        return {**base, "type": simple[kind]}
    if kind is FieldType.REFERENCE and spec.reference_to:
        relationship = spec.name.removesuffix("__c").replace("_", "") + "s"
        return {
            **base,
            "type": "Lookup",
            "referenceTo": spec.reference_to,
            "relationshipName": relationship,
            "deleteConstraint": "SetNull",
        }
    if kind is FieldType.STRING:
        return {**base, "type": "Text", "length": spec.length or 255}
    if kind is FieldType.TEXT:
        return {**base, "type": "LongTextArea", "length": spec.length or 32768, "visibleLines": 3}
    if kind is FieldType.INTEGER:
        return {**base, "type": "Number", "precision": 18, "scale": 0}
    if kind is FieldType.NUMBER:
        return {**base, "type": "Number", "precision": 18, "scale": 2}
    if kind is FieldType.BOOLEAN:
        return {**base, "type": "Checkbox", "defaultValue": "false"}
    if kind in (FieldType.PICKLIST, FieldType.MULTIPICKLIST):
        values = [{"fullName": v, "label": v, "default": False} for v in spec.picklist or []]
        value_set = {
            "restricted": spec.restricted_picklist,
            "valueSetDefinition": {"sorted": False, "value": values},
        }
        if kind is FieldType.PICKLIST:
            return {**base, "type": "Picklist", "valueSet": value_set}
        return {**base, "type": "MultiselectPicklist", "visibleLines": 4, "valueSet": value_set}
    raise ConfigError(f"abmsync cannot create a {kind.value} field ({spec.name})")
