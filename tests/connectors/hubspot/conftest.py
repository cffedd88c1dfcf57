"""One HubSpot emulator per test session, reset before every test.

Tests talk to it over real HTTP with the official ``hubspot-api-client``; the
``sandbox`` fixture reaches the emulator's ``/__sandbox`` helpers (reset, clock,
seed, end state) and the shared :class:`Faults` it injects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from abmsync.connectors.hubspot import HubSpotConnector
from abmsync.sandbox.faults import KINDS, Faults
from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer

TOKEN = "pat-na1-sandbox-secret-0001"


class Sandbox:
    """The emulator's test helpers and its fault switchboard."""

    def __init__(self, url: str, faults: Faults) -> None:
        self.url = url
        self.faults = faults
        self.http = httpx.Client(base_url=url, timeout=30)

    def reset(self) -> None:
        self.clear_faults()
        self.http.post("/__sandbox/reset").raise_for_status()

    def clear_faults(self) -> None:
        for kind in (*KINDS, "partial_failure"):
            setattr(self.faults, kind, 0.0)
        self.faults.retry_after = 0.05
        self.faults.slow_seconds = 0.6
        self.faults.reseed(7)

    def freeze(self, ms: int | None) -> None:
        self.http.post("/__sandbox/clock", json={"frozen_ms": ms}).raise_for_status()

    def seed(self, obj: str, count: int, template: dict[str, str], start: int, end: int) -> int:
        body = {"objectType": obj, "count": count, "template": template, "startMs": start}
        response = self.http.post("/__sandbox/seed", json={**body, "endMs": end})
        response.raise_for_status()
        return int(response.json()["firstId"])

    def records(self, obj: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/__sandbox/records/{obj}")
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["results"]
        return rows

    def requests(self) -> dict[str, int]:
        response = self.http.get("/__sandbox/requests")
        response.raise_for_status()
        counts: dict[str, int] = response.json()
        return counts


@pytest.fixture(scope="session")
def hubspot_faults() -> Faults:
    return Faults(seed=7)


@pytest.fixture(scope="session")
def hubspot_server(hubspot_faults: Faults) -> Iterator[SandboxServer]:
    app = create_app(hubspot_faults, token=TOKEN, burst_limit=1_000_000)
    with SandboxServer(app) as server:
        yield server


@pytest.fixture
def sandbox(hubspot_server: SandboxServer, hubspot_faults: Faults) -> Iterator[Sandbox]:
    helper = Sandbox(hubspot_server.url, hubspot_faults)
    helper.reset()
    try:
        yield helper
    finally:
        helper.clear_faults()
        helper.http.close()


@pytest.fixture
def connector(sandbox: Sandbox) -> HubSpotConnector:
    return HubSpotConnector(SecretStr(TOKEN), host=sandbox.url, timeout=5)
