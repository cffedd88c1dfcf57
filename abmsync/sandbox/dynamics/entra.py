"""Microsoft Entra ID (Azure AD) as the Dataverse emulator's host answers it.

The OpenID discovery document msal reads (``/{tenant}/v2.0/.well-known/
openid-configuration``), the instance discovery document, and the v2.0 token
endpoint with the ``client_credentials`` grant
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
Errors carry the AADSTS codes Entra sends: 7000215 for a bad secret, 700016
for an unknown application, 90002 for an unknown tenant.

Guesses:
- Access tokens are unsigned JWT-shaped strings (header.claims.random); the
  emulator only checks that it issued them and that they have not expired.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass
class EntraError(Exception):
    """An OAuth2 error answer of the token endpoint."""

    status: int
    error: str
    code: int
    description: str

    def body(self) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class TokenIssuer:
    """Issues and checks the bearer tokens of one org's application user."""

    def __init__(self, tenant_id: str, client_id: str, client_secret: str, lifetime: float):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = lifetime
        self._tokens: dict[str, tuple[float, str]] = {}  # token -> (expires, client id)
        self._lock = threading.Lock()

    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        """The discovery document msal's authority reads."""
        self.check_tenant(tenant)
        root = f"{base}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def instance_discovery(self, base: str, tenant: str) -> dict[str, Any]:
        """``/common/discovery/instance`` (only asked for when discovery is not disabled)."""
        host = base.split("://", 1)[-1]
        return {
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def check_tenant(self, tenant: str) -> None:
        if tenant.lower() not in (self.tenant_id.lower(), "organizations", "common"):
            raise EntraError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )

    def issue(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        """The client credentials grant: check the app and its secret, return a token."""
        self.check_tenant(tenant)
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise EntraError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client = form.get("client_id", "")
        if not hmac.compare_digest(client.lower(), self.client_id.lower()):
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client}' was not found in the directory "
                f"'{self.tenant_id}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{self.client_id}'.",
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        now = int(time.time())
        claims = {
            "aud": scope.removesuffix("/.default"),
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + int(self.lifetime),
            "appid": self.client_id,
            "tid": self.tenant_id,
            "ver": "1.0",
        }
        token = ".".join(
            [_segment({"typ": "JWT", "alg": "none"}), _segment(claims), secrets.token_urlsafe(24)]
        )
        with self._lock:
            self._tokens[token] = (time.monotonic() + self.lifetime, client.lower())
        expires = int(self.lifetime) - 1
        return {
            "token_type": "Bearer",
            "expires_in": expires,
            "ext_expires_in": expires,
            "access_token": token,
        }

    def user_of(self, header: str) -> str | None:
        """The client id a live bearer token was issued to, or None."""
        if not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def expire_all(self) -> None:
        """Expire every issued token (``/__sandbox/expire_tokens``)."""
        with self._lock:
            self._tokens.clear()
