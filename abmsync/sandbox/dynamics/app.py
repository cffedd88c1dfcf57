"""The Dynamics 365 (Dataverse) emulator: Microsoft Entra and the Web API on one host.

``create_app()`` returns a Starlette app. The org URL is the server's URL; the
token endpoint is ``{url}/{tenant}/oauth2/v2.0/token`` (msal authority
``{url}/{tenant}``) and the Web API is ``{url}/api/data/v9.2/`` (9.0 and 9.1
answer too). Request-level faults come from
:class:`~abmsync.sandbox.faults.FaultMiddleware` with Dataverse-shaped bodies;
service protection limits (https://learn.microsoft.com/power-apps/developer/
data-platform/api-limits) answer 429 with ``Retry-After``.
``POST /__sandbox/expire_tokens`` expires every issued token.

Guesses:
- A missing or expired bearer token answers 401 with an empty
  ``WWW-Authenticate: Bearer authorization_uri=...`` challenge and a Dataverse
  error body (code ``0x80072560``); Dataverse itself often sends no body.
- The option value error is ``0x8004431a``; qualifying a closed lead
  ``0x80040233``; more than 1000 requests in a batch ``0x8006088b``.
- A merged subordinate lead becomes Disqualified/Canceled (statecode 2,
  statuscode 7); accounts and contacts Inactive (1/2).
- Service protection counts every Web API request of the application user;
  execution time is not measured (``0x80072321`` is never sent).
- Duplicate alternate key values answer 412 ``0x80040237``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.batch import run_batch
from abmsync.sandbox.dynamics.entra import EntraError, TokenIssuer
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata_api import MetadataApi
from abmsync.sandbox.dynamics.store import DataverseStore
from abmsync.sandbox.dynamics.webapi import ApiRequest, Reply, WebApi
from abmsync.sandbox.faults import FaultMiddleware, Faults

VERSIONS = ("9.0", "9.1", "9.2")
JSON_TYPE = "application/json; odata.metadata=minimal"


@dataclass
class DynamicsConfig:
    """Credentials and limits of the emulated org."""

    tenant_id: str = "8d1b2c3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
    client_id: str = "3f2e1d0c-9b8a-4765-8432-1a0b9c8d7e6f"
    client_secret: str = "sandbox-secret"
    token_lifetime: float = 3600.0
    page_size: int = 5000
    requests_per_window: int = 6000
    window_seconds: float = 300.0
    max_concurrent: int = 52
    change_tracking_days: int = 7
    api_version: str = "9.2"


class Throttle:
    """Service protection: requests per sliding window and concurrent requests, per user."""

    def __init__(self, config: DynamicsConfig) -> None:
        self.config = config
        self._calls: dict[str, deque[float]] = {}
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self.admitted = 0  # Web API requests answered (a $batch is one), for benchmarks

    def enter(self, user: str) -> int:
        """Count one request and return how many are left in the window; 429 past a limit."""
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(user, deque())
            while calls and calls[0] <= now - self.config.window_seconds:
                calls.popleft()
            if len(calls) >= self.config.requests_per_window:
                wait = max(1, int(calls[0] + self.config.window_seconds - now + 0.999))
                raise ThrottleError(
                    errors.REQUESTS_EXCEEDED,
                    f"Number of requests exceeded the limit of {self.config.requests_per_window}"
                    f" over time window of {int(self.config.window_seconds)} seconds.",
                    wait,
                )
            if self._running.get(user, 0) >= self.config.max_concurrent:
                raise ThrottleError(
                    errors.CONCURRENCY,
                    f"Number of concurrent requests exceeded the limit of "
                    f"{self.config.max_concurrent}.",
                    1,
                )
            calls.append(now)
            self.admitted += 1
            self._running[user] = self._running.get(user, 0) + 1
            return self.config.requests_per_window - len(calls)

    def leave(self, user: str) -> None:
        with self._lock:
            self._running[user] = max(0, self._running.get(user, 0) - 1)


class ThrottleError(DataverseError):
    """429 Too Many Requests with the seconds to wait."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(429, code, message)
        self.retry_after = retry_after


class DataverseSandbox:
    """The state of one emulated org: its store, tokens, limits and API handlers."""

    def __init__(
        self,
        config: DynamicsConfig,
        faults: Faults,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.faults = faults
        self.store = DataverseStore(clock)
        self.tokens = TokenIssuer(
            config.tenant_id, config.client_id, config.client_secret, config.token_lifetime
        )
        self.throttle = Throttle(config)
        self.web = WebApi(self.store, config)
        self.metadata = MetadataApi(self.store)

    @property
    def api_used(self) -> int:
        """Web API requests admitted so far (HTTP requests: a ``$batch`` counts once)."""
        return self.throttle.admitted

    def dispatch(self, request: ApiRequest) -> Reply:
        """One Web API request below the version segment (also used by $batch)."""
        try:
            if self.metadata.handles(request.path):
                return self.metadata.handle(request)
            if request.path.strip("/") == "$metadata":
                return Reply(200, csdl(self.store))
            return self.web.handle(request)
        except DataverseError as error:
            return Reply(error.status, error.body())

    def handle(self, request: ApiRequest) -> Reply:
        """A top-level request: ``$batch`` or one resource."""
        if request.path.strip("/") == "$batch" and request.method == "POST":
            return run_batch(self, request)
        return self.dispatch(request)


def csdl(store: DataverseStore) -> str:
    """A small CSDL document declaring the entity types and sets served."""
    types, sets = [], []
    for table in store.tables.values():
        props = [f'<Key><PropertyRef Name="{table.primary_id}"/></Key>']
        for attribute in table.attributes.values():
            name = f"_{attribute.name}_value" if attribute.is_lookup else attribute.name
            edm = {
                "Integer": "Edm.Int32",
                "BigInt": "Edm.Int64",
                "Boolean": "Edm.Boolean",
                "Money": "Edm.Decimal",
                "Decimal": "Edm.Decimal",
                "Double": "Edm.Double",
                "DateTime": "Edm.DateTimeOffset",
                "Uniqueidentifier": "Edm.Guid",
                "Picklist": "Edm.Int32",
                "State": "Edm.Int32",
                "Status": "Edm.Int32",
            }
            kind = "Edm.Guid" if attribute.is_lookup else edm.get(attribute.type, "Edm.String")
            props.append(f'<Property Name="{name}" Type="{kind}"/>')
        types.append(f'<EntityType Name="{table.name}">{"".join(props)}</EntityType>')
        sets.append(
            f'<EntitySet Name="{table.entity_set}" '
            f'EntityType="Microsoft.Dynamics.CRM.{table.name}"/>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" '
        'xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" '
        'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'{"".join(types)}<EntityContainer Name="System">{"".join(sets)}</EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


def render_fault(kind: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Dataverse-shaped bodies for :class:`FaultMiddleware`."""
    status, code, message = {
        "rate_limit": (
            429,
            errors.REQUESTS_EXCEEDED,
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        ),
        "server_error": (503, errors.SERVER, "Service Unavailable"),
        "token_expiry": (401, errors.UNAUTHORIZED, "The access token has expired."),
    }.get(kind, (500, errors.SERVER, detail))
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", JSON_TYPE.encode())]
    if kind == "token_expiry":
        headers.append((b"www-authenticate", b"Bearer error=invalid_token"))
    return status, headers, body


def _reply(reply: Reply) -> Response:
    headers = {"OData-Version": "4.0", **reply.headers}
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, status_code=reply.status, headers=headers)
    if isinstance(reply.body, str) and reply.body.startswith("<?xml"):
        return Response(reply.body, reply.status, headers, media_type="application/xml")
    return JSONResponse(reply.body, reply.status, headers, media_type=JSON_TYPE)


def create_app(
    faults: Faults | None = None,
    config: DynamicsConfig | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """A Starlette app emulating one Dataverse org; ``app.state.sandbox`` is its state."""
    faults = faults or Faults()
    config = config or DynamicsConfig()
    # Entra is another service: Web API faults never hit the token and discovery paths.
    extra = ("/__sandbox", "/common/discovery", f"/{config.tenant_id}/")
    faults.exempt_paths = (
        *faults.exempt_paths,
        *(p for p in extra if p not in faults.exempt_paths),
    )
    sandbox = DataverseSandbox(config, faults, clock)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def openid(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        try:
            return JSONResponse(sandbox.tokens.openid_configuration(base(request), tenant))
        except EntraError as error:
            return JSONResponse(error.body(), error.status)

    async def discovery(request: Request) -> Response:
        return JSONResponse(sandbox.tokens.instance_discovery(base(request), config.tenant_id))

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        try:
            issued = sandbox.tokens.issue(request.path_params["tenant"], form)
        except EntraError as error:
            return JSONResponse(error.body(), error.status)
        return JSONResponse(issued, headers={"Cache-Control": "no-store, no-cache"})

    async def expire_tokens(request: Request) -> Response:
        sandbox.tokens.expire_all()
        return JSONResponse({"expired": True})

    async def web_api(request: Request) -> Response:
        version = request.path_params["version"]
        authority = f"{base(request)}/{config.tenant_id}/oauth2/authorize"
        user = sandbox.tokens.user_of(request.headers.get("authorization", ""))
        if user is None:
            error = DataverseError(
                401, errors.UNAUTHORIZED, "The access token is missing, invalid or has expired."
            )
            challenge = f"Bearer authorization_uri={authority}, resource_id={base(request)}"
            return JSONResponse(error.body(), 401, {"WWW-Authenticate": challenge})
        if version not in VERSIONS:
            error = DataverseError(
                404, errors.ODATA, f"Resource not found for the segment 'v{version}'."
            )
            return JSONResponse(error.body(), 404)
        try:
            remaining = sandbox.throttle.enter(user)
        except ThrottleError as error:
            return JSONResponse(error.body(), 429, {"Retry-After": str(error.retry_after)})
        try:
            try:
                body = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)
            api = ApiRequest(
                request.method,
                request.path_params["rest"],
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                f"{base(request)}/api/data/v{version}",
            )
            reply = await asyncio.to_thread(sandbox.handle, api)
            answer = _reply(reply)
            # Service protection headroom, as Dataverse reports it on each answer. Guess:
            # the execution-time header (x-ms-ratelimit-time-remaining-xrm-requests) is not
            # sent, since execution time is not measured here.
            answer.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(remaining)
            return answer
        finally:
            sandbox.throttle.leave(user)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid),
        Route("/common/discovery/instance", discovery),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/__sandbox/expire_tokens", expire_tokens, methods=["POST"]),
        Route("/api/data/v{version}/{rest:path}", web_api, methods=methods),
    ]
    middleware = [Middleware(FaultMiddleware, faults=faults, render=render_fault)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.sandbox = sandbox
    return app
