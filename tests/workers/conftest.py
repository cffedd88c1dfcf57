"""Fixtures of the worker tests: emulators, a Redis server, a deployment of tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset, generate_dataset
from tests.sync.crm_env import Servers, crm_env, crm_servers
from tests.workers.harness import Deployment, RedisServer, deployment, redis_binary


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """A Salesforce and a HubSpot server for the first tenant."""
    with crm_servers() as started:
        yield started


@pytest.fixture(scope="module")
def other_servers() -> Iterator[Servers]:
    """A Salesforce and a HubSpot server for a second tenant."""
    with crm_servers() as started:
        yield started


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_dataset(240, seed=5, touchpoints_per_person=4)


@dataclass(frozen=True)
class Reference:
    """One fault-free single-process sync of the data set: its counts, calls and CRM end state."""

    counts: dict[str, int]
    api_calls: dict[str, int]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def reference_run(
    servers: Servers, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    with crm_env(tmp_path_factory.mktemp("reference"), servers, dataset=dataset) as env:
        run = env.sync(as_of=DEFAULT_AS_OF)
        assert run.status == "succeeded", run.message
        state = env.end_state()
    assert state["touchpoints"] and any(row["ABM_Score__c"] for row in state["leads"])
    return Reference(run.counts(), run.api_calls, state)


@pytest.fixture(scope="module")
def reference(reference_run: Reference) -> dict[str, Any]:
    """The CRMs' end state after one fault-free single-process sync of the data set."""
    return reference_run.state


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def deployed(
    tmp_path: Path, postgres_database_url: str, redis: RedisServer
) -> Iterator[Deployment]:
    with deployment(tmp_path, postgres_database_url, redis) as made:
        yield made
