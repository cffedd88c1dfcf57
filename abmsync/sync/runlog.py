"""Operational records: one row per run, dead-lettered records, and run locks.

Locks stop two runs of one tenant from overlapping. ``try_lock`` is a single
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement, so taking a free or
expired lock is atomic on both SQLite and PostgreSQL without a separate read;
the holder can renew its own lock by taking it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from abmsync.schema import UtcDatetime, utc
from abmsync.sync.bulk import dialect_insert
from abmsync.sync.database import StoreBase, StoreError, Transaction
from abmsync.sync.tables import dead_letters, locks, runs

RUN_STATUSES = ("running", "succeeded", "partial", "failed")


class RunRecord(BaseModel):
    """One sync run as recorded in the state database."""

    model_config = ConfigDict(frozen=True)

    id: int
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    status: str = Field(description="one of RUN_STATUSES")
    counts: dict[str, int]
    api_calls: dict[str, int]
    error: str | None


class DeadLetter(BaseModel):
    """A record a vendor rejected, kept with the vendor's error until it is resolved."""

    model_config = ConfigDict(frozen=True)

    connector: str
    obj: str
    record_id: str
    payload: dict[str, Any]
    error_code: str | None
    message: str
    first_seen: UtcDatetime
    last_tried: UtcDatetime
    attempts: int
    resolved: bool


class RunLogStore(StoreBase):
    """Runs, dead letters and locks (mixed into ``Store``)."""

    def start_run(self, *, now: datetime | None = None, tx: Transaction | None = None) -> int:
        """Record a run as started (status ``running``) and return its id."""
        values = {"started_at": _now(now), "status": "running", "counts": "{}", "api_calls": "{}"}
        with self._connect(tx, write=True) as connection:
            result = connection.execute(sa.insert(runs).values(values).returning(runs.c.id))
            return int(result.scalar_one())

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: Mapping[str, int],
        error: str | None = None,
        *,
        api_calls: Mapping[str, int] | None = None,
        now: datetime | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Record how run ``run_id`` ended: its status, record counts and API calls used.

        ``status`` is one of ``RUN_STATUSES`` other than ``running``. Raises
        ``StoreError`` when no such run was started.
        """
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES[1:])}")
        values = {
            "finished_at": _now(now),
            "status": status,
            "counts": json.dumps(dict(counts), sort_keys=True),
            "api_calls": json.dumps(dict(api_calls or {}), sort_keys=True),
            "error": error,
        }
        with self._connect(tx, write=True) as connection:
            result = connection.execute(sa.update(runs).where(runs.c.id == run_id).values(values))
            if result.rowcount != 1:
                raise StoreError(f"there is no run {run_id} to finish")

    def recent_runs(self, limit: int = 20, *, tx: Transaction | None = None) -> list[RunRecord]:
        """The last ``limit`` runs, newest first."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        with self._connect(tx, write=False) as connection:
            return [
                RunRecord.model_validate(
                    {
                        **row._mapping,
                        "counts": json.loads(row.counts or "{}"),
                        "api_calls": json.loads(row.api_calls or "{}"),
                    }
                )
                for row in connection.execute(query)
            ]

    def add_dead_letter(
        self,
        connector: str,
        obj: str,
        record_id: str,
        payload: Mapping[str, Any],
        error_code: str | None,
        message: str,
        *,
        now: datetime | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Keep a rejected record; a record already kept gets one more attempt counted.

        Adding a resolved record again re-opens it: it failed once more.
        """
        at = _now(now)
        with self._connect(tx, write=True) as connection:
            insert = dialect_insert(connection, dead_letters).values(
                connector=connector,
                obj=obj,
                record_id=record_id,
                payload=json.dumps(dict(payload), sort_keys=True, default=str),
                error_code=error_code,
                message=message,
                first_seen=at,
                last_tried=at,
                attempts=1,
                resolved=False,
            )
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[
                        dead_letters.c.connector,
                        dead_letters.c.obj,
                        dead_letters.c.record_id,
                    ],
                    set_={
                        "payload": insert.excluded.payload,
                        "error_code": insert.excluded.error_code,
                        "message": insert.excluded.message,
                        "last_tried": insert.excluded.last_tried,
                        "attempts": dead_letters.c.attempts + 1,
                        "resolved": False,
                    },
                )
            )

    def list_dead_letters(
        self,
        connector: str | None = None,
        obj: str | None = None,
        *,
        include_resolved: bool = False,
        limit: int = 1000,
        tx: Transaction | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, most recently tried first, optionally of one connector and object."""
        query = sa.select(dead_letters).order_by(
            dead_letters.c.last_tried.desc(), dead_letters.c.id.desc()
        )
        if connector is not None:
            query = query.where(dead_letters.c.connector == connector)
        if obj is not None:
            query = query.where(dead_letters.c.obj == obj)
        if not include_resolved:
            query = query.where(dead_letters.c.resolved.is_(False))
        with self._connect(tx, write=False) as connection:
            return [
                DeadLetter.model_validate({**row._mapping, "payload": json.loads(row.payload)})
                for row in connection.execute(query.limit(limit))
            ]

    def open_dead_letters(self, *, tx: Transaction | None = None) -> dict[str, int]:
        """How many dead letters are open, per connector (connectors with none are absent)."""
        query = (
            sa.select(dead_letters.c.connector, sa.func.count())
            .where(dead_letters.c.resolved.is_(False))
            .group_by(dead_letters.c.connector)
        )
        with self._connect(tx, write=False) as connection:
            return {str(name): int(count) for name, count in connection.execute(query)}

    def resolve_dead_letter(
        self, connector: str, obj: str, record_id: str, *, tx: Transaction | None = None
    ) -> bool:
        """Mark a dead letter resolved; ``False`` when there is no open one."""
        query = (
            sa.update(dead_letters)
            .where(
                dead_letters.c.connector == connector,
                dead_letters.c.obj == obj,
                dead_letters.c.record_id == record_id,
                dead_letters.c.resolved.is_(False),
            )
            .values(resolved=True)
        )
        with self._connect(tx, write=True) as connection:
            return connection.execute(query).rowcount == 1

    def try_lock(
        self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None
    ) -> bool:
        """Take lock ``name`` for ``holder`` for ``ttl``; ``False`` if someone else holds it.

        A lock whose time is up can be taken by anyone; its holder renews it by
        taking it again. Atomic across processes and hosts sharing the database.
        """
        if ttl <= timedelta(0):
            raise ValueError("a lock's ttl must be positive")
        at = _now(now)
        with self._connect(None, write=True) as connection:
            insert = dialect_insert(connection, locks).values(
                name=name, holder=holder, acquired_at=at, expires_at=at + ttl
            )
            renewing = locks.c.holder == insert.excluded.holder
            statement = insert.on_conflict_do_update(
                index_elements=[locks.c.name],
                set_={
                    "holder": insert.excluded.holder,
                    "acquired_at": sa.case(
                        (renewing, locks.c.acquired_at), else_=insert.excluded.acquired_at
                    ),
                    "expires_at": insert.excluded.expires_at,
                },
                where=sa.or_(renewing, locks.c.expires_at <= at),
            )
            # A row comes back only if the insert or the conditional update happened.
            return connection.execute(statement.returning(locks.c.name)).first() is not None

    def lock_holder(self, name: str) -> str | None:
        """Who holds lock ``name`` (expired or not), if anyone."""
        query = sa.select(locks.c.holder).where(locks.c.name == name)
        with self._connect(None, write=False) as connection:
            return connection.execute(query).scalar_one_or_none()

    def interrupt_running_runs(
        self, message: str, *, now: datetime | None = None, tx: Transaction | None = None
    ) -> int:
        """Mark runs still ``running`` as ``failed`` with ``message`` (their process is gone)."""
        query = (
            sa.update(runs)
            .where(runs.c.status == "running")
            .values(status="failed", finished_at=_now(now), error=message)
        )
        with self._connect(tx, write=True) as connection:
            return int(connection.execute(query).rowcount)

    def release_lock(self, name: str, holder: str) -> bool:
        """Release lock ``name`` if ``holder`` holds it; ``False`` otherwise."""
        query = sa.delete(locks).where(locks.c.name == name, locks.c.holder == holder)
        with self._connect(None, write=True) as connection:
            return connection.execute(query).rowcount == 1


def _now(now: datetime | None) -> datetime:
    return utc(now) if now is not None else datetime.now(UTC)
