"""State namespaces on PostgreSQL: a schema per tenant, migrated on its own, rows never mixed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from abmsync.sync.database import StoreError, current_revision, head_revision
from abmsync.sync.namespace import namespaced_url
from abmsync.sync.store import Store

pytestmark = pytest.mark.postgres


def schema_of(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return connection.exec_driver_sql("SELECT current_schema()").scalar()


def test_each_namespace_is_its_own_migrated_schema_with_its_own_rows_and_lock(
    postgres_url: str,
) -> None:
    # postgres_url already selects a schema of its own: the namespace replaces it.
    with (
        Store.open(postgres_url, namespace="ns_acme") as acme,
        Store.open(postgres_url, namespace="ns_beta") as beta,
    ):
        assert (schema_of(acme), schema_of(beta)) == ("ns_acme", "ns_beta")
        for store in (acme, beta):
            with store.engine.connect() as connection:
                assert current_revision(connection) == head_revision()
        acme.set_cursor("hubspot", "contacts", "acme-cursor")
        assert beta.get_cursor("hubspot", "contacts") is None
        assert acme.try_lock("sync", "host:1:a", timedelta(minutes=5))
        assert beta.try_lock("sync", "host:2:b", timedelta(minutes=5))  # not acme's lock
        assert not acme.try_lock("sync", "host:3:c", timedelta(minutes=5))
    with Store.open(postgres_url, namespace="ns_acme") as again:  # reopened: already migrated
        assert again.get_cursor("hubspot", "contacts") == "acme-cursor"
    with Store.open(postgres_url) as plain:  # the schema of the URL: no tenant's rows
        assert plain.get_cursor("hubspot", "contacts") is None
    _drop(postgres_url, "ns_acme", "ns_beta")


def test_workers_opening_a_new_namespace_together_both_succeed(postgres_url: str) -> None:
    def open_and_close(_: int) -> str | None:
        with Store.open(postgres_url, namespace="ns_race") as store:
            return schema_of(store)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_and_close, range(4))) == ["ns_race"] * 4
    _drop(postgres_url, "ns_race")


@pytest.mark.parametrize("name", ["Acme", "a-b", "pg_catalog", "x; DROP TABLE runs", ""])
def test_a_namespace_that_is_not_a_plain_schema_name_is_refused(name: str) -> None:
    with pytest.raises(StoreError, match="invalid namespace"):
        namespaced_url("postgresql://u@h/db", name)


def _drop(url: str, *schemas: str) -> None:
    from abmsync.sync.database import parse_url

    engine = sa.create_engine(parse_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for schema in schemas:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()
