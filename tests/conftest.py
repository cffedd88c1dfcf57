"""Shared fixtures. Each section belongs to one part of abmsync; add yours as a new section."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from abmsync.sync.store import Store

# ---------------------------------------------------------------------------
# State store: the same tests run on SQLite and on PostgreSQL.
#
# SQLite gets a real file in tmp_path. PostgreSQL gets one database per test
# session (created from ABMSYNC_TEST_POSTGRES_URL, dropped at the end) and one
# schema per test, selected through the connection's search_path, so tests
# never see each other's rows; the session time zone is deliberately not UTC.
# Without the URL the PostgreSQL cases are skipped, unless
# ABMSYNC_REQUIRE_POSTGRES=1 (set by scripts/test, and so in CI): then they
# fail, so CI cannot pass by silently skipping them.
# ---------------------------------------------------------------------------

POSTGRES_URL_ENV = "ABMSYNC_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "ABMSYNC_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """URL of a PostgreSQL database that exists for this test session only."""
    import sqlalchemy as sa

    from abmsync.sync.database import display_url, one_line, parse_url

    server_url = os.environ.get(POSTGRES_URL_ENV, "")
    if not server_url:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is unset", pytrace=False)
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV} (scripts/test sets it up)")
    server = parse_url(server_url)
    name = f"abmsync_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        reason = one_line(str(getattr(exc, "orig", exc)))
        pytest.fail(f"cannot create a test database on {display_url(server)}: {reason}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database_url: str) -> Iterator[str]:
    """URL of an empty PostgreSQL schema of its own for one test."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # A session time zone other than UTC proves that nothing relies on the server's.
    options = f"-csearch_path={schema} -cTimeZone=Asia/Kolkata"
    url = make_url(postgres_database_url).update_query_dict({"options": options})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty state database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'abmsync.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(state_db_url: str) -> Iterator[Store]:
    """A migrated, empty state store, closed after the test."""
    from abmsync.sync.store import Store

    with Store.open(state_db_url) as opened:
        yield opened


# ---------------------------------------------------------------------------
# HubSpot contract: every answer of a served HubSpot emulator is checked against
# HubSpot's published OpenAPI specs as it leaves (tests/connectors/hubspot/contract):
# every emulator given to ``SandboxServer`` is served watched, and fixtures that
# serve a ``Switch`` wrap what they install with ``watch(app)``. A test fails at
# teardown when answers it saw (or its fixtures saw first) broke the contract.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def hubspot_emulators_watched() -> Iterator[None]:
    """Every HubSpot emulator a test serves with ``SandboxServer`` is served watched."""
    from tests.connectors.hubspot.contract import watching_every_served_emulator

    with watching_every_served_emulator():
        yield


@pytest.fixture(autouse=True)
def hubspot_contract() -> Iterator[None]:
    """Fail the test whose HubSpot emulator answers broke HubSpot's published contract."""
    from tests.connectors.hubspot.contract import LEDGER

    yield
    broken = LEDGER.unreported()
    if broken:
        lines = "\n".join(f"  {violation}" for violation in broken[:20])
        more = f"\n  ... and {len(broken) - 20} more" if len(broken) > 20 else ""
        pytest.fail(f"HubSpot emulator answers broke the published contract:\n{lines}{more}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many HubSpot answers were checked against the specs, and how many were out of scope."""
    from tests.connectors.hubspot.contract import LEDGER

    checked, skipped = sum(LEDGER.validated.values()), sum(LEDGER.skipped.values())
    if not checked and not skipped:
        return
    terminalreporter.write_sep("-", "HubSpot contract")
    terminalreporter.write_line(
        f"{checked} answers checked over {len(LEDGER.validated)} operation/status pairs, "
        f"{skipped} undocumented (out of scope), {len(LEDGER.violations)} violations"
    )
    if terminalreporter.config.getoption("verbose") > 0:
        for key, count in sorted(LEDGER.validated.items()):
            terminalreporter.write_line(f"  {count:6d}  {key}")
        for key, count in sorted(LEDGER.skipped.items()):
            terminalreporter.write_line(f"  {count:6d}  (out of scope) {key}")
