"""The Oracle Eloqua emulator: login, discovery, the application (REST) API and Bulk API 2.0.

``create_app()`` returns a Starlette app. One server plays the login host
(``/id``, ``/auth/oauth2/token``) and the pod (``/api/REST/{1.0,2.0}/...``,
``/api/bulk/2.0/...``, paths in any casing). Every API call needs HTTP Basic
``Company\\User:password`` or an OAuth bearer token; a bad or expired one
answers 401, which tells clients to call ``/id`` again
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/DeterminingBaseURL.html).
Request-level faults come from :class:`~abmsync.sandbox.faults.FaultMiddleware`
with Eloqua-shaped answers; the login paths are exempt. Over
:attr:`EloquaConfig.requests_per_second` the API answers 429 Too Many Requests
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_HTTPStatusCodes.html).

``app.state``: ``store`` (:class:`EloquaStore`), ``config``, ``gate`` (its
``api_calls`` counts requests that reached the API, login excluded),
``bulk`` (:class:`~.bulk.BulkApi`: ``fail_next_syncs(n)``), ``auth`` and
``faults``. ``POST /__sandbox/expire_tokens`` expires every access token.

Guesses:
- ``api_calls`` counts every request under ``/api`` that got past the
  fault injector, whatever its answer (401 and 429 included).
- The rate limit is a sliding one-second window over all API requests; 429
  answers ``Retry-After: 1``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.auth import Authenticator
from abmsync.sandbox.eloqua.bulk import BulkApi
from abmsync.sandbox.eloqua.catalog import BulkCatalog
from abmsync.sandbox.eloqua.config import EloquaConfig
from abmsync.sandbox.eloqua.errors import EloquaError, render_fault
from abmsync.sandbox.eloqua.rest import RestApi
from abmsync.sandbox.eloqua.rest_objects import RestObjects
from abmsync.sandbox.eloqua.routing import Call, Router, error_response, json_response
from abmsync.sandbox.eloqua.store import EloquaStore
from abmsync.sandbox.faults import FaultMiddleware, Faults

LOGIN_PATHS = ("/id", "/auth/oauth2/token", "/__sandbox")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class Gate:
    """Counts API requests, checks credentials and enforces the request rate."""

    def __init__(self, config: EloquaConfig, auth: Authenticator) -> None:
        self.config = config
        self.auth = auth
        self.api_calls = 0
        self._recent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def admit(self, authorization: str) -> str:
        """The caller's user name; raises 401 or 429 answers."""
        with self._lock:
            self.api_calls += 1
            limit = self.config.requests_per_second
            if limit is not None:
                now = time.monotonic()
                while self._recent and now - self._recent[0] >= 1.0:
                    self._recent.popleft()
                if len(self._recent) >= limit:
                    raise errors.too_many_requests(1)
                self._recent.append(now)
        user = self.auth.user_of(authorization)
        if user is None:
            raise errors.unauthorized()
        return user


def build_router(store: EloquaStore, config: EloquaConfig, bulk: BulkApi) -> Router:
    """Every API route of the emulator."""
    router = Router()
    BulkCatalog(store).register(router)
    bulk.register(router)
    RestApi(store).register(router)
    RestObjects(store).register(router)
    return router


def create_app(
    faults: Faults | None = None,
    *,
    config: EloquaConfig | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """A Starlette app emulating one Eloqua site (see the module doc for ``app.state``)."""
    faults = faults if faults is not None else Faults()
    config = config or EloquaConfig()
    faults.exempt_paths = (
        *faults.exempt_paths,
        *(p for p in LOGIN_PATHS if p not in faults.exempt_paths),
    )
    store = EloquaStore(clock)
    auth = Authenticator(config, store)
    gate = Gate(config, auth)
    bulk = BulkApi(store, config, faults)
    router = build_router(store, config, bulk)

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def dispatch(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        lowered = path.lower().rstrip("/")
        authorization = request.headers.get("authorization", "")
        body = await request.body()
        if lowered == "/id" and request.method == "GET":
            return json_response(auth.identity(authorization, base_url(request)))
        if lowered == "/auth/oauth2/token" and request.method == "POST":
            content_type = request.headers.get("content-type", "")
            try:
                status, answer = auth.token(authorization, body, content_type)
            except EloquaError as error:
                return error_response(error)
            response = json_response(answer, status)
            response.headers["Cache-Control"] = "no-store"
            return response
        if lowered == "/__sandbox/expire_tokens" and request.method == "POST":
            auth.expire_all()
            return json_response({"expired": True})
        if not lowered.startswith("/api/"):
            return Response(status_code=404)
        try:
            user = gate.admit(authorization)
            resolved = router.resolve(request.method, path)
            if isinstance(resolved, int):
                return Response(status_code=resolved)
            handler, params = resolved
            call = Call(
                request.method,
                path,
                params,
                request.query_params,
                body,
                base_url(request),
                user,
                request.headers,
            )
            return await asyncio.to_thread(handler, call)
        except EloquaError as error:
            return error_response(error)

    app = Starlette(
        routes=[Route("/{path:path}", dispatch, methods=METHODS)],
        middleware=[Middleware(FaultMiddleware, faults=faults, render=render_fault)],
    )
    app.state.store = store
    app.state.config = config
    app.state.gate = gate
    app.state.bulk = bulk
    app.state.auth = auth
    app.state.faults = faults
    return app
