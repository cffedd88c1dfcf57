"""Connecting to the state database, migrating it, and scoping transactions.

The state database is a SQLite file by default and PostgreSQL when workers
share it. This module hides the differences the rest of the store would
otherwise trip over:

- URLs: ``postgresql://`` means psycopg 3; anything but SQLite and PostgreSQL
  is refused; a password never appears in a message.
- SQLite runs in WAL mode with foreign keys on, waits for a busy file instead
  of failing, and opens write transactions with ``BEGIN IMMEDIATE`` so a
  read-then-write transaction cannot lose a race half-way through.
- The schema comes only from the Alembic migrations next to this file, applied
  by ``upgrade`` under an advisory lock on PostgreSQL so that two workers
  starting together do not both create it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from abmsync.errors import TerminalError
from abmsync.logs import redact

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
EXAMPLE_URLS = "sqlite:///abmsync.db or postgresql+psycopg://user@host/dbname"
_MIGRATION_LOCK_KEY = 0x61626D73  # "abms": serializes concurrent upgrades on PostgreSQL
_SQLITE_BEGIN = "abmsync_sqlite_begin"  # execution option naming the BEGIN mode


class StoreError(TerminalError):
    """The state database cannot be opened or used; the message is one line."""


def _password(url: URL) -> str | None:
    return None if url.password is None else str(url.password)


def display_url(url: str | URL) -> str:
    """``url`` as text that is safe to print: the password is masked."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (sa.exc.ArgumentError, ValueError):
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def one_line(text: str, *, secret: str | None = None) -> str:
    """The first non-blank line of ``text``, with ``secret`` masked if it occurs."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    if secret:
        line = line.replace(secret, "***")
    return line or "unknown error"


def parse_url(url: str) -> URL:
    """Parse and check a state database URL; ``postgresql://`` selects psycopg 3."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(f"invalid state database URL: expected {EXAMPLE_URLS}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise StoreError(f"unsupported state database {display_url(parsed)}: use {EXAMPLE_URLS}")


def create_state_engine(url: URL) -> sa.Engine:
    """An engine for ``url`` configured for the store (not yet connected)."""
    if url.get_backend_name() == "sqlite":
        # Wait up to 30 s for another process's write to finish instead of failing.
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so that BEGIN is
    # ours (see _begin_sqlite_transaction) and DDL is transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL mode, much faster
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def head_revision() -> str:
    """The newest migration revision this version of abmsync knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine) -> None:
    """Apply every pending migration (``alembic upgrade head``) in one transaction."""
    config = _alembic_config()
    with engine.connect() as connection:
        connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def open_engine(url: str) -> sa.Engine:
    """Connect to ``url``, migrate it to the newest schema and return the engine.

    Raises ``StoreError`` with a one-line message (password masked) when the
    URL is invalid, the database cannot be reached, or it was migrated by a
    newer abmsync than this one.
    """
    parsed = parse_url(url)
    password = _password(parsed)
    if password:  # as a log line might spell it: itself or percent-encoded in a URL
        redact(password)
        redact(quote(password, safe=""))
    shown = display_url(parsed)
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_file(parsed)
    engine = create_state_engine(parsed)
    try:
        _upgrade_when_free(engine)
    except CommandError as exc:
        engine.dispose()
        reason = one_line(str(exc), secret=_password(parsed))
        if "Can't locate revision" in reason:
            reason = f"its schema is newer than this abmsync knows ({reason})"
        raise StoreError(f"cannot open state database {shown}: {reason}") from None
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot open state database {shown}: {_reason(exc, _password(parsed))}"
        ) from None
    return engine


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(url: URL) -> None:
    """Refuse, without touching it, a file that is not an abmsync state database.

    SQLite would happily turn an empty file into a database, switch any
    database to WAL mode and create abmsync's tables beside someone else's,
    and the upgrade would do all that before failing on a schema from a newer
    abmsync. So before connecting: the file must be writable, start with
    SQLite's header, and hold either nothing or abmsync's schema at a revision
    this abmsync knows. A file that does not exist yet is created later.
    """
    name = url.database
    if not name or name == ":memory:" or "uri" in url.query:
        return
    path = Path(name)
    if not path.exists():
        return
    where = f"cannot open state database {display_url(url)}"
    if path.is_dir():
        raise StoreError(f"{where}: is a directory, not a database file")
    try:
        mode = path.stat().st_mode
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if not header:
        raise StoreError(
            f"{where}: the file is empty, not an abmsync state database "
            "(remove it, or name a new file, to start one)"
        )
    if header != _SQLITE_HEADER:
        raise StoreError(f"{where}: not an SQLite database file")
    if not (mode & 0o222) or not os.access(path, os.W_OK):
        raise StoreError(f"{where}: the file is read-only (abmsync writes to it)")
    _check_sqlite_schema(path, where)


def _check_sqlite_schema(path: Path, where: str) -> None:
    """The file's abmsync schema revision is one this version knows, or it has no tables."""
    import sqlite3

    # immutable=1: read without locks, journal files or any write to the file.
    uri = f"file:{quote(str(path.resolve()))}?immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            listed = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in listed}
            revision = None
            if "alembic_version" in tables:
                found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = found[0] if found else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{where}: {one_line(str(exc))}") from None
    if tables and "alembic_version" not in tables:
        raise StoreError(
            f"{where}: holds tables but no abmsync schema (another application's database?)"
        )
    if revision is not None and revision not in known_revisions():
        raise StoreError(
            f"{where}: its schema is newer than this abmsync "
            f"knows (revision {revision!r}; upgrade abmsync)"
        )


def known_revisions() -> set[str]:
    """Every migration revision this version of abmsync has."""
    script = ScriptDirectory.from_config(_alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


def _upgrade_when_free(engine: sa.Engine, attempts: int = 8) -> None:
    """``upgrade``, retried while another process creating the same new SQLite file holds it.

    SQLite answers "database is locked" at once, without waiting, when two
    connections race to switch a brand-new file to WAL mode.
    """
    for attempt in range(attempts):
        try:
            upgrade(engine)
            return
        except sa.exc.OperationalError as exc:
            locked = "database is locked" in str(exc.orig)
            if engine.dialect.name != "sqlite" or not locked or attempt == attempts - 1:
                raise
            engine.dispose()
            time.sleep(0.05 * 2**attempt)


def _reason(exc: sa.exc.SQLAlchemyError, secret: str | None) -> str:
    detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return one_line(str(detail), secret=secret)


class Transaction:
    """One open transaction on the state database.

    Obtained from ``Store.transaction()``; pass it as ``tx=`` to store methods
    so that their writes commit or roll back together, e.g. data and the
    cursor that covers it.
    """

    def __init__(self, connection: sa.Connection, owner: object) -> None:
        self._connection = connection
        self._owner = owner
        self._open = True

    @property
    def connection(self) -> sa.Connection:
        """The SQLAlchemy connection the transaction runs on."""
        if not self._open:
            raise StoreError("the transaction is already finished")
        return self._connection


class StoreBase:
    """Engine ownership and the connection scoping shared by the store's parts."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine: sa.Engine | None = engine
        self._shown_url = display_url(engine.url)
        self._secret = _password(engine.url)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine; ``StoreError`` once the store is closed."""
        if self._engine is None:
            raise StoreError(f"the state database {self._shown_url} is closed")
        return self._engine

    @property
    def dialect(self) -> str:
        """``'sqlite'`` or ``'postgresql'``."""
        return self.engine.dialect.name

    @contextmanager
    def _begin(self, *, write: bool) -> Iterator[Transaction]:
        """A new transaction: it commits when the block ends, rolls back on an error."""
        with self._translate_errors(), self.engine.connect() as connection:
            if write:
                connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                tx = Transaction(connection, self)
                try:
                    yield tx
                finally:
                    tx._open = False

    @contextmanager
    def _connect(self, tx: Transaction | None, *, write: bool) -> Iterator[sa.Connection]:
        """The caller's transaction if given, else a new one for this call only."""
        if tx is None:
            with self._begin(write=write) as own:
                yield own.connection
            return
        if tx._owner is not self:
            raise StoreError("the transaction belongs to another store")
        with self._translate_errors():
            yield tx.connection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        # Operational failures (server gone, file locked, disk full) are terminal
        # for a run: one line, no password. Other errors pass through unchanged.
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreError(
                f"state database {self._shown_url}: {_reason(exc, self._secret)}"
            ) from exc
