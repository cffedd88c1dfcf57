"""The one retry policy every connector uses (tenacity).

Connectors say which errors are transient; this module decides how to wait:
exponential backoff with jitter, bounded tries, and a vendor's Retry-After
honoured when it gives one. Anything not transient is raised at once, and
that includes :class:`~abmsync.errors.BudgetExhaustedError`: a spent API budget
is a clean stop, and another try would only spend the reserve it keeps.
Every wait is logged as a warning: the system, the attempt, the wait and the
kind of error (its class and HTTP status), never what was sent.
"""

from __future__ import annotations

import logging
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
log = logging.getLogger(__name__)


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


def _status(error: BaseException | None) -> int | None:
    """The HTTP status behind ``error``, if it carries one (itself or as its vendor answer)."""
    vendor = getattr(error, "vendor", None)
    status = getattr(error, "status", None) or getattr(vendor, "status", None)
    return status if isinstance(status, int) and status else None


def _log_wait(system: str | None) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        kind = type(error).__name__ if error is not None else "unknown"
        log.warning(
            "%s: %s, attempt %d; retrying in %.2f s",
            system or "vendor",
            kind,
            state.attempt_number,
            wait,
            extra={
                "step": "retry",
                "system": system,
                "attempt": state.attempt_number,
                "wait_s": round(wait, 3),
                "error": kind,
                "status": _status(error),
            },
        )

    return before_sleep


def retrying(
    *,
    attempts: int = 6,
    initial: float = 0.2,
    maximum: float = 30.0,
    system: str | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` that retries :class:`TransientError` only.

    ``system`` names the vendor in the warning logged before each wait.
    """
    return Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, TransientError)),
        stop=stop_after_attempt(attempts),
        wait=_wait(
            wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial), maximum
        ),
        before_sleep=_log_wait(system),
        reraise=True,
    )


def call_with_retries(
    function: Callable[[], T], *, attempts: int = 6, system: str | None = None
) -> T:
    """Call ``function`` under the retry policy; the last error is re-raised."""
    for attempt in retrying(attempts=attempts, system=system):
        with attempt:
            return function()
    raise AssertionError("unreachable: tenacity re-raises the last error")
