"""State namespaces: many tenants' state in one PostgreSQL database, a schema each.

A namespace is a PostgreSQL schema. Every connection of a namespaced store
has ``search_path`` set to that schema alone, so the store's tables, its
Alembic version table, its run lock and its migrations are the tenant's own
without any query naming a tenant: two clients' rows can never mix, and
dropping a client is ``DROP SCHEMA name CASCADE``. The schema is created on
first use. A SQLite file holds one tenant: there the namespace changes nothing
(two tenants on one file are refused by ``abmsync tenants check``).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import URL

from abmsync.sync.database import (
    _MIGRATION_LOCK_KEY,  # schema creation waits for, and blocks, migrations
    StoreError,
    display_url,
    one_line,
    parse_url,
)

NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def is_shared(url: str) -> bool:
    """Whether the database at ``url`` can hold several namespaces (PostgreSQL)."""
    return parse_url(url).get_backend_name() == "postgresql"


def namespaced_url(url: str, namespace: str) -> str:
    """``url`` with its connections confined to schema ``namespace`` (PostgreSQL);
    ``url`` itself for SQLite. ``StoreError`` for a name that is not a plain schema name."""
    if not NAMESPACE.match(namespace) or namespace.startswith("pg_"):
        raise StoreError(f"invalid namespace {namespace!r}: use a-z, 0-9 and _ (max 63)")
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    # libpq applies -c options in order: ours, last, wins over any earlier search_path.
    options = " ".join(filter(None, [_option(parsed), f"-csearch_path={namespace}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def create_namespace(url: str, namespace: str) -> None:
    """Create schema ``namespace`` if it does not exist yet (PostgreSQL; else nothing)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(parsed, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
    except sa.exc.SQLAlchemyError as exc:
        detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        secret = None if parsed.password is None else str(parsed.password)
        raise StoreError(
            f"cannot create namespace {namespace} in {display_url(parsed)}: "
            f"{one_line(str(detail), secret=secret)}"
        ) from None
    finally:
        engine.dispose()


def _option(url: URL) -> str:
    value = url.query.get("options", "")
    return value if isinstance(value, str) else " ".join(value)
