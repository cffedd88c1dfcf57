"""The HubSpot emulator's front door: bearer-token auth, rate limits and their headers.

Limits are HubSpot's (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details):
a ten-secondly rolling burst limit per app, a daily limit, and, for the CRM
search endpoints only, "five requests per second per account"
(https://developers.hubspot.com/docs/api-reference/search/guide, "Limitations").
A refused call is a 429 with HubSpot's rate-limit body and counts against nothing.

Every answer carries the ``X-HubSpot-RateLimit-*`` headers of the guidelines' table
(https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines):
the ten-secondly ``-Max``/``-Remaining``/``-Interval-Milliseconds``, and
``-Daily``/``-Daily-Remaining``, which are "not included in the response to API
requests authorized using OAuth" (also the changelog "Rate limit headers will now
appear for OAuth authenticated calls"). The portal's private-app token is
``token``; ``oauth_tokens`` are access tokens of OAuth apps installed in it, whose
calls count against the same limits but are answered without the daily headers.
With a secondly limit set, ``-Secondly``/``-Secondly-Remaining`` come too, as in
answers HubSpot gave private apps (recorded in grouparoo/grouparoo,
``plugins/@grouparoo/hubspot/__tests__/fixtures/``).
"""

from __future__ import annotations

import collections
import json
import time
import uuid

from abmsync.sandbox.faults import ASGIApp, Message, Receive, Scope, Send
from abmsync.sandbox.hubspot.records import JSON

# "The search endpoints are rate limited to five requests per second per account."
SEARCH_PER_SECOND = 5


def rate_limit_body(policy: str, correlation: str) -> JSON:
    """HubSpot's 429 body, as real answers carry it (``errorType``/``policyName``,
    https://github.com/HGData/mk-node-hubspot/pull/84 quotes one from a search call)
    plus the ``category`` every HubSpot error carries (the specs' ``Error`` requires it)."""
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation,
        "policyName": policy,
        "category": "RATE_LIMITS",
    }


def auth_error() -> JSON:
    """HubSpot's 401 body for a missing or unknown token."""
    return {
        "status": "error",
        "message": "Authentication credentials not found. This API supports OAuth 2.0 "
        "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "correlationId": str(uuid.uuid4()),
        "category": "INVALID_AUTHENTICATION",
    }


async def send_json(
    send: Send, status: int, body: JSON, headers: list[tuple[bytes, bytes]]
) -> None:
    """Answer ``status`` with ``body`` as HubSpot's JSON, straight on the ASGI channel."""
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


def _is_search(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith("/search")


class HubSpotGate:
    """ASGI middleware: bearer-token auth, rate limits and HubSpot's rate-limit headers.

    ``search_per_second`` (None: off) limits ``POST .../search`` calls on their own,
    on top of the burst limit every call counts against.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        burst_limit: int,
        burst_interval_ms: int,
        daily_limit: int,
        secondly_limit: int | None,
        search_per_second: int | None = SEARCH_PER_SECOND,
    ) -> None:
        self.app = app
        self.token = token
        self.burst_limit = burst_limit
        self.burst_interval_ms = burst_interval_ms
        self.daily_limit = daily_limit
        self.secondly_limit = secondly_limit
        self.search_per_second = search_per_second
        self.calls: collections.deque[float] = collections.deque()
        self.searches: collections.deque[float] = collections.deque()
        self.daily_used = 0
        self.requests: collections.Counter[str] = collections.Counter()
        self.oauth_tokens: set[str] = set()

    def reset(self) -> None:
        """Forget every call made so far (a fresh day, a fresh window)."""
        self.calls.clear()
        self.searches.clear()
        self.requests.clear()
        self.daily_used = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith("/__sandbox"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        private_app = auth == f"Bearer {self.token}"
        oauth = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self.oauth_tokens
        if not (private_app or oauth):
            await send_json(send, 401, auth_error(), [])
            return
        method = str(scope.get("method", ""))
        now = time.monotonic()
        policy = self._refused_by(now, _is_search(method, path))
        if policy is not None:
            limits = self._limit_headers(now, daily=private_app)
            await send_json(send, 429, rate_limit_body(policy, str(uuid.uuid4())), limits)
            return
        self.calls.append(now)
        if _is_search(method, path):
            self.searches.append(now)
        self.daily_used += 1
        self.requests[f"{method} {path}"] += 1
        limits = self._limit_headers(now, daily=private_app)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limits]}
            await send(message)

        await self.app(scope, receive, send_with_limits)

    def _refused_by(self, now: float, search: bool) -> str | None:
        """The policy this call would break, or None; old calls leave their windows."""
        while self.calls and now - self.calls[0] > self.burst_interval_ms / 1000:
            self.calls.popleft()
        while self.searches and now - self.searches[0] > 1.0:
            self.searches.popleft()
        recent = sum(1 for t in self.calls if now - t <= 1.0)
        if len(self.calls) >= self.burst_limit:
            return "TEN_SECONDLY_ROLLING"
        if self.secondly_limit is not None and recent >= self.secondly_limit:
            return "SECONDLY"
        limit = self.search_per_second
        if search and limit is not None and len(self.searches) >= limit:
            return "SECONDLY"
        if self.daily_used >= self.daily_limit:
            return "DAILY"
        return None

    def _limit_headers(self, now: float, *, daily: bool) -> list[tuple[bytes, bytes]]:
        """The rate-limit headers after the calls so far; ``daily`` (private apps only)
        adds the daily ones."""
        values = {
            "x-hubspot-ratelimit-max": self.burst_limit,
            "x-hubspot-ratelimit-remaining": max(self.burst_limit - len(self.calls), 0),
            "x-hubspot-ratelimit-interval-milliseconds": self.burst_interval_ms,
        }
        if daily:
            values["x-hubspot-ratelimit-daily"] = self.daily_limit
            values["x-hubspot-ratelimit-daily-remaining"] = max(
                self.daily_limit - self.daily_used, 0
            )
        if self.secondly_limit is not None:
            recent = sum(1 for t in self.calls if now - t <= 1.0)
            values["x-hubspot-ratelimit-secondly"] = self.secondly_limit
            values["x-hubspot-ratelimit-secondly-remaining"] = max(self.secondly_limit - recent, 0)
        return [(k.encode(), str(v).encode()) for k, v in values.items()]
