"""A tenant's run split over tasks: its token, its lock, and how it is given up.

A run is known by a token, the holder of the tenant's run lock from the
moment the scheduler starts the run until its pass finishes. Every task of
the run checks that its token still holds the lock before it touches
anything (:func:`still_ours`) and renews it while it works (:class:`Heartbeat`),
so a lock outlives its run only by ``lock_ttl`` after the last task died.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

import sqlalchemy as sa

from abmsync.errors import AbmsyncError
from abmsync.sync.engine import LOCK
from abmsync.sync.store import Store
from abmsync.sync.tables import locks, runs
from abmsync.workers.partitions import read_partitions, total_calls

log = logging.getLogger(__name__)
TOKEN_PREFIX = "worker-run"


def new_token() -> str:
    """A run's token: never a ``host:pid`` holder, so no single process takes it over as dead."""
    return f"{TOKEN_PREFIX}:{uuid.uuid4().hex}"


@dataclass(frozen=True)
class HeldRun:
    """A worker run still running under its token's unexpired lock."""

    run_id: int
    token: str
    started_at: datetime


def begin_run(
    store: Store, token: str, ttl: timedelta, now: datetime | None = None
) -> HeldRun | None:
    """Take the tenant's run lock for ``token`` and record a new run; ``None`` if the lock is held.

    The run is recorded as started at ``now``, by default the moment the lock
    was taken: after the run that held it last recorded its end (where the
    hosts' clocks agree), as a run log should read. A run still recorded as
    running when the lock is free again lost its tasks (a worker died for
    good, Redis lost the queue): it is marked failed.
    """
    if not store.try_lock(LOCK, token, ttl):
        return None
    store.interrupt_running_runs("interrupted: its tasks stopped renewing the run lock")
    started_at = now or datetime.now(UTC)
    return HeldRun(store.start_run(now=started_at), token, started_at)


def held_run(store: Store, ttl: timedelta) -> HeldRun | None:
    """The tenant's run that no task has taken up yet, if any: it is running, and a worker
    token holds the run lock, unexpired and never renewed since it was taken for ``ttl``.

    A scheduler that takes the lead queues such a run again: the scheduler
    before it may have died between recording the run and queueing its
    tasks. If they were queued, the copies find their partitions read or the
    run finished and do nothing (see :mod:`abmsync.workers`).
    """
    lock = sa.select(locks.c.holder, locks.c.acquired_at, locks.c.expires_at).where(
        locks.c.name == LOCK
    )
    running = (
        sa.select(runs.c.id, runs.c.started_at)
        .where(runs.c.status == "running")
        .order_by(runs.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as connection:
        held = connection.execute(lock).first()
        run = connection.execute(running).first()
    if held is None or run is None or not held.holder.startswith(f"{TOKEN_PREFIX}:"):
        return None
    if held.expires_at <= datetime.now(UTC) or held.expires_at - held.acquired_at != ttl:
        return None  # expired (the next run will start), or renewed by a task of the run
    return HeldRun(run.id, held.holder, run.started_at)


def still_ours(store: Store, token: str, run_id: int, ttl: timedelta) -> bool:
    """Whether run ``run_id`` is unfinished and ``token`` (re)takes the tenant's lock."""
    query = sa.select(runs.c.status).where(runs.c.id == run_id)
    with store.engine.connect() as connection:
        status = connection.execute(query).scalar_one_or_none()
    return status == "running" and store.try_lock(LOCK, token, ttl)


def give_up(store: Store, run_id: int, token: str, message: str) -> None:
    """Record run ``run_id`` as failed with ``message`` and free the lock, if ``token`` holds it.

    The API calls of the partitions it read count as the run's.
    """
    calls = total_calls(read.api_calls for read in read_partitions(store, run_id).values())
    store.finish_run(run_id, "failed", {}, message, api_calls=calls)
    store.release_lock(LOCK, token)


class Heartbeat:
    """Renews the run lock every ``every`` seconds while a task works, from a thread.

    ``lost`` is set when the lock could not be renewed (someone else holds it,
    or the database did not answer until it expired): the task then stops
    after its current batch, through the run's ``stop``.
    """

    def __init__(self, store: Store, token: str, ttl: timedelta, every: float) -> None:
        self.store, self.token, self.ttl, self.every = store, token, ttl, every
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name="abmsync-lock-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.every):
            try:
                renewed = self.store.try_lock(LOCK, self.token, self.ttl)
            except AbmsyncError as error:
                log.warning("could not renew the run lock: %s", error, extra={"step": "lock"})
                continue  # the lock lasts ttl; the next beat tries again
            if not renewed:
                log.warning("lost the run lock; stopping after this batch", extra={"step": "lock"})
                self.lost.set()
                return
