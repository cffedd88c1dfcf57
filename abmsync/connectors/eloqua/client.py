"""The HTTP side of the Eloqua connector: sign-in, discovery, every request, retries.

``EloquaClient`` talks to one Eloqua instance over one ``httpx.Client``:

- **Sign-in.** HTTP Basic with ``Company\\User:password``, or OAuth 2.0 when a
  client id and secret are given: the resource owner password grant, then the
  refresh token grant when the access token expires or a 401 comes
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/Authentication_RequestingBearerToken.html:
  ``POST {login}/auth/oauth2/token``, the app's id and secret as Basic auth,
  a JSON body; an access token lives 8 hours, a refresh token longer).
- **Discovery.** ``GET {login}/id`` says which pod serves the instance
  (``urls.base``) and the REST and Bulk roots with a ``{version}`` placeholder
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/DeterminingBaseURL.html).
  Bad credentials get a 200 whose body is the JSON string ``"Not authenticated."``:
  a :class:`~abmsync.errors.ConfigError` of one line. Discovery runs once per
  client and again after a 401, since a 401 from the pod means "discover again".
- **Requests.** Every request, sign-in and discovery included, is counted by
  the client's :class:`~abmsync.connectors.budget.ApiBudget` before it is sent
  and runs under the shared retry policy: 429 (honouring Retry-After), 5xx,
  timeouts and dropped connections are transient; error answers map to kinds
  through :data:`~abmsync.connectors.eloqua.errors.STATUS_KINDS`. A request
  that must not be repeated (posting import data) whose answer was lost raises
  :class:`~abmsync.connectors.eloqua.errors.OutcomeUnknownError` instead.
- **TLS.** ``verify`` is True, False or a CA bundle path; the client ignores
  ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` so the configured bundle wins.

Passwords, secrets and tokens are :class:`~pydantic.SecretStr` or registered
with :func:`abmsync.logs.redact`, and no message contains them.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import Retrying

from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.eloqua.errors import (
    EloquaTerminalError,
    EloquaTransientError,
    OutcomeUnknownError,
    SessionRejectedError,
    classify,
    describe_body,
    one_line,
    parse_body,
    retry_after,
)
from abmsync.connectors.retry import retrying
from abmsync.connectors.tls import certificate_failure
from abmsync.connectors.transport import transport_errors
from abmsync.errors import ConfigError, ResponseLostError, TerminalError
from abmsync.logs import redact

T = TypeVar("T")
LOGIN_URL = "https://login.eloqua.com"
BULK_VERSION = "2.0"
NOT_AUTHENTICATED = "Not authenticated."
TOKEN_MARGIN_SECONDS = 60.0  # renew an access token this long before Eloqua would refuse it
CREDENTIALS_HINT = "check the company (site) name, user name and password"


@dataclass(frozen=True)
class Discovery:
    """Where the instance lives, as ``GET /id`` said."""

    base: str
    rest: str  # e.g. https://secure.p01.eloqua.com/API/REST/{version}/
    bulk: str  # e.g. https://secure.p01.eloqua.com/API/Bulk/{version}/
    site_id: int | None
    site_name: str
    user: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Discovery:
        """Read an ``/id`` answer; fall back on ``urls.base`` where a root is missing."""
        urls = body.get("urls") or {}
        base = str(urls.get("base") or "").rstrip("/")
        rest = ((urls.get("apis") or {}).get("rest")) or {}
        if not base:
            raise EloquaTerminalError("Eloqua discovery (GET /id) named no base URL")
        site = body.get("site") or {}
        user = body.get("user") or {}
        return cls(
            base=base,
            rest=str(rest.get("standard") or f"{base}/API/REST/{{version}}/"),
            bulk=str(rest.get("bulk") or f"{base}/API/Bulk/{{version}}/"),
            site_id=site.get("id") if isinstance(site.get("id"), int) else None,
            site_name=str(site.get("name") or ""),
            user=str(user.get("username") or ""),
        )

    def root(self, api: str, version: str) -> str:
        """The URL root of ``api`` (``bulk`` or ``rest``) in ``version``, ending in ``/``."""
        template = self.bulk if api == "bulk" else self.rest
        root = template.replace("{version}", version)
        return root if root.endswith("/") else root + "/"


class EloquaClient:
    """One Eloqua instance: credentials, discovery, one HTTP client, abmsync's error handling."""

    def __init__(
        self,
        company: str,
        username: str,
        password: SecretStr,
        *,
        login_url: str = LOGIN_URL,
        client_id: str | None = None,
        client_secret: SecretStr | None = None,
        verify: bool | str = True,
        timeout: float = 60.0,
        budget: ApiBudget | None = None,
        attempts: int = 6,
    ) -> None:
        """OAuth 2.0 when ``client_id`` and ``client_secret`` are given, else HTTP Basic."""
        self.company = company
        self.username = username
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._password = password
        self._client_secret = client_secret
        redact(password)
        redact(client_secret)
        self.oauth = client_id is not None and client_secret is not None
        self.budget = budget if budget is not None else ApiBudget("eloqua")
        self.attempts = attempts
        self.http = httpx.Client(
            # httpx takes a CA bundle as an SSL context (a path is deprecated); trust_env off
            # so REQUESTS_CA_BUNDLE or SSL_CERT_FILE cannot replace the configured bundle.
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=timeout,
            trust_env=False,
            headers={"Accept": "application/json"},
        )
        self._policy: Retrying = retrying(attempts=attempts, system="eloqua")
        self._lock = threading.RLock()
        self._discovery: Discovery | None = None
        self._access: str | None = None
        self._refresh: str | None = None
        self._deadline = 0.0
        self.discoveries = 0  # GET /id calls made, for tests and the run summary

    @property
    def login_name(self) -> str:
        """``Company\\User``, as Eloqua's sign-in wants it."""
        return f"{self.company}\\{self.username}"

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def with_retries(self, function: Callable[[], T]) -> T:
        """Call ``function`` under the shared retry policy (transient errors only)."""
        for attempt in self._policy.copy():
            with attempt:
                return function()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- session ---------------------------------------------------------------------

    def discovery(self) -> Discovery:
        """Where the instance lives; asks ``GET /id`` once per session."""
        with self._lock:
            if self._discovery is None:
                self._discovery = self.with_retries(self._discover)
            return self._discovery

    def _renew_session(self) -> None:
        """After a 401: a new access token (OAuth), then discovery again."""
        with self._lock:
            if self.oauth:
                self._take_token(refresh=True)
            self._discovery = None
            self._discovery = self._discover()

    def _discover(self) -> Discovery:
        """``GET {login}/id``: the base URLs, or a clear line when the credentials are wrong."""
        self.discoveries += 1
        response = self._request("GET", f"{self.login_url}/id", "discovery (GET /id)", None, None)
        body = parse_body(response.text)
        if response.status_code == 401 or body == NOT_AUTHENTICATED:
            raise ConfigError(
                f"Eloqua did not authenticate {self.login_name} at {self.login_url} "
                f"({NOT_AUTHENTICATED.rstrip('.')}): {CREDENTIALS_HINT}"
            )
        if response.status_code >= 400:
            raise classify(
                response.status_code, body, "discovery (GET /id)", retry_after(response.headers)
            )
        if not isinstance(body, Mapping):
            raise EloquaTerminalError(
                f"Eloqua discovery (GET /id) answered {describe_body(body)!r}, "
                "not the instance's URLs"
            )
        return Discovery.of(body)

    def _authorization(self) -> str:
        """The Authorization header: Basic credentials, or a Bearer token still valid."""
        if not self.oauth:
            raw = f"{self.login_name}:{self._password.get_secret_value()}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        with self._lock:
            if self._access is None or time.monotonic() >= self._deadline:
                self._take_token(refresh=self._refresh is not None)
            assert self._access is not None
            return f"Bearer {self._access}"

    def _take_token(self, *, refresh: bool) -> None:
        """An access token: by refresh token when there is one, else by password grant."""
        if refresh and self._refresh is not None:
            body: dict[str, str] = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh,
                "scope": "full",
                "redirect_uri": self.login_url,
            }
            if self._grant(body, refreshing=True):
                return
        password = self._password.get_secret_value()
        body = {
            "grant_type": "password",
            "scope": "full",
            "username": self.login_name,
            "password": password,
        }
        self._grant(body, refreshing=False)

    def _grant(self, body: dict[str, str], *, refreshing: bool) -> bool:
        """POST the token endpoint; False when a refresh token was refused (sign in again)."""
        assert self.client_id is not None and self._client_secret is not None
        pair = f"{self.client_id}:{self._client_secret.get_secret_value()}".encode()
        what = "OAuth token refresh" if refreshing else "OAuth sign-in"

        def once() -> httpx.Response:
            response = self._request(
                "POST",
                f"{self.login_url}/auth/oauth2/token",
                what,
                None,
                body,
                authorization="Basic " + base64.b64encode(pair).decode(),
            )
            if response.status_code >= 500 or response.status_code == 429:
                answer = parse_body(response.text)
                raise classify(response.status_code, answer, what, retry_after(response.headers))
            return response

        response = self.with_retries(once)
        answer = parse_body(response.text)
        if response.status_code >= 400 or not isinstance(answer, Mapping):
            if refreshing:
                self._refresh = None
                return False
            raise ConfigError(
                f"Eloqua OAuth sign-in of {self.login_name} with client id {self.client_id!r} "
                f"failed ({response.status_code} {_oauth_error(answer)}): {CREDENTIALS_HINT} "
                "and the app's client id and secret"
            )
        token = str(answer.get("access_token") or "")
        if not token:
            raise EloquaTerminalError(f"Eloqua {what} answered without an access token")
        redact(token)
        self._access = token
        if answer.get("refresh_token"):
            self._refresh = str(answer["refresh_token"])
            redact(self._refresh)
        lifetime = float(answer.get("expires_in") or 28_800)
        self._deadline = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 1.0)
        return True

    # -- calls -------------------------------------------------------------------------

    def send(
        self,
        method: str,
        api: str,
        path: str,
        *,
        what: str,
        version: str = BULK_VERSION,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request to ``api`` (``bulk`` or ``rest``); an error answer raises.

        ``path`` is relative to the API root (``contacts/exports``, ``/syncs/7``).
        A 401 renews the session once and repeats the request; a second 401
        counts as a failed attempt under the retry policy.
        """

        def attempt() -> httpx.Response:
            try:
                try:
                    return self._call(method, api, version, path, what, params, json_body)
                except SessionRejectedError:
                    self._renew_session()
                try:
                    return self._call(method, api, version, path, what, params, json_body)
                except SessionRejectedError as error:
                    self._renew_session()
                    raise EloquaTransientError(f"{error}, also after signing in again") from None
            except ResponseLostError as error:
                if idempotent:
                    raise
                raise OutcomeUnknownError(f"{error}; it may have been applied") from error

        return self.with_retries(attempt)

    def json(self, method: str, api: str, path: str, **kwargs: Any) -> Any:
        """:meth:`send` and return the answer's JSON (None for an empty body)."""
        response = self.send(method, api, path, **kwargs)
        return parse_body(response.text)

    def _call(
        self,
        method: str,
        api: str,
        version: str,
        path: str,
        what: str,
        params: Mapping[str, str | int] | None,
        json_body: object,
    ) -> httpx.Response:
        url = self.discovery().root(api, version) + path.lstrip("/")
        response = self._request(method, url, what, params, json_body)
        if response.status_code >= 400:
            raise classify(
                response.status_code,
                parse_body(response.text),
                what,
                retry_after(response.headers),
            )
        return response

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        params: Mapping[str, str | int] | None,
        json_body: object,
        *,
        authorization: str | None = None,
    ) -> httpx.Response:
        """One HTTP request, counted by the budget; network failures mapped to abmsync's."""
        headers = {"Authorization": authorization or self._authorization()}
        with self.budget.request(), transport_errors("Eloqua", what, self._tls_error):
            return self.http.request(method, url, params=params, json=json_body, headers=headers)

    def _tls_error(self, error: Exception) -> Exception:
        reason = certificate_failure(error)
        return TerminalError(
            f"TLS verification of Eloqua failed ({reason}); set the connector's verify "
            "setting to the CA bundle to trust"
        )


def _oauth_error(answer: object) -> str:
    """``invalid_grant: ...`` from an OAuth error body, one line."""
    if isinstance(answer, Mapping):
        code = str(answer.get("error") or "error")
        detail = str(answer.get("error_description") or "")
        return one_line(f"{code}: {detail}" if detail else code, 200)
    return one_line(str(answer or ""), 200)
