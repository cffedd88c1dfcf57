"""A run's API budget: count every request to a vendor, keep a reserve of its daily quota.

Salesforce and HubSpot cap API calls per day, and every integration on the
org or portal draws on the same quota: a sync that spent it all would break
the others until the quota resets. Each connector sends every HTTP request
through one :class:`ApiBudget`:

- :meth:`ApiBudget.request` counts the request (a retry, a Bulk API poll and
  a results page are requests too) and, *before* it is sent, raises
  :class:`~abmsync.errors.BudgetExhaustedError` when sending it would leave
  fewer than ``reserve_percent`` of the daily maximum, or pass ``max_calls``;
- :meth:`ApiBudget.observe` takes the vendor's word on the quota as answers
  arrive (Salesforce ``Sforce-Limit-Info`` and ``limits``, HubSpot's
  ``X-HubSpot-RateLimit-Daily*`` headers). Between reports every request
  counts as one call spent, and requests still waiting for an answer count as
  spent even if the report does not include them, so the estimate errs low.

Until the vendor first reports the quota only ``max_calls`` applies. A
reserve rounds down to whole calls; a reserve of zero calls leaves the daily
limit to the vendor, whose refusal is terminal as before. Inside
:meth:`ApiBudget.finishing` requests are counted but not refused: they see
through work the vendor has already accepted (a closed Bulk API ingest job),
which stopping half-way would lose.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, Field

from abmsync.errors import BudgetExhaustedError, ConfigError

DEFAULT_RESERVE_PERCENT = 10.0


class BudgetSnapshot(BaseModel):
    """Where a connector's budget stands, for the run summary."""

    model_config = ConfigDict(frozen=True)

    system: str
    calls: int = Field(description="requests sent this run, retries and Bulk API calls included")
    remaining: int | None = Field(
        default=None, description="daily calls left as the vendor last said, less calls since"
    )
    daily_max: int | None = Field(default=None, description="the vendor's daily maximum")
    reserve: int | None = Field(default=None, description="daily calls the run leaves unused")
    max_calls: int | None = Field(default=None, description="the per-run cap, if any")


class ApiBudget:
    """Counts one connector's requests in a run and stops it before the reserve; thread-safe."""

    def __init__(
        self,
        system: str,
        *,
        reserve_percent: float = DEFAULT_RESERVE_PERCENT,
        max_calls: int | None = None,
    ) -> None:
        """``system`` names the vendor in messages; ``max_calls`` caps the run (None: no cap)."""
        if not 0 <= reserve_percent <= 100:
            raise ConfigError(
                f"{system}: API reserve must be between 0 and 100 percent, not {reserve_percent}"
            )
        if max_calls is not None and max_calls < 0:
            raise ConfigError(f"{system}: max_calls must not be negative, not {max_calls}")
        self.system = system
        self.reserve_percent = reserve_percent
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self._calls = 0
        self._open = 0  # requests sent and not answered yet
        self._finishing = threading.local()  # per thread: depth of finishing() blocks
        self._remaining: int | None = None
        self._maximum: int | None = None

    @property
    def calls(self) -> int:
        """Requests counted so far in this run."""
        with self._lock:
            return self._calls

    def snapshot(self) -> BudgetSnapshot:
        """Calls made, daily calls left and the daily maximum, as one frozen value."""
        with self._lock:
            maximum = self._maximum
            return BudgetSnapshot(
                system=self.system,
                calls=self._calls,
                remaining=self._remaining,
                daily_max=maximum,
                reserve=self._reserve(maximum) if maximum is not None else None,
                max_calls=self.max_calls,
            )

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request, sent inside the ``with`` block; refuse it past the budget.

        Raises :class:`BudgetExhaustedError` on entry, before anything is sent.
        """
        finishing = getattr(self._finishing, "depth", 0) > 0
        with self._lock:
            refusal = None if finishing else self._refusal()
            if refusal is not None:
                raise BudgetExhaustedError(refusal)
            self._calls += 1
            self._open += 1
            if self._remaining is not None:
                self._remaining -= 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    @contextmanager
    def finishing(self) -> Iterator[None]:
        """Requests this thread sends in the block are counted but never refused.

        For the calls that complete work the vendor has already accepted, such
        as polling a closed ingest job and reading its results: refusing them
        would leave the work done but unrecorded.
        """
        self._finishing.depth = getattr(self._finishing, "depth", 0) + 1
        try:
            yield
        finally:
            self._finishing.depth -= 1

    def observe(self, remaining: int, maximum: int) -> None:
        """Take the vendor's word: ``remaining`` of ``maximum`` daily calls are left.

        Called with an answer, inside its :meth:`request` block, the report
        covers that request; other requests still open may not be in it and
        are taken off as spent.
        """
        with self._lock:
            others = max(self._open - 1, 0)
            self._maximum = max(maximum, 0)
            self._remaining = max(remaining - others, 0)

    def _reserve(self, maximum: int) -> int:
        # round() first, so that 10% of 15,000 is 1,500 and not 1,499.99... rounded down.
        return math.floor(round(maximum * self.reserve_percent / 100, 6))

    def _refusal(self) -> str | None:
        """Why the next request may not be sent, or None; call with the lock held."""
        if self.max_calls is not None and self._calls >= self.max_calls:
            return (
                f"{self.system}: API budget reached: {self._calls:,} calls made in this run, "
                f"the cap (max_calls) is {self.max_calls:,}"
            )
        if self._remaining is None or self._maximum is None:
            return None
        reserve = self._reserve(self._maximum)
        if reserve == 0 or self._remaining - 1 >= reserve:
            return None
        used = self._maximum - self._remaining
        return (
            f"{self.system}: API budget reached: {used:,} of {self._maximum:,} daily calls used, "
            f"{self.reserve_percent:g}% ({reserve:,}) kept in reserve"
        )
