"""What the emulator fixtures share: one served app swapped per test, and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


class Switch:
    """An ASGI app that forwards to whichever app the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class Clock:
    """A settable clock for the emulators: starts an hour ago and moves only on demand,
    so records can be stamped in the same millisecond."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        self.now += timedelta(seconds=seconds, **delta)
