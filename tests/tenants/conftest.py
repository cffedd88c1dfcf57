"""Fixtures of the tenant tests: tenant files, and two clients' CRMs behind their own emulators.

Each tenant gets its own Salesforce and HubSpot emulators (real HTTP, the real
client libraries), its own rules and mapping files, and a tenant file that
names its secrets only as ``{env = ...}`` references; the state of both lives
in one PostgreSQL database, a schema each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abmsync.sandbox.salesforce.app import SandboxConfig
from tests.sync.crm_env import MAPPINGS, RULES, TOKEN, CrmEnv, Servers, crm_env, crm_servers

# Tenant beta values a target industry far more than acme (the examples' rules) does.
BETA_RULES = RULES.read_text(encoding="utf-8").replace(
    "'Financial Services')\", points: 15}", "'Financial Services')\", points: 35}"
)


@dataclass
class Client:
    """One tenant: its name, file and emulators."""

    name: str
    file: Path
    crm: CrmEnv


def write_tenant(
    folder: Path, name: str, crm: CrmEnv, *, rules: Path, extra: str = "", secret_env: str = ""
) -> Path:
    """A tenant file for ``crm``: every secret an ``{env = ...}`` reference."""
    prefix = secret_env or name.upper()
    file = folder / f"{name}.toml"
    file.write_text(
        f'name = "{name}"\n'
        f'rules = "{rules}"\n'
        f'mappings = "{MAPPINGS}"\n'
        f"{extra}"
        "[salesforce]\n"
        f'instance_url = "{crm.sf_url}"\n'
        f'client_id = "{SandboxConfig().client_id}"\n'
        f'client_secret = {{ env = "{prefix}_SF_SECRET" }}\n'
        f'verify = "{crm.sf_ca}"\n'
        "[hubspot]\n"
        f'host = "{crm.hs_url}"\n'
        f'access_token = {{ env = "{prefix}_HS_TOKEN" }}\n',
        encoding="utf-8",
    )
    return file


@pytest.fixture(scope="module")
def acme_servers() -> Iterator[Servers]:
    with crm_servers() as started:
        yield started


@pytest.fixture(scope="module")
def beta_servers() -> Iterator[Servers]:
    with crm_servers() as started:
        yield started


@pytest.fixture
def clients(
    tmp_path: Path,
    acme_servers: Servers,
    beta_servers: Servers,
    postgres_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Client]]:
    """Tenants acme and beta in ``tmp_path/tenants``, their state in one PostgreSQL database.

    The CLI finds them through ``ABMSYNC_TENANTS`` and the shared database
    through ``ABMSYNC_DATABASE_URL``; the working directory is ``tmp_path``.
    """
    folder = tmp_path / "tenants"
    folder.mkdir()
    beta_rules = tmp_path / "beta-rules.yaml"
    beta_rules.write_text(BETA_RULES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no abmsync.toml or .env of the checkout
    monkeypatch.setenv("ABMSYNC_TENANTS", str(folder))
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", postgres_database_url)
    for name in ("ACME", "BETA"):
        monkeypatch.setenv(f"{name}_SF_SECRET", SandboxConfig().client_secret)
        monkeypatch.setenv(f"{name}_HS_TOKEN", TOKEN)
    with (
        crm_env(tmp_path / "acme", acme_servers) as acme,
        crm_env(tmp_path / "beta", beta_servers) as beta,
    ):
        made = {
            "acme": Client("acme", write_tenant(folder, "acme", acme, rules=RULES), acme),
            "beta": Client("beta", write_tenant(folder, "beta", beta, rules=beta_rules), beta),
        }
        yield made
    _drop_namespaces(postgres_database_url, ("acme", "beta"))


def _drop_namespaces(url: str, names: tuple[str, ...]) -> None:
    """Each test starts from empty namespaces."""
    import sqlalchemy as sa

    from abmsync.sync.database import parse_url

    engine = sa.create_engine(parse_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        engine.dispose()
