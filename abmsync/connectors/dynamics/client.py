"""The HTTP side of the Dynamics 365 connector: Entra token, Web API calls, errors, retries.

``DataverseClient`` signs in with msal's client-credentials flow (an app
registration with a client secret, the token scoped to ``{org}/.default``) and
sends every Web API request over one ``httpx.Client`` through :meth:`send`:

- each request (retries included) is counted by the client's
  :class:`~abmsync.connectors.budget.ApiBudget` before it is sent; token
  requests go to Entra, not to the org, and are not counted;
- an error answer becomes an abmsync error by looking up ``(status, code)``
  in :data:`ERROR_KINDS` (``code`` is the hexadecimal Dataverse error code of
  the body, https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes);
- 429 (service protection: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits),
  5xx, SQL timeouts and deadlocks, timeouts and dropped connections are
  transient and retried by :mod:`abmsync.connectors.retry`, honouring
  Retry-After; a certificate that fails verification is terminal;
- a 401 takes a new token and repeats the request; a 401 again counts as a failed
  attempt under the retry policy (a new token each time);
- a request that may have reached Dataverse but whose answer was lost is
  retried only when it is idempotent; otherwise :class:`OutcomeUnknownError`.

Messages are one line and never contain the secret or the token.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import httpx
import msal  # type: ignore[import-untyped]
import requests
from pydantic import SecretStr
from tenacity import Retrying

from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.retry import RateLimitedError, retrying
from abmsync.connectors.tls import certificate_failure, tls_detail
from abmsync.connectors.transport import transport_errors
from abmsync.errors import (
    ConfigError,
    ResponseLostError,
    SkippableError,
    TerminalError,
    TransientError,
)
from abmsync.logs import redact

T = TypeVar("T")
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
SECRET_SETTING = "ABMSYNC_DYNAMICS__CLIENT_SECRET"

# Dataverse error codes abmsync acts on (hex ErrorCode of the Web API error body).
EXPIRED_VERSION_STAMP = "0x80044352"  # change tracking: the delta token expired, sync in full
REQUESTS_EXCEEDED = "0x80072322"  # service protection: number of requests
EXECUTION_TIME_EXCEEDED = "0x80072321"  # service protection: combined execution time
CONCURRENCY_EXCEEDED = "0x80072326"  # service protection: concurrent requests
# https://learn.microsoft.com/troubleshoot/power-platform/power-apps/dataverse/bulk-operation-errors
GENERIC_SQL_ERROR = "0x80044150"  # -2147204784, SQL number 1205: a deadlock on the same record
SQL_TIMEOUT = "0x80044151"  # -2147204783: SQL timeout expired
TRANSACTION_ROLLED_BACK = "0x80040255"  # -2147220907: a swallowed SQL deadlock
NOT_FOUND = "0x80040217"  # ObjectDoesNotExist
DUPLICATE_RECORD = "0x80040237"  # DuplicateRecord (alternate key values taken)


class Kind(Enum):
    """What to do about an error answer."""

    TRANSIENT = "transient"  # retry with backoff
    RATE_LIMITED = "rate_limited"  # retry after Retry-After
    SESSION = "session"  # take a new token, then retry
    EXPIRED_TOKEN = "expired_token"  # change tracking token expired: read everything again
    TERMINAL = "terminal"  # stop the run
    SKIPPABLE = "skippable"  # this record only


# (HTTP status, Dataverse code) -> kind; ``None`` matches any. Most specific first.
ERROR_KINDS: dict[tuple[int | None, str | None], Kind] = {
    (401, None): Kind.SESSION,
    (429, None): Kind.RATE_LIMITED,
    (None, REQUESTS_EXCEEDED): Kind.RATE_LIMITED,
    (None, EXECUTION_TIME_EXCEEDED): Kind.RATE_LIMITED,
    (None, CONCURRENCY_EXCEEDED): Kind.RATE_LIMITED,
    (None, GENERIC_SQL_ERROR): Kind.TRANSIENT,
    (None, SQL_TIMEOUT): Kind.TRANSIENT,
    (None, TRANSACTION_ROLLED_BACK): Kind.TRANSIENT,
    (None, EXPIRED_VERSION_STAMP): Kind.EXPIRED_TOKEN,
    (500, None): Kind.TRANSIENT,
    (502, None): Kind.TRANSIENT,
    (503, None): Kind.TRANSIENT,
    (504, None): Kind.TRANSIENT,
    (404, None): Kind.SKIPPABLE,
    (412, None): Kind.SKIPPABLE,
}

# Entra (AADSTS) OAuth errors and the setting that fixes each.
SIGN_IN_ERRORS = {
    "invalid_client": f"the client secret is wrong or expired (check {SECRET_SETTING})",
    "unauthorized_client": "the app registration is unknown in this tenant "
    "(check ABMSYNC_DYNAMICS__CLIENT_ID)",
    "invalid_request": "Entra refused the request (check ABMSYNC_DYNAMICS__TENANT_ID "
    "and ABMSYNC_DYNAMICS__CLIENT_ID)",
    "invalid_scope": "the org URL is not a resource of this tenant (check "
    "ABMSYNC_DYNAMICS__ORG_URL)",
}


def error_kind(status: int, code: str | None) -> Kind:
    """The kind of an error answer, from :data:`ERROR_KINDS` with a status-class fallback."""
    for key in ((status, code), (None, code), (status, None)):
        if key in ERROR_KINDS:
            return ERROR_KINDS[key]
    return Kind.TRANSIENT if status >= 500 else Kind.TERMINAL


@dataclass(frozen=True)
class VendorError:
    """What Dataverse said: HTTP status, hex error code and message."""

    status: int
    code: str | None
    message: str

    def line(self) -> str:
        """``404 0x80040217: Entity 'lead' With Id = ... Does Not Exist``, one line."""
        return f"{self.status} {self.code or 'error'}: {self.message}"


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a vendor message fits on one log line."""
    return " ".join(text.split())[:limit]


def vendor_error(status: int, body: object) -> VendorError:
    """Status, code and message of a Web API error body ``{"error": {"code", "message"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return VendorError(status, str(code) if code else None, one_line(str(error.get("message"))))
    return VendorError(status, None, one_line(str(body or "")))


def parse_body(text: str) -> object:
    """JSON of an answer body, or the text itself when it is not JSON."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


class DynamicsTerminalError(TerminalError):
    """A Dataverse answer retrying cannot fix; ``vendor`` says what it was."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class DynamicsRejectedError(SkippableError):
    """Dataverse refused this record (404 no such record, 412 duplicate key or no match)."""

    def __init__(self, message: str, vendor: VendorError) -> None:
        super().__init__(message)
        self.vendor = vendor


class DynamicsTransientError(TransientError):
    """A Dataverse failure worth retrying (5xx, SQL timeout, dropped connection)."""

    def __init__(self, message: str, vendor: VendorError | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor


class ChangeTokenExpiredError(DynamicsTerminalError):
    """The delta link's token is too old (or unknown): the object must be read in full."""


class TokenRejectedError(TransientError):
    """401 from the Web API: take a new token and repeat the request."""


class OutcomeUnknownError(SkippableError):
    """A non-idempotent request (a create) whose answer was lost: it may have been applied."""


def classify(vendor: VendorError, what: str, retry_after: float | None = None) -> Exception:
    """The abmsync error for an error answer to ``what`` (one line, no secrets)."""
    kind = error_kind(vendor.status, vendor.code)
    line = f"Dynamics 365 {what} failed ({vendor.line()})"
    if kind is Kind.RATE_LIMITED:
        return RateLimitedError(
            f"Dynamics 365 service protection limit: {vendor.line()}", retry_after
        )
    if kind is Kind.TRANSIENT:
        return DynamicsTransientError(line, vendor)
    if kind is Kind.SESSION:
        return TokenRejectedError(f"Dynamics 365 refused the access token ({vendor.line()})")
    if kind is Kind.EXPIRED_TOKEN:
        return ChangeTokenExpiredError(line, vendor)
    if kind is Kind.SKIPPABLE:
        return DynamicsRejectedError(line, vendor)
    if vendor.status == 403:
        line += "; the application user lacks a security role privilege"
    return DynamicsTerminalError(line, vendor)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks to wait (``Retry-After``), if it says."""
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Headroom:
    """Service protection headroom an answer reports (per user, per 5-minute window).

    ``x-ms-ratelimit-burst-remaining-xrm-requests`` counts requests left and
    ``x-ms-ratelimit-time-remaining-xrm-requests`` execution time left
    (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).
    """

    requests: int | None
    execution_time: float | None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headroom | None:
        burst = headers.get("x-ms-ratelimit-burst-remaining-xrm-requests")
        time = headers.get("x-ms-ratelimit-time-remaining-xrm-requests")
        if burst is None and time is None:
            return None
        return cls(_number(burst, int), _number(time, float))


def _number(text: str | None, kind: Callable[[str], T]) -> T | None:
    try:
        return kind(text.replace(",", "")) if text is not None else None
    except ValueError:
        return None


class DataverseClient:
    """One org's Web API: a token from Entra, one HTTP client, abmsync's error handling."""

    def __init__(
        self,
        org_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        authority_host: str = MICROSOFT_AUTHORITY,
        verify: bool | str = True,
        budget: ApiBudget | None = None,
        api_version: str = "9.2",
        timeout: float = 60.0,
        attempts: int = 6,
    ) -> None:
        """``budget`` counts and limits the API calls (default: 10% reserve, no cap)."""
        self.org_url = org_url.rstrip("/")
        self.base_url = f"{self.org_url}/api/data/v{api_version}/"
        self.client_id = client_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._secret = client_secret
        redact(client_secret)
        self._microsoft = authority_host.rstrip("/") == MICROSOFT_AUTHORITY
        self._msal: msal.ConfidentialClientApplication | None = None
        # msal's own session would let REQUESTS_CA_BUNDLE override ``verify``
        # (psf/requests#3829); this one ignores the environment, like the Web API client.
        self._entra = requests.Session()
        self._entra.trust_env = False
        self._entra.verify = verify
        self._token: str | None = None
        self.budget = budget if budget is not None else ApiBudget("dynamics")
        self.attempts = attempts
        self.headroom: Headroom | None = None
        self.http = httpx.Client(
            base_url=self.base_url,
            http2=True,  # Dataverse speaks HTTP/2; a server without it answers in HTTP/1.1
            # httpx takes a CA bundle as an SSL context (a path is deprecated)
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=timeout,
            trust_env=False,
            headers={
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "Accept": "application/json",
            },
        )
        self._policy: Retrying = retrying(attempts=attempts, system="dynamics")

    def close(self) -> None:
        """Close the HTTP connections (Web API and Entra)."""
        self.http.close()
        self._entra.close()

    def with_retries(self, function: Callable[[], T]) -> T:
        """Call ``function`` under the shared retry policy (transient errors only)."""
        for attempt in self._policy.copy():
            with attempt:
                return function()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- token ---------------------------------------------------------------------

    def token(self, *, fresh: bool = False) -> str:
        """An access token for the org, from msal's cache unless ``fresh``."""
        if self._token is not None and not fresh:
            return self._token
        app = self._app()
        if fresh:
            cache = app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        with self._reaching_entra():
            result = app.acquire_token_for_client(scopes=[f"{self.org_url}/.default"])
        if "access_token" not in result:
            raise self._sign_in_error(result)
        token = str(result["access_token"])
        redact(token)
        self._token = token
        return token

    def _app(self) -> msal.ConfidentialClientApplication:
        if self._msal is None:
            try:
                with self._reaching_entra():
                    self._msal = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._secret.get_secret_value(),
                        authority=self.authority,
                        http_client=self._entra,
                        # Authority validation asks Microsoft's discovery endpoint; an
                        # authority elsewhere (a sovereign cloud's, a sandbox) must skip it.
                        **({} if self._microsoft else {"instance_discovery": False}),
                    )
            except ValueError as error:
                raise ConfigError(
                    f"Microsoft Entra authority {self.authority} is not usable "
                    f"({one_line(str(error), 200)}); check ABMSYNC_DYNAMICS__TENANT_ID and "
                    "ABMSYNC_DYNAMICS__AUTHORITY_HOST"
                ) from None
        return self._msal

    @contextmanager
    def _reaching_entra(self) -> Iterator[None]:
        """Errors reaching Microsoft Entra as abmsync's: TLS ones terminal, the rest transient."""
        try:
            yield
        except requests.exceptions.SSLError as error:
            raise self._tls_error(error, "Microsoft Entra") from None
        except requests.exceptions.RequestException as error:
            raise TransientError(
                f"could not reach Microsoft Entra at {self.authority}: {type(error).__name__}"
            ) from None

    def _sign_in_error(self, result: Mapping[str, Any]) -> Exception:
        code = str(result.get("error") or "error")
        detail = one_line(str(result.get("error_description") or ""), 400).split(" Trace ID")[0]
        if code in ("temporarily_unavailable", "server_error"):
            return TransientError(f"Microsoft Entra is unavailable ({code}: {detail})")
        reason = SIGN_IN_ERRORS.get(code, "Entra refused the sign-in")
        return ConfigError(
            f"Dynamics 365 sign-in failed for client id {self.client_id!r} at {self.authority}: "
            f"{reason} ({code}: {detail})"
        )

    # -- calls ---------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one Web API request under the retry policy; an error answer raises.

        ``url`` is relative to the Web API root or absolute (a next or delta
        link). A request that is not ``idempotent`` (a create, or a batch with
        creates) is not sent again once it may have reached Dataverse.
        """

        def attempt() -> httpx.Response:
            try:
                try:
                    return self._once(method, url, what, params, json_body, content, headers)
                except TokenRejectedError:
                    self.token(fresh=True)  # expired or revoked: a new one, once
                try:
                    return self._once(method, url, what, params, json_body, content, headers)
                except TokenRejectedError as error:
                    # Expired again at once (a short-lived or revoked token): retried under
                    # the policy like the other vendors; if it never passes, the last
                    # attempt's message says what to check.
                    self.token(fresh=True)
                    raise DynamicsTransientError(
                        f"{error}, also with a new token: is the app registration an "
                        f"application user of {self.org_url}?"
                    ) from None
            except ResponseLostError as error:
                if idempotent:
                    raise
                raise OutcomeUnknownError(f"{error}; it may have been applied") from error

        return self.with_retries(attempt)

    def get_json(self, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """GET ``url`` and return its JSON object."""
        answer = self.send("GET", url, what=what, **kwargs)
        body = parse_body(answer.text)
        if not isinstance(body, dict):
            raise DynamicsTerminalError(f"Dynamics 365 {what}: the answer is not a JSON object")
        return body

    def _once(
        self,
        method: str,
        url: str,
        what: str,
        params: Mapping[str, str] | None,
        json_body: object,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """One request: counted by the budget, network errors and error answers mapped."""
        sent = {**(headers or {}), "Authorization": f"Bearer {self.token()}"}
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        with self.budget.request():
            with transport_errors(
                "Dynamics 365", what, lambda error: self._tls_error(error, "Dynamics 365")
            ):
                response = self.http.request(
                    method, url, params=params, content=content, headers=sent
                )
            self.headroom = Headroom.of(response.headers) or self.headroom
        if response.status_code >= 400:
            vendor = vendor_error(response.status_code, parse_body(response.text))
            raise classify(vendor, what, retry_after(response.headers))
        return response

    def _tls_error(self, error: Exception, service: str) -> Exception:
        reason = certificate_failure(error)
        if reason is None:
            return TransientError(f"TLS connection to {service} failed: {tls_detail(error)}")
        return TerminalError(
            f"TLS verification of {service} failed ({reason}); set "
            "ABMSYNC_DYNAMICS__VERIFY to the CA bundle to trust"
        )
