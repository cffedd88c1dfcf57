"""Bulk API 2.0 definitions and syncs: staging, status polling, data, logs and rejects.

The three-step pattern of
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/Export.htm
and .../Import.htm: create a definition (201, ``uri: "/contacts/exports/12"``),
``POST /syncs {"syncedInstanceUri": ...}`` (201, ``status: "pending"``), poll
``GET /syncs/{id}`` until ``success``/``warning``/``error``, then read
``/syncs/{id}/data`` (exports; ``limit`` 1..50,000, default 1000), ``/logs`` and
``/rejects`` (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/troubleshooting.htm).
Staged export data stays for ``dataRetentionDuration`` (PT1H..P14D, default
PT12H); definitions go after ``autoDeleteDuration``.

The sync does its work when it is created: an export's data is the snapshot
of that moment; later changes are not in it. ``GET /syncs/{id}`` then answers
``active`` :attr:`EloquaConfig.sync_polls` times before the final status.

Guesses:
- Until a sync's final status has been reported, its ``/data`` and ``/logs``
  pages are empty; a sync counts against ``max_concurrent_syncs`` until then.
- Staged data past its retention answers 410; an unknown sync or definition 404.
- ``/syncs/{id}/data`` of an import sync answers 400 with a ``failures`` body.
- Import definitions default ``dataRetentionDuration`` to P7D (what real
  definitions echo); export definitions to PT12H (documented).
- All definitions share one id sequence, syncs another; both count from 1.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.config import EloquaConfig
from abmsync.sandbox.eloqua.exports import ExportPlan, compile_export
from abmsync.sandbox.eloqua.formats import api_timestamp, parse_duration
from abmsync.sandbox.eloqua.imports import ImportPlan, Reject, compile_import
from abmsync.sandbox.eloqua.records import CustomObject
from abmsync.sandbox.eloqua.routing import (
    Call,
    Router,
    bulk_page,
    bulk_paging,
    json_response,
    no_content,
)
from abmsync.sandbox.eloqua.store import EloquaStore
from abmsync.sandbox.faults import Faults

BULK = r"/api/bulk/2\.0"
ENTITIES = r"(?P<entity>contacts|accounts|activities|customObjects/(?P<parent>\d+))"
ECHOED = (
    "name",
    "fields",
    "filter",
    "areSystemTimestampsInUTC",
    "maxRecords",
    "identifierFieldName",
    "isSyncTriggeredOnImport",
    "isUpdatingMultipleMatchedRecords",
    "updateRule",
    "updateRuleByField",
    "importRule",
    "nullIdentifierFieldName",
    "mapDataCards",
    "mapDataCardsCaseSensitiveMatch",
    "mapDataCardsEntityField",
    "mapDataCardsEntityType",
    "mapDataCardsSourceField",
    "syncActions",
    "autoDeleteDuration",
    "dataRetentionDuration",
)


@dataclass
class Definition:
    """An export or import definition."""

    id: int
    kind: str  # exports | imports
    entity: str  # contacts | accounts | activities | customObjects
    parent_id: int | None
    body: dict[str, Any]
    plan: ExportPlan | ImportPlan
    created_by: str
    created_at: datetime
    updated_at: datetime
    staged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """``/contacts/exports/12`` or ``/customObjects/9/imports/3``."""
        owner = f"customObjects/{self.parent_id}" if self.parent_id else self.entity
        return f"/{owner}/{self.kind}/{self.id}"

    def render(self) -> dict[str, Any]:
        """As Eloqua answers a definition: what was given, defaults and read-only stamps."""
        body = {k: self.body[k] for k in ECHOED if k in self.body}
        if self.kind == "exports":
            body.setdefault("areSystemTimestampsInUTC", False)
            body.setdefault("dataRetentionDuration", "PT12H")
        else:
            body.setdefault("isSyncTriggeredOnImport", False)
            body.setdefault("isUpdatingMultipleMatchedRecords", False)
            body.setdefault("dataRetentionDuration", "P7D")
        body.update(
            {
                "uri": self.uri,
                "createdBy": self.created_by,
                "createdAt": api_timestamp(self.created_at),
                "updatedBy": self.created_by,
                "updatedAt": api_timestamp(self.updated_at),
            }
        )
        return body

    def expires_at(self) -> datetime | None:
        """When ``autoDeleteDuration`` removes the definition."""
        span = parse_duration(self.body.get("autoDeleteDuration") or "")
        return None if span is None else self.created_at + span

    def retention(self) -> timedelta:
        """How long staged data stays."""
        default = "PT12H" if self.kind == "exports" else "P7D"
        return parse_duration(self.body.get("dataRetentionDuration") or default) or timedelta(
            hours=12
        )


@dataclass
class Sync:
    """One sync of a definition, done at creation; its status is revealed by polling."""

    id: int
    instance_uri: str
    kind: str
    created_by: str
    created_at: datetime
    status: str
    polls_left: int
    retention: timedelta
    callback_url: str | None = None
    data: list[dict[str, str]] = field(default_factory=list)
    logs: list[tuple[str, str, str, int]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    reported: bool = False
    data_deleted: bool = False

    @property
    def uri(self) -> str:
        """``/syncs/456``."""
        return f"/syncs/{self.id}"

    def render(self, visible: str) -> dict[str, Any]:
        """The sync as ``GET /syncs/{id}`` answers with status ``visible``."""
        body: dict[str, Any] = {"syncedInstanceUri": self.instance_uri}
        if visible != "pending":
            body["syncStartedAt"] = api_timestamp(self.created_at)
        if visible in ("success", "warning", "error"):
            body["syncEndedAt"] = api_timestamp(self.created_at)
        body.update(
            {
                "status": visible,
                "createdAt": api_timestamp(self.created_at),
                "createdBy": self.created_by,
                "uri": self.uri,
            }
        )
        if self.callback_url:
            body["callbackUrl"] = self.callback_url
        return body


class BulkApi:
    """Definitions, staged data and syncs of one site."""

    def __init__(
        self, store: EloquaStore, config: EloquaConfig, faults: Faults | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.faults = faults
        self.definitions: dict[int, Definition] = {}
        self.syncs: dict[int, Sync] = {}
        self._lock = threading.RLock()
        self._next_definition = 1
        self._next_sync = 1
        self.failing_syncs = 0  # the next N syncs end in "error" (ELQ-00146)

    def fail_next_syncs(self, count: int = 1) -> None:
        """Make the next ``count`` syncs end with status ``error`` (a temporary Eloqua error)."""
        self.failing_syncs = count

    # -- definitions -----------------------------------------------------------------

    def _parent(self, call: Call) -> CustomObject | None:
        raw = call.params.get("parent")
        if raw is None:
            return None
        found = self.store.custom_objects.get(int(raw))
        if found is None:
            raise errors.not_found()
        return found

    def _entity(self, call: Call) -> str:
        entity = call.params["entity"].split("/")[0].lower()
        return {"customobjects": "customObjects"}.get(entity, entity)

    def _compile(self, call: Call, kind: str, body: dict[str, Any]) -> ExportPlan | ImportPlan:
        entity, parent = self._entity(call), self._parent(call)
        if kind == "exports":
            return compile_export(self.store, entity, body, parent)
        if entity == "activities":
            raise errors.not_found()
        return compile_import(self.store, "customObject" if parent else entity, body, parent)

    def create_definition(self, call: Call) -> Response:
        """``POST /{entity}/exports|imports``: 201 with the definition."""
        kind = call.params["kind"].lower()
        body = call.object()
        plan = self._compile(call, kind, body)
        with self._lock:
            now = self.store.now()
            definition = Definition(
                self._next_definition,
                kind,
                self._entity(call),
                int(call.params["parent"]) if call.params.get("parent") else None,
                body,
                plan,
                call.user,
                now,
                now,
            )
            self._next_definition += 1
            self.definitions[definition.id] = definition
        return json_response(definition.render(), 201)

    def definition(self, call: Call, kind: str | None = None) -> Definition:
        """The definition a path names (kind and entity must match); 404 otherwise."""
        definition_id = call.id()
        with self._lock:
            found = self.definitions.get(definition_id)
            expires = None if found is None else found.expires_at()
            if found is not None and expires is not None and self.store.now() >= expires:
                del self.definitions[definition_id]
                found = None
        wanted_parent = int(call.params["parent"]) if call.params.get("parent") else None
        if (
            found is None
            or found.kind != (kind or call.params["kind"].lower())
            or found.entity != self._entity(call)
            or found.parent_id != wanted_parent
        ):
            raise errors.not_found()
        return found

    def list_definitions(self, call: Call) -> Response:
        """``GET /{entity}/exports|imports``."""
        kind, entity = call.params["kind"].lower(), self._entity(call)
        parent = call.params.get("parent")
        with self._lock:
            items = [
                d.render()
                for d in self.definitions.values()
                if d.kind == kind
                and d.entity == entity
                and str(d.parent_id or "") == (parent or "")
            ]
        return json_response(bulk_page(items, bulk_paging(call.query)))

    def get_definition(self, call: Call) -> Response:
        """``GET /{entity}/exports|imports/{id}``."""
        return json_response(self.definition(call).render())

    def update_definition(self, call: Call) -> Response:
        """``PUT /{entity}/exports|imports/{id}``: the definition replaced, checked anew."""
        found = self.definition(call)
        body = call.object()
        found.plan = self._compile(call, found.kind, body)
        found.body = body
        found.updated_at = self.store.now()
        return json_response(found.render())

    def delete_definition(self, call: Call) -> Response:
        """``DELETE /{entity}/exports|imports/{id}``: 204."""
        found = self.definition(call)
        with self._lock:
            self.definitions.pop(found.id, None)
        return no_content()

    def stage_import_data(self, call: Call) -> Response:
        """``POST /{entity}/imports/{id}/data``: JSON array of records (or CSV + header), 204."""
        found = self.definition(call, "imports")
        if "text/csv" in call.headers.get("content-type", ""):
            text = call.body.decode("utf-8-sig", "replace")
            rows: Any = list(csv.DictReader(io.StringIO(text)))
        else:
            rows = call.json()
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise errors.failure("data", "Must be a JSON array of objects.")
        with self._lock:
            found.staged.extend(rows)
        if found.body.get("isSyncTriggeredOnImport"):
            self._run(found, None, call.user)
        return no_content()

    def delete_definition_data(self, call: Call) -> Response:
        """``DELETE /{entity}/exports|imports/{id}/data``: staged records dropped, 204."""
        found = self.definition(call)
        with self._lock:
            found.staged.clear()
            for sync in self.syncs.values():
                if sync.instance_uri.lower() == found.uri.lower():
                    sync.data, sync.data_deleted = [], True
        return no_content()

    def export_data(self, call: Call) -> Response:
        """``GET /{entity}/exports/{id}/data``: the data of the definition's latest sync."""
        found = self.definition(call, "exports")
        with self._lock:
            latest = [s for s in self.syncs.values() if s.instance_uri.lower() == found.uri.lower()]
        if not latest:
            return json_response(bulk_page([], bulk_paging(call.query, 50_000)))
        return self._data_page(max(latest, key=lambda s: s.id), call)

    # -- syncs -----------------------------------------------------------------------

    def create_sync(self, call: Call) -> Response:
        """``POST /syncs``: 201, status pending; the work is done now (see module doc)."""
        body = call.object()
        uri = body.get("syncedInstanceUri")
        target = None
        if isinstance(uri, str):
            with self._lock:
                target = next(
                    (
                        d
                        for d in self.definitions.values()
                        if d.uri.lower() == uri.strip().rstrip("/").lower()
                    ),
                    None,
                )
        if target is None:
            raise errors.failure(
                "syncedInstanceUri", "Must be a reference to an existing object.", uri
            )
        limit = self.config.max_concurrent_syncs
        if limit is not None:
            with self._lock:
                running = sum(1 for s in self.syncs.values() if not s.reported)
            if running >= limit:
                raise errors.too_many_requests(1)
        sync = self._run(target, body.get("callbackUrl"), call.user)
        return json_response(sync.render("pending"), 201)

    def _run(self, definition: Definition, callback: str | None, user: str) -> Sync:
        with self._lock:
            sync = Sync(
                self._next_sync,
                definition.uri,
                definition.kind,
                user,
                self.store.now(),
                "success",
                self.config.sync_polls,
                definition.retention(),
                callback,
            )
            self._next_sync += 1
            self.syncs[sync.id] = sync
            if self.failing_syncs > 0:
                self.failing_syncs -= 1
                sync.status = "error"
                sync.logs = [
                    ("error", "ELQ-00146", "The sync failed because of a temporary error.", 0)
                ]
            elif isinstance(definition.plan, ExportPlan):
                sync.data = definition.plan.run()
                sync.logs = [
                    (
                        "information",
                        "ELQ-00102",
                        "Successfully exported members to csv file.",
                        len(sync.data),
                    ),
                    ("information", "ELQ-00131", "Deleted internal staging for data transfer.", 0),
                    (
                        "information",
                        "ELQ-00106",
                        "Successfully converted csv file to sqlite, taking 1 kb.",
                        0,
                    ),
                ]
            else:
                self._run_import(definition, definition.plan, sync)
            sync.logs.append(
                (
                    "information",
                    "ELQ-00101",
                    f"Sync processed for sync {sync.id}, "
                    f"resulting in {sync.status.capitalize()} status.",
                    0,
                )
            )
        return sync

    def _run_import(self, definition: Definition, plan: ImportPlan, sync: Sync) -> None:
        staged, definition.staged = definition.staged, []
        if not staged:
            sync.logs = [("information", "ELQ-00124", "There was no data available to process.", 0)]
            return
        fails = self.faults.record_fails if self.faults is not None else None
        outcome = plan.apply(self.store, staged, fails)
        staging = ("information", "ELQ-00131", "Deleted internal staging for data transfer.", 0)
        sync.logs, sync.rejects = [*outcome.logs, staging], outcome.rejects
        sync.status = "warning" if outcome.rejects else "success"

    def sync(self, call: Call) -> Sync:
        """The sync a path names; 404 when unknown."""
        with self._lock:
            found = self.syncs.get(call.id())
        if found is None:
            raise errors.not_found()
        return found

    def get_sync(self, call: Call) -> Response:
        """``GET /syncs/{id}``: ``active`` while polls are left, then the final status."""
        found = self.sync(call)
        with self._lock:
            if found.polls_left > 0:
                found.polls_left -= 1
                visible = "active"
            else:
                found.reported = True
                visible = found.status
        return json_response(found.render(visible))

    def list_syncs(self, call: Call) -> Response:
        """``GET /syncs``: every sync with the status it has shown so far."""
        with self._lock:
            items = [s.render(s.status if s.reported else "pending") for s in self.syncs.values()]
        return json_response(bulk_page(items, bulk_paging(call.query)))

    def sync_data(self, call: Call) -> Response:
        """``GET /syncs/{id}/data``: one page of an export sync's staged rows."""
        found = self.sync(call)
        if found.kind != "exports":
            raise errors.failure("id", "Must be the id of an export sync.", call.params["id"])
        return self._data_page(found, call)

    def _data_page(self, found: Sync, call: Call) -> Response:
        paging = bulk_paging(call.query, 50_000)
        if found.data_deleted or self.store.now() >= found.created_at + found.retention:
            raise errors.gone()
        rows = found.data if found.reported else []
        return json_response(bulk_page(rows, paging))

    def delete_sync_data(self, call: Call) -> Response:
        """``DELETE /syncs/{id}/data``: staged rows dropped, 204."""
        found = self.sync(call)
        with self._lock:
            found.data = []
            found.data_deleted = True
        return no_content()

    def sync_logs(self, call: Call) -> Response:
        """``GET /syncs/{id}/logs``: ELQ-coded log entries once the sync is done."""
        paging = bulk_paging(call.query)
        found = self.sync(call)
        items = [
            {
                "syncUri": found.uri,
                "count": count,
                "severity": severity,
                "statusCode": code,
                "message": message,
                "createdAt": api_timestamp(found.created_at),
            }
            for severity, code, message, count in (found.logs if found.reported else [])
        ]
        return json_response(bulk_page(items, paging))

    def sync_rejects(self, call: Call) -> Response:
        """``GET /syncs/{id}/rejects``: the records an import sync could not apply."""
        paging = bulk_paging(call.query)
        found = self.sync(call)
        items = [reject.render() for reject in found.rejects] if found.reported else []
        return json_response(bulk_page(items, paging))

    def register(self, router: Router) -> None:
        """Add the Bulk API's definition and sync routes."""
        kinds = r"(?P<kind>exports|imports)"
        base = f"{BULK}/{ENTITIES}/{kinds}"
        router.add("POST", base, self.create_definition)
        router.add("GET", base, self.list_definitions)
        router.add("GET", base + "/{id}", self.get_definition)
        router.add("PUT", base + "/{id}", self.update_definition)
        router.add("DELETE", base + "/{id}", self.delete_definition)
        router.add("POST", base + "/{id}/data", self.stage_import_data)
        router.add("DELETE", base + "/{id}/data", self.delete_definition_data)
        router.add("GET", base + "/{id}/data", self.export_data)
        router.add("POST", f"{BULK}/syncs", self.create_sync)
        router.add("GET", f"{BULK}/syncs", self.list_syncs)
        router.add("GET", f"{BULK}/syncs/{{id}}", self.get_sync)
        router.add("GET", f"{BULK}/syncs/{{id}}/data", self.sync_data)
        router.add("DELETE", f"{BULK}/syncs/{{id}}/data", self.delete_sync_data)
        router.add("GET", f"{BULK}/syncs/{{id}}/logs", self.sync_logs)
        router.add("GET", f"{BULK}/syncs/{{id}}/rejects", self.sync_rejects)
