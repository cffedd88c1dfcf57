"""``abmsync schedule``: start each tenant's run when it is due; one scheduler at a time.

Every ``tick`` the scheduler looks at each tenant: a tenant whose last run
(in its own state, in PostgreSQL) started a schedule step ago or more gets a
new run, whose tasks go to the queue (:func:`enqueue_run`). A tenant still
running keeps its lock, so it is not started again. Tenants, their stores
and sources are kept between ticks (:class:`abmsync.workers.cache.TenantCache`,
reloaded when their files change) and closed when the scheduler stops.

Only the scheduler holding the **PostgreSQL advisory lock** schedules; others
wait, and take over within a tick when it stops. We chose it over RedBeat's
lock in Redis because: the lock lives exactly as long as the scheduler's
database session (a scheduler killed or cut off loses it at once, with no
expiry to tune and no renewal to miss), it is kept where the due times and
cursors are (a Redis restart loses neither the lock nor when tenants are due),
and it needs no extra package. It is not the only guard: even two schedulers
at once could not run one tenant twice, since a run starts only by taking the
tenant's run lock (:func:`abmsync.workers.runs.begin_run`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from abmsync.errors import AbmsyncError, ConfigError
from abmsync.sync.database import display_url, parse_url
from abmsync.sync.schedule import Schedule
from abmsync.workers.advisory import AdvisoryLock
from abmsync.workers.cache import CachedTenant, TenantCache
from abmsync.workers.config import WorkerSettings
from abmsync.workers.runs import begin_run, give_up, held_run, new_token

log = logging.getLogger(__name__)
# The advisory lock's key: "abmsync" as a 64-bit integer, the same for every scheduler.
SCHEDULER_LOCK = int.from_bytes(b"abmsync", "big")


class SchedulerLock(AdvisoryLock):
    """The schedulers' advisory lock; ``ConfigError`` unless the database is PostgreSQL."""

    def __init__(self, url: str) -> None:
        if not AdvisoryLock.supported(url):
            raise ConfigError(
                f"abmsync schedule needs a PostgreSQL state database (ABMSYNC_DATABASE_URL), "
                f"not {display_url(parse_url(url))}"
            )
        super().__init__(url, SCHEDULER_LOCK)


@dataclass
class Started:
    """A run the scheduler queued: which tenant, its run id and token, its partitions;
    ``again`` if it was recorded and maybe queued by a scheduler before."""

    tenant: str
    run_id: int
    token: str
    partitions: list[str] = field(default_factory=list)
    again: bool = False


def enqueue_run(started: Started, as_of: datetime) -> None:
    """Queue the run's reads, one per partition, and its pass once they have all answered."""
    from celery import chord

    from abmsync.workers.tasks import read_partition, run_pass

    run = (started.tenant, started.token, started.run_id, as_of.isoformat())
    reads = [read_partition.si(*run, source) for source in started.partitions]
    chord(reads)(run_pass.s(*run, started.partitions))


def start_if_due(
    cached: CachedTenant,
    schedule: Schedule,
    settings: WorkerSettings,
    now: datetime,
    as_of: datetime | None = None,
) -> Started | None:
    """Start the tenant's next run and queue its tasks if it is due and not running.

    The run scores as of ``as_of`` (default: its recorded start, when it
    took the tenant's lock), fixed for all its tasks.
    """
    store = cached.store
    last = store.recent_runs(1)
    if last and schedule.next_after(last[0].started_at) > now:
        return None
    token = new_token()
    begun = begin_run(store, token, settings.lock_time)
    if begun is None:
        return None  # still running
    started = Started(cached.tenant.name, begun.run_id, token, [s.name for s in cached.sources])
    _enqueue(cached, started, as_of or begun.started_at)
    return started


def requeue_held(
    cached: CachedTenant, settings: WorkerSettings, as_of: datetime | None = None
) -> Started | None:
    """Queue the tenant's held run again, if it has one (:func:`~abmsync.workers.runs.held_run`).

    Called when a scheduler takes the lead: the last leader may have been
    killed after recording a run and before queueing it, which would leave
    the tenant waiting for the lock to expire and then fail the run. The run
    keeps its as-of time: ``as_of`` or its recorded start.
    """
    held = held_run(cached.store, settings.lock_time)
    if held is None:
        return None
    names = [source.name for source in cached.sources]
    started = Started(cached.tenant.name, held.run_id, held.token, names, again=True)
    _enqueue(cached, started, as_of or held.started_at)
    return started


def _enqueue(cached: CachedTenant, started: Started, as_of: datetime) -> None:
    """Queue ``started``'s tasks; if the queue refuses, give the run up (one-line error)."""
    name, run_id = started.tenant, started.run_id
    try:
        enqueue_run(started, as_of)
    except Exception as error:  # kombu's and redis's errors share no base class
        give_up(cached.store, run_id, started.token, f"could not queue the run: {error}")
        raise AbmsyncError(f"{name}: could not queue the run: {error}") from error
    log.info(
        "%s run %s of %s: %d partitions queued",
        "queued again" if started.again else "started",
        run_id,
        name,
        len(started.partitions),
        extra={"step": "schedule", "tenant": name, "run_id": run_id},
    )


def schedule_tenants(
    tenants_path: Path,
    database_url: str,
    schedule: Schedule,
    settings: WorkerSettings,
    *,
    stop: Callable[[float], bool],
    once: bool = False,
    as_of: datetime | None = None,
    on_start: Callable[[Started], None] = lambda started: None,
) -> None:
    """Schedule until ``stop(seconds)`` (a wait that answers whether to stop) says so.

    With ``once``, one look at every tenant (after taking the lock) and return.
    A tenant that cannot be started (its store, its files, the queue) is
    logged and tried again next tick; the others go on. Tenant files that do
    not load are logged, and the tenants as they were last loaded go on.
    """
    cache = TenantCache(tenants_path)
    with SchedulerLock(database_url) as lock, closing(cache):
        waiting_said = leading = False
        while True:
            if lock.acquire():
                waiting_said = False
                now = datetime.now(UTC)
                for cached in _tenants(cache):
                    try:
                        requeued = None if leading else requeue_held(cached, settings, as_of)
                        started = requeued or start_if_due(cached, schedule, settings, now, as_of)
                    except AbmsyncError as error:
                        name = cached.tenant.name
                        log.error("%s: %s", name, error, extra={"step": "schedule"})
                        continue
                    if started is not None:
                        on_start(started)
                leading = True
                if once:
                    return
            else:
                leading = False
                if not waiting_said:
                    log.info(
                        "another scheduler holds the lock; waiting", extra={"step": "schedule"}
                    )
                    waiting_said = True
            if stop(settings.tick):
                return


def _tenants(cache: TenantCache) -> list[CachedTenant]:
    """The cached tenants; if the files are wrong now, those last loaded (logged)."""
    try:
        return cache.every()
    except AbmsyncError as error:
        log.error("tenant files: %s", error, extra={"step": "schedule"})
        return cache.cached()
