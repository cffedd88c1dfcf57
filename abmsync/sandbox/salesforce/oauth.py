"""OAuth 2.0 of the Salesforce emulator: token flows, identity URL, userinfo, revoke.

Grants of ``POST /services/oauth2/token``:

- ``password`` (username-password flow): no refresh token and no scope in the
  answer; the flow does not issue them.
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_username_password_flow.htm
- ``client_credentials``: runs as the org's integration user; ``scope`` in the answer.
- ``authorization_code`` (web server flow): the code comes from
  ``GET /services/oauth2/authorize``, which approves at once as the admin
  would; the answer carries a ``refresh_token`` when the granted scopes include
  ``refresh_token`` or ``offline_access``.
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
- ``refresh_token``: a new access token for a refresh token (no new refresh token).
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm

Every token answer has ``access_token, instance_url, id, token_type,
issued_at, signature``; the signature is the Base64 HMAC-SHA256 of ``id`` +
``issued_at`` keyed with the client secret, as the username-password flow page
documents. Errors are ``{"error", "error_description"}`` with the codes of
"OAuth 2.0 Authorization Errors"
(https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm):
an unknown client id is ``invalid_client_id``, a wrong secret ``invalid_client``.

The identity URL (``/id/{orgId}/{userId}``) and ``/services/oauth2/userinfo``
answer the documented user JSON for a bearer token; their errors are the
identity service's bare codes (``Missing_OAuth_Token``, ``Bad_OAuth_Token``,
``Wrong_Org``, ``Bad_Id``).
https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.store import Store

ORG_ID = "00D5g000000SBXEAA2"
_REFRESH_SCOPES = frozenset({"refresh_token", "offline_access"})


class OAuthError(Exception):
    """A token endpoint error: ``{"error", "error_description"}`` with a status."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": code, "error_description": description}


@dataclass(frozen=True)
class Grant:
    """Who a token acts for, with which scopes, for which connected app."""

    username: str
    scope: str
    client_id: str


class OAuthServer:
    """Issues, checks and revokes the tokens of one emulated org."""

    def __init__(self, config: SandboxConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self._access: dict[str, tuple[float, Grant, str | None]] = {}
        self._refresh: dict[str, Grant] = {}
        self._codes: dict[str, tuple[Grant, str]] = {}
        self._lock = threading.Lock()

    # -- tokens ---------------------------------------------------------------

    def issue_token(
        self, form: dict[str, str], base_url: str, basic: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """Answer one token request, or raise :class:`OAuthError`."""
        grant_type = form.get("grant_type", "")
        grants = ("password", "client_credentials", "authorization_code", "refresh_token")
        if grant_type not in grants:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        self._check_client(client_id, secret)
        refresh_token: str | None = None
        if grant_type == "password":
            grant = self._password_grant(form, client_id)
        elif grant_type == "client_credentials":
            grant = Grant(self._integration_user(), "api", client_id)
        elif grant_type == "authorization_code":
            grant = self._code_grant(form)
            if _REFRESH_SCOPES & set(grant.scope.split()):
                refresh_token = f"5Aep{secrets.token_urlsafe(60)}"
                with self._lock:
                    self._refresh[refresh_token] = grant
        else:
            grant = self._refresh_grant(form, client_id)
        return self._answer(grant, base_url, grant_type, refresh_token, form.get("refresh_token"))

    def _check_client(self, client_id: str, secret: str) -> None:
        if not hmac.compare_digest(client_id, self.config.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret, self.config.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _password_grant(self, form: dict[str, str], client_id: str) -> Grant:
        username = form.get("username", "")
        expected = self.config.users.get(username)
        # The password may carry the security token appended to it.
        if expected is None or not form.get("password", "").startswith(expected):
            raise OAuthError("invalid_grant", "authentication failure")
        return Grant(username, "", client_id)

    def _code_grant(self, form: dict[str, str]) -> Grant:
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)  # a code is good once
        if issued is None:
            raise OAuthError("invalid_grant", "invalid authorization code")
        grant, redirect_uri = issued
        if form.get("redirect_uri", "") != redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        return grant

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> Grant:
        with self._lock:
            grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        return grant

    def _integration_user(self) -> str:
        return next(iter(self.config.users), "admin@abmsync.sandbox")

    def _answer(
        self,
        grant: Grant,
        base_url: str,
        grant_type: str,
        refresh_token: str | None,
        parent: str | None,
    ) -> dict[str, Any]:
        # A real access token starts with the 15-character org id and "!".
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            expires = time.monotonic() + self.config.token_lifetime
            self._access[token] = (expires, grant, refresh_token or parent)
        identity = f"{base_url}/id/{ORG_ID}/{self.store.admin_id}"
        issued = str(int(time.time() * 1000))
        digest = hmac.new(
            self.config.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
        ).digest()
        answer: dict[str, Any] = {"access_token": token}
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
        answer["signature"] = base64.b64encode(digest).decode()
        if grant_type != "password":
            answer["scope"] = grant.scope
        answer |= {"instance_url": base_url, "id": identity, "token_type": "Bearer"}
        answer["issued_at"] = issued
        return answer

    def authorize_code(self, params: dict[str, str]) -> str:
        """``GET /services/oauth2/authorize``: where to send the browser back to."""
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id", "") != self.config.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if redirect_uri not in self.config.callback_urls:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        state = {"state": params["state"]} if "state" in params else {}
        if params.get("response_type") != "code":
            error = {"error": "unsupported_response_type", "error_description": "response type"}
            return f"{redirect_uri}?{urlencode({**error, **state})}"
        allowed = self.config.oauth_scopes.split()
        wanted = params.get("scope", "").split() or allowed
        if not set(wanted) <= set(allowed) | {"full"}:
            error = {
                "error": "invalid_scope",
                "error_description": "the requested scope is not allowed",
            }
            return f"{redirect_uri}?{urlencode({**error, **state})}"
        code = f"aPrx{secrets.token_urlsafe(40)}"
        with self._lock:
            grant = Grant(self._integration_user(), " ".join(wanted), self.config.client_id)
            self._codes[code] = (grant, redirect_uri)
        return f"{redirect_uri}?{urlencode({'code': code, **state})}"

    def revoke(self, token: str) -> bool:
        """Revoke an access token, or a refresh token and the access tokens it issued."""
        with self._lock:
            if self._access.pop(token, None) is not None:
                return True
            if self._refresh.pop(token, None) is None:
                return False
            for access, (_, _, parent) in list(self._access.items()):
                if parent == token:
                    del self._access[access]
            return True

    def expire_tokens(self) -> None:
        """Expire every access token (as after the session timeout); refresh tokens stay."""
        with self._lock:
            self._access.clear()

    def session(self, header: str) -> Grant | None:
        """The grant of a live ``Bearer``/``OAuth`` token in ``header``, or None."""
        token = header.removeprefix("Bearer ").removeprefix("OAuth ").strip()
        with self._lock:
            found = self._access.get(token)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    # -- identity ---------------------------------------------------------------

    def identity(self, grant: Grant, base_url: str, version: str | None) -> dict[str, Any]:
        """The identity URL's answer for the user of ``grant``."""
        user_id = self.store.admin_id
        users = self.store.objects["User"]
        record = self.store.get(users, user_id) or {}
        api = version or "{version}"
        urls = {
            "enterprise": f"{base_url}/services/Soap/c/{api}/{ORG_ID[:15]}",
            "metadata": f"{base_url}/services/Soap/m/{api}/{ORG_ID[:15]}",
            "partner": f"{base_url}/services/Soap/u/{api}/{ORG_ID[:15]}",
            "rest": f"{base_url}/services/data/v{api}/",
            "sobjects": f"{base_url}/services/data/v{api}/sobjects/",
            "search": f"{base_url}/services/data/v{api}/search/",
            "query": f"{base_url}/services/data/v{api}/query/",
            "recent": f"{base_url}/services/data/v{api}/recent/",
            "tooling_rest": f"{base_url}/services/data/v{api}/tooling/",
            "profile": f"{base_url}/{user_id}",
            "custom_domain": base_url,
        }
        return {
            "id": f"{base_url}/id/{ORG_ID}/{user_id}",
            "asserted_user": True,
            "user_id": user_id,
            "organization_id": ORG_ID,
            "username": grant.username,
            "nick_name": grant.username.partition("@")[0],
            "display_name": str(record.get("LastName") or grant.username),
            "email": str(record.get("Email") or grant.username),
            "email_verified": True,
            "first_name": record.get("FirstName"),
            "last_name": record.get("LastName"),
            "timezone": "America/Los_Angeles",
            "photos": {
                "picture": f"{base_url}/profilephoto/005/F",
                "thumbnail": f"{base_url}/profilephoto/005/T",
            },
            "addr_street": None,
            "addr_city": None,
            "addr_state": None,
            "addr_country": None,
            "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": urls,
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "last_modified_date": record.get("LastModifiedDate"),
            "is_app_installed": True,
        }

    def userinfo(self, grant: Grant, base_url: str) -> dict[str, Any]:
        """``/services/oauth2/userinfo``: the OpenID Connect claims of the same user."""
        identity = self.identity(grant, base_url, None)
        return {
            "sub": identity["id"],
            "user_id": identity["user_id"],
            "organization_id": ORG_ID,
            "preferred_username": grant.username,
            "nickname": identity["nick_name"],
            "name": identity["display_name"],
            "email": identity["email"],
            "email_verified": True,
            "given_name": identity["first_name"],
            "family_name": identity["last_name"],
            "zoneinfo": identity["timezone"],
            "photos": identity["photos"],
            "profile": identity["urls"]["profile"],
            "picture": identity["photos"]["picture"],
            "address": {},
            "is_salesforce_integration_user": False,
            "urls": identity["urls"],
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": identity["utcOffset"],
            "updated_at": identity["last_modified_date"],
            "is_app_installed": True,
        }


def oauth_routes(server: OAuthServer) -> list[Route]:
    """The Starlette routes of the token, authorize, revoke, userinfo and identity URLs."""

    async def token(request: Request) -> Response:
        form = _form(await request.body())
        base_url = str(request.base_url).rstrip("/")
        try:
            return JSONResponse(server.issue_token(form, base_url, _basic(request)))
        except OAuthError as error:
            return JSONResponse(error.body, status_code=error.status)

    async def authorize(request: Request) -> Response:
        try:
            target = server.authorize_code(dict(request.query_params))
        except OAuthError as error:
            return JSONResponse(error.body, status_code=error.status)
        return RedirectResponse(target, status_code=302)

    async def revoke(request: Request) -> Response:
        form = _form(await request.body()) | dict(request.query_params)
        if not server.revoke(form.get("token", "")):
            body = {
                "error": "unsupported_token_type",
                "error_description": "this token type is not supported",
            }
            return JSONResponse(body, status_code=400)
        return Response(status_code=200)

    async def userinfo(request: Request) -> Response:
        grant, refused = _bearer(server, request)
        if grant is None:
            return refused
        return JSONResponse(server.userinfo(grant, str(request.base_url).rstrip("/")))

    async def identity(request: Request) -> Response:
        grant, refused = _bearer(server, request)
        if grant is None:
            return refused
        if request.path_params["org"] not in (ORG_ID, ORG_ID[:15]):
            return PlainTextResponse("Wrong_Org", status_code=403)
        if request.path_params["user"] not in (server.store.admin_id, server.store.admin_id[:15]):
            return PlainTextResponse("Bad_Id", status_code=404)
        version = request.query_params.get("version")
        if version == "latest":
            version = server.config.api_version
        base_url = str(request.base_url).rstrip("/")
        return JSONResponse(server.identity(grant, base_url, version))

    return [
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/oauth2/authorize", authorize, methods=["GET"]),
        Route("/services/oauth2/revoke", revoke, methods=["GET", "POST"]),
        Route("/services/oauth2/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/id/{org}/{user}", identity, methods=["GET", "POST"]),
    ]


def _form(raw: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}


def _basic(request: Request) -> tuple[str, str] | None:
    """Client credentials from an ``Authorization: Basic`` header (the token endpoint takes it)."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    except ValueError:
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _bearer(server: OAuthServer, request: Request) -> tuple[Grant | None, Response]:
    header = request.headers.get("authorization", "")
    token = request.query_params.get("oauth_token")
    if not header and token is None:
        return None, PlainTextResponse("Missing_OAuth_Token", status_code=403)
    grant = server.session(header or f"Bearer {token}")
    return grant, PlainTextResponse("Bad_OAuth_Token", status_code=403)
