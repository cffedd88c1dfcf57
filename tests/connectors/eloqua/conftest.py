"""One HTTPS Eloqua emulator for the session; each test gets a fresh site behind it.

The server starts once (certificates and uvicorn take a moment); the app it
serves is swapped per test, so every test sees an empty site with its own
config, faults and clock. :class:`Site` has the helpers tests share: clients
for the Bulk and REST APIs with Basic auth, an OAuth token request and a
sync helper that creates a sync and polls it to the end.
"""

from __future__ import annotations

import base64
import gc
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from abmsync.sandbox.eloqua import EloquaConfig, EloquaStore, create_app
from abmsync.sandbox.eloqua.app import Gate
from abmsync.sandbox.eloqua.bulk import BulkApi
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from tests.connectors.serving import Clock, Switch

__all__ = ["Clock", "MakeSite", "Site"]


@dataclass
class Site:
    """A fresh emulated Eloqua site served over HTTPS, and ways to talk to it."""

    app: Starlette
    faults: Faults
    url: str
    ca_file: str
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def store(self) -> EloquaStore:
        store: EloquaStore = self.app.state.store
        return store

    @property
    def config(self) -> EloquaConfig:
        config: EloquaConfig = self.app.state.config
        return config

    @property
    def gate(self) -> Gate:
        gate: Gate = self.app.state.gate
        return gate

    @property
    def bulk_api(self) -> BulkApi:
        bulk: BulkApi = self.app.state.bulk
        return bulk

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    @property
    def basic_auth(self) -> str:
        """``Authorization`` value for ``Company\\User:password``."""
        pair = f"{self.config.company}\\{self.config.username}:{self.config.password}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def raw(self, **headers: str) -> httpx.Client:
        """A client with the site's CA and no credentials."""
        client = httpx.Client(verify=self.ssl_context, trust_env=False, timeout=30, headers=headers)
        self.clients.append(client)
        return client

    def client(self, path: str, authorization: str | None = None) -> httpx.Client:
        """A client whose base URL is ``{url}{path}/``, with Basic auth unless told otherwise."""
        client = httpx.Client(
            base_url=f"{self.url}{path}/",
            verify=self.ssl_context,
            trust_env=False,
            timeout=30,
            headers={"Authorization": authorization or self.basic_auth},
        )
        self.clients.append(client)
        return client

    def bulk(self, authorization: str | None = None) -> httpx.Client:
        """A Bulk API 2.0 client (``/api/bulk/2.0/``)."""
        return self.client("/api/bulk/2.0", authorization)

    def rest(self, version: str = "1.0", authorization: str | None = None) -> httpx.Client:
        """An application API client (``/api/REST/{version}/``)."""
        return self.client(f"/api/REST/{version}", authorization)

    def oauth(
        self, body: dict[str, Any] | None = None, client_secret: str | None = None
    ) -> httpx.Response:
        """``POST /auth/oauth2/token``; a password grant unless ``body`` says otherwise."""
        app = f"{self.config.client_id}:{client_secret or self.config.client_secret}"
        grant = body or {
            "grant_type": "password",
            "scope": "full",
            "username": f"{self.config.company}\\{self.config.username}",
            "password": self.config.password,
        }
        headers = {"Authorization": "Basic " + base64.b64encode(app.encode()).decode()}
        return self.raw().post(f"{self.url}/auth/oauth2/token", json=grant, headers=headers)

    def run_sync(self, bulk: httpx.Client, uri: str, polls: int = 20) -> dict[str, Any]:
        """Sync a definition and poll it until it ends; the final sync body."""
        created = bulk.post("syncs", json={"syncedInstanceUri": uri})
        assert created.status_code == 201, created.text
        sync_uri = created.json()["uri"]
        for _ in range(polls):
            body: dict[str, Any] = bulk.get(sync_uri.lstrip("/")).json()
            if body["status"] in ("success", "warning", "error"):
                return body
        raise AssertionError(f"{sync_uri} did not finish in {polls} polls")

    def export(
        self, bulk: httpx.Client, entity: str, definition: dict[str, Any]
    ) -> list[dict[str, str]]:
        """Create an export, sync it and read every row (pages of 50,000)."""
        created = bulk.post(f"{entity}/exports", json=definition)
        assert created.status_code == 201, created.text
        sync = self.run_sync(bulk, created.json()["uri"])
        assert sync["status"] == "success", sync
        page = bulk.get(sync["uri"].lstrip("/") + "/data", params={"limit": 50_000}).json()
        rows: list[dict[str, str]] = page.get("items", [])
        return rows


MakeSite = Callable[..., Site]


@pytest.fixture(scope="session")
def eloqua_server() -> Iterator[tuple[SandboxServer, Switch]]:
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_site(eloqua_server: tuple[SandboxServer, Switch], clock: Clock) -> Iterator[MakeSite]:
    """Install a fresh site (faults, config, clock: the test's Clock unless given)."""
    server, switch = eloqua_server
    sites: list[Site] = []

    def make(
        faults: Faults | None = None,
        *,
        config: EloquaConfig | None = None,
        clock_: Callable[[], datetime] | None = None,
    ) -> Site:
        faults = faults or Faults()
        app = create_app(faults, config=config, clock=clock_ or clock)
        switch.app = app
        sites.append(Site(app, faults, server.url, str(server.ca_file)))
        return sites[-1]

    yield make
    for made in sites:
        for client in made.clients:
            client.close()
    gc.collect()


@pytest.fixture
def site(make_site: MakeSite) -> Site:
    return make_site()


@pytest.fixture
def bulk(site: Site) -> httpx.Client:
    return site.bulk()


@pytest.fixture
def rest(site: Site) -> httpx.Client:
    return site.rest()
