"""Alembic environment for the abmsync state database.

``abmsync.sync.database.upgrade`` runs the migrations programmatically and
hands over an open connection in ``config.attributes["connection"]``; there is
no ``alembic.ini``. For ad-hoc use of the ``alembic`` command (writing a new
revision), point it here with ``-x url=...`` or ``ABMSYNC_DATABASE_URL``, and
at one tenant's namespace (PostgreSQL schema) with ``-x namespace=NAME``:
each namespace has its own ``alembic_version`` and is migrated on its own.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from abmsync.sync.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the caller's connection, or one made from the given URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    arguments = context.get_x_argument(as_dictionary=True)
    url = arguments.get("url") or os.environ.get("ABMSYNC_DATABASE_URL", "sqlite:///abmsync.db")
    if arguments.get("namespace"):
        from abmsync.sync.namespace import create_namespace, namespaced_url

        confined = namespaced_url(url, arguments["namespace"])
        create_namespace(url, arguments["namespace"])
        url = confined
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("abmsync migrations run online only (Store.open applies them)")
run_migrations_online()
