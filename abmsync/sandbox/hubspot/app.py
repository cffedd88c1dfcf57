"""The HubSpot emulator: CRM v3 objects, search, properties, owners and v4 associations.

``create_app`` returns a Starlette app that answers the official
``hubspot-api-client`` exactly as HubSpot does for the calls abmsync makes:
the same paths, status codes (batch create 201, read/update/upsert 200 or 207
multi-status, archive 204), JSON shapes, error bodies, rate-limit headers and
limits (100 inputs per batch, 200 results per search page, 10,000 results per
search). Request-level faults come from :class:`~abmsync.sandbox.faults.FaultMiddleware`
with HubSpot-shaped bodies; per-record batch failures from ``faults.record_fails()``.

Sandbox-only helpers, exempt from auth and faults, live under ``/__sandbox``:
``reset``, ``clock`` (freeze or shift the portal clock), ``seed`` (bulk-create
records cheaply), ``records/{type}`` (the whole end state) and ``token``.
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.faults import ASGIApp, FaultMiddleware, Faults, Message, Receive, Scope, Send
from abmsync.sandbox.hubspot.store import (
    BATCH_MAX,
    DEFAULT_ASSOCIATION_TYPES,
    JSON,
    OBJECT_TYPE_IDS,
    ApiError,
    HubSpotStore,
    RecordError,
    RecordRejectedError,
    iso,
)

SeedData = Mapping[str, list[Mapping[str, Any]]]  # object type -> property values per record
Handler = Callable[[Request], Awaitable[Response]]


def render_fault(kind: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """HubSpot's error body for a request-level fault from :class:`FaultMiddleware`."""
    correlation = str(uuid.uuid4())
    if kind == "rate_limit":
        status, body = 429, _rate_limit_body("SECONDLY", correlation)
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
        }
    return status, [(b"content-type", b"application/json;charset=utf-8")], json.dumps(body).encode()


def _rate_limit_body(policy: str, correlation: str) -> JSON:
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation,
        "policyName": policy,
    }


class HubSpotGate:
    """ASGI middleware: bearer-token auth, rate limits and HubSpot's rate-limit headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        burst_limit: int,
        burst_interval_ms: int,
        daily_limit: int,
        secondly_limit: int | None,
    ) -> None:
        self.app = app
        self.token = token
        self.burst_limit = burst_limit
        self.burst_interval_ms = burst_interval_ms
        self.daily_limit = daily_limit
        self.secondly_limit = secondly_limit
        self.calls: collections.deque[float] = collections.deque()
        self.daily_used = 0
        self.requests: collections.Counter[str] = collections.Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith("/__sandbox"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth != f"Bearer {self.token}":
            await _send_json(send, 401, _auth_error(), [])
            return
        now = time.monotonic()
        while self.calls and now - self.calls[0] > self.burst_interval_ms / 1000:
            self.calls.popleft()
        recent = sum(1 for t in self.calls if now - t <= 1.0)
        policy = None
        if len(self.calls) >= self.burst_limit:
            policy = "TEN_SECONDLY_ROLLING"
        elif self.secondly_limit is not None and recent >= self.secondly_limit:
            policy = "SECONDLY"
        elif self.daily_used >= self.daily_limit:
            policy = "DAILY"
        limits = self._limit_headers(len(self.calls))
        if policy is not None:
            await _send_json(send, 429, _rate_limit_body(policy, str(uuid.uuid4())), limits)
            return
        self.calls.append(now)
        self.daily_used += 1
        self.requests[f"{scope.get('method')} {path}"] += 1
        limits = self._limit_headers(len(self.calls))

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limits]}
            await send(message)

        await self.app(scope, receive, send_with_limits)

    def _limit_headers(self, used: int) -> list[tuple[bytes, bytes]]:
        values = {
            "x-hubspot-ratelimit-max": self.burst_limit,
            "x-hubspot-ratelimit-remaining": max(self.burst_limit - used, 0),
            "x-hubspot-ratelimit-interval-milliseconds": self.burst_interval_ms,
            "x-hubspot-ratelimit-daily": self.daily_limit,
            "x-hubspot-ratelimit-daily-remaining": max(self.daily_limit - self.daily_used, 0),
        }
        if self.secondly_limit is not None:
            values["x-hubspot-ratelimit-secondly"] = self.secondly_limit
        return [(k.encode(), str(v).encode()) for k, v in values.items()]


def _auth_error() -> JSON:
    return {
        "status": "error",
        "message": "Authentication credentials not found. This API supports OAuth 2.0 "
        "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "correlationId": str(uuid.uuid4()),
        "category": "INVALID_AUTHENTICATION",
    }


async def _send_json(
    send: Send, status: int, body: JSON, headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json;charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


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
        page = self.store.list_page(
            obj,
            limit=int(query.get("limit", "10")),
            after=query.get("after"),
            names=_names(query.getlist("properties")),
            archived=query.get("archived", "false").lower() == "true",
        )
        wanted = _names(query.getlist("associations"))
        if wanted:
            for item in page.get("results", []):
                self._inline_associations(obj, item, wanted)
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

    async def create_object(self, request: Request) -> Response:
        obj = self._obj(request)
        body = await _json(request)
        record = self.store.create(obj, body.get("properties") or {})
        for link in body.get("associations") or []:
            self._associate_from_create(obj, str(record.id), link)
        return JSONResponse(self.store.render(obj, record, None), status_code=201)

    def _associate_from_create(self, obj: str, record_id: str, link: Mapping[str, Any]) -> None:
        to_id = str(link["to"]["id"])
        for spec in link.get("types") or []:
            to_obj = self._find_type_of(to_id, obj, int(spec["associationTypeId"]))
            self.store.associate(obj, record_id, to_obj, to_id, int(spec["associationTypeId"]))

    def _find_type_of(self, to_id: str, from_obj: str, type_id: int) -> str:
        for (source, target), known in DEFAULT_ASSOCIATION_TYPES.items():
            if source == from_obj and known == type_id:
                return target
        raise ApiError(400, "VALIDATION_ERROR", f"Unknown association type {type_id} for {to_id}")

    async def get_object(self, request: Request) -> Response:
        obj = self._obj(request)
        query = request.query_params
        record = self.store.get(
            obj, str(request.path_params["id"]), id_property=query.get("idProperty")
        )
        if record is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        item = self.store.render(obj, record, _names(query.getlist("properties")))
        wanted = _names(query.getlist("associations"))
        if wanted:
            self._inline_associations(obj, item, wanted)
        return JSONResponse(item)

    async def update_object(self, request: Request) -> Response:
        obj = self._obj(request)
        body = await _json(request)
        record = self.store.get(
            obj, str(request.path_params["id"]), id_property=request.query_params.get("idProperty")
        )
        if record is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        self.store.update(obj, record, body.get("properties") or {})
        return JSONResponse(self.store.render(obj, record, None))

    async def archive_object(self, request: Request) -> Response:
        obj = self._obj(request)
        record = self.store.get(obj, str(request.path_params["id"]))
        if record is not None:
            self.store.archive(obj, record)
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        return JSONResponse(self.store.search(self._obj(request), await _json(request)))

    # -- batch ---------------------------------------------------------------------

    async def batch(self, request: Request) -> Response:
        obj = self._obj(request)
        action = str(request.path_params["action"])
        body = await _json(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > BATCH_MAX:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the limit of {BATCH_MAX} inputs",
            )
        if action in ("update", "upsert", "read"):
            keys = [str(item.get("id")) for item in inputs]
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise ApiError(
                    400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}"
                )
        started = iso(self.store.now())
        if action == "archive":
            for item in inputs:
                record = self.store.get(obj, str(item.get("id")))
                if record is not None:
                    self.store.archive(obj, record)
            return Response(status_code=204)
        step = {
            "read": self._read_one,
            "create": self._create_one,
            "update": self._update_one,
            "upsert": self._upsert_one,
        }.get(action)
        if step is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No batch action {action}")
        results: list[JSON] = []
        errors: list[JSON] = []
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            key = str(item.get("id", ""))
            try:
                if action != "read" and self.faults.record_fails():
                    raise RecordRejectedError(
                        RecordError(
                            500,
                            "INTERNAL_ERROR",
                            "sandbox fault: this record could not be saved; try again",
                        )
                    )
                result = step(obj, item, body)
            except RecordRejectedError as rejected:
                errors.append(rejected.error.render([key] if key else [], trace))
                continue
            if trace is not None:
                result["objectWriteTraceId"] = trace
            results.append(result)
        payload: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(self.store.now()),
        }
        if errors:
            payload["errors"] = errors
            payload["numErrors"] = len(errors)
            return JSONResponse(payload, status_code=207)
        return JSONResponse(payload, status_code=201 if action == "create" else 200)

    def _read_one(self, obj: str, item: Mapping[str, Any], body: Mapping[str, Any]) -> JSON:
        key = str(item.get("id"))
        record = self.store.get(obj, key, id_property=body.get("idProperty"))
        if record is None:
            raise RecordRejectedError(
                RecordError(
                    404,
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {obj.upper()[:-1]} objects, "
                    "they may be deleted or not exist. Check that ids are valid.",
                )
            )
        return self.store.render(obj, record, body.get("properties") or None)

    def _create_one(self, obj: str, item: Mapping[str, Any], body: Mapping[str, Any]) -> JSON:
        record = self.store.create(obj, item.get("properties") or {})
        for link in item.get("associations") or []:
            self._associate_from_create(obj, str(record.id), link)
        return self.store.render(obj, record, list(item.get("properties") or {}))

    def _update_one(self, obj: str, item: Mapping[str, Any], body: Mapping[str, Any]) -> JSON:
        key = str(item.get("id"))
        record = self.store.get(obj, key, id_property=item.get("idProperty"))
        if record is None:
            raise RecordRejectedError(
                RecordError(404, "OBJECT_NOT_FOUND", f"Object {key} was not found")
            )
        self.store.update(obj, record, item.get("properties") or {})
        return self.store.render(obj, record, list(item.get("properties") or {}))

    def _upsert_one(self, obj: str, item: Mapping[str, Any], body: Mapping[str, Any]) -> JSON:
        key = str(item.get("id"))
        id_property = str(item.get("idProperty") or "hs_object_id")
        values = dict(item.get("properties") or {})
        if id_property != "hs_object_id" and id_property not in self.store.unique_properties(obj):
            raise RecordRejectedError(
                RecordError(
                    400,
                    "VALIDATION_ERROR",
                    f"{id_property} is not a unique property and cannot be used as idProperty",
                )
            )
        record = self.store.get(obj, key, id_property=id_property)
        if record is not None:
            self.store.update(obj, record, values)
            new = False
        elif id_property == "hs_object_id":
            missing = RecordError(404, "OBJECT_NOT_FOUND", f"Object {key} not found")
            raise RecordRejectedError(missing)
        else:
            record = self.store.create(obj, {**values, id_property: key})
            new = True
        return {**self.store.render(obj, record, list(values)), "new": new}

    # -- properties and owners -------------------------------------------------------

    async def list_properties(self, request: Request) -> Response:
        return JSONResponse({"results": self.store.list_properties(self._obj(request))})

    async def get_property(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        return JSONResponse(self.store.get_property(self._obj(request), name))

    async def create_property(self, request: Request) -> Response:
        created = self.store.create_property(self._obj(request), await _json(request))
        return JSONResponse(created, status_code=201)

    async def list_groups(self, request: Request) -> Response:
        return JSONResponse({"results": self.store.list_groups(self._obj(request))})

    async def create_group(self, request: Request) -> Response:
        created = self.store.create_group(self._obj(request), await _json(request))
        return JSONResponse(created, status_code=201)

    async def owners(self, request: Request) -> Response:
        query = request.query_params
        limit = min(int(query.get("limit", "100")), 500)
        return JSONResponse(self.store.owners_page(limit, query.get("after")))

    # -- associations v4 ---------------------------------------------------------------

    async def associate_default(self, request: Request) -> Response:
        params = request.path_params
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        result = self._link_default(from_obj, str(params["id"]), to_obj, str(params["to_id"]))
        now = iso(self.store.now())
        return JSONResponse(
            {"status": "COMPLETE", "results": [result], "startedAt": now, "completedAt": now}
        )

    def _link_default(self, from_obj: str, from_id: str, to_obj: str, to_id: str) -> JSON:
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj))
        if type_id is None:
            raise ApiError(400, "VALIDATION_ERROR", f"No default association {from_obj}->{to_obj}")
        try:
            self.store.associate(from_obj, from_id, to_obj, to_id, type_id)
        except RecordRejectedError as rejected:
            raise ApiError(404, "OBJECT_NOT_FOUND", rejected.error.message) from None
        return {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": type_id,
            },
        }

    async def batch_associate(self, request: Request) -> Response:
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        action = str(request.path_params.get("action", "associate"))
        if action not in ("associate", "create", "read"):
            raise ApiError(404, "NOT_FOUND", f"No batch action {action!r} for associations")
        inputs = (await _json(request)).get("inputs") or []
        limit = 1000 if action == "read" else 2000
        if len(inputs) > limit:
            raise ApiError(400, "VALIDATION_ERROR", f"At most {limit} inputs per batch")
        now = iso(self.store.now())
        results: list[JSON] = []
        errors: list[JSON] = []
        for item in inputs:
            from_id = str(item["from"]["id"]) if "from" in item else str(item.get("id"))
            try:
                if action == "read":
                    if self.store.get(from_obj, from_id) is None:
                        raise RecordRejectedError(
                            RecordError(404, "OBJECT_NOT_FOUND", f"No {from_obj} {from_id}")
                        )
                    linked = self.store.associations_of(from_obj, from_id, to_obj)
                    results.append({"from": {"id": from_id}, "to": linked})
                    continue
                to_id = str(item["to"]["id"])
                types = item.get("types") or [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj), 1),
                    }
                ]
                for spec in types:
                    self.store.associate(
                        from_obj, from_id, to_obj, to_id, int(spec["associationTypeId"])
                    )
                results.append(_labels_pair(from_obj, from_id, to_obj, to_id, action))
            except RecordRejectedError as rejected:
                errors.append(rejected.error.render([from_id], None))
        payload: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            payload["errors"] = errors
            payload["numErrors"] = len(errors)
            return JSONResponse(payload, status_code=207)
        return JSONResponse(payload, status_code=201 if action == "create" else 200)

    async def batch_archive(self, request: Request) -> Response:
        """``batch/archive`` unlinks every type between each pair; ``batch/labels/archive``
        only the types named. Both answer 204 with no body, as the v4 spec declares."""
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        labels = request.url.path.rstrip("/").endswith("/labels/archive")
        inputs = (await _json(request)).get("inputs")
        if not isinstance(inputs, list):
            raise ApiError(400, "VALIDATION_ERROR", "inputs: a list of associations is required")
        if len(inputs) > 2000:
            raise ApiError(400, "VALIDATION_ERROR", "At most 2000 inputs per batch")
        for item in inputs:
            if not isinstance(item, dict) or not isinstance(item.get("from"), dict):
                raise ApiError(400, "VALIDATION_ERROR", "each input needs 'from' and 'to'")
            from_id = str(item["from"].get("id"))
            targets = item.get("to")
            if labels:
                types = item.get("types") or []
                ids = {int(t["associationTypeId"]) for t in types if "associationTypeId" in t}
                if isinstance(targets, dict):
                    self.store.disassociate(from_obj, from_id, to_obj, str(targets.get("id")), ids)
                continue
            if not isinstance(targets, list):
                raise ApiError(400, "VALIDATION_ERROR", "'to' must be a list of object ids")
            for target in targets:
                self.store.disassociate(from_obj, from_id, to_obj, str(target.get("id")))
        return Response(status_code=204)

    async def archive_association(self, request: Request) -> Response:
        """``DELETE /crm/v4/objects/{type}/{id}/associations/{to}/{to_id}``: unlink, 204."""
        params = request.path_params
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        self.store.disassociate(from_obj, str(params["id"]), to_obj, str(params["to_id"]))
        return Response(status_code=204)

    async def read_associations(self, request: Request) -> Response:
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        from_id = str(request.path_params["id"])
        if self.store.get(from_obj, from_id) is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No {from_obj} {from_id}")
        return JSONResponse({"results": self.store.associations_of(from_obj, from_id, to_obj)})

    # -- sandbox helpers -----------------------------------------------------------------

    async def sandbox_reset(self, request: Request) -> Response:
        self.store.reset()
        self.gate.calls.clear()
        self.gate.requests.clear()
        self.gate.daily_used = 0
        return JSONResponse({"ok": True})

    async def sandbox_clock(self, request: Request) -> Response:
        body = await _json(request)
        frozen = body.get("frozen_ms")
        self.store.set_clock(
            frozen_ms=None if frozen is None else int(frozen),
            offset_ms=int(body.get("offset_ms", 0)),
        )
        return JSONResponse({"now_ms": self.store.now()})

    async def sandbox_seed(self, request: Request) -> Response:
        body = await _json(request)
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
        self.gate.token = str((await _json(request))["token"])
        return JSONResponse({"ok": True})

    async def sandbox_requests(self, request: Request) -> Response:
        return JSONResponse(dict(self.gate.requests))


def _labels_pair(from_obj: str, from_id: str, to_obj: str, to_id: str, action: str) -> JSON:
    if action == "associate":
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj), 1)
        return {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": type_id,
            },
        }
    return {  # LabelsBetweenObjectPair: every id a string in the v4 spec
        "fromObjectTypeId": str(OBJECT_TYPE_IDS[from_obj]),
        "fromObjectId": str(from_id),
        "toObjectTypeId": str(OBJECT_TYPE_IDS[to_obj]),
        "toObjectId": str(to_id),
        "labels": [],
    }


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


async def _json(request: Request) -> JSON:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: {exc}") from None
    if not isinstance(data, dict):
        if isinstance(data, list):
            return {"inputs": data}
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
    return data


async def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RecordRejectedError):
        error = exc.error
        body = {
            "status": "error",
            "message": error.message,
            "correlationId": str(uuid.uuid4()),
            "category": error.category,
        }
        return JSONResponse(body, status_code=error.status)
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


def create_app(
    faults: Faults | None = None,
    *,
    token: str = "sandbox-token",
    seed_data: SeedData | None = None,
    burst_limit: int = 190,
    burst_interval_ms: int = 10_000,
    daily_limit: int = 1_000_000,
    secondly_limit: int | None = None,
) -> Starlette:
    """A HubSpot emulator; ``seed_data`` maps object types to property dicts to create.

    ``burst_limit`` per ``burst_interval_ms`` (HubSpot's ten-secondly rolling
    limit), ``secondly_limit`` and ``daily_limit`` are enforced with 429s.
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
    )
    emulator = Emulator(store, faults, placeholder)

    def shared_gate(app: ASGIApp) -> HubSpotGate:
        placeholder.app = app
        return placeholder

    e = emulator
    objects = "/crm/v3/objects/{type}"
    routes = [
        Route("/__sandbox/reset", e.sandbox_reset, methods=["POST"]),
        Route("/__sandbox/clock", e.sandbox_clock, methods=["POST"]),
        Route("/__sandbox/seed", e.sandbox_seed, methods=["POST"]),
        Route("/__sandbox/records/{type}", e.sandbox_records, methods=["GET"]),
        Route("/__sandbox/token", e.sandbox_token, methods=["POST"]),
        Route("/__sandbox/requests", e.sandbox_requests, methods=["GET"]),
        Route(objects, e.list_objects, methods=["GET"]),
        Route(objects, e.create_object, methods=["POST"]),
        Route(objects + "/search", e.search, methods=["POST"]),
        Route(objects + "/batch/{action}", e.batch, methods=["POST"]),
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
            e.associate_default,
            methods=["PUT"],
        ),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/{to}", e.read_associations, methods=["GET"]
        ),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/associate/default",
            e.batch_associate,
            methods=["POST"],
        ),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/{to}/{to_id}",
            e.archive_association,
            methods=["DELETE"],
        ),
        Route("/crm/v4/associations/{from}/{to}/batch/archive", e.batch_archive, methods=["POST"]),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/labels/archive",
            e.batch_archive,
            methods=["POST"],
        ),
        Route(
            "/crm/v4/associations/{from}/{to}/batch/{action:str}",
            e.batch_associate,
            methods=["POST"],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(FaultMiddleware, faults=faults, render=render_fault),
            Middleware(shared_gate),
        ],
        exception_handlers={ApiError: _api_error, RecordRejectedError: _api_error},
    )
    app.state.store = store
    app.state.gate = placeholder
    app.state.faults = faults
    return app


async def _unused(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the HubSpot gate was used before Starlette built its middleware stack")
