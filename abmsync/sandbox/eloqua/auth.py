"""Login and discovery: HTTP Basic, OAuth 2.0 tokens and ``GET /id``.

- Basic: ``Authorization: Basic base64("Company\\User:password")``
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/Authentication_Basic.html).
- OAuth 2.0: ``POST /auth/oauth2/token`` with the app's client id and secret as
  HTTP Basic; JSON body ``{"grant_type": "password", "scope": "full",
  "username": "Company\\User", "password": ...}`` or ``{"grant_type":
  "refresh_token", "refresh_token": ..., "scope": "full", "redirect_uri": ...}``
  answers ``{"access_token", "token_type": "bearer", "expires_in": 28800,
  "refresh_token"}``; API calls then send ``Authorization: Bearer <token>``
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/Authentication_Auth.html).
- Discovery: ``GET /id`` answers the site, the user and ``urls.base`` plus the
  API URLs with ``{version}`` placeholders; bad credentials answer 200 with the
  JSON string ``"Not authenticated."``
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/DeterminingBaseURL.html).
  In the sandbox one server is both the login host and the pod, so
  ``urls.base`` is the URL the request came to.

Guesses:
- The company and user names compare case-insensitively, the password exactly.
- Token errors follow RFC 6749: 401 ``invalid_client`` for a bad app, 400
  ``invalid_grant`` for bad user credentials or an unknown refresh token, 400
  ``unsupported_grant_type``. Form-encoded token requests are accepted too.
- Using a refresh token retires it (the answer carries a new one); refresh
  tokens do not expire.
- Tokens expire on the site's clock, so tests can move past ``expires_in``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from abmsync.sandbox.eloqua.config import EloquaConfig
from abmsync.sandbox.eloqua.errors import NOT_AUTHENTICATED, EloquaError
from abmsync.sandbox.eloqua.store import EloquaStore


@dataclass
class Token:
    """An issued access token."""

    user: str
    expires_at: datetime


class Authenticator:
    """Checks credentials and issues OAuth tokens for one site."""

    def __init__(self, config: EloquaConfig, store: EloquaStore) -> None:
        self.config = config
        self.store = store
        self._tokens: dict[str, Token] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> user
        self._lock = threading.Lock()
        self.issued = 0

    def _user_matches(self, qualified: str, password: str) -> bool:
        company, _, user = qualified.partition("\\")
        return (
            company.lower() == self.config.company.lower()
            and user.lower() == self.config.username.lower()
            and secrets.compare_digest(password, self.config.password)
        )

    def user_of(self, authorization: str) -> str | None:
        """The user an ``Authorization`` header proves, or None (bad, missing or expired)."""
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            pair = _decode_basic(value)
            if pair is not None and self._user_matches(*pair):
                return self.config.username
            return None
        if scheme.lower() == "bearer":
            with self._lock:
                token = self._tokens.get(value.strip())
            if token is not None and self.store.now() < token.expires_at:
                return token.user
        return None

    def expire_all(self) -> None:
        """Expire every issued access token (refresh tokens stay valid)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = datetime.min.replace(tzinfo=self.store.now().tzinfo)

    def token(
        self, authorization: str, body: bytes, content_type: str
    ) -> tuple[int, dict[str, Any]]:
        """``POST /auth/oauth2/token``: (status, JSON body)."""
        pair = (
            _decode_basic(authorization.partition(" ")[2])
            if authorization.lower().startswith("basic ")
            else None
        )
        if pair is None or pair != (self.config.client_id, self.config.client_secret):
            return 401, {"error": "invalid_client"}
        form = _form(body, content_type)
        grant = form.get("grant_type")
        if grant == "password":
            if not self._user_matches(str(form.get("username", "")), str(form.get("password", ""))):
                return 400, {"error": "invalid_grant"}
            return 200, self._issue(self.config.username)
        if grant == "refresh_token":
            with self._lock:
                user = self._refresh.pop(str(form.get("refresh_token", "")), None)
            if user is None:
                return 400, {"error": "invalid_grant"}
            return 200, self._issue(user)
        return 400, {"error": "unsupported_grant_type"}

    def _issue(self, user: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
        expires = self.store.now() + timedelta(seconds=self.config.token_seconds)
        with self._lock:
            self._tokens[access] = Token(user, expires)
            self._refresh[refresh] = user
            self.issued += 1
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.config.token_seconds,
            "refresh_token": refresh,
        }

    def identity(self, authorization: str, base_url: str) -> Any:
        """``GET /id``: the discovery document, or the string ``"Not authenticated."``."""
        if self.user_of(authorization) is None:
            return NOT_AUTHENTICATED
        base = base_url.rstrip("/")
        first, _, last = self.config.username.replace("_", ".").partition(".")
        return {
            "site": {"id": self.config.site_id, "name": self.config.company},
            "user": {
                "id": 7,
                "username": self.config.username,
                "displayName": f"{first} {last}".strip(),
                "firstName": first,
                "lastName": last,
                "emailAddress": f"{self.config.username.lower()}@example.com",
            },
            "urls": {
                "base": base,
                "apis": {
                    "soap": {
                        "standard": f"{base}/API/{{version}}/Service.svc",
                        "dataTransfer": f"{base}/API/{{version}}/DataTransferService.svc",
                        "email": f"{base}/API/{{version}}/EmailService.svc",
                        "externalAction": f"{base}/API/{{version}}/ExternalActionService.svc",
                    },
                    "rest": {
                        "standard": f"{base}/API/REST/{{version}}/",
                        "data": f"{base}/API/Data/{{version}}/",
                        "bulk": f"{base}/API/Bulk/{{version}}/",
                    },
                },
            },
        }


def _decode_basic(value: str) -> tuple[str, str] | None:
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, colon, password = text.partition(":")
    return (user, password) if colon else None


def _form(body: bytes, content_type: str) -> dict[str, Any]:
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        parsed = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EloquaError(400, {"error": "invalid_request"}) from None
    return parsed if isinstance(parsed, dict) else {}
