"""PostgreSQL session advisory locks: held while one database session lives.

The scheduler holds one so that only one scheduler schedules; a run's pass
holds one so that a pass delivered twice never runs beside itself. A
session lock needs no expiry and no renewal: a process killed or cut off
loses its session, and with it the lock, at once.
"""

from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from abmsync.closing import Closing
from abmsync.sync.database import parse_url

log = logging.getLogger(__name__)


def advisory_key(name: str) -> int:
    """A 64-bit signed advisory lock key for ``name`` (keys are database-wide, not per schema)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


class AdvisoryLock(Closing):
    """A session-level advisory lock on ``key``, held on one connection of its own.

    Only PostgreSQL has them: check :func:`supported` first.
    """

    def __init__(self, url: str, key: int) -> None:
        self._engine = sa.create_engine(
            parse_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        self.key = key
        self._connection: sa.Connection | None = None

    @staticmethod
    def supported(url: str) -> bool:
        """Whether the database at ``url`` has advisory locks (PostgreSQL)."""
        return parse_url(url).get_backend_name() == "postgresql"

    def acquire(self) -> bool:
        """Take the lock if it is free (no wait); ``True`` while this holder has it."""
        if self.held():
            return True
        try:
            connection = self._engine.connect()
        except sa.exc.OperationalError as error:
            log.warning("cannot reach the state database: %s", error.orig)
            return False
        taken = connection.execute(
            sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
        ).scalar_one()
        if taken:
            self._connection = connection
        else:
            connection.close()
        return bool(taken)

    def held(self) -> bool:
        """Whether the lock's session is still alive (a dead session has lost it)."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError:
            log.warning("lost the state database session holding an advisory lock")
            self._connection.invalidate()
            self._connection = None
            return False
        return True

    def close(self) -> None:
        """Release the lock (ending its session) and the engine."""
        if self._connection is not None:
            self._connection.close()  # ending the session releases the lock
            self._connection = None
        self._engine.dispose()
