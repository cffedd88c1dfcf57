"""The tasks of a tenant's run: read one (connector, object) partition; then the pass.

Both are idempotent (see :mod:`abmsync.workers`): a read delivered again
after its partition was read does nothing, one delivered again mid-way
starts from its last committed cursor; a pass waits until every partition
is read (:mod:`abmsync.workers.partitions`), runs alone (an advisory lock per
run), and sends only what was not confirmed written. Any worker can take any
task: each finds the tenant in the worker process's cache
(:mod:`abmsync.workers.cache`) and answers with a small JSON-able dict.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import cache
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown, worker_shutdown

from abmsync.errors import AbmsyncError
from abmsync.logs import log_context
from abmsync.settings import Settings
from abmsync.sync.engine import StoppedEarlyError, SyncOptions, SyncRun
from abmsync.workers.advisory import AdvisoryLock, advisory_key
from abmsync.workers.app import app
from abmsync.workers.cache import CachedTenant, TenantCache
from abmsync.workers.config import WorkerSettings, load_worker_settings
from abmsync.workers.partitions import read_once, read_partitions, total_calls, unread
from abmsync.workers.runs import Heartbeat, give_up, still_ours

log = logging.getLogger(__name__)


@cache
def worker_settings() -> WorkerSettings:
    """This process's worker settings, read once."""
    return load_worker_settings()


@cache
def tenants() -> TenantCache:
    """This process's tenants (``ABMSYNC_TENANTS``), kept between tasks."""
    return TenantCache(Settings().tenants)


def close_tenants(**_: Any) -> None:
    """Close the cached tenants' stores when the worker (process) stops."""
    if tenants.cache_info().currsize:
        tenants().close()


# A pool process stops (prefork), or the worker itself (the solo pool runs tasks in it).
worker_process_shutdown.connect(close_tenants, weak=False)
worker_shutdown.connect(close_tenants, weak=False)


@contextmanager
def tenant_run(
    tenant_name: str, token: str, run_id: int, as_of: str
) -> Iterator[tuple[SyncRun, Heartbeat, CachedTenant] | None]:
    """The tenant's sync run as of ``as_of`` under ``token``'s lock, renewed meanwhile.

    ``None`` means the run is finished or another run holds the tenant's
    lock: a late or repeated task of a run given up, with nothing left to do.
    The run's connectors are closed at the end.
    """
    settings = worker_settings()
    cached = tenants().get(tenant_name)
    store = cached.store
    with log_context(run_id=run_id):
        if not still_ours(store, token, run_id, settings.lock_time):
            log.info("run %s of %s is over or not ours: nothing to do", run_id, tenant_name)
            yield None
            return
        options = SyncOptions(as_of=datetime.fromisoformat(as_of), lock_ttl=settings.lock_time)
        with (
            Heartbeat(store, token, settings.lock_time, settings.heartbeat) as heartbeat,
            cached.open_run(options, stop=heartbeat.lost.is_set) as run,
        ):
            run.holder = token
            yield run, heartbeat, cached


@app.task(name="abmsync.read_partition")  # type: ignore[untyped-decorator]
def read_partition(tenant: str, token: str, run_id: int, as_of: str, source: str) -> dict[str, Any]:
    """Read ``source`` (``connector/object``) of ``tenant`` into its store, cursor per batch."""
    answer: dict[str, Any] = {"source": source}
    try:
        with tenant_run(tenant, token, run_id, as_of) as opened:
            if opened is None:
                return {**answer, "skipped": True}
            run, heartbeat, _ = opened
            answer["read"] = read_once(run, run_id, source, heartbeat.lost.is_set)
    except (AbmsyncError, StoppedEarlyError) as error:
        # The pass records it: the run ends failed, the other partitions' data kept.
        log.warning("reading %s of %s failed: %s", source, tenant, error)
        answer["error"] = f"{source}: {error}"
    return answer


@app.task(name="abmsync.run_pass", bind=True)  # type: ignore[untyped-decorator]
def run_pass(
    task: Task,
    reads: list[dict[str, Any]],
    tenant: str,
    token: str,
    run_id: int,
    as_of: str,
    partitions: list[str],
) -> dict[str, Any]:
    """Score, plan, write and record ``tenant``'s run once all its ``partitions`` are read.

    Started early (a read delivered twice counted twice in the chord) or
    while another delivery of it runs, it comes back later; it gives the
    run up once its reads have had the visibility timeout and a lock's time
    to finish. The run is scored as of ``as_of``, the moment it started,
    so a pass run again after a crash gives the same scores.
    """
    settings = worker_settings()
    last_try = task.request.retries >= pass_retries(settings)
    answer = pass_when_read(reads, tenant, token, run_id, as_of, partitions, last_try=last_try)
    if answer["status"] == "waiting":
        log.info("run %s of %s: %s; trying again later", run_id, tenant, answer["message"])
        raise task.retry(countdown=settings.heartbeat, max_retries=None)
    return answer


def pass_retries(settings: WorkerSettings) -> int:
    """How often a pass comes back to wait for its reads before it gives the run up."""
    return math.ceil((settings.visibility_timeout + settings.lock_ttl) / settings.heartbeat)


def pass_when_read(
    reads: list[dict[str, Any]],
    tenant: str,
    token: str,
    run_id: int,
    as_of: str,
    partitions: list[str],
    *,
    last_try: bool = False,
) -> dict[str, Any]:
    """The pass of run ``run_id`` if every partition is read and no other pass of it runs.

    Answers with ``status``: the run's, ``skipped`` (the run is over or not
    ours), or ``waiting`` (try again later; on the ``last_try`` the run is
    given up instead, ``failed``).
    """
    result: dict[str, Any] = {"tenant": tenant, "run_id": run_id}
    with tenant_run(tenant, token, run_id, as_of) as opened:
        if opened is None:
            return {**result, "status": "skipped"}
        run, _, cached = opened
        errors = [read["error"] for read in reads if read.get("error")]
        missing = unread(run.store, run_id, partitions)
        if missing and not errors:
            if not last_try:
                return {**result, "status": "waiting", "message": f"unread: {', '.join(missing)}"}
            errors = [f"partitions never finished reading: {', '.join(missing)}"]
        if errors:
            message = "; ".join(errors)
            give_up(run.store, run_id, token, message)
            return {**result, "status": "failed", "message": message}
        with pass_lock(cached, run_id) as lock:
            if lock is not None and not lock.acquire():
                message = "another delivery of this pass is running"
                return {**result, "status": "waiting", "message": message}
            done = read_partitions(run.store, run_id)
            summary = run.finish_pass(
                run_id,
                {name: done[name].stats for name in partitions},
                total_calls(done[name].api_calls for name in partitions),
            )
    return {
        **result,
        "status": summary.status,
        "message": summary.message,
        "counts": summary.counts(),
        "api_calls": summary.api_calls,
    }


def pass_lock(cached: CachedTenant, run_id: int) -> AdvisoryLock | nullcontext[None]:
    """The advisory lock of run ``run_id``'s pass (on SQLite, one file on one host: none)."""
    url = cached.tenant.database_url
    if not AdvisoryLock.supported(url):
        return nullcontext()
    return AdvisoryLock(url, advisory_key(f"abmsync-pass:{cached.tenant.namespace}:{run_id}"))
