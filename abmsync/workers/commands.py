"""``abmsync worker`` and ``abmsync schedule``: thin commands over Celery and the scheduler."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import click

from abmsync.clikit import CliError, console, database_url, domain_errors, parse_as_of

INSTALL_HINT = "install the workers extra: pip install 'abmsync[workers]'"


def _celery() -> ModuleType:
    """The Celery app's module; a one-line error if Celery is not installed."""
    try:
        from abmsync.workers import app
    except ModuleNotFoundError as error:
        if error.name in ("celery", "kombu", "redis", "billiard"):
            raise CliError(f"{error.name} is not installed: {INSTALL_HINT}") from None
        raise
    return app


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    default=lambda: os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="tasks run at once (worker processes)",
)
@click.option("--name", "hostname", help="the worker's node name, e.g. worker1@%h")
def worker(concurrency: int, hostname: str | None) -> None:
    """Run sync tasks from the queue (ABMSYNC_WORKERS__BROKER_URL) until SIGTERM.

    Each tenant's run arrives as one task per (connector, object) read and
    one pass (score, plan, write); `abmsync schedule` queues them. Tenants
    come from ABMSYNC_TENANTS, as for `abmsync sync --tenant`.
    """
    with domain_errors():
        module = _celery()
        from abmsync.workers.config import load_worker_settings

        settings = load_worker_settings()
        argv = [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={settings.queue}",
            "--loglevel=INFO",
            "--without-gossip",
        ]
        if hostname:
            argv.append(f"--hostname={hostname}")
        module.app.worker_main(argv)


@click.command("schedule")
@click.option("--every", help="start each tenant's run at this interval (default 15m)")
@click.option("--cron", "cron", help='start runs on a cron schedule, e.g. "*/15 * * * *"')
@click.option("--timezone", "tz", default="UTC", show_default=True, help="time zone of --cron")
@click.option(
    "--tenants",
    "tenants_path",
    type=click.Path(path_type=Path),
    help="tenant file or directory (default: settings' tenants)",
)
@click.option("--database", "database", help="PostgreSQL state database URL (default: settings)")
@click.option("--once", is_flag=True, help="start the runs that are due now, then exit")
@click.option("--as-of", "as_of", help="score every run as of this ISO time (default: its start)")
def schedule(
    every: str | None,
    cron: str | None,
    tz: str,
    tenants_path: Path | None,
    database: str | None,
    once: bool,
    as_of: str | None,
) -> None:
    """Start every tenant's run when due and queue its tasks for `abmsync worker`.

    Run as many schedulers as you like: one holds a PostgreSQL advisory lock
    and schedules, the others wait and take over when it stops. A tenant
    still running is not started again. SIGTERM or Ctrl-C stops.
    """
    from abmsync.settings import Settings
    from abmsync.sync.schedule import StopSignal, schedule_from_options

    with domain_errors():
        _celery()
        from abmsync.workers.config import load_worker_settings
        from abmsync.workers.scheduler import Started, schedule_tenants

        plan = schedule_from_options(every or (None if cron else "15m"), cron, tz)
        assert plan is not None  # --every has a default
        settings = load_worker_settings()
        path = tenants_path or Settings().tenants
        url = database_url(database)

        def started(run: Started) -> None:
            console.print(
                f"{run.tenant}: run {run.run_id} queued{' again' if run.again else ''} "
                f"({len(run.partitions)} partitions)",
                highlight=False,
            )

        if not once:
            console.print(f"scheduling {plan.describe()}; SIGTERM or Ctrl-C stops")
        with StopSignal() as stop:
            schedule_tenants(
                path,
                url,
                plan,
                settings,
                stop=stop.wait,
                once=once,
                as_of=parse_as_of(as_of),
                on_start=started,
            )
