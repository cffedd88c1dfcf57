"""The shared retry policy: transient errors retried with backoff, Retry-After honoured."""

from __future__ import annotations

import time

import pytest

from abmsync.connectors.retry import RateLimitedError, call_with_retries
from abmsync.errors import TerminalError, TransientError


def test_transient_errors_are_retried_until_success() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("503 from the vendor")
        return "ok"

    assert call_with_retries(flaky, attempts=5) == "ok"
    assert len(calls) == 3


def test_terminal_errors_are_raised_at_once() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise TerminalError("bad credentials")

    with pytest.raises(TerminalError):
        call_with_retries(broken)
    assert len(calls) == 1


def test_tries_are_bounded_and_the_last_error_is_raised() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise RateLimitedError(f"429 number {len(calls)}", 0.0)

    with pytest.raises(RateLimitedError, match="429 number 3"):
        call_with_retries(down, attempts=3)
    assert len(calls) == 3


def test_retry_after_sets_the_wait() -> None:
    stamps: list[float] = []

    def limited() -> str:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            raise RateLimitedError("429", 0.3)
        return "ok"

    assert call_with_retries(limited) == "ok"
    assert stamps[1] - stamps[0] >= 0.3
