"""Writing Dataverse records: one ``$batch`` call per 1000 patches, one result per patch.

Each patch becomes one request (see :mod:`.batch` for why outside changesets,
with ``Prefer: odata.continue-on-error``):

- ``record_id``: ``PATCH <set>(<id>)`` with ``If-Match: *``, so a deleted
  record answers 404 instead of being created again
  (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api);
- ``external_id=(key, value)``: ``PATCH <set>(<key>='<value>')``, an upsert by
  alternate key (https://learn.microsoft.com/power-apps/developer/data-platform/use-upsert-insert-update-record),
  with ``Prefer: return=representation`` so 201 (created) and 200 (updated)
  tell the two apart;
- neither: ``POST <set>``.

A lookup value is sent as ``<navigation property>@odata.bind: "/<set>(<id>)"``
and ``None`` as ``null``, which disassociates
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
A choice is written by its label (``describe`` lists labels) and sent as its value.

Requests answered with a transient error (429, 5xx, a SQL deadlock or
timeout) are sent again in a later round, as are requests Dataverse did not
answer; if a whole batch's answer is lost, its updates and upserts (idempotent)
are sent again and its creates reported as ``OUTCOME_UNKNOWN``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from abmsync.connectors.base import (
    INVALID_FIELD,
    RESTRICTED_PICKLIST,
    STRING_TOO_LONG,
    FieldType,
    Patch,
    PatchValue,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.dynamics.batch import (
    MAX_REQUESTS,
    Answer,
    Operation,
    decode_batch,
    encode_batch,
)
from abmsync.connectors.dynamics.client import (
    DUPLICATE_RECORD,
    NOT_FOUND,
    DataverseClient,
    Kind,
    OutcomeUnknownError,
    error_kind,
    vendor_error,
)
from abmsync.connectors.dynamics.metadata import Catalog, Described, odata_text

# A create whose answer was lost: not re-sent (it may exist); read changes before retrying.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
# Dataverse codes that mean what abmsync's shared codes (Salesforce's names) mean.
RECORD_CODES = {
    "0x80044331": STRING_TOO_LONG,  # the value is longer than MaxLength
    "0x80060888": INVALID_FIELD,  # no such property (URI, $select)
    "0x80048d19": INVALID_FIELD,  # error in the payload: unknown property, wrong type
    "0x8004431a": RESTRICTED_PICKLIST,  # not a value of the option set
    DUPLICATE_RECORD: "DUPLICATE_VALUE",  # alternate key values taken by another record
    "0x80040220": "INSUFFICIENT_ACCESS",  # the user lacks a privilege
}
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")
MAX_WAIT = 30.0


@dataclass(frozen=True)
class Planned:
    """One patch as the request that applies it."""

    index: int
    patch: Patch
    operation: Operation

    @property
    def creates(self) -> bool:
        return self.operation.method == "POST"


class PatchError(Exception):
    """A patch that cannot be expressed as a request (no navigation property, say)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RecordWriter:
    """``write`` for one org."""

    def __init__(self, client: DataverseClient, catalog: Catalog, *, rounds: int = 6) -> None:
        self.client = client
        self.catalog = catalog
        self.rounds = rounds

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then send in batches of 1000; one result per patch, in order."""
        described = self.catalog.describe(obj)
        results: list[WriteResult | None] = [None] * len(patches)
        planned: list[Planned] = []
        for index, patch in enumerate(patches):
            failure = validate_patch(described.meta, patch)
            if failure is None:
                try:
                    planned.append(Planned(index, patch, self._operation(described, patch)))
                    continue
                except PatchError as error:
                    failure = WriteResult(
                        record_id=patch.record_id,
                        ok=False,
                        error_code=error.code,
                        message=str(error),
                    )
            results[index] = failure
        for first in range(0, len(planned), MAX_REQUESTS):
            for item, result in self._send(obj, planned[first : first + MAX_REQUESTS]):
                results[item.index] = result
        return [r for r in results if r is not None]

    # -- requests --------------------------------------------------------------------

    def _operation(self, described: Described, patch: Patch) -> Operation:
        table = described.table
        body = self._body(described, patch)
        base = f"{self.client.base_url}{table.entity_set}"
        if patch.record_id is not None:
            return Operation("PATCH", f"{base}({patch.record_id})", body, {"If-Match": "*"})
        if patch.external_id is not None:
            key, value = patch.external_id
            literal = (
                value
                if described.meta.fields[key].type is FieldType.INTEGER
                else (f"'{quote(odata_text(value), safe='')}'")
            )
            url = f"{base}({key}={literal})?$select={table.primary_id}"
            return Operation("PATCH", url, body, {"Prefer": "return=representation"})
        return Operation("POST", base, body)

    def _body(self, described: Described, patch: Patch) -> dict[str, Any]:
        obj = described.table.logical
        body: dict[str, Any] = {}
        for name, value in patch.values.items():
            spec = described.meta.fields[name]
            if spec.type is FieldType.REFERENCE:
                target, record = _reference(value, spec.reference_to)
                nav = self.catalog.navigation(obj, name, target)
                if nav is None or target is None:
                    raise PatchError(
                        INVALID_FIELD, f"{obj}.{name}: no navigation property to {target}"
                    )
                body[f"{nav}@odata.bind"] = (
                    None
                    if record is None
                    else f"/{self.catalog.table(target).entity_set}({record})"
                )
            elif spec.type is FieldType.PICKLIST and isinstance(value, str):
                body[name] = described.choices[name][value]
            else:
                body[name] = value
        return body

    # -- sending ---------------------------------------------------------------------

    def _send(self, obj: str, items: list[Planned]) -> list[tuple[Planned, WriteResult]]:
        """Rounds of one ``$batch`` each until every request has a final answer."""
        done: list[tuple[Planned, WriteResult]] = []
        pending = items
        for round_ in range(self.rounds):
            last = round_ == self.rounds - 1
            content, content_type = encode_batch([p.operation for p in pending])
            try:
                answer = self.client.send(
                    "POST",
                    "$batch",
                    what=f"writing {len(pending)} {obj} records",
                    content=content,
                    headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"},
                    idempotent=not any(p.creates for p in pending),
                )
            except OutcomeUnknownError as error:
                for item in pending:
                    if item.creates:
                        done.append(
                            (
                                item,
                                WriteResult(
                                    ok=False, error_code=OUTCOME_UNKNOWN, message=str(error)
                                ),
                            )
                        )
                pending = [p for p in pending if not p.creates]
                if not pending:
                    break
                continue
            answers = decode_batch(answer.content, answer.headers.get("content-type", ""))
            again: list[Planned] = []
            wait = 0.05 * 2**round_
            for position, item in enumerate(pending):
                if position >= len(answers):
                    again.append(item)  # not answered: the batch stopped before it
                    continue
                part = answers[position]
                if not part.ok and _transient(part) and not last:
                    again.append(item)
                    wait = max(wait, min(_seconds(part.headers.get("retry-after")), MAX_WAIT))
                    continue
                done.append((item, _result(item, part)))
            if not again:
                break
            if last:
                for item in again:
                    done.append(
                        (
                            item,
                            WriteResult(
                                record_id=item.patch.record_id,
                                ok=False,
                                error_code="UNANSWERED",
                                message=f"Dynamics 365 did not answer in {self.rounds} tries",
                            ),
                        )
                    )
                break
            pending = again
            time.sleep(wait)
        return done


def _reference(value: PatchValue, default: str | None) -> tuple[str | None, str | None]:
    """(target table, record id) of a lookup value: ``id`` or ``table:id`` (polymorphic)."""
    if value is None:
        return default, None
    text = str(value)
    if ":" in text:
        target, _, record = text.partition(":")
        return target, record
    return default, text


def _seconds(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _transient(part: Answer) -> bool:
    vendor = vendor_error(part.status, part.body)
    return error_kind(part.status, vendor.code) in (Kind.TRANSIENT, Kind.RATE_LIMITED)


def _result(item: Planned, part: Answer) -> WriteResult:
    patch = item.patch
    if part.ok:
        record_id = _record_id(part, item) or patch.record_id
        created = item.creates or (patch.external_id is not None and part.status == 201)
        return WriteResult(record_id=record_id, ok=True, created=created)
    vendor = vendor_error(part.status, part.body)
    code = RECORD_CODES.get(vendor.code or "", vendor.code or f"HTTP_{part.status}")
    if vendor.code == NOT_FOUND or (part.status == 404 and vendor.code is None):
        # The patched record is gone, or a lookup names a record that does not exist.
        gone = patch.record_id is not None and patch.record_id.lower() in vendor.message.lower()
        code = "ENTITY_IS_DELETED" if gone else "INVALID_CROSS_REFERENCE_KEY"
    return WriteResult(
        record_id=patch.record_id,
        ok=False,
        error_code=code,
        message=f"{vendor.message} [{part.status} {vendor.code or 'error'}]",
    )


def _record_id(part: Answer, item: Planned) -> str | None:
    """The id an answer names: the ``OData-EntityId`` header, else the body's primary id."""
    match = _ENTITY_ID.search(part.headers.get("odata-entityid", ""))
    if match:
        return match.group(1)
    if isinstance(part.body, dict):
        for key, value in part.body.items():
            if key.endswith("id") and isinstance(value, str) and len(value) == 36:
                return value
    return None
