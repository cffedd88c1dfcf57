"""What a worker process keeps between tasks: tenants, their stores, rules and mappings.

Opening a tenant for every task would read and validate every tenant file,
open a store (a migration check and a connection pool) and parse the rules
and mappings again. A worker process instead keeps each tenant it has run,
and reloads a part only when the files it came from changed (their content
hash): an edited tenant file, rules file or mapping is picked up by the
next task, with no restart. The scheduler keeps every tenant the same way
(:meth:`TenantCache.every`), so a tick opens no store. Connectors are not
kept: each run opens its own and closes them (``with cached.open_run(...) as
run``), so a run's API call count is its own. :meth:`TenantCache.close` (on
worker or scheduler shutdown) closes the stores.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from abmsync.rules.loader import LoadedRules
from abmsync.sync.engine import SyncOptions, SyncRun
from abmsync.sync.sources import Source
from abmsync.sync.store import Store
from abmsync.tenants import Tenant, find_tenant, load_tenants

log = logging.getLogger(__name__)


def fingerprint(paths: Iterable[Path]) -> str:
    """A hash of the content of the files at ``paths`` (a directory: the files in it)."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file).encode())
            digest.update(file.read_bytes() if file.exists() else b"\0missing")
    return digest.hexdigest()


@dataclass
class CachedTenant:
    """A tenant with its open store and parsed rules and sources."""

    tenant: Tenant
    store: Store
    loaded: LoadedRules
    sources: list[Source]
    files: str  # fingerprint of the tenant files it was found in
    rules: str  # fingerprint of its rules and mapping files

    def open_run(self, options: SyncOptions, stop: Callable[[], bool]) -> SyncRun:
        """A run with new connectors; use it in a ``with`` block, which closes them."""
        return SyncRun(
            self.loaded,
            self.sources,
            self.tenant.connectors(),
            self.store,
            options=options,
            stop=stop,
        )


class TenantCache:
    """Tenants found under ``path`` (a tenant file or directory), kept until their files change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tenants: dict[str, CachedTenant] = {}
        self._stores: dict[tuple[str, str], Store] = {}
        self._listed: tuple[str, list[str]] | None = None  # fingerprint, tenants' names

    def get(self, name: str) -> CachedTenant:
        """Tenant ``name``, reloading what changed on disk since it was last asked for."""
        return self._get(name, fingerprint([self.path]))

    def every(self) -> list[CachedTenant]:
        """Every tenant under the path, by name, reloaded as :meth:`get` does; a tenant
        whose file is gone is forgotten and its store closed. ``TenantError`` listing
        every problem if a file is wrong (the set of tenants stays as it was)."""
        files = fingerprint([self.path])
        if self._listed is None or self._listed[0] != files:
            names = [tenant.name for tenant in load_tenants(self.path)]
            self._listed = (files, names)
            for gone in set(self._tenants) - set(names):
                del self._tenants[gone]
            self._close_unused()
        return [self._get(name, files) for name in self._listed[1]]

    def cached(self) -> list[CachedTenant]:
        """The tenants kept now, by name, without looking at their files."""
        return [self._tenants[name] for name in sorted(self._tenants)]

    def _get(self, name: str, files: str) -> CachedTenant:
        cached = self._tenants.get(name)
        if cached is not None and cached.files == files:
            tenant = cached.tenant
        else:
            tenant = find_tenant(self.path, name)
        rules = fingerprint([tenant.settings.rules, tenant.settings.mappings])
        if cached is not None and cached.tenant == tenant and cached.rules == rules:
            cached.files = files
            return cached
        log.info("loading tenant %s", name, extra={"tenant": name})
        loaded = tenant.load_rules()
        sources = tenant.sources(tenant.settings.systems())
        cached = CachedTenant(tenant, self._store(tenant), loaded, sources, files, rules)
        self._tenants[name] = cached
        self._close_unused()
        return cached

    def _store(self, tenant: Tenant) -> Store:
        key = (tenant.database_url, tenant.namespace)
        if key not in self._stores:
            self._stores[key] = tenant.open_store()
        return self._stores[key]

    def _close_unused(self) -> None:
        """Close stores no cached tenant uses any more (a tenant moved to another database)."""
        used = {(c.tenant.database_url, c.tenant.namespace) for c in self._tenants.values()}
        for key in [key for key in self._stores if key not in used]:
            self._stores.pop(key).close()

    def close(self) -> None:
        """Close every store and forget every tenant."""
        self._tenants.clear()
        self._listed = None
        self._close_unused()
