"""``abmsync sync`` and ``abmsync deadletters retry``: thin commands over the sync engine.

Options are parsed here; the run itself is :class:`abmsync.sync.engine.SyncRun`,
the schedule :func:`abmsync.sync.schedule.run_scheduled`, the tables
:mod:`abmsync.render`, the Prometheus metrics :mod:`abmsync.sync.metrics`.
Exit codes are :class:`abmsync.clikit.ExitCode`: a failed run exits 1, a
partial one (rejected records, a spent API budget) 3, one skipped for the
lock 4 if asked to (``--fail-if-locked``), so a scheduler can tell them from
each other and from a usage error (2).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path

import click

from abmsync.clikit import (
    ExitCode,
    console,
    database_url,
    domain_errors,
    err_console,
    parse_as_of,
)
from abmsync.errors import AbmsyncError
from abmsync.settings import Settings
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.events import Progress
from abmsync.sync.metrics import SyncMetrics, check_textfile_path
from abmsync.sync.store import Store
from abmsync.tenant_commands import (
    TenantSelection,
    render_tenant_lines,
    selected_state,
    sync_tenants,
    tenant_option,
    tenant_options,
)

log = logging.getLogger(__name__)
EXIT_CODES = {
    "succeeded": ExitCode.OK,
    "dry-run": ExitCode.OK,
    "skipped": ExitCode.OK,
    "partial": ExitCode.PARTIAL,
    "failed": ExitCode.FAILED,
}


def open_run(
    settings: Settings,
    *,
    rules: Path,
    mappings: tuple[Path, ...],
    store: Store,
    options: SyncOptions,
    stop: Callable[[], bool],
    progress: Progress | None = None,
) -> SyncRun:
    """A sync run over the systems ``settings`` configure, with their mapping files."""
    from abmsync.rules.loader import load_rules
    from abmsync.sync.crm import configured
    from abmsync.sync.sources import load_sources

    loaded = load_rules(rules)
    connectors = configured(settings)
    sources = load_sources(list(mappings) or [settings.mappings], list(connectors))
    return SyncRun(
        loaded, sources, connectors, store, options=options, stop=stop, progress=progress
    )


@click.command("sync")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), help="rules file")
@click.option(
    "--mappings",
    "mapping_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="mapping file or directory (repeatable; default: settings' mappings)",
)
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_options(many=True)
@click.option("--dry-run", is_flag=True, help="print the plan; write nothing to any CRM")
@click.option("--every", help="keep running at this interval, e.g. 15m or 1h")
@click.option("--cron", "cron", help='keep running on a cron schedule, e.g. "*/15 * * * *"')
@click.option("--timezone", "tz", default="UTC", show_default=True, help="time zone of --cron")
@click.option("--as-of", "as_of", help="score as of this ISO time (default: now)")
@click.option("--json", "as_json", is_flag=True, help="print each run's summary as JSON")
@click.option(
    "--fail-if-locked",
    is_flag=True,
    help="exit 4, not 0, when another sync holds the lock and this run is skipped",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="serve Prometheus metrics on this port while syncing (default: settings)",
)
@click.option(
    "--metrics-address",
    help="address the metrics port binds (default: settings, 0.0.0.0)",
)
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write Prometheus metrics here after each run, for node_exporter (e.g. abmsync.prom)",
)
def sync(
    rules_path: Path | None,
    mapping_paths: tuple[Path, ...],
    database: str | None,
    selection: TenantSelection,
    dry_run: bool,
    every: str | None,
    cron: str | None,
    tz: str,
    as_of: str | None,
    as_json: bool,
    fail_if_locked: bool,
    metrics_port: int | None,
    metrics_address: str | None,
    metrics_file: Path | None,
) -> None:
    """Read changes, score, move, route, and write scores, stages, owners and touchpoints back.

    One run by default; --every or --cron keeps running until SIGTERM or
    Ctrl-C, which finish the current batch first. --tenant NAME runs that
    tenant (repeatable) and --all-tenants every tenant, one after another:
    one failing does not stop the others, and a line per tenant ends the
    output. The exit code is the (last) run's, or the worst tenant's:

    \b
    0  succeeded, dry run, skipped (lock taken) or stopped on request
    1  failed
    2  usage error (a bad option)
    3  partial: records rejected (see deadletters) or the API budget spent
    4  skipped because another sync holds the lock, with --fail-if-locked

    --metrics-port serves Prometheus metrics while the command runs;
    --metrics-file writes them after each run for node_exporter's textfile
    collector. Both count runs, records read and written, API calls and
    quota left per system, open dead letters and durations.
    """
    from abmsync.render import render_sync
    from abmsync.sync.schedule import StopSignal, run_scheduled, schedule_from_options
    from abmsync.sync_progress import live_progress

    settings = Settings()
    selection.refuse_with(rules=rules_path, mappings=mapping_paths, database=database)
    options = SyncOptions(dry_run=dry_run, as_of=parse_as_of(as_of))
    port = metrics_port if metrics_port is not None else settings.metrics_port
    textfile = metrics_file or settings.metrics_file
    last: list[SyncSummary] = []
    stopped = False
    with domain_errors():
        schedule = schedule_from_options(every, cron, tz)
        if textfile is not None:
            check_textfile_path(textfile)
        chosen = selection.resolve(settings)
        names = None if chosen is None else [tenant.name for tenant in chosen.tenants]
        wanted = port is not None or textfile is not None
        metrics = SyncMetrics(tenants=names) if wanted else None
        serving = (
            metrics.serve(port, metrics_address or settings.metrics_address)
            if metrics is not None and port is not None
            else nullcontext()
        )
        with serving, StopSignal() as stop:
            started = [time.perf_counter()]

            def publish(
                summary: SyncSummary | None, store: Store | None, tenant: str | None
            ) -> None:
                if metrics is None:
                    return
                if summary is None or store is None:
                    metrics.record_failure(time.perf_counter() - started[0], tenant=tenant)
                else:
                    metrics.record_run(summary, _open_dead_letters(store), tenant=tenant)
                if textfile is not None:
                    with _reported_errors():
                        metrics.write_textfile(textfile)

            def run_in(
                store: Store, opened: Callable[..., SyncRun], tenant: str | None = None
            ) -> SyncSummary:
                started[0] = time.perf_counter()
                # Bars only on a terminal and never with --json; a log says it in lines.
                with (
                    live_progress(err_console, quiet=as_json) as progress,
                    opened(
                        store=store,
                        options=options,
                        stop=lambda: stop.requested,
                        progress=progress,
                    ) as run,
                ):
                    summary = run.run()
                publish(summary, store, tenant)
                return summary

            def show(summary: SyncSummary, tenant: str | None = None) -> None:
                if as_json:
                    payload = summary.as_dict()
                    if tenant is not None:
                        payload = {"tenant": tenant, **payload}
                    click.echo(json.dumps(payload, indent=2, default=str))
                else:
                    if tenant is not None:
                        console.print(f"[bold]tenant {tenant}[/]", highlight=False)
                    render_sync(console, summary)

            def job() -> list[SyncSummary]:
                if chosen is None:
                    with Store.open(database_url(database)) as store:
                        runner = partial(
                            open_run,
                            settings,
                            rules=rules_path or settings.rules,
                            mappings=mapping_paths,
                        )
                        return [run_in(store, runner)]
                outcomes = sync_tenants(
                    chosen,
                    run_in,
                    stop=lambda: stop.requested,
                    on_failure=lambda tenant: publish(None, None, tenant),
                )
                for name, summary in outcomes:
                    show(summary, name)
                if not as_json:
                    render_tenant_lines(console, outcomes)
                return [summary for _, summary in outcomes]

            def shown(summaries: list[SyncSummary]) -> None:
                last[:] = summaries
                if chosen is None:
                    show(summaries[0])

            def failed(error: Exception) -> None:
                if chosen is None:  # a tenant's failure is counted by sync_tenants
                    publish(None, None, None)
                if not isinstance(error, AbmsyncError) or schedule is None:
                    raise error
                err_console.print(f"[bold red]error:[/] {error}", highlight=False)

            def waiting(moment: object) -> None:
                if not as_json:
                    console.print(f"next run {moment:%Y-%m-%d %H:%M:%S} UTC", highlight=False)

            if schedule is not None and not as_json:
                console.print(f"syncing {schedule.describe()}; SIGTERM or Ctrl-C stops")
            run_scheduled(job, schedule, stop, on_result=shown, on_error=failed, on_wait=waiting)
            stopped = stop.requested
    if last:
        sys.exit(
            exit_code([s.status for s in last], stopped=stopped, fail_if_locked=fail_if_locked)
        )


def exit_code(statuses: list[str], *, stopped: bool, fail_if_locked: bool) -> ExitCode:
    """The exit code of runs ending in ``statuses``: the worst of them."""
    codes = [EXIT_CODES.get(status, ExitCode.FAILED) for status in statuses]
    if stopped:
        # Asked to stop: finishing the batch and leaving is a clean exit.
        codes = [ExitCode.OK if code == ExitCode.PARTIAL else code for code in codes]
    if fail_if_locked and "skipped" in statuses:
        codes.append(ExitCode.LOCKED)
    for worst in (ExitCode.FAILED, ExitCode.PARTIAL, ExitCode.LOCKED):
        if worst in codes:
            return worst
    return ExitCode.OK


@click.command("retry")
@click.option("--connector", help="only this connector (e.g. salesforce)")
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
def retry(connector: str | None, database: str | None, selection: TenantSelection) -> None:
    """Send every open dead letter again; what goes through is resolved.

    Exits 3 (partial) while some are still rejected, 1 if the retry failed.
    """
    from abmsync.sync.crm import configured
    from abmsync.sync.writeback import retry_dead_letters

    with domain_errors():
        state = selected_state(selection, database=database)
    with domain_errors(), state.open_store() as store, configured(state.settings) as connectors:
        outcome = retry_dead_letters(store, connectors, connector=connector)
    for (system, obj), stats in sorted(outcome.items()):
        console.print(
            f"{system} {obj}: {stats.written:,} resolved, {stats.rejected:,} still rejected"
            + (f" ({_codes(stats.errors)})" if stats.errors else ""),
            highlight=False,
        )
    if not outcome:
        console.print("no open dead letters")
    if any(stats.rejected for stats in outcome.values()):
        sys.exit(ExitCode.PARTIAL)


def _open_dead_letters(store: Store) -> dict[str, int] | None:
    """Open dead letters per connector, or None (logged) when the database will not say."""
    try:
        return store.open_dead_letters()
    except AbmsyncError as error:
        log.warning("cannot count open dead letters for the metrics: %s", error)
        return None


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Show an error as one line and go on: metrics never stop a sync."""
    try:
        yield
    except AbmsyncError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)


def _codes(errors: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in sorted(errors.items()))
