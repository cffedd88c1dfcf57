"""The HubSpot emulator: CRM v3 objects, search, properties, owners and v4 associations.

``create_app`` returns a Starlette app that answers the official
``hubspot-api-client`` exactly as HubSpot does for the calls abmsync makes:
the same paths, status codes (batch create 201 or 400 for the whole batch,
read/update/upsert 200 or 207 multi-status, archive 204), JSON shapes, error
bodies (every answer, 404 and 405 included, is HubSpot's JSON error), rate-limit
headers and limits (100 inputs per batch, 100 records per list page, 200 results
per search page, 10,000 results per search, five searches a second).
Request-level faults come from :class:`~abmsync.sandbox.faults.FaultMiddleware`
with HubSpot-shaped bodies; per-record batch failures from ``faults.record_fails()``.

Sandbox-only helpers, exempt from auth and faults, live under ``/__sandbox``:
``reset``, ``clock`` (freeze or shift the portal clock), ``seed`` (bulk-create
records cheaply), ``records/{type}`` (the whole end state) and ``token``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.faults import ASGIApp, FaultMiddleware, Faults, Receive, Scope, Send
from abmsync.sandbox.hubspot.associations import AssociationsV4
from abmsync.sandbox.hubspot.batch import ObjectBatches, associate_created, check_associations
from abmsync.sandbox.hubspot.bodies import (
    CREATE_INPUT,
    PATCH_INPUT,
    SEARCH,
    json_object,
    query_bool,
    query_int,
    read_body,
)
from abmsync.sandbox.hubspot.errors import ApiError, RecordRejectedError
from abmsync.sandbox.hubspot.gate import SEARCH_PER_SECOND, HubSpotGate, rate_limit_body
from abmsync.sandbox.hubspot.legacy_routes import legacy_routes
from abmsync.sandbox.hubspot.records import JSON, Record, iso
from abmsync.sandbox.hubspot.schemas import schema_routes
from abmsync.sandbox.hubspot.store import LIST_PAGE_MAX, HubSpotStore

SeedData = Mapping[str, list[Mapping[str, Any]]]  # object type -> property values per record
# "Usage of this parameter will reduce the maximum number of [records] that can be
# read by a single request": 50 (https://github.com/HubSpot/hubspot-api-python/issues/143).
HISTORY_PAGE_MAX = 50
log = logging.getLogger(__name__)


def render_fault(kind: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """HubSpot's error body for a request-level fault from :class:`FaultMiddleware`."""
    correlation = str(uuid.uuid4())
    if kind == "rate_limit":
        status, body = 429, rate_limit_body("SECONDLY", correlation)
    elif kind == "token_expiry":
        status = 401
        body = {
            "status": "error",
            "message": "The OAuth token used to make this call expired 1 second(s) ago.",
            "correlationId": correlation,
            "category": "EXPIRED_AUTHENTICATION",
        }
    else:
        status = 502 if hash(correlation) % 2 else 503
        body = {
            "status": "error",
            "message": f"Bad gateway ({detail})",
            "correlationId": correlation,
            "category": "INTERNAL_ERROR",
        }
    return status, [(b"content-type", b"application/json;charset=utf-8")], json.dumps(body).encode()


class Emulator:
    """Route handlers over one :class:`HubSpotStore` and one :class:`Faults`."""

    def __init__(self, store: HubSpotStore, faults: Faults, gate: HubSpotGate) -> None:
        self.store = store
        self.faults = faults
        self.gate = gate

    # -- objects -----------------------------------------------------------------

    def _obj(self, request: Request, key: str = "type") -> str:
        return self.store.object_type(str(request.path_params[key]))

    async def list_objects(self, request: Request) -> Response:
        obj = self._obj(request)
        query = request.query_params
        history = _names(query.getlist("propertiesWithHistory"))
        cap = HISTORY_PAGE_MAX if history else LIST_PAGE_MAX
        page = self.store.list_page(
            obj,
            limit=query_int(query, "limit", 10, low=1, high=cap),
            after=query.get("after"),
            names=_names(query.getlist("properties")),
            archived=query_bool(query, "archived"),
        )
        wanted = _names(query.getlist("associations"))
        for item in page.get("results", []):
            if wanted:
                self._inline_associations(obj, item, wanted)
            if history:
                self._add_history(obj, item, history)
        _link_next_page(request, page)
        return JSONResponse(page)

    def _inline_associations(self, obj: str, item: JSON, wanted: list[str]) -> None:
        """``associations=contacts,companies`` on a read: the linked ids per object type,
        as ``{"contacts": {"results": [{"id": "51", "type": "note_to_contact"}]}}``; a type
        with no link is left out, as HubSpot leaves it out."""
        found: JSON = {}
        for name in wanted:
            try:
                to_obj = self.store.object_type(name)
            except ApiError:
                continue
            linked = self.store.associations_of(obj, str(item["id"]), to_obj)
            label = f"{_singular(obj)}_to_{_singular(to_obj)}"
            results = [{"id": str(link["toObjectId"]), "type": label} for link in linked]
            if results:
                found[to_obj] = {"results": results}
        if found:
            item["associations"] = found

    def _add_history(self, obj: str, item: JSON, names: list[str]) -> None:
        """``propertiesWithHistory``: each named property with a value, as a list of
        ``ValueWithTimestamp`` (the emulator keeps only the latest value)."""
        record = self.store.records[obj].get(int(item["id"]))
        if record is None:
            return
        item["propertiesWithHistory"] = {
            name: [{"value": value, "timestamp": iso(record.updated_ms), "sourceType": "API"}]
            for name in names
            if (value := self.store.value(record, name)) is not None
        }

    async def create_object(self, request: Request) -> Response:
        obj = self._obj(request)
        body = await read_body(request, CREATE_INPUT)
        links = body.get("associations") or []
        check_associations(self.store, obj, links)
        record = self.store.create(obj, body["properties"])
        associate_created(self.store, obj, str(record.id), links)
        return JSONResponse(self.store.render(obj, record, None), status_code=201)

    def _record(self, request: Request, obj: str) -> Record:
        query = request.query_params
        query_bool(query, "archived")
        record = self.store.get(
            obj, str(request.path_params["id"]), id_property=query.get("idProperty")
        )
        if record is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        return record

    async def get_object(self, request: Request) -> Response:
        obj = self._obj(request)
        query = request.query_params
        record = self._record(request, obj)
        item = self.store.render(obj, record, _names(query.getlist("properties")))
        wanted = _names(query.getlist("associations"))
        if wanted:
            self._inline_associations(obj, item, wanted)
        history = _names(query.getlist("propertiesWithHistory"))
        if history:
            self._add_history(obj, item, history)
        return JSONResponse(item)

    async def update_object(self, request: Request) -> Response:
        obj = self._obj(request)
        body = await read_body(request, PATCH_INPUT)
        record = self._record(request, obj)
        self.store.update(obj, record, body["properties"])
        return JSONResponse(self.store.render(obj, record, None))

    async def archive_object(self, request: Request) -> Response:
        obj = self._obj(request)
        record = self.store.get(obj, str(request.path_params["id"]))
        if record is not None:
            self.store.archive(obj, record)
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        body = await read_body(request, SEARCH)
        return JSONResponse(self.store.search(self._obj(request), body))

    # -- properties and owners -------------------------------------------------------

    async def list_properties(self, request: Request) -> Response:
        return JSONResponse({"results": self.store.list_properties(self._obj(request))})

    async def get_property(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        return JSONResponse(self.store.get_property(self._obj(request), name))

    async def create_property(self, request: Request) -> Response:
        created = self.store.create_property(self._obj(request), await json_object(request))
        return JSONResponse(created, status_code=201)

    async def list_groups(self, request: Request) -> Response:
        return JSONResponse({"results": self.store.list_groups(self._obj(request))})

    async def create_group(self, request: Request) -> Response:
        created = self.store.create_group(self._obj(request), await json_object(request))
        return JSONResponse(created, status_code=201)

    async def owners(self, request: Request) -> Response:
        query = request.query_params
        limit = query_int(query, "limit", 100, low=1, high=500)
        query_bool(query, "archived")
        page = self.store.owners_page(limit, query.get("after"))
        _link_next_page(request, page)
        return JSONResponse(page)

    # -- sandbox helpers -----------------------------------------------------------------

    async def sandbox_reset(self, request: Request) -> Response:
        self.store.reset()
        self.gate.reset()
        return JSONResponse({"ok": True})

    async def sandbox_clock(self, request: Request) -> Response:
        body = await json_object(request)
        frozen = body.get("frozen_ms")
        self.store.set_clock(
            frozen_ms=None if frozen is None else int(frozen),
            offset_ms=int(body.get("offset_ms", 0)),
        )
        return JSONResponse({"now_ms": self.store.now()})

    async def sandbox_seed(self, request: Request) -> Response:
        body = await json_object(request)
        obj = self.store.object_type(str(body["objectType"]))
        now = self.store.now()
        ids = self.store.seed(
            obj,
            int(body["count"]),
            body.get("template") or {},
            int(body.get("startMs", now)),
            int(body.get("endMs", now)),
        )
        return JSONResponse({"count": len(ids), "firstId": ids[0] if ids else None})

    async def sandbox_records(self, request: Request) -> Response:
        obj = self._obj(request)
        with self.store._lock:
            rows = [
                {
                    "id": str(r.id),
                    "properties": dict(sorted(r.properties.items())),
                    "archived": r.archived_ms is not None,
                    "associations": sorted(
                        f"{kind}:{to_id}" for kind, to_id in self.store.links.get((obj, r.id), {})
                    ),
                }
                for r in sorted(self.store.records[obj].values(), key=lambda r: r.id)
            ]
        return JSONResponse({"results": rows})

    async def sandbox_token(self, request: Request) -> Response:
        self.gate.token = str((await json_object(request))["token"])
        return JSONResponse({"ok": True})

    async def sandbox_requests(self, request: Request) -> Response:
        return JSONResponse(dict(self.gate.requests))


def _link_next_page(request: Request, page: JSON) -> None:
    """``paging.next.link``: the full URL of the next page, as HubSpot gives it
    (``https://api.hubapi.com/crm/v3/objects/0-2/.../associations/0-1?...&after=...``,
    https://github.com/HubSpot/hubspot-api-python/issues/135)."""
    following = (page.get("paging") or {}).get("next")
    if following is not None:
        following["link"] = str(request.url.include_query_params(after=following["after"]))


def _singular(obj: str) -> str:
    """``contacts`` -> ``contact``, ``companies`` -> ``company``: association type names.

    A guess for every pair: HubSpot names a default association ``note_to_contact``,
    ``contact_to_company`` (and labelled or secondary ones otherwise).
    """
    return obj[:-3] + "y" if obj.endswith("ies") else obj.removesuffix("s")


def _names(raw: list[str]) -> list[str] | None:
    """``properties`` query values; the client sends them repeated or comma-separated."""
    names = [n for value in raw for n in value.split(",") if n]
    return names or None


def _error_body(status: int, category: str, message: str) -> JSON:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


async def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RecordRejectedError):
        exc = exc.error.as_request_error()
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no such route) and 405 (wrong method) as HubSpot's JSON."""
    assert isinstance(exc, HTTPException)
    category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
    message = f"{exc.detail}: {request.method} {request.url.path}"
    body = _error_body(exc.status_code, category, message)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    """An emulator bug still answers in HubSpot's shape (and is logged)."""
    if not isinstance(exc, ConnectionAbortedError):  # a "drop" fault, not a failure
        log.error("HubSpot emulator failed on %s %s: %r", request.method, request.url.path, exc)
    body = _error_body(500, "INTERNAL_ERROR", "internal error")
    return JSONResponse(body, status_code=500)


def create_app(
    faults: Faults | None = None,
    *,
    token: str = "sandbox-token",
    seed_data: SeedData | None = None,
    burst_limit: int = 190,
    burst_interval_ms: int = 10_000,
    daily_limit: int = 1_000_000,
    secondly_limit: int | None = None,
    search_per_second: int | None = SEARCH_PER_SECOND,
) -> Starlette:
    """A HubSpot emulator; ``seed_data`` maps object types to property dicts to create.

    ``burst_limit`` per ``burst_interval_ms`` (HubSpot's ten-secondly rolling
    limit), ``secondly_limit``, ``daily_limit`` and ``search_per_second`` are
    enforced with 429s. HubSpot allows five searches a second per account, and so
    does the emulator unless told otherwise (None: no search limit).
    ``app.state.store``, ``app.state.gate`` and ``app.state.faults`` are there for tests.
    """
    faults = faults if faults is not None else Faults()
    store = HubSpotStore()
    for obj, rows in (seed_data or {}).items():
        for values in rows:
            store.create(store.object_type(obj), values)
    # The gate is built by Starlette when the middleware stack is first used; a
    # placeholder instance lets the helpers reach it before and after that.
    placeholder = HubSpotGate(
        _unused,
        token=token,
        burst_limit=burst_limit,
        burst_interval_ms=burst_interval_ms,
        daily_limit=daily_limit,
        secondly_limit=secondly_limit,
        search_per_second=search_per_second,
    )
    emulator = Emulator(store, faults, placeholder)

    def shared_gate(app: ASGIApp) -> HubSpotGate:
        placeholder.app = app
        return placeholder

    e = emulator
    batches = ObjectBatches(store, faults)
    a = AssociationsV4(store)
    objects = "/crm/v3/objects/{type}"
    routes = [
        Route("/__sandbox/reset", e.sandbox_reset, methods=["POST"]),
        Route("/__sandbox/clock", e.sandbox_clock, methods=["POST"]),
        Route("/__sandbox/seed", e.sandbox_seed, methods=["POST"]),
        Route("/__sandbox/records/{type}", e.sandbox_records, methods=["GET"]),
        Route("/__sandbox/token", e.sandbox_token, methods=["POST"]),
        Route("/__sandbox/requests", e.sandbox_requests, methods=["GET"]),
        *legacy_routes(store),  # companies v2, deals v1, contacts v1, v3 association reads
        *schema_routes(store),  # custom object schemas
        Route(objects, e.list_objects, methods=["GET"]),
        Route(objects, e.create_object, methods=["POST"]),
        Route(objects + "/search", e.search, methods=["POST"]),
        Route(objects + "/batch/{action}", batches.handle, methods=["POST"]),
        Route(objects + "/{id}", e.get_object, methods=["GET"]),
        Route(objects + "/{id}", e.update_object, methods=["PATCH"]),
        Route(objects + "/{id}", e.archive_object, methods=["DELETE"]),
        Route("/crm/v3/properties/{type}", e.list_properties, methods=["GET"]),
        Route("/crm/v3/properties/{type}", e.create_property, methods=["POST"]),
        Route("/crm/v3/properties/{type}/groups", e.list_groups, methods=["GET"]),
        Route("/crm/v3/properties/{type}/groups", e.create_group, methods=["POST"]),
        Route("/crm/v3/properties/{type}/{name}", e.get_property, methods=["GET"]),
        Route("/crm/v3/owners", e.owners, methods=["GET"]),
        Route("/crm/v3/owners/", e.owners, methods=["GET"]),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}",
            a.associate_default,
            methods=["PUT"],
        ),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/{to}", a.read_associations, methods=["GET"]
        ),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/associate/default",
            a.batch_associate,
            methods=["POST"],
        ),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/{to}/{to_id}",
            a.archive_association,
            methods=["DELETE"],
        ),
        Route("/crm/v4/associations/{from}/{to}/batch/archive", a.batch_archive, methods=["POST"]),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/labels/archive",
            a.batch_archive,
            methods=["POST"],
        ),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/{action:str}",
            a.batch_associate,
            methods=["POST"],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(FaultMiddleware, faults=faults, render=render_fault),
            Middleware(shared_gate),
        ],
        exception_handlers={
            ApiError: _api_error,
            RecordRejectedError: _api_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.store = store
    app.state.gate = placeholder
    app.state.faults = faults
    return app


async def _unused(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the HubSpot gate was used before Starlette built its middleware stack")
