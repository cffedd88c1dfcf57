"""The HTTP side of the Salesforce connector: OAuth2 login, error mapping, retries.

``SalesforceClient`` logs in with the OAuth2 ``password`` or
``client_credentials`` flow over its own ``requests.Session`` (``trust_env``
off, ``verify`` as configured), then hands that session and the token to
``simple_salesforce.Salesforce``. Every call runs through :meth:`call`:

- an HTTP error answer becomes an abmsync error by looking up
  ``(status, errorCode)`` in :data:`ERROR_KINDS` (a table, not an if-chain);
- 429, 5xx, timeouts and dropped connections (TLS handshakes cut short
  included) are transient and retried by the shared policy in
  :mod:`abmsync.connectors.retry`, honouring Retry-After; a certificate that
  fails verification is terminal (:mod:`abmsync.connectors.tls`);
- ``401 INVALID_SESSION_ID`` logs in again once and repeats the call;
- everything else is terminal and reads as one line without the secret.

Every API request the session sends (simple-salesforce's REST calls, Bulk API
2.0 requests, retries) is counted by the client's
:class:`~abmsync.connectors.budget.ApiBudget`, which refuses it before it is
sent once the run would eat into the daily reserve; the OAuth token requests
are not API calls and are not counted. The budget learns the quota from each
answer's ``Sforce-Limit-Info`` header and from the ``limits`` resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from simple_salesforce.api import Salesforce
from tenacity import Retrying

from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.retry import RateLimitedError, retrying
from abmsync.connectors.tls import certificate_failure, tls_detail
from abmsync.errors import ResponseLostError, SkippableError, TerminalError, TransientError
from abmsync.logs import redact

T = TypeVar("T")


class Kind(Enum):
    """What to do about an error answer."""

    TRANSIENT = "transient"  # retry with backoff
    RATE_LIMITED = "rate_limited"  # retry after Retry-After
    SESSION = "session"  # log in again, then retry
    TERMINAL = "terminal"  # stop the run
    SKIPPABLE = "skippable"  # dead-letter the record


# (HTTP status, errorCode) -> kind; ``None`` matches any. Looked up most specific first.
ERROR_KINDS: dict[tuple[int | None, str | None], Kind] = {
    (401, "INVALID_SESSION_ID"): Kind.SESSION,
    (429, None): Kind.RATE_LIMITED,
    (500, None): Kind.TRANSIENT,
    (502, None): Kind.TRANSIENT,
    (503, None): Kind.TRANSIENT,
    (504, None): Kind.TRANSIENT,
    (None, "SERVER_UNAVAILABLE"): Kind.TRANSIENT,
    (None, "UNABLE_TO_LOCK_ROW"): Kind.TRANSIENT,
    (None, "REQUEST_RUNNING_TOO_LONG"): Kind.TRANSIENT,
    (403, "REQUEST_LIMIT_EXCEEDED"): Kind.TERMINAL,
    (None, "ENTITY_IS_DELETED"): Kind.SKIPPABLE,
    (None, "INVALID_CROSS_REFERENCE_KEY"): Kind.SKIPPABLE,
}

# Codes whose terminal message deserves a plain explanation.
EXPLANATIONS = {
    "invalid_grant": "the username, password or security token is wrong",
    "invalid_client": "the connected app's client id or secret is wrong",
    "invalid_client_id": "the connected app's client id is wrong",
    "unsupported_grant_type": "the connected app does not allow this OAuth flow",
    "REQUEST_LIMIT_EXCEEDED": "the org's daily API request limit is used up",
    "INSUFFICIENT_ACCESS": "the integration user lacks a permission",
    "INSUFFICIENT_ACCESS_OR_READONLY": "the integration user lacks a permission",
    "API_DISABLED_FOR_ORG": "API access is not enabled for this org or user",
    "INVALID_SESSION_ID": "Salesforce refused the session right after login",
}

# OAuth endpoints: logging in is not an API call and does not count against the quota.
LOGIN_PATH = "/services/oauth2/"
# ``api-usage=18/5000``, not the ``per-app-api-usage=...`` that may follow it.
_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")

# Per-record error codes (composite results) that may succeed when sent again.
RETRYABLE_RECORD_CODES = frozenset(
    code for (_, code), kind in ERROR_KINDS.items() if code and kind is Kind.TRANSIENT
)


class SalesforceTerminalError(TerminalError):
    """A terminal Salesforce answer; ``code`` is its errorCode (``INVALID_FIELD``, ...)."""

    def __init__(self, message: str, *, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SalesforceSkippableError(SkippableError):
    """A record-level Salesforce answer (deleted or unknown record)."""

    def __init__(self, message: str, *, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SessionExpiredError(TransientError):
    """``401 INVALID_SESSION_ID``: log in again and repeat the call."""


class OutcomeUnknownError(SkippableError):
    """A non-idempotent request (a create) whose answer was lost: it may have been applied."""


def error_kind(status: int, code: str | None) -> Kind:
    """The kind of an error answer, from :data:`ERROR_KINDS` with a status-class fallback."""
    for key in ((status, code), (None, code), (status, None)):
        if key in ERROR_KINDS:
            return ERROR_KINDS[key]
    return Kind.TRANSIENT if status >= 500 else Kind.TERMINAL


def _error_code(response: requests.Response) -> tuple[str | None, str]:
    """(errorCode, message) from a REST (``[{...}]``) or OAuth (``{"error"}``) error body."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode"), str(body[0].get("message", ""))
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description", ""))
    return None, str(body)[:200]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def daily_quota(response: requests.Response) -> tuple[int, int] | None:
    """(remaining, max) daily API requests an answer reports, or None.

    The ``limits`` resource says it in its body; every other answer in its
    ``Sforce-Limit-Info: api-usage=used/max`` header.
    """
    if response.ok and urlsplit(response.url).path.rstrip("/").endswith("/limits"):
        try:
            daily = response.json()["DailyApiRequests"]
            return int(daily["Remaining"]), int(daily["Max"])
        except (ValueError, KeyError, TypeError):
            pass  # not the shape we know: fall back to the header
    match = _API_USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
    if match is None:
        return None
    used, maximum = int(match[1]), int(match[2])
    return maximum - used, maximum


class _ApiSession(requests.Session):
    """A session with a default timeout, no environment proxies or CA bundles, and a budget.

    ``send`` is where every HTTP request passes (redirects included), so that
    is where each API request is counted and, past the budget, refused.
    """

    def __init__(self, timeout: float, verify: bool | str, budget: ApiBudget) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.default_timeout = timeout
        self.budget = budget

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if urlsplit(request.url or "").path.startswith(LOGIN_PATH):
            return super().send(request, **kwargs)
        with self.budget.request():
            return super().send(request, **kwargs)


class SalesforceClient:
    """A logged-in simple-salesforce handle with abmsync's error handling around it."""

    def __init__(
        self,
        instance_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        api_version: str = "62.0",
        verify: bool | str = True,
        timeout: float = 10,
        attempts: int = 6,
        budget: ApiBudget | None = None,
    ) -> None:
        """``budget`` counts and limits the API calls (default: 10% reserve, no cap)."""
        self.login_url = instance_url.rstrip("/")
        self.instance_url = self.login_url
        self.client_id = client_id
        self._secret = client_secret
        self.username = username
        self._password = password
        redact(client_secret)
        redact(password)
        self.api_version = api_version
        self.attempts = attempts
        self.budget = budget if budget is not None else ApiBudget("salesforce")
        self.session = _ApiSession(timeout, verify, self.budget)
        # Learn the quota from every answer, errors included, before they become exceptions.
        self.session.hooks["response"].extend([self._observe_quota, self._raise_for_error])
        self._sf: Salesforce | None = None
        # tenacity 9.2 deprecates the ``initial`` the shared policy passes; build it
        # once with that warning silenced and copy it per call (copies nest safely).
        self._policy: Retrying = retrying(attempts=attempts, system="salesforce")

    def close(self) -> None:
        """Close the HTTP connections (the REST, Bulk and login calls share one session)."""
        self.session.close()

    def _with_retries(self, function: Callable[[], T]) -> T:
        """Call ``function`` under the shared retry policy (transient errors only)."""
        for attempt in self._policy.copy():
            with attempt:
                return function()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- login ------------------------------------------------------------------

    def authenticate(self) -> Salesforce:
        """Log in (with retries on transient failures) and return the new handle."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.get_secret_value(),
        }
        if self.username is not None:
            form["grant_type"] = "password"
            form["username"] = self.username
            form["password"] = self._password.get_secret_value() if self._password else ""
        url = f"{self.login_url}/services/oauth2/token"

        def login() -> dict[str, Any]:
            try:
                answer: dict[str, Any] = self.session.post(url, data=form).json()
            except SalesforceTerminalError as error:
                who = f"user {self.username!r}, " if self.username else ""
                raise SalesforceTerminalError(
                    f"Salesforce login failed at {self.login_url} ({who}client id "
                    f"{self.client_id!r}): {error}",
                    status=error.status,
                    code=error.code,
                ) from None
            return answer

        token = self._with_retries(lambda: self._network(login))
        redact(str(token["access_token"]))
        self.instance_url = str(token.get("instance_url") or self.login_url).rstrip("/")
        self._sf = Salesforce(
            instance_url=self.instance_url,
            session_id=str(token["access_token"]),
            session=self.session,
            version=self.api_version,
        )
        return self._sf

    # -- calls ------------------------------------------------------------------

    def call(self, action: Callable[[Salesforce], T], *, idempotent: bool = True) -> T:
        """Run ``action`` with the logged-in handle under the retry policy.

        A request that is not ``idempotent`` (creating records) is not sent again
        once it may have reached Salesforce: a lost answer raises
        :class:`OutcomeUnknownError` instead of risking duplicates.
        """

        def attempt() -> T:
            sf = self._sf or self.authenticate()
            try:
                try:
                    return self._network(lambda: action(sf))
                except SessionExpiredError:
                    # The token expired (or was revoked): log in again once, then repeat.
                    fresh = self.authenticate()
                    return self._network(lambda: action(fresh))
            except ResponseLostError as error:
                if idempotent:
                    raise
                raise OutcomeUnknownError(f"{error}; it may have been applied") from error

        return self._with_retries(attempt)

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) daily API requests from the last ``Sforce-Limit-Info`` header."""
        usage = getattr(self._sf, "api_usage", {}).get("api-usage")
        return (int(usage.used), int(usage.total)) if usage is not None else None

    @staticmethod
    def _network(function: Callable[[], T]) -> T:
        """Call ``function``: network failures are transient, bad certificates terminal."""
        try:
            return function()
        except requests.exceptions.SSLError as error:
            reason = certificate_failure(error)
            if reason is None:  # cut during the handshake, reset: the network, not trust
                raise TransientError(
                    f"TLS connection to Salesforce failed: {tls_detail(error)}"
                ) from error
            raise TerminalError(
                f"TLS verification of Salesforce failed ({reason}); "
                "set `verify` to the CA bundle to trust"
            ) from error
        except requests.exceptions.ConnectTimeout as error:
            raise TransientError("could not connect to Salesforce in time") from error
        except requests.exceptions.Timeout as error:
            raise ResponseLostError("Salesforce did not answer in time") from error
        except requests.exceptions.ChunkedEncodingError as error:
            raise ResponseLostError("Salesforce's answer was cut off") from error
        except requests.exceptions.ConnectionError as error:
            raise TransientError(
                f"connection to Salesforce failed: {type(error).__name__}"
            ) from error

    def _observe_quota(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: tell the budget what Salesforce says is left of the daily quota."""
        quota = daily_quota(response)
        if quota is not None:
            self.budget.observe(*quota)

    def _raise_for_error(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: turn an error answer into an abmsync error before anyone parses it."""
        if response.status_code < 400:
            return
        code, message = _error_code(response)
        kind = error_kind(response.status_code, code)
        line = f"{response.status_code} {code or 'error'}: {_one_line(message)}"
        if code in EXPLANATIONS:
            line = f"{EXPLANATIONS[code]} ({line})"
        if kind is Kind.RATE_LIMITED:
            raise RateLimitedError(f"Salesforce rate limit: {line}", _retry_after(response))
        if kind is Kind.TRANSIENT:
            raise TransientError(f"Salesforce is unavailable: {line}")
        if kind is Kind.SESSION:
            raise SessionExpiredError(f"Salesforce session expired: {line}")
        if kind is Kind.SKIPPABLE:
            raise SalesforceSkippableError(line, status=response.status_code, code=code)
        raise SalesforceTerminalError(line, status=response.status_code, code=code)
