"""Record what a served HubSpot emulator answers and check each answer as it leaves.

:func:`watch` wraps an emulator (any ASGI app) in :class:`ContractRecorder`;
every exchange is checked before the last byte of its answer goes out, so a
test that has its answer also has the verdict in :data:`LEDGER`, where the
autouse fixture in ``tests/conftest.py`` picks it up.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest

from .check import Exchange, Violation, check
from .spec import SPECS, Contract

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]
ID = re.compile(r"/\d[^/]*")


class Ledger:
    """Counts of checked and out-of-scope answers, and the violations not yet reported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.validated: collections.Counter[str] = collections.Counter()  # "OP -> status"
        self.skipped: collections.Counter[str] = collections.Counter()  # "METHOD /path"
        self.violations: list[Violation] = []
        self._reported = 0

    def record(self, exchange: Exchange, operation: str | None, found: list[Violation]) -> None:
        """Count ``exchange`` under its operation (None: out of scope) with what it broke."""
        with self._lock:
            if operation is None:
                self.skipped[f"{exchange.method} {ID.sub('/{id}', exchange.path)}"] += 1
            else:
                self.validated[f"{operation} -> {exchange.status}"] += 1
            self.violations.extend(found)

    def unreported(self) -> list[Violation]:
        """Violations recorded since the last call (each is reported once)."""
        with self._lock:
            new = self.violations[self._reported :]
            self._reported = len(self.violations)
        return new


LEDGER = Ledger()


@cache
def session_contract() -> Contract | None:
    """The specs, loaded once per process; None when they are not on this machine."""
    return Contract.load() if SPECS.is_dir() else None


class ContractRecorder:
    """ASGI middleware: checks each answer of ``app`` against ``contract`` into ``ledger``."""

    def __init__(self, app: ASGIApp, contract: Contract, ledger: Ledger) -> None:
        self.app = app
        self.contract = contract
        self.ledger = ledger

    def __getattr__(self, name: str) -> Any:
        # ``app.state`` and the like stay reachable through the wrapper.
        return getattr(self.app, name)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent: list[bytes] = []
        answer: dict[str, Any] = {"status": 0, "content_type": "", "body": []}

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sent.append(message.get("body", b""))
            return message

        async def send_after_check(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = int(message["status"])
                headers = dict(message.get("headers") or [])
                answer["content_type"] = headers.get(b"content-type", b"").decode("latin-1")
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))
                if not message.get("more_body"):
                    self._check(scope, b"".join(sent), answer)
            await send(message)

        await self.app(scope, receive_and_keep, send_after_check)

    def _check(
        self, scope: MutableMapping[str, Any], request: bytes, answer: dict[str, Any]
    ) -> None:
        exchange = Exchange(
            method=str(scope["method"]),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            request_body=request,
            status=answer["status"],
            response_body=b"".join(answer["body"]),
            content_type=answer["content_type"],
        )
        try:
            operation, found = check(self.contract, exchange)
        except Exception as exc:  # a checker bug must fail the test, not the answer
            failed = Violation(
                "(contract checker)", exchange, "checker", type(exc).__name__, str(exc)
            )
            self.ledger.record(exchange, failed.operation, [failed])
            return
        self.ledger.record(exchange, None if operation is None else operation.name, found)


def is_hubspot_emulator(app: Any) -> bool:
    """Whether ``app`` is (a wrapper-free) HubSpot emulator from ``create_app``."""
    from abmsync.sandbox.hubspot.store import HubSpotStore

    state = getattr(app, "state", None)
    return not isinstance(app, ContractRecorder) and isinstance(
        getattr(state, "store", None), HubSpotStore
    )


@contextmanager
def watching_every_served_emulator(ledger: Ledger = LEDGER) -> Iterator[None]:
    """While open, every HubSpot emulator handed to ``SandboxServer`` is served watched.

    Tests that serve an emulator directly need no edit; those that serve a
    :class:`~tests.connectors.serving.Switch` wrap what they install with :func:`watch`.
    """
    from abmsync.sandbox.server import SandboxServer

    original = SandboxServer.__init__

    def serve_watched(server: SandboxServer, app: Any, *args: Any, **kwargs: Any) -> None:
        original(server, watch(app, ledger) if is_hubspot_emulator(app) else app, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxServer, "__init__", serve_watched)
        yield


def watch(app: Any, ledger: Ledger = LEDGER) -> Any:
    """``app`` with every answer checked against HubSpot's specs (unchanged without them)."""
    contract = session_contract()
    return app if contract is None else ContractRecorder(app, contract, ledger)
