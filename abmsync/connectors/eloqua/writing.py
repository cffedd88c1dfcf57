"""Writing to Eloqua through Bulk imports: one ``WriteResult`` per patch, in order.

Each patch is checked against ``describe`` first (:func:`~abmsync.connectors.base.validate_patch`);
the valid ones are grouped by what they do and which fields they carry (an
import definition has fixed fields, at most 100; a row without a field would
blank it) and sent in chunks of :data:`WRITE_BATCH` rows: for each chunk an
import definition, ``POST .../data``, ``POST /syncs``, polling, and
``GET /syncs/{id}/rejects`` when the sync ends in ``warning``. A reject names
its row by ``recordIndex``, so it fails its own patch with the ELQ
``statusCode`` as error code; the rest of the chunk is applied.

- **Updates by id** (``record_id``): ``identifierFieldName`` on
  ``{{Contact.Id}}`` / ``{{Account.Id}}`` / ``{{CustomObject[N].Id}}``, which
  Eloqua never creates; contacts and accounts also say ``importRule:
  updateOnly`` (https://docs.oracle.com/en/cloud/saas/readiness/marketing/26b/eloq-26b/26B-eloqua-wn-f47446.htm).
  A patch to a deleted record is rejected alone and creates nothing.
- **Upserts** (``external_id``) and **creates** (neither; a contact is
  created by its email address): ``identifierFieldName`` on the key field,
  Eloqua's default create-or-update. Custom object records (touchpoints)
  link to their contact through ``mapDataCards`` on ``{{Contact.Id}}`` when
  the patch carries ``ContactId``. The new and matched records' ids come from
  one export of the records modified since the import began (the
  definition's ``createdAt``, the server's clock), matched on the key; keys
  it misses (an update that changed nothing) are looked up by value. Which
  records were created: the sync log's counts ("ELQ-00004 Contacts created.",
  ELQ-00005 accounts, ELQ-00007 custom object data:
  https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/GettingStarted/APIRequests/eloqua-status-codes.htm)
  settle all-or-none; a mixed chunk tells them by creation time.

Once a sync is started its polling, rejects, logs and id lookups are counted
by the budget but not refused (:meth:`ApiBudget.finishing`): Eloqua has
accepted the work, and stopping half-way would apply it without telling the
engine. Posting import data is never repeated after a lost answer; the chunk
starts over on a new definition instead, whose data nobody will sync.

Guesses:
    - ``recordIndex`` counts the staged rows from 1; a reject whose key value
      does not match that row is matched on its ``fieldValues`` instead.
    - A record created in the same second as the import began, by someone
      else, and then matched by the import counts as created in a mixed chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from abmsync.connectors.base import (
    INVALID_FIELD,
    NOT_WRITABLE,
    Patch,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.eloqua.bulk import MAX_IMPORT_FIELDS, MAX_PAGE, Bulk
from abmsync.connectors.eloqua.catalog import ACTIVITIES, Catalog, Described
from abmsync.connectors.eloqua.errors import OutcomeUnknownError
from abmsync.connectors.eloqua.values import (
    filter_time,
    floor_second,
    import_value,
    parse_time,
    quote,
)
from abmsync.errors import TerminalError

log = logging.getLogger(__name__)
WRITE_BATCH = 5000  # rows per import data post and sync (well under the 32 MB per post)
REPOST_ATTEMPTS = 3  # new definitions tried when posting data loses its answer
FILTER_MAX = 1000  # characters in an export filter (Filtering tutorial)
KEY_LOOKUPS = 5  # exports at most to find ids by key value, after the time window
EMAIL = "C_EmailAddress"
NO_EMAIL = "REQUIRED_FIELD_MISSING"
NO_RESULT = "NO_RESULT"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
CREATED_CODES = {"contacts": "ELQ-00004", "accounts": "ELQ-00005", "custom": "ELQ-00007"}
CREATED_STAMPS = {"contacts": "C_DateCreated", "accounts": "M_DateCreated", "custom": "CreatedAt"}


@dataclass
class Group:
    """Patches sent through one import definition: same action, key and fields."""

    action: str  # update | upsert
    key: str  # identifier field name (record id column, external id field, C_EmailAddress)
    fields: tuple[str, ...]  # value fields, sorted
    indexes: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    """What one import sync did: rejects by row, records created, when it began."""

    rejects: dict[int, tuple[str, str]]  # row (0-based) -> (statusCode, message)
    created: int | None  # the sync log's count of created records, if it says
    began: str  # the definition's createdAt (server time)


@dataclass(frozen=True)
class Found:
    """A record an id lookup found: its id and when it was created."""

    id: str
    created_at: str | None


class RecordWriter:
    """``write`` over Bulk imports; see the module docstring."""

    def __init__(self, bulk: Bulk, catalog: Catalog, budget: ApiBudget, site_zone: tzinfo) -> None:
        self.bulk = bulk
        self.catalog = catalog
        self.budget = budget
        self.site_zone = site_zone

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, group and import ``patches``; one result per patch, in order."""
        described = self.catalog.describe(obj)
        results: list[WriteResult | None] = [None] * len(patches)
        resolved: list[Patch] = []
        groups: dict[tuple[str, str, tuple[str, ...]], Group] = {}
        for index, given in enumerate(patches):
            patch = described.resolve_patch(given)
            resolved.append(patch)
            problem = self._problem(described, patch)
            if problem is not None:
                results[index] = problem
                continue
            action, key = self._action(described, patch)
            fields = tuple(sorted(set(patch.values) - {key}))
            group = groups.setdefault((action, key, fields), Group(action, key, fields))
            group.indexes.append(index)
        for group in groups.values():
            for first in range(0, len(group.indexes), WRITE_BATCH):
                chunk = group.indexes[first : first + WRITE_BATCH]
                if group.action == "upsert":
                    self._upsert(described, group, chunk, resolved, results)
                else:
                    self._update(described, group, chunk, resolved, results)
        return [
            result
            if result is not None
            else WriteResult(
                record_id=patches[i].record_id,
                ok=False,
                error_code=NO_RESULT,
                message="Eloqua returned no result for this record",
            )
            for i, result in enumerate(results)
        ]

    # -- sorting patches ------------------------------------------------------------------

    def _problem(self, described: Described, patch: Patch) -> WriteResult | None:
        if described.kind == ACTIVITIES:
            return _failed(patch, NOT_WRITABLE, "Eloqua activities are read-only")
        problem = validate_patch(described.meta, patch)
        if problem is not None:
            return problem
        if len(patch.values) + 1 > MAX_IMPORT_FIELDS:
            return _failed(
                patch,
                TOO_MANY_FIELDS,
                f"an Eloqua import holds at most {MAX_IMPORT_FIELDS} fields, this patch has "
                f"{len(patch.values)}",
            )
        new = patch.record_id is None and patch.external_id is None
        if new and described.kind == "contacts" and not patch.values.get(EMAIL):
            return _failed(patch, NO_EMAIL, f"a new Eloqua contact needs {EMAIL}")
        if new and described.kind != "contacts":
            return _failed(
                patch, INVALID_FIELD, f"an Eloqua {described.kind} record is written by a key field"
            )
        return None

    def _action(self, described: Described, patch: Patch) -> tuple[str, str]:
        if patch.record_id is not None:
            return "update", described.id_column
        if patch.external_id is not None:
            return "upsert", patch.external_id[0]
        return "upsert", EMAIL  # a contact is created by its email address

    # -- imports -------------------------------------------------------------------------

    def _definition(self, described: Described, group: Group) -> dict[str, Any]:
        """The import definition of a group: fields, identifier, rule, contact linking."""
        fields = {name: described.import_statement(name) for name in (group.key, *group.fields)}
        definition: dict[str, Any] = {
            "name": f"abmsync {described.meta.name} {group.action}"[:100],
            "fields": fields,
            "identifierFieldName": group.key,
            "updateRule": "always",
            "isUpdatingMultipleMatchedRecords": False,
        }
        if group.action == "update" and described.kind in ("contacts", "accounts"):
            definition["importRule"] = "updateOnly"
        if described.kind == "custom" and "ContactId" in fields:
            # The row's ContactId links the record to that contact (a data card mapping).
            definition.update(
                {
                    "mapDataCards": True,
                    "mapDataCardsEntityType": "Contact",
                    "mapDataCardsSourceField": "ContactId",
                    "mapDataCardsEntityField": "{{Contact.Id}}",
                    "mapDataCardsCaseSensitiveMatch": False,
                }
            )
        return definition

    def _row(self, described: Described, group: Group, patch: Patch) -> dict[str, Any]:
        meta = described.meta.fields
        if group.action == "update":
            key_value: Any = patch.record_id
        elif patch.external_id is not None:
            key_value = patch.external_id[1]
        else:
            key_value = patch.values.get(EMAIL)
        row: dict[str, Any] = {group.key: key_value}
        for name in group.fields:
            row[name] = import_value(meta[name].type, patch.values.get(name), self.site_zone)
        return row

    def _run(self, described: Described, group: Group, rows: list[dict[str, Any]]) -> Outcome:
        """One import: definition, data, sync, wait, then rejects and logs."""
        definition = self._definition(described, group)
        for _ in range(REPOST_ATTEMPTS):
            made = self.bulk.create_import(described.parent, definition)
            try:
                self.bulk.post_data(made.uri, rows)
            except OutcomeUnknownError as error:
                log.warning("eloqua: %s; posting the rows again on a new definition", error)
                continue
            sync = self.bulk.start_sync(made.uri)
            with self.budget.finishing():
                done = self.bulk.wait(sync)
                rejects = (
                    _by_row(self.bulk.rejects(done.uri), rows, group.key)
                    if done.status != "success"
                    else {}
                )
                created = None
                if group.action == "upsert":
                    created = self._created_count(described, done.uri)
            return Outcome(rejects, created, made.created_at or sync.created_at)
        raise TerminalError(
            f"Eloqua lost the answer to posting import data {REPOST_ATTEMPTS} times running"
        )

    def _created_count(self, described: Described, sync_uri: str) -> int | None:
        code = CREATED_CODES.get(described.kind)
        entries = self.bulk.listing(f"{sync_uri}/logs", what=f"reading the logs of {sync_uri}")
        counts = [e.get("count") for e in entries if e.get("statusCode") == code]
        return sum(int(c) for c in counts if isinstance(c, int)) if counts else None

    def _update(
        self,
        described: Described,
        group: Group,
        chunk: list[int],
        patches: Sequence[Patch],
        results: list[WriteResult | None],
    ) -> None:
        """Updates by record id: update-only, each reject fails its own patch."""
        rows = [self._row(described, group, patches[i]) for i in chunk]
        outcome = self._run(described, group, rows)
        for row, index in enumerate(chunk):
            patch = patches[index]
            rejected = outcome.rejects.get(row)
            results[index] = (
                _rejected(patch, rejected)
                if rejected
                else WriteResult(record_id=patch.record_id, ok=True)
            )

    def _upsert(
        self,
        described: Described,
        group: Group,
        chunk: list[int],
        patches: Sequence[Patch],
        results: list[WriteResult | None],
    ) -> None:
        """Upserts on a key field: apply, then find the records' ids and which are new."""
        rows = [self._row(described, group, patches[i]) for i in chunk]
        outcome = self._run(described, group, rows)
        applied = [r for r in range(len(rows)) if r not in outcome.rejects]
        keys = [str(rows[r][group.key]) for r in applied]
        with self.budget.finishing():
            found = self._lookup(described, group.key, outcome.began, keys)
        began = parse_time(outcome.began)
        for row, index in enumerate(chunk):
            patch = patches[index]
            rejected = outcome.rejects.get(row)
            if rejected:
                results[index] = _rejected(patch, rejected)
                continue
            record = found.get(str(rows[row][group.key]).lower())
            if outcome.created == 0:
                created = False
            elif outcome.created == len(applied):
                created = True
            else:
                made = parse_time(record.created_at) if record is not None else None
                created = made is not None and began is not None and made >= floor_second(began)
            results[index] = WriteResult(
                record_id=record.id if record is not None else None, ok=True, created=created
            )

    # -- finding ids ---------------------------------------------------------------------------

    def _lookup(
        self, described: Described, key: str, began: str, keys: Sequence[str]
    ) -> dict[str, Found]:
        """key (lower case) -> the record holding it, for ``keys`` (written since ``began``)."""
        wanted = {k.lower() for k in keys}
        if not wanted:
            return {}
        found: dict[str, Found] = {}
        moment = parse_time(began)
        if moment is not None and described.modified is not None:
            literal = filter_time(floor_second(moment))
            since = f"'{described.statements[described.modified]}' >= '{literal}'"
            found = self._export_keys(described, key, since, wanted)
        missing = sorted(wanted - set(found))
        for filter_ in _key_filters(described.statements[key], missing)[:KEY_LOOKUPS]:
            found.update(self._export_keys(described, key, filter_, wanted))
        return found

    def _export_keys(
        self, described: Described, key: str, filter_: str, wanted: set[str]
    ) -> dict[str, Found]:
        """The ``wanted`` keys among the records an export filtered on ``filter_`` lists."""
        id_column = described.id_column
        fields = {id_column: described.statements[id_column], "Key": described.statements[key]}
        stamp = CREATED_STAMPS.get(described.kind)
        if stamp is not None and stamp in described.statements:
            fields["CreatedAt"] = described.statements[stamp]
        uri = self.bulk.create_export(described.parent, f"abmsync {key} lookup", fields, filter_)
        sync = self.bulk.wait(self.bulk.start_sync(uri))
        found: dict[str, Found] = {}
        for page in self.bulk.pages(sync.uri, limit=MAX_PAGE):
            for item in page.items:
                value, record = str(item.get("Key") or "").lower(), item.get(id_column)
                if value in wanted and record not in (None, ""):
                    created = item.get("CreatedAt")
                    found.setdefault(value, Found(str(record), str(created) if created else None))
        return found


def _key_filters(statement: str, keys: Sequence[str]) -> list[str]:
    """``'{{key}}' = 'a' OR '{{key}}' = 'b' ...`` filters of at most 1000 characters."""
    filters: list[str] = []
    current: list[str] = []
    for key in keys:
        term = f"'{statement}' = '{quote(key)}'"
        if current and len(" OR ".join([*current, term])) > FILTER_MAX:
            filters.append(" OR ".join(current))
            current = []
        if len(term) <= FILTER_MAX:
            current.append(term)
    if current:
        filters.append(" OR ".join(current))
    return filters


def _by_row(
    rejects: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], key: str
) -> dict[int, tuple[str, str]]:
    """Rejects by 0-based row: ``recordIndex`` counts from 1, checked on the key value."""
    by_key: dict[str, int] = {}
    for row, staged in enumerate(rows):
        by_key.setdefault(str(staged.get(key) or "").lower(), row)
    found: dict[int, tuple[str, str]] = {}
    for item in rejects:
        reject = (
            str(item.get("statusCode") or "ELQ-REJECTED"),
            " ".join(str(item.get("message") or "rejected by Eloqua").split())[:300],
        )
        index = item.get("recordIndex")
        row = index - 1 if isinstance(index, int) else -1
        values = item.get("fieldValues")
        named = str(values.get(key) or "").lower() if isinstance(values, Mapping) else None
        if not 0 <= row < len(rows) or (
            named is not None and str(rows[row].get(key) or "").lower() != named
        ):
            row = by_key.get(named or "", -1)
        if 0 <= row < len(rows):
            found.setdefault(row, reject)
    return found


def _failed(patch: Patch, code: str, message: str) -> WriteResult:
    return WriteResult(record_id=patch.record_id, ok=False, error_code=code, message=message)


def _rejected(patch: Patch, reject: tuple[str, str]) -> WriteResult:
    return _failed(patch, *reject)
