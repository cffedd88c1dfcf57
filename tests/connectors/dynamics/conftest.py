"""One HTTPS Dataverse emulator for the session; each test gets a fresh org behind it.

The server starts once (certificates and uvicorn take a moment); the app it
serves is swapped per test, so every test sees an empty org with its own
config, faults and clock.
"""

from __future__ import annotations

import gc
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import pytest

from abmsync.sandbox.dynamics import DataverseSandbox, DynamicsConfig, create_app
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from tests.connectors.serving import Clock, Switch


@dataclass
class Org:
    """A fresh emulated org served over HTTPS, and ways to talk to it."""

    sandbox: DataverseSandbox
    faults: Faults
    url: str
    ca_file: str
    clients: list[httpx.Client] = field(default_factory=list)
    closers: list[Callable[[], object]] = field(default_factory=list)

    @property
    def config(self) -> DynamicsConfig:
        return self.sandbox.config

    @property
    def api(self) -> str:
        return f"{self.url}/api/data/v9.2"

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.config.tenant_id}/oauth2/v2.0/token"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def raw(self) -> httpx.Client:
        client = httpx.Client(verify=self.ssl_context, trust_env=False, timeout=30)
        self.clients.append(client)
        return client

    def token(self, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "scope": f"{self.url}/.default",
        }
        return self.raw().post(self.token_url, data=data | form)

    def client(self, **headers: str) -> httpx.Client:
        """An authenticated client whose base URL is the Web API root."""
        answer = self.token()
        answer.raise_for_status()
        client = httpx.Client(
            base_url=self.api + "/",
            verify=self.ssl_context,
            trust_env=False,
            timeout=30,
            headers={
                "Authorization": f"Bearer {answer.json()['access_token']}",
                "Accept": "application/json",
                "OData-Version": "4.0",
                "OData-MaxVersion": "4.0",
                **headers,
            },
        )
        self.clients.append(client)
        return client


@pytest.fixture(scope="session")
def dynamics_server() -> Iterator[tuple[SandboxServer, Switch]]:
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


MakeOrg = Callable[..., Org]


@pytest.fixture
def make_org(dynamics_server: tuple[SandboxServer, Switch]) -> Iterator[MakeOrg]:
    """Install a fresh org (faults, config, clock) and return it."""
    server, switch = dynamics_server
    orgs: list[Org] = []

    def make(
        faults: Faults | None = None,
        *,
        config: DynamicsConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Org:
        faults = faults or Faults()
        app = create_app(faults, config=config, clock=clock)
        switch.app = app
        orgs.append(Org(app.state.sandbox, faults, server.url, str(server.ca_file)))
        return orgs[-1]

    yield make
    for made in orgs:
        for client in made.clients:
            client.close()
        for close in made.closers:
            close()
    gc.collect()


@pytest.fixture
def org(make_org: MakeOrg) -> Org:
    return make_org()


@pytest.fixture
def api(org: Org) -> httpx.Client:
    return org.client()


@pytest.fixture
def clock() -> Clock:
    return Clock()
