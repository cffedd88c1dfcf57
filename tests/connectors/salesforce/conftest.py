"""One HTTPS Salesforce emulator for the session; each test gets a fresh org behind it.

The server is started once (certificates and uvicorn take a moment); the app
it serves is swapped per test, so every test sees an empty org (plus its own
seed data, faults and clock) without restarting anything.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from simple_salesforce.api import Salesforce

from abmsync.connectors.salesforce import SalesforceConnector
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.salesforce import SalesforceSandbox, SandboxConfig, create_app
from abmsync.sandbox.server import SandboxServer
from tests.connectors.serving import Clock, Switch

CLIENT_ID = "abmsync-sandbox"
CLIENT_SECRET = "sandbox-secret"
USERNAME = "admin@abmsync.sandbox"
PASSWORD = "sandbox-password"


@dataclass
class Org:
    """A fresh emulated org served over HTTPS, and ways to talk to it."""

    sandbox: SalesforceSandbox
    faults: Faults
    url: str
    ca_file: str
    sessions: list[requests.Session] = field(default_factory=list)

    def connector(self, **options: Any) -> SalesforceConnector:
        """A connector logged in with client credentials (or a password when given)."""
        options.setdefault("verify", self.ca_file)
        secret = options.pop("client_secret", SecretStr(CLIENT_SECRET))
        connector = SalesforceConnector(self.url, CLIENT_ID, secret, **options)
        self.sessions.append(connector.client.session)
        return connector

    def session(self) -> requests.Session:
        session = requests.Session()
        self.sessions.append(session)
        session.trust_env = False
        session.verify = self.ca_file
        return session

    def token(self, **form: str) -> requests.Response:
        data = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        data |= {"client_secret": CLIENT_SECRET, **form}
        return self.session().post(f"{self.url}/services/oauth2/token", data=data)

    def simple_salesforce(self) -> Salesforce:
        """A raw simple-salesforce handle, as any integration would build one."""
        answer = self.token().json()
        return Salesforce(
            instance_url=answer["instance_url"],
            session_id=answer["access_token"],
            session=self.session(),
            version="62.0",
        )

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """Call a ``/__sandbox`` helper (convert a lead, merge records)."""
        response = self.session().post(f"{self.url}{path}", json=payload)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def salesforce_server() -> Iterator[tuple[SandboxServer, Switch]]:
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


MakeOrg = Callable[..., Org]


@pytest.fixture
def make_org(salesforce_server: tuple[SandboxServer, Switch]) -> Iterator[MakeOrg]:
    """Install a fresh org (faults, seed data, config, clock) and return it."""
    server, switch = salesforce_server
    orgs: list[Org] = []

    def make(
        faults: Faults | None = None,
        *,
        seed_data: dict[str, list[dict[str, Any]]] | None = None,
        config: SandboxConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Org:
        faults = faults or Faults()
        app = create_app(faults, seed_data=seed_data, config=config, clock=clock)
        switch.app = app
        orgs.append(Org(app.state.sandbox, faults, server.url, str(server.ca_file)))
        return orgs[-1]

    yield make
    # Idle keep-alive TLS connections would hold up uvicorn's graceful shutdown.
    for made in orgs:
        for session in made.sessions:
            session.close()
    gc.collect()  # and connections dropped mid-response, still referenced by tracebacks


@pytest.fixture
def org(make_org: MakeOrg) -> Org:
    return make_org()


@pytest.fixture
def clock() -> Clock:
    return Clock()
