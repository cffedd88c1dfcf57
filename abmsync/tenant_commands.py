"""``abmsync tenants list|check|migrate`` and the ``--tenant`` options of other commands.

Thin, like every command: the tenants themselves are :mod:`abmsync.tenants`.
``sync_tenants`` runs tenants one after another in one process; a tenant that
fails (bad file, unreachable CRM, wrong credentials) is one ``failed`` line
and the next tenant runs.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from abmsync.clikit import ExitCode, console, database_url, err_console, rules_and_mappings
from abmsync.errors import AbmsyncError
from abmsync.settings import Settings
from abmsync.tenants import Tenant, TenantError, TenantScan, find_tenant, scan_tenants

if TYPE_CHECKING:
    from abmsync.rules.loader import LoadedRules
    from abmsync.sync.engine import SyncRun, SyncSummary
    from abmsync.sync.store import Store

# Runs one sync in a store: (store, what opens the run, the tenant's name) -> its summary.
RunIn = Callable[["Store", Callable[..., "SyncRun"], str], "SyncSummary"]


@dataclass(frozen=True)
class TenantSelection:
    """Which tenants a command was asked for: none (the plain settings), some, or all."""

    names: tuple[str, ...] = ()
    every: bool = False
    path: Path | None = None

    @property
    def active(self) -> bool:
        """Whether the command runs tenants rather than the plain settings."""
        return bool(self.names) or self.every

    def refuse_with(self, **given: object) -> None:
        """A usage error if an option that a tenant's file sets was also given."""
        if not self.active:
            return
        if self.names and self.every:
            raise click.UsageError("give --tenant NAME or --all-tenants, not both")
        for option, value in given.items():
            if value:
                raise click.UsageError(
                    f"--{option} cannot be combined with --tenant or --all-tenants: "
                    f"each tenant's file sets its {option}"
                )

    def tenants_path(self, settings: Settings) -> Path:
        """The tenant file or directory: the option, else settings (``ABMSYNC_TENANTS``)."""
        return self.path or settings.tenants

    def resolve(self, settings: Settings) -> TenantScan | None:
        """The chosen tenants (and, for --all-tenants, the files that failed to load);
        ``None`` without tenant options. ``TenantError`` for an unknown or broken --tenant."""
        if not self.active:
            return None
        path = self.tenants_path(settings)
        if self.names:
            names = dict.fromkeys(self.names)  # each once, in the order given
            return TenantScan([find_tenant(path, name, deployment=settings) for name in names])
        scan = scan_tenants(path, deployment=settings)
        if not scan.tenants and not scan.problems:
            raise TenantError(f"{path}: no tenant files (*.toml)")
        scan.tenants.sort(key=lambda t: t.name)
        return scan


def tenant_options(*, many: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--tenant`` (repeatable if ``many``), ``--all-tenants`` (if ``many``) and
    ``--tenants PATH``, handed to the command as one ``selection`` argument."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            tenant_names: tuple[str, ...] | str | None,
            all_tenants: bool = False,
            tenants_path: Path | None,
            **kwargs: Any,
        ) -> Any:
            names = (tenant_names,) if isinstance(tenant_names, str) else tenant_names or ()
            selection = TenantSelection(tuple(names), all_tenants, tenants_path)
            return command(*args, selection=selection, **kwargs)

        wrapper = click.option(
            "--tenants",
            "tenants_path",
            type=click.Path(path_type=Path),
            help="tenant file or directory of them (default: settings' tenants, ./tenants)",
        )(wrapper)
        if many:
            wrapper = click.option(
                "--all-tenants", is_flag=True, help="run every tenant, one after another"
            )(wrapper)
        return click.option(
            "--tenant",
            "tenant_names",
            multiple=many,
            metavar="NAME",
            help="the tenant of this name (see `abmsync tenants list`)"
            + (" (repeatable)" if many else ""),
        )(wrapper)

    return decorate


tenant_option = tenant_options(many=False)
"""``--tenant NAME`` and ``--tenants PATH`` of a command that reads or writes one tenant's state."""


@dataclass(frozen=True)
class SelectedState:
    """Where a command's state, rules and mappings come from: ``--tenant NAME``'s file,
    else the command's own options, else the settings."""

    tenant: Tenant | None
    database: str | None = None
    rules_path: Path | None = None
    mappings: tuple[Path, ...] = ()

    @property
    def settings(self) -> Settings:
        """The tenant's settings (its credentials), else the plain settings."""
        return self.tenant.settings if self.tenant is not None else Settings()

    @property
    def database_url(self) -> str:
        """The state database URL: the tenant's, else ``--database`` or settings."""
        return self.tenant.database_url if self.tenant else database_url(self.database)

    @property
    def namespace(self) -> str | None:
        """The tenant's namespace in that database; ``None`` without a tenant."""
        return self.tenant.namespace if self.tenant else None

    def open_store(self) -> Store:
        """The tenant's store (its namespace), else that of ``--database`` or settings."""
        from abmsync.sync.store import Store

        return Store.open(self.database_url, namespace=self.namespace)

    def rules_file(self) -> Path:
        """The rules file: the tenant's, else ``--rules``; a usage error without either."""
        if self.tenant is not None:
            return self.tenant.settings.rules
        if self.rules_path is None:
            raise click.UsageError("Missing option '--rules' (or give --tenant NAME)")
        return self.rules_path

    def rules_and_mappings(self) -> tuple[LoadedRules, list[Path]]:
        """The loaded rules and mapping paths: the tenant's, else the options or settings."""
        if self.tenant is not None:
            return self.tenant.load_rules(), [self.tenant.settings.mappings]
        return rules_and_mappings(self.rules_path, self.mappings)


def selected_state(
    selection: TenantSelection,
    *,
    database: str | None = None,
    rules_path: Path | None = None,
    mappings: tuple[Path, ...] = (),
) -> SelectedState:
    """What ``--tenant NAME`` chose; a usage error (exit 2) if ``--database``,
    ``--rules`` or ``--mappings`` were given with it, ``TenantError`` for an unknown
    or broken tenant."""
    selection.refuse_with(database=database, rules=rules_path, mappings=mappings)
    chosen = selection.resolve(Settings())
    tenant = chosen.tenants[0] if chosen is not None else None
    return SelectedState(tenant, database, rules_path, mappings)


def selected_store(selection: TenantSelection, database: str | None) -> Store:
    """The state store of ``--tenant NAME``, else of ``--database`` or settings."""
    return selected_state(selection, database=database).open_store()


def sync_tenants(
    chosen: TenantScan,
    run_in: RunIn,
    *,
    stop: Callable[[], bool] = lambda: False,
    on_failure: Callable[[str], None] = lambda tenant: None,
) -> list[tuple[str, SyncSummary]]:
    """Run each tenant in its own store, one after another; a failure is that tenant's
    ``failed`` summary, never the end. Files that did not load come first, as failed."""
    from abmsync.sync.engine import SyncSummary

    outcomes = [
        (problem.subject, SyncSummary(status="failed", message=problem.message))
        for problem in chosen.problems
    ]
    for tenant in chosen.tenants:
        if stop():
            break
        try:
            with tenant.open_store() as store:
                summary = run_in(store, tenant.open_run, tenant.name)
        except AbmsyncError as error:
            on_failure(tenant.name)
            summary = SyncSummary(status="failed", message=str(error))
        outcomes.append((tenant.name, summary))
    return outcomes


def render_tenant_lines(out: Console, outcomes: list[tuple[str, SyncSummary]]) -> None:
    """One line per tenant: its outcome and counts, or why it failed."""
    colours = {"succeeded": "green", "dry-run": "cyan", "skipped": "yellow"}
    for name, summary in outcomes:
        colour = colours.get(summary.status, "red")
        counts = summary.counts()
        detail = (
            f"run {summary.run_id}, " if summary.run_id is not None else ""
        ) + f"{counts['read']:,} read, {counts['written']:,} written"
        if summary.status == "failed" or summary.status == "skipped":
            detail = summary.message or ""
        out.print(
            f"{name}: [{colour}]{summary.status}[/] {detail}".rstrip(),
            highlight=False,
            soft_wrap=True,
        )


# --- abmsync tenants ------------------------------------------------------------------


@click.group("tenants")
def tenants() -> None:
    """The tenants of an agency deployment: one TOML file each (see README, Tenants)."""


def _path_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--tenants",
        "tenants_path",
        type=click.Path(path_type=Path),
        help="tenant file or directory of them (default: settings' tenants, ./tenants)",
    )(command)


def _scan(tenants_path: Path | None, *, deep: bool) -> TenantScan:
    settings = Settings()
    return scan_tenants(tenants_path or settings.tenants, deployment=settings, deep=deep)


def _report_problems(scan: TenantScan) -> None:
    for problem in scan.problems:
        err_console.print(f"[bold red]error:[/] {problem.message}", highlight=False, soft_wrap=True)
    if scan.problems:
        sys.exit(ExitCode.FAILED)


@tenants.command("list")
@_path_option
@click.option("--json", "as_json", is_flag=True, help="print the tenants as JSON")
def tenants_list(tenants_path: Path | None, as_json: bool) -> None:
    """Each tenant: name, namespace, systems, rules and state database (no secrets)."""
    scan = _scan(tenants_path, deep=False)
    rows = [_row(tenant) for tenant in sorted(scan.tenants, key=lambda t: t.name)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        from abmsync.render import table

        listing = table(f"Tenants ({len(rows)})", list(rows[0]) if rows else ["name"])
        for row in rows:
            listing.add_row(*(str(value) for value in row.values()))
        console.print(listing)
    _report_problems(scan)


@tenants.command("check")
@_path_option
def tenants_check(tenants_path: Path | None) -> None:
    """Validate every tenant file, its rules and mappings; one line per problem, exit 1."""
    scan = _scan(tenants_path, deep=True)
    for tenant in sorted(scan.tenants, key=lambda t: t.name):
        systems = ", ".join(tenant.settings.systems_named)
        console.print(
            f"[green]ok[/] {tenant.name} ({tenant.file}: {systems}; namespace {tenant.namespace})",
            highlight=False,
            soft_wrap=True,
        )
    _report_problems(scan)


@tenants.command("migrate")
@_path_option
def tenants_migrate(tenants_path: Path | None) -> None:
    """Create each tenant's namespace and bring its state schema up to date."""
    scan = _scan(tenants_path, deep=False)
    for tenant in sorted(scan.tenants, key=lambda t: t.name):
        with tenant.open_store():
            console.print(f"[green]ok[/] {tenant.name}: namespace {tenant.namespace} is up to date")
    _report_problems(scan)


def _row(tenant: Tenant) -> dict[str, str]:
    return {
        "name": tenant.name,
        "namespace": tenant.namespace,
        "systems": ", ".join(tenant.settings.systems_named),
        "rules": str(tenant.settings.rules),
        "database": tenant.settings.database_target,
        "file": str(tenant.file),
    }
