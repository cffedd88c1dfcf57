"""Fixtures of the sync tests: emulators on loopback, and a fresh seeded pair per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.crm_env import CrmEnv, Servers, crm_env, crm_servers


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """The Salesforce and HubSpot servers, started once per test module."""
    with crm_servers() as started:
        yield started


@pytest.fixture
def env(tmp_path: Path, servers: Servers) -> Iterator[CrmEnv]:
    """Fresh emulators behind ``servers``, seeded with the small data set, fields installed."""
    with crm_env(tmp_path, servers) as made:
        yield made
