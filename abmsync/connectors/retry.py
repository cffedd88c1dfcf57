"""The one retry policy every connector uses (tenacity).

Connectors say which errors are transient; this module decides how to wait:
exponential backoff with jitter, bounded tries, and a vendor's Retry-After
honoured when it gives one. Anything not transient is raised at once, and
that includes :class:`~abmsync.errors.BudgetExhaustedError`: a spent API budget
is a clean stop, and another try would only spend the reserve it keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from abmsync.errors import TransientError

T = TypeVar("T")


class RateLimitedError(TransientError):
    """A transient error that says how long to wait (a 429's Retry-After)."""

    def __init__(self, message: str, seconds: float | None) -> None:
        super().__init__(message)
        self.seconds = seconds


def _wait(base: wait_exponential_jitter, cap: float) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.seconds is not None:
            return min(max(error.seconds, 0.0), cap)
        return float(base(state))

    return wait


def retrying(*, attempts: int = 6, initial: float = 0.2, maximum: float = 30.0) -> Retrying:
    """A tenacity ``Retrying`` that retries :class:`TransientError` only."""
    return Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, TransientError)),
        stop=stop_after_attempt(attempts),
        wait=_wait(
            wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial), maximum
        ),
        reraise=True,
    )


def call_with_retries(function: Callable[[], T], *, attempts: int = 6) -> T:
    """Call ``function`` under the retry policy; the last error is re-raised."""
    for attempt in retrying(attempts=attempts):
        with attempt:
            return function()
    raise AssertionError("unreachable: tenacity re-raises the last error")
