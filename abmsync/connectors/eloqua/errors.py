"""Eloqua's error answers as abmsync errors: one table from HTTP status to kind.

Eloqua answers errors with a status code and a body whose shape depends on
the API (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_HTTPStatusCodes.html):

- Bulk API 2.0 validation failures: 400 ``{"failures": [{"field", "constraint",
  "value"}]}`` (e.g. a filter it cannot parse, more than 250 fields);
- REST validation and parameter errors: 400 with a list of objects
  ``[{"type": "ObjectValidationError" | "EndpointParameterError", "property",
  "requirement": {...}, "value"}]``;
- 401 "not authenticated" (a session or token Eloqua no longer accepts:
  discover again, take a new token), 403 (the user lacks a permission),
  404 (no such definition, sync, record), 409 (conflict), 429 (too many
  requests; Retry-After says how long to wait), 5xx (Eloqua is unwell).

:func:`classify` turns an answer into one of abmsync's kinds through
:data:`STATUS_KINDS`; the message is one line and never holds a credential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from abmsync.connectors.retry import RateLimitedError
from abmsync.errors import AbmsyncError, TerminalError, TransientError


class Kind(Enum):
    """What to do about an error answer."""

    SESSION = "session"  # discover again (and take a new token), then retry
    RATE_LIMITED = "rate_limited"  # retry after Retry-After
    TRANSIENT = "transient"  # retry with backoff
    GONE = "gone"  # the definition, sync or staged data no longer exists
    TERMINAL = "terminal"  # stop the run with one clear line


# HTTP status -> kind. Statuses not listed: >= 500 transient, the rest terminal.
STATUS_KINDS: dict[int, Kind] = {
    401: Kind.SESSION,
    429: Kind.RATE_LIMITED,
    500: Kind.TRANSIENT,
    502: Kind.TRANSIENT,
    503: Kind.TRANSIENT,
    504: Kind.TRANSIENT,
    404: Kind.GONE,
    410: Kind.GONE,
    400: Kind.TERMINAL,
    403: Kind.TERMINAL,
    409: Kind.TERMINAL,
}


def kind_of(status: int) -> Kind:
    """The kind of an error answer with ``status``, from :data:`STATUS_KINDS`."""
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    return Kind.TRANSIENT if status >= 500 else Kind.TERMINAL


@dataclass(frozen=True)
class VendorError:
    """What Eloqua said: the HTTP status and the body's gist, on one line."""

    status: int
    message: str

    def line(self) -> str:
        """``400 filter: Must be a valid filter``, one line."""
        return f"{self.status} {self.message}" if self.message else str(self.status)


class EloquaTerminalError(TerminalError):
    """An Eloqua answer retrying cannot fix; ``vendor`` says what it was."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class EloquaGoneError(EloquaTerminalError):
    """404/410: the definition, sync or its staged data is no longer there."""


class EloquaTransientError(TransientError):
    """An Eloqua failure worth retrying (5xx, timeout, dropped connection)."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class SessionRejectedError(TransientError):
    """401 from the API: discover again (a new token with OAuth), then repeat the request."""


class OutcomeUnknownError(AbmsyncError):
    """A request that must not be sent twice (posting import data) lost its answer.

    Neither transient nor terminal for the caller: it starts over somewhere
    the first attempt cannot have touched (a new import definition).
    """


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a vendor message fits on one log line."""
    return " ".join(text.split())[:limit]


def parse_body(text: str) -> object:
    """JSON of an answer body, or the text itself when it is not JSON."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def describe_body(body: object) -> str:
    """The gist of an Eloqua error body of any documented shape, one line."""
    if isinstance(body, Mapping):
        failures = body.get("failures")
        if isinstance(failures, list) and failures:
            return "; ".join(_failure(f) for f in failures[:5])
        for key in ("message", "error_description", "error", "title"):
            if body.get(key):
                return one_line(str(body[key]))
        return one_line(json.dumps(body))
    if isinstance(body, list) and body:
        return "; ".join(_failure(item) for item in body[:5])
    return one_line(str(body or ""))


def _failure(item: Any) -> str:
    """One Bulk ``failures`` item or one REST validation error, as a phrase."""
    if not isinstance(item, Mapping):
        return one_line(str(item), 120)
    where = item.get("field") or item.get("property") or item.get("parameter") or ""
    what = item.get("constraint") or item.get("requirement") or item.get("type") or ""
    if isinstance(what, Mapping):
        what = what.get("type") or json.dumps(what)
    value = item.get("value")
    text = f"{where}: {what}" if where else str(what)
    if value not in (None, ""):
        text += f" ({str(value)[:60]!r})"
    return one_line(text, 160)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks to wait (``Retry-After``), if it says."""
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def classify(status: int, body: object, what: str, wait: float | None = None) -> Exception:
    """The abmsync error for an error answer to ``what`` (one line, no secrets)."""
    vendor = VendorError(status, describe_body(body))
    kind = kind_of(status)
    line = f"Eloqua {what} failed ({vendor.line()})"
    if kind is Kind.RATE_LIMITED:
        return RateLimitedError(f"Eloqua is throttling requests ({vendor.line()})", wait)
    if kind is Kind.TRANSIENT:
        return EloquaTransientError(line, vendor)
    if kind is Kind.SESSION:
        return SessionRejectedError(f"Eloqua did not accept the session ({vendor.line()})")
    if kind is Kind.GONE:
        return EloquaGoneError(line, vendor)
    if status == 403:
        line += "; the Eloqua user lacks a permission (API access, or the asset's security)"
    return EloquaTerminalError(line, vendor)
