"""Celery workers over real Redis and PostgreSQL: at-least-once delivery, and never a run twice.

Each test compares against a reference: the same generated data set loaded
into fresh emulators and synced once by a single process with no faults.
Workers and schedulers are ``abmsync worker`` and ``abmsync schedule``
processes; the emulators serve them over HTTP from this process.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset
from abmsync.tenants import find_tenant
from abmsync.workers.app import create_app
from abmsync.workers.config import WorkerSettings
from abmsync.workers.runs import begin_run, new_token
from tests.sync.crm_env import Servers, crm_env
from tests.workers.harness import (
    LOCK_TTL,
    Deployment,
    WriteGate,
    kill_group,
    stop,
    wait_for,
    write_tenant,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
AS_OF = DEFAULT_AS_OF.isoformat()


def active_tasks(deployed: Deployment) -> dict[str, list[str]]:
    """The task names each worker is running now, as the workers themselves answer."""
    app = create_app(WorkerSettings(broker_url=deployed.redis.url))  # type: ignore[arg-type]
    try:
        answer = app.control.inspect(timeout=1.0).active() or {}
    finally:
        app.close()
    return {node: [task["name"] for task in tasks] for node, tasks in answer.items()}


def finished(deployed: Deployment, namespace: str) -> list[Any]:
    return [run for run in deployed.runs(namespace) if run.status != "running"]


def test_kill_9_a_worker_mid_pass_the_task_comes_back_and_the_end_state_equals_one_run(
    servers: Servers,
    dataset: Dataset,
    reference: dict[str, Any],
    deployed: Deployment,
    tmp_path: Path,
) -> None:
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        # HubSpot holds the pass's first write, so the pass is mid-task when killed.
        gate = servers.hs_switch.app = WriteGate(servers.hs_switch.app)
        namespace = write_tenant(deployed.tenants, "acme", env)
        workers = {name: deployed.worker(name) for name in ("w1", "w2")}
        scheduler = deployed.schedule("scheduler", "--once", "--as-of", AS_OF)
        assert scheduler.wait() == 0, deployed.log("scheduler")
        wait_for("the pass's first write", gate.held.is_set)
        busy = next(n for n, t in active_tasks(deployed).items() if "abmsync.run_pass" in t)
        victim = busy.partition("@")[0]
        kill_group(workers[victim])
        gate.open()
        assert [run.status for run in deployed.runs(namespace)] == ["running"]  # mid-task
        wait_for("the run to finish", lambda: bool(finished(deployed, namespace)))
        runs = deployed.runs(namespace)
        state = env.end_state()
    assert [run.status for run in runs] == ["succeeded"], runs
    assert "abmsync.run_pass" in deployed.log("w2" if victim == "w1" else "w1")
    assert state == reference


def _running(task: str, deployed: Deployment) -> bool:
    return any(task in tasks for tasks in active_tasks(deployed).values())


def test_two_schedulers_never_run_a_tenant_twice_at_once_and_one_takes_over(
    servers: Servers, other_servers: Servers, deployed: Deployment, tmp_path: Path
) -> None:
    with (
        crm_env(tmp_path / "a", servers) as first,
        crm_env(tmp_path / "b", other_servers) as second,
    ):
        namespaces = [
            write_tenant(deployed.tenants, "first", first),
            write_tenant(deployed.tenants, "second", second),
        ]
        for name in ("w1", "w2"):
            deployed.worker(name)
        schedulers = [deployed.schedule(f"s{i}", "--every", "1s") for i in (1, 2)]

        def runs_done(count: int) -> bool:
            return all(len(finished(deployed, ns)) >= count for ns in namespaces)

        wait_for("two runs of each tenant", lambda: runs_done(2))
        leader = next(i for i, s in enumerate(schedulers) if "queued" in deployed.log(f"s{i + 1}"))
        kill_group(schedulers[leader])  # the other one takes over
        before = {ns: len(finished(deployed, ns)) for ns in namespaces}
        wait_for(
            "two more runs of each tenant",
            lambda: all(len(finished(deployed, ns)) >= before[ns] + 2 for ns in namespaces),
        )
        follower = 1 - leader
        stop(schedulers[follower])
        wait_for(
            "the last runs to end",
            lambda: all(len(finished(deployed, ns)) == len(deployed.runs(ns)) for ns in namespaces),
            state=lambda: {ns: deployed.runs(ns) for ns in namespaces},
        )
    assert "queued" in deployed.log(f"s{follower + 1}")  # it took over
    for namespace in namespaces:
        runs = deployed.runs(namespace)
        assert {run.status for run in runs} == {"succeeded"}, [
            (r.id, r.status, r.error) for r in runs
        ]
        for earlier, later in itertools.pairwise(runs):
            assert earlier.finished_at <= later.started_at, (earlier, later)


def test_a_redis_restart_mid_run_loses_no_cursor_and_the_next_run_finishes_the_work(
    servers: Servers,
    dataset: Dataset,
    reference: dict[str, Any],
    deployed: Deployment,
    tmp_path: Path,
) -> None:
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        env.hs_faults.slow, env.hs_faults.slow_seconds = 1.0, 0.1
        env.sf_faults.slow, env.sf_faults.slow_seconds = 1.0, 0.05
        namespace = write_tenant(deployed.tenants, "acme", env)
        deployed.worker("w1")
        deployed.worker("w2")
        scheduler = deployed.schedule("scheduler", "--every", "1s", "--as-of", AS_OF)
        wait_for("a stored cursor", lambda: bool(deployed.cursors(namespace)))
        cursors = deployed.cursors(namespace)
        deployed.redis.kill()  # no persistence: the queue and the chord are gone
        deployed.redis.start()
        # The lost run's lock expires; the scheduler starts the next run from the cursors.
        wait_for("a run to succeed", lambda: _succeeded(deployed, namespace))
        stop(scheduler)
        wait_for(
            "the last run to end",
            lambda: len(finished(deployed, namespace)) == len(deployed.runs(namespace)),
            state=lambda: deployed.runs(namespace),
        )
        runs = deployed.runs(namespace)
        after = deployed.cursors(namespace)
        env.hs_faults.slow = env.sf_faults.slow = 0.0
        state = env.end_state()
    assert after.keys() >= cursors.keys()
    assert runs[0].status == "failed", runs
    assert "lock" in (runs[0].error or "")
    assert runs[1].status == "succeeded", runs
    assert state == reference


def test_a_run_recorded_but_never_queued_is_queued_by_the_next_scheduler_to_lead(
    servers: Servers,
    dataset: Dataset,
    reference: dict[str, Any],
    deployed: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        namespace = write_tenant(deployed.tenants, "acme", env)
        monkeypatch.setenv("ABMSYNC_DATABASE_URL", deployed.database)
        tenant = find_tenant(deployed.tenants, "acme")
        # What a scheduler killed between recording a run and queueing it leaves behind.
        with tenant.open_store() as store:
            begun = begin_run(store, new_token(), timedelta(seconds=LOCK_TTL), DEFAULT_AS_OF)
        assert begun is not None
        lost = begun.run_id
        deployed.worker("w1")
        scheduler = deployed.schedule("scheduler", "--once")
        assert scheduler.wait() == 0, deployed.log("scheduler")
        assert f"acme: run {lost} queued again" in deployed.log("scheduler")
        wait_for("the run to finish", lambda: bool(finished(deployed, namespace)))
        runs = deployed.runs(namespace)
        state = env.end_state()
    assert [(run.id, run.status) for run in runs] == [(lost, "succeeded")], runs
    assert state == reference  # scored as of the run's recorded start


def _succeeded(deployed: Deployment, namespace: str) -> bool:
    return any(run.status == "succeeded" for run in deployed.runs(namespace))
