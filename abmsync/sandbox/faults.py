"""Faults on demand for the sandbox emulators: the failures vendors really produce.

A :class:`Faults` value says how often each kind of failure happens; the
emulators consult one seeded random stream, so a test that switches faults on
sees the same sequence every run. Request-level faults (rate limits, server
errors, slow answers, dropped connections, expired tokens) are applied by
:class:`FaultMiddleware` before the emulator sees the request; per-record
failures inside batch calls are asked for by the emulator with
:meth:`Faults.record_fails`.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Renders a vendor's error body: (kind, detail) -> (status, headers, body bytes)
ErrorRenderer = Callable[[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]]

KINDS = ("rate_limit", "server_error", "slow", "drop", "token_expiry")


@dataclass
class Faults:
    """Rates (0..1) of each failure; all zero means a well-behaved vendor."""

    seed: int = 0
    rate_limit: float = 0.0  # 429 with Retry-After
    server_error: float = 0.0  # 500/502/503
    slow: float = 0.0  # answer after slow_seconds (past a client's timeout)
    drop: float = 0.0  # connection cut mid-response
    token_expiry: float = 0.0  # 401 as for an expired token
    partial_failure: float = 0.0  # per record in batch writes (emulator-specific error)
    retry_after: float = 0.2  # seconds, sent in Retry-After
    slow_seconds: float = 3.0
    exempt_paths: tuple[str, ...] = ("/services/oauth2/token", "/__sandbox")
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    counts: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream (tests that switch faults on mid-way)."""
        with self._lock:
            self.seed = seed
            self._random = random.Random(seed)

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Faults from ``"rate_limit=0.1,server_error=0.05,seed=3"`` (CLI and env use)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, number = (piece.strip() for piece in part.partition("="))
            if name not in (*KINDS, "partial_failure", "seed", "retry_after", "slow_seconds"):
                raise ValueError(
                    f"unknown fault {name!r} (known: {', '.join(KINDS)}, "
                    "partial_failure, seed, retry_after, slow_seconds)"
                )
            values[name] = _fault_value(name, number)
        faults = cls(seed=int(values.pop("seed", 0)))
        for name, rate in values.items():
            setattr(faults, name, rate)
        return faults

    def next_request_fault(self, path: str) -> str | None:
        """The fault to inflict on this request, or None."""
        if any(path.startswith(p) for p in self.exempt_paths):
            return None
        with self._lock:
            for kind in KINDS:
                rate = float(getattr(self, kind))
                if rate and self._random.random() < rate:
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    return kind
        return None

    def record_fails(self) -> bool:
        """Whether one record of a batch write should fail this time."""
        if not self.partial_failure:
            return False
        with self._lock:
            failed = self._random.random() < self.partial_failure
            if failed:
                self.counts["partial_failure"] = self.counts.get("partial_failure", 0) + 1
            return failed


class FaultMiddleware:
    """ASGI middleware inflicting request-level faults with the vendor's error shapes."""

    def __init__(self, app: ASGIApp, faults: Faults, render: ErrorRenderer) -> None:
        self.app = app
        self.faults = faults
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self.faults.next_request_fault(scope.get("path", ""))
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
            await self.app(scope, receive, send)
            return
        if kind == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"1000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"records": [', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped")
        status, headers, body = self.render(kind, f"sandbox fault: {kind}")
        if kind == "rate_limit":
            headers = [*headers, (b"retry-after", str(self.faults.retry_after).encode())]
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _fault_value(name: str, text: str) -> float:
    """One ``name=value`` of ``--faults``: rates within 0..1, seconds and seeds not negative."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: {text!r} is not a finite number")
    if name == "seed":
        if value != int(value) or value < 0:
            raise ValueError(f"seed: {text!r} is not a whole number of 0 or more")
    elif name in ("retry_after", "slow_seconds"):
        if value < 0:
            raise ValueError(f"{name}: {text!r} seconds must not be negative")
    elif not 0 <= value <= 1:
        raise ValueError(f"{name}: rate {text!r} must be within 0..1")
    return value
