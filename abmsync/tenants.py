"""Tenants: one abmsync deployment syncing many clients, each with its own files and state.

A tenant is a TOML file (:class:`abmsync.tenant_settings.TenantSettings`:
credentials, rules, mappings, namespace), alone or in a directory of them
(``ABMSYNC_TENANTS``, default ``tenants/``). This module is the one way in for
everything that runs tenants (``abmsync sync --tenant``, the workers)::

    for tenant in load_tenants(Path("tenants")):
        with tenant.open_store() as store:          # its own schema, migrated, with its lock
            with tenant.open_run(store) as run:     # its connectors (closed after), rules, mappings
                summary = run.run()                 # "skipped" if another run holds its lock

:func:`scan_tenants` reads every file and reports each problem as one line
instead of stopping at the first (``abmsync tenants check``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from abmsync.errors import AbmsyncError, ConfigError
from abmsync.settings import Settings
from abmsync.tenant_settings import TenantSettings

if TYPE_CHECKING:
    from abmsync.connectors.base import Connector
    from abmsync.rules.loader import LoadedRules
    from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
    from abmsync.sync.events import Progress
    from abmsync.sync.sources import Source
    from abmsync.sync.store import Store

TENANT_SUFFIX = ".toml"


class TenantError(ConfigError):
    """Tenant files are wrong, or a named tenant does not exist; one line per problem."""


@dataclass(frozen=True)
class Tenant:
    """One client of the deployment: its settings, and what opens its state and systems."""

    settings: TenantSettings

    @property
    def name(self) -> str:
        """The tenant's name (``--tenant NAME``), unique in the deployment."""
        return self.settings.name

    @property
    def namespace(self) -> str:
        """Its schema in the shared PostgreSQL database (nothing on SQLite)."""
        return self.settings.namespace

    @property
    def file(self) -> Path | None:
        """The file it was read from."""
        return self.settings.file

    @property
    def database_url(self) -> str:
        """The state database URL (a secret: it may hold a password)."""
        return self.settings.database_url.get_secret_value()

    def open_store(self) -> Store:
        """Its state store, in its own namespace, migrated; close it (``with``) after use.

        The store's run lock is the tenant's own: a run of this tenant never
        overlaps another run of it, whatever process or host started it.
        """
        from abmsync.sync.store import Store

        return Store.open(self.database_url, namespace=self.namespace)

    def load_rules(self) -> LoadedRules:
        """Its rules file, parsed and checked (``RulesError`` naming file:line:column)."""
        from abmsync.rules.loader import load_rules

        return load_rules(self.settings.rules)

    def connectors(self) -> dict[str, Connector]:
        """A connector for every system its file configures, with its credentials."""
        from abmsync.sync.crm import configured

        return configured(self.settings)

    def sources(self, connectors: Iterable[str]) -> list[Source]:
        """Its mapping files' sources for the systems in ``connectors``."""
        from abmsync.sync.sources import load_sources

        return load_sources([self.settings.mappings], list(connectors))

    def open_run(
        self,
        store: Store,
        *,
        options: SyncOptions | None = None,
        stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
    ) -> SyncRun:
        """A sync run of this tenant over ``store`` (from :meth:`open_store`); use it in a
        ``with`` block, which closes its connectors, and call ``.run()``."""
        from abmsync.sync.commands import open_run
        from abmsync.sync.engine import SyncOptions

        return open_run(
            self.settings,
            rules=self.settings.rules,
            mappings=(),
            store=store,
            options=options or SyncOptions(),
            stop=stop,
            progress=progress,
        )

    def sync(
        self,
        *,
        options: SyncOptions | None = None,
        stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
    ) -> SyncSummary:
        """One sync run of this tenant: open its store, run, close both. Errors raise."""
        with (
            self.open_store() as store,
            self.open_run(store, options=options, stop=stop, progress=progress) as run,
        ):
            return run.run()


@dataclass(frozen=True)
class TenantProblem:
    """Why a tenant file cannot be used: ``subject`` is the file's stem or the tenants'
    names, ``message`` one line naming the file and key."""

    subject: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class TenantScan:
    """Every tenant file read: the tenants that are fine, and one line per problem."""

    tenants: list[Tenant] = field(default_factory=list)
    problems: list[TenantProblem] = field(default_factory=list)


def tenant_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.toml`` files of the directory ``path``, sorted."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == TENANT_SUFFIX and p.is_file())
    if path.exists():
        return [path]
    raise TenantError(f"{path}: no such tenant file or directory (set ABMSYNC_TENANTS)")


def scan_tenants(
    path: Path, *, deployment: Settings | None = None, deep: bool = False
) -> TenantScan:
    """Read every tenant file under ``path``, collecting problems instead of raising.

    A file that does not load (unknown key, bad value, unset ``{env = ...}``
    variable, no rules file) is a problem; so are two tenants with one name or
    one namespace of one database, and then neither of them is returned. With
    ``deep`` the rules and mappings are parsed too (slower; ``tenants check``).
    """
    deployment = deployment or Settings()
    scan = TenantScan()
    loaded: list[Tenant] = []
    for file in tenant_files(path):
        try:
            tenant = Tenant(TenantSettings.from_file(file, deployment=deployment))
            _check(tenant, deep=deep)
        except AbmsyncError as error:
            scan.problems.append(TenantProblem(file.stem, str(error)))
            continue
        loaded.append(tenant)
    clashing = _clashes(loaded, scan.problems)
    scan.tenants = [t for t in loaded if t.name not in clashing]
    return scan


def load_tenants(path: Path, *, deployment: Settings | None = None) -> list[Tenant]:
    """Every tenant under ``path`` (a tenant file or a directory of them), by name.

    Raises ``TenantError`` listing every problem, one per line, if any file is
    wrong: a deployment runs from a consistent set of tenants or not at all.
    Use :func:`scan_tenants` to run the good ones and report the others.
    """
    scan = scan_tenants(path, deployment=deployment)
    if scan.problems:
        raise TenantError("\n".join(map(str, scan.problems)))
    return sorted(scan.tenants, key=lambda t: t.name)


def find_tenant(path: Path, name: str, *, deployment: Settings | None = None) -> Tenant:
    """The tenant called ``name``; ``TenantError`` if there is none or its file is wrong."""
    scan = scan_tenants(path, deployment=deployment)
    for tenant in scan.tenants:
        if tenant.name == name:
            return tenant
    mentioned = [p for p in scan.problems if name in p.subject.split(", ")]
    if mentioned:
        raise TenantError(mentioned[0].message)
    known = ", ".join(sorted(t.name for t in scan.tenants)) or "none"
    raise TenantError(f"no tenant {name!r} in {path} (tenants: {known})")


def _check(tenant: Tenant, *, deep: bool) -> None:
    """What makes a tenant unrunnable that its file's syntax does not show."""
    where = tenant.file or tenant.name
    if "rules" not in tenant.settings.model_fields_set:
        raise TenantError(f"{where}: rules: missing (every tenant names its own rules file)")
    if not tenant.settings.rules.is_file():
        raise TenantError(f"{where}: rules: no such file {tenant.settings.rules}")
    if not tenant.settings.systems_named:
        raise TenantError(f"{where}: no system configured (add a [salesforce], [hubspot]... table)")
    tenant.settings.systems()  # a system lacking a required key
    if deep:
        tenant.load_rules()
        tenant.sources(tenant.settings.systems())


def _clashes(tenants: list[Tenant], problems: list[TenantProblem]) -> set[str]:
    """Names of tenants that share a name or a namespace; one problem line per clash."""
    from abmsync.sync.namespace import is_shared

    by_name: dict[str, list[Tenant]] = defaultdict(list)
    by_place: dict[tuple[str, str], list[Tenant]] = defaultdict(list)
    for tenant in tenants:
        by_name[tenant.name].append(tenant)
        shared = is_shared(tenant.database_url)
        by_place[(tenant.settings.database_target, tenant.namespace if shared else "")].append(
            tenant
        )
    clashing: set[str] = set()
    for name, group in by_name.items():
        if len(group) > 1:
            files = ", ".join(str(t.file) for t in group)
            problems.append(TenantProblem(name, f"duplicate tenant name {name!r} in {files}"))
            clashing.add(name)
    for (database, namespace), group in by_place.items():
        if len(group) > 1:
            names = ", ".join(sorted(t.name for t in group))
            place = f"namespace {namespace!r} of {database}" if namespace else database
            message = f"tenants {names} share the state {place}; give each its own namespace"
            problems.append(TenantProblem(names, message))
            clashing.update(t.name for t in group)
    return clashing


__all__ = [
    "Tenant",
    "TenantError",
    "TenantProblem",
    "TenantScan",
    "find_tenant",
    "load_tenants",
    "scan_tenants",
    "tenant_files",
]
