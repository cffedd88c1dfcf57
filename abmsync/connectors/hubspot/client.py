"""The official ``hubspot-api-client``, wrapped so that abmsync's retry policy decides.

Every call goes through :meth:`HubSpotClient.call`: the client's own urllib3
retry is switched off, each sub-package's ``ApiException`` (they do not share a
base class) is turned into one of abmsync's three kinds of error through one
table, network failures are transient (a certificate that fails verification
is terminal, :mod:`abmsync.connectors.tls`), and transient ones are retried by
:func:`abmsync.connectors.retry.call_with_retries`, honouring a 429's
Retry-After. Messages are one line and never contain the token.

Every HTTP request the generated clients send (retries included) goes through
the client's :class:`~abmsync.connectors.budget.ApiBudget`: each sub-package's
urllib3 pool is wrapped (:class:`MeteredPool`) so the budget counts the request,
refuses it before it is sent once the run would eat into the daily reserve,
and reads ``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining`` off the answer.

Search has a limit of its own, five requests a second per account
(https://developers.hubspot.com/docs/api-reference/search/guide, "Limitations"),
which a keyset-paging read meets at once: search calls are paced
(:class:`Pacer`, four a second by default) rather than sent until a 429.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import hubspot
import hubspot.crm.associations.v4.exceptions as associations_errors
import hubspot.crm.objects.exceptions as objects_errors
import hubspot.crm.owners.exceptions as owners_errors
import hubspot.crm.properties.exceptions as properties_errors
import urllib3
from pydantic import SecretStr
from urllib3.util.retry import Retry

from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.retry import RateLimitedError, call_with_retries
from abmsync.connectors.tls import certificate_failure
from abmsync.errors import AbmsyncError, SkippableError, TerminalError, TransientError
from abmsync.logs import redact

T = TypeVar("T")

API_EXCEPTIONS: tuple[type[Exception], ...] = (
    objects_errors.ApiException,
    properties_errors.ApiException,
    owners_errors.ApiException,
    associations_errors.ApiException,
)
# Raised by the generated models when a response does not match HubSpot's schema.
MODEL_ERRORS: tuple[type[Exception], ...] = (
    objects_errors.OpenApiException,
    properties_errors.OpenApiException,
    owners_errors.OpenApiException,
    associations_errors.OpenApiException,
)
# An answer that is not what the API promises: a model that does not fit, or bad JSON.
UNEXPECTED_ANSWERS: tuple[type[Exception], ...] = (*MODEL_ERRORS, ValueError)


class ErrorKind(Enum):
    """What the engine does with a failed call (see :mod:`abmsync.errors`)."""

    TRANSIENT = "transient"
    TERMINAL = "terminal"
    SKIPPABLE = "skippable"


# The one table: HTTP status -> kind. A category overrides the status where
# HubSpot reuses one status for different situations (401: bad vs expired token).
STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.SKIPPABLE,
    401: ErrorKind.TERMINAL,
    403: ErrorKind.TERMINAL,
    404: ErrorKind.SKIPPABLE,
    409: ErrorKind.SKIPPABLE,
    414: ErrorKind.SKIPPABLE,
    423: ErrorKind.TRANSIENT,  # record locked by a concurrent write
    429: ErrorKind.TRANSIENT,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
    504: ErrorKind.TRANSIENT,
}
CATEGORY_KINDS: dict[str, ErrorKind] = {
    "EXPIRED_AUTHENTICATION": ErrorKind.TRANSIENT,  # refresh the token and try again
    "RATE_LIMITS": ErrorKind.TRANSIENT,
    "INTERNAL_ERROR": ErrorKind.TRANSIENT,
}


def kind_of(status: int, category: str | None) -> ErrorKind:
    """The kind of a HubSpot error, from the tables above."""
    if category is not None and category in CATEGORY_KINDS:
        return CATEGORY_KINDS[category]
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    return ErrorKind.TRANSIENT if status >= 500 or status == 0 else ErrorKind.SKIPPABLE


@dataclass(frozen=True)
class VendorError:
    """What HubSpot said about a failure: status, category and code, and its message."""

    status: int
    category: str | None
    message: str
    code: str | None = None
    retry_after: float | None = None


class HubSpotTransientError(TransientError):
    """A HubSpot failure worth retrying (5xx, timeout, dropped connection, expired token)."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class HubSpotTerminalError(TerminalError):
    """A HubSpot failure retrying cannot fix (bad token, missing scope)."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class HubSpotRejectedError(SkippableError):
    """HubSpot rejected this request's data (400, 404, 409); the records can be dead-lettered."""

    def __init__(self, message: str, vendor: VendorError) -> None:
        super().__init__(message)
        self.vendor = vendor


def one_line(text: str) -> str:
    """Collapse whitespace so a vendor message fits on one log line."""
    return " ".join(text.split())


def vendor_error(exc: Exception) -> VendorError:
    """Status, category and message from any sub-package's ``ApiException``."""
    status = int(getattr(exc, "status", 0) or 0)
    raw = getattr(exc, "body", None)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    try:
        body = json.loads(text) if text else {}
    except json.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    headers = getattr(exc, "headers", None) or {}
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    category = body.get("category") or body.get("errorType")
    details = body.get("errors") or []
    code = details[0].get("code") if details and isinstance(details[0], dict) else None
    message = one_line(str(body.get("message") or getattr(exc, "reason", "") or text))
    return VendorError(
        status=status,
        category=str(category) if category else None,
        message=message[:500],
        code=str(code) if code else None,
        retry_after=_seconds(retry_after),
    )


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: Exception, what: str) -> AbmsyncError:
    """The abmsync error for a HubSpot ``ApiException`` raised while doing ``what``."""
    vendor = vendor_error(exc)
    label = f"{vendor.status} {vendor.category}" if vendor.category else str(vendor.status)
    if vendor.status == 401 and vendor.category != "EXPIRED_AUTHENTICATION":
        return HubSpotTerminalError(
            f"HubSpot rejected the access token ({label}) during {what}; "
            "check the private app token (ABMSYNC_HUBSPOT__ACCESS_TOKEN)",
            vendor,
        )
    message = f"HubSpot {what} failed ({label}): {vendor.message}"
    if vendor.status == 429:
        return RateLimitedError(message, vendor.retry_after)
    kind = kind_of(vendor.status, vendor.category)
    if kind is ErrorKind.TRANSIENT:
        return HubSpotTransientError(message, vendor)
    if kind is ErrorKind.TERMINAL:
        return HubSpotTerminalError(message, vendor)
    return HubSpotRejectedError(message, vendor)


def daily_quota(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """(remaining, max) daily calls from HubSpot's rate-limit headers, or None."""
    maximum = headers.get("X-HubSpot-RateLimit-Daily")
    remaining = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
    if maximum is None or remaining is None or not (maximum.isdigit() and remaining.isdigit()):
        return None
    return int(remaining), int(maximum)


class MeteredPool:
    """Stands in for a generated client's urllib3 pool: each request goes through the budget."""

    def __init__(self, pool: Any, budget: ApiBudget) -> None:
        self.pool = pool
        self.budget = budget

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """Count the request (or refuse it), send it, and learn the quota from the answer."""
        with self.budget.request():
            response = self.pool.request(method, url, **kwargs)
            quota = daily_quota(response.headers)
            if quota is not None:
                self.budget.observe(*quota)
            return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)  # clear(), connection_from_url(), ...


class Pacer:
    """Spaces calls at least ``1 / per_second`` apart (None: no pacing); thread-safe."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next call may go, and book the slot after it."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class AfterPaginator:
    """HubSpot's ``paging.next.after`` paging; refuses a token it has already seen."""

    def __init__(self) -> None:
        self.after: str | None = None
        self._seen: set[str] = set()
        self.done = False

    def advance(self, response: Any) -> None:
        """Take the next ``after`` from a collection response (done when there is none)."""
        paging = getattr(response, "paging", None)
        self._follow(getattr(getattr(paging, "next", None), "after", None))

    def advance_json(self, response: Mapping[str, Any]) -> None:
        """``advance`` for a response read as plain JSON."""
        self._follow(((response.get("paging") or {}).get("next") or {}).get("after"))

    def _follow(self, following: Any) -> None:
        if not following:
            self.done = True
            return
        if following in self._seen:
            raise HubSpotTerminalError(f"HubSpot returned the page token {following!r} twice")
        self._seen.add(following)
        self.after = str(following)


class HubSpotClient:
    """The sub-package APIs abmsync uses, each call under the shared retry policy."""

    def __init__(
        self,
        access_token: SecretStr,
        *,
        host: str = "https://api.hubapi.com",
        timeout: float = 10,
        attempts: int = 6,
        token_provider: Callable[[], SecretStr] | None = None,
        budget: ApiBudget | None = None,
        verify: bool | str = True,
        search_per_second: float | None = 4.0,
    ) -> None:
        """``budget`` counts and limits the API calls (default: 10% reserve, no cap).

        ``verify`` is TLS verification: True (the system's CAs), False, or the
        path of a CA bundle to trust (a proxy's, a sandbox's). ``search_per_second``
        paces search calls under HubSpot's five a second (None: unpaced).
        """
        self.host = host
        self.verify = verify
        self.timeout = timeout
        self.attempts = attempts
        self._token = access_token
        self._token_provider = token_provider
        self._apis: dict[str, Any] = {}
        self.budget = budget if budget is not None else ApiBudget("hubspot")
        self.search_pace = Pacer(search_per_second)

    def api(self, name: str) -> Any:
        """One generated API object (``objects.batch_api``, ...), built once per token."""
        if name not in self._apis:
            redact(self._token)
            client = hubspot.Client.create(
                access_token=self._token.get_secret_value(),
                host=self.host,
                # Our policy decides on retries: urllib3 must not retry on its own.
                retry=Retry(total=0, connect=0, read=0, redirect=False, raise_on_status=False),
                verify_ssl=self.verify is not False,
                ssl_ca_cert=self.verify if isinstance(self.verify, str) else None,
            )
            target: Any = client.crm
            for part in name.split("."):
                target = getattr(target, part)
            rest = target.api_client.rest_client
            rest.pool_manager = MeteredPool(rest.pool_manager, self.budget)
            self._apis[name] = target
        return self._apis[name]

    def close(self) -> None:
        """Close every generated API's connection pool (and its thread pool, if any)."""
        apis, self._apis = list(self._apis.values()), {}
        for target in apis:
            target.api_client.rest_client.pool_manager.clear()
            target.api_client.close()

    def call(self, what: str, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``api.method(*args, **kwargs)`` with a timeout, mapped errors and retries."""
        return call_with_retries(
            lambda: self._once(what, api, method, args, kwargs, raw=False),
            attempts=self.attempts,
            system="hubspot",
        )

    def call_json(self, what: str, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``call``, but the answer is the parsed JSON body rather than SDK models.

        For pages of records: the SDK builds a model per record and parses
        every timestamp with dateutil, which costs more than the HTTP call.
        The body is read inside the retried attempt, so a connection dropped
        mid-body is retried like any other.
        """
        return call_with_retries(
            lambda: self._once(what, api, method, args, kwargs, raw=True),
            attempts=self.attempts,
            system="hubspot",
        )

    def _once(
        self,
        what: str,
        api: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        raw: bool,
    ) -> Any:
        """One attempt of a call, its errors mapped to abmsync's."""
        function = getattr(self.api(api), method)
        if api.endswith("search_api"):
            self.search_pace.wait()
        extra = {"_preload_content": False} if raw else {}
        try:
            answer = function(*args, _request_timeout=self.timeout, **extra, **kwargs)
            return json.loads(answer.data) if raw else answer
        except API_EXCEPTIONS as exc:
            error = classify(exc, what)
            vendor = getattr(error, "vendor", None)
            if vendor is not None and vendor.category == "EXPIRED_AUTHENTICATION":
                self._refresh_token()
            raise error from None
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            reason = certificate_failure(exc)
            if reason is not None:
                raise HubSpotTerminalError(
                    f"TLS verification of HubSpot at {self.host} failed ({reason}); "
                    "trust the CA that signed its certificate"
                ) from None
            raise HubSpotTransientError(
                f"HubSpot {what} failed: {type(exc).__name__} ({one_line(str(exc))[:200]})"
            ) from None
        except UNEXPECTED_ANSWERS as exc:
            raise HubSpotTerminalError(
                f"HubSpot {what}: unexpected response ({one_line(str(exc))[:200]})"
            ) from None

    def _refresh_token(self) -> None:
        """Take a new token from the provider (OAuth apps); a private-app token is kept."""
        if self._token_provider is not None:
            self._token = self._token_provider()
            self.close()  # the APIs are built again with the new token
