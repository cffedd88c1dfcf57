"""Prometheus metrics of ``abmsync sync``: served on a port while it runs, or a textfile.

One :class:`SyncMetrics` lives as long as one ``abmsync sync`` command (every
run of an ``--every`` or ``--cron`` schedule adds to it) and owns its own
``CollectorRegistry``, so nothing is shared through prometheus-client's global
registry. After each run :meth:`SyncMetrics.record_run` takes the run's summary
and the open dead letters; :meth:`SyncMetrics.serve` answers scrapes on a port
(``--metrics-port``) and :meth:`SyncMetrics.write_textfile` leaves a file for
node_exporter's textfile collector (``--metrics-file``), written to a
temporary file beside it and renamed, so the collector never reads half a file.

Counters count from the start of the command: a scheduled sync's counters
grow run by run; a one-shot sync's textfile holds that run's counts. The
``last_*`` gauges describe the latest run whichever way it was started.

``sync --tenant``/``--all-tenants`` label every series with ``tenant``; a
single-tenant sync has no such label, so its exposition is what it always
was and existing dashboards, alerts and recording rules keep matching. An
empty ``tenant=""`` would have been the same series to Prometheus (it drops
empty labels), but not to other consumers of the textfile, and it would
make the two kinds of run look alike; ``sum without (tenant) (...)`` gives a
multi-tenant deployment's totals in the single-tenant shape.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest, start_http_server, write_to_textfile

from abmsync.errors import ConfigError

if TYPE_CHECKING:
    from abmsync.sync.engine import SyncSummary

log = logging.getLogger(__name__)
M = TypeVar("M", Counter, Gauge, Histogram)

NAMESPACE = "abmsync"
# Every status a run ends with, exported at zero from the start so that
# ``increase(abmsync_sync_runs_total{status="failed"}[1h])`` works before the first failure.
RUN_STATUSES = ("succeeded", "partial", "failed", "skipped", "dry-run")
# From a quick incremental run to a first full load of a large org.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class SyncMetrics:
    """The metrics of one ``abmsync sync`` command, in a registry of their own.

    With ``tenants`` (the names a multi-tenant command runs) every series has
    a ``tenant`` label and each record names its tenant; without, no series has.
    """

    def __init__(self, tenants: Iterable[str] | None = None) -> None:
        self.per_tenant = tenants is not None
        self.registry = CollectorRegistry()
        r = self.registry
        t = ["tenant"] if self.per_tenant else []
        self.runs = Counter(
            "sync_runs",
            "Sync runs by how they ended",
            [*t, "status"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.duration = Histogram(
            "sync_run_duration_seconds",
            "How long sync runs took",
            t,
            namespace=NAMESPACE,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_duration = Gauge(
            "sync_last_run_duration_seconds",
            "How long the latest sync run took",
            t,
            namespace=NAMESPACE,
            registry=r,
        )
        self.last_run = Gauge(
            "sync_last_run_timestamp_seconds",
            "When the latest sync run ended (Unix time)",
            t,
            namespace=NAMESPACE,
            registry=r,
        )
        self.last_success = Gauge(
            "sync_last_success_timestamp_seconds",
            "When the latest succeeded sync run ended (Unix time); 0 before the first",
            t,
            namespace=NAMESPACE,
            registry=r,
        )
        self.read = Counter(
            "sync_records_read",
            "Changed and deleted records read, per system and object",
            [*t, "system", "object"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.written = Counter(
            "sync_records_written",
            "Records written (updated or created), per system and object",
            [*t, "system", "object"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.rejected = Counter(
            "sync_records_rejected",
            "Records the vendor rejected (dead-lettered), per system and object",
            [*t, "system", "object"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.api_calls = Counter(
            "api_calls",
            "API requests sent, retries and Bulk API polls included, per system",
            [*t, "system"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.quota_remaining = Gauge(
            "api_daily_calls_remaining",
            "Daily API calls left as the vendor last reported, per system",
            [*t, "system"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.quota_limit = Gauge(
            "api_daily_calls_limit",
            "The vendor's daily API call limit, per system",
            [*t, "system"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.dead_letters = Gauge(
            "dead_letters_open",
            "Rejected records waiting for a retry, per connector",
            [*t, "connector"],
            namespace=NAMESPACE,
            registry=r,
        )
        self._dead_letter_connectors: dict[str, set[str]] = {}
        self._tenants: set[str] = set()
        if not self.per_tenant:
            self._export_statuses(())
        for tenant in tenants or ():
            self._tenant(tenant)

    def _export_statuses(self, tenant: tuple[str, ...]) -> None:
        """Every run status at zero from the start, so that ``increase(
        abmsync_sync_runs_total{status="failed"}[1h])`` works before the first failure."""
        for status in RUN_STATUSES:
            self.runs.labels(*tenant, status)

    def _tenant(self, tenant: str | None) -> tuple[str, ...]:
        """The tenant label's value, if these metrics have one; a new tenant's statuses
        are exported at zero."""
        if not self.per_tenant:
            return ()
        if not tenant:
            raise ValueError("per-tenant metrics need the run's tenant")
        if tenant not in self._tenants:
            self._tenants.add(tenant)
            self._export_statuses((tenant,))
        return (tenant,)

    def record_run(
        self,
        summary: SyncSummary,
        dead_letters: Mapping[str, int] | None,
        *,
        tenant: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Count one run (of ``tenant``, for per-tenant metrics) from its summary.

        ``dead_letters`` are the open ones per connector; ``None`` (not known)
        leaves the gauge as it was.
        """
        t = self._tenant(tenant)
        ended = (now or datetime.now(UTC)).timestamp()
        self.runs.labels(*t, summary.status).inc()
        if summary.status != "skipped":  # a skipped run did nothing worth timing
            _child(self.duration, t).observe(summary.seconds)
            _child(self.last_duration, t).set(summary.seconds)
        _child(self.last_run, t).set(ended)
        if summary.status == "succeeded":
            _child(self.last_success, t).set(ended)
        for name, read in summary.read.items():
            system, _, obj = name.partition("/")
            self.read.labels(*t, system, obj).inc(read.records + read.deleted)
        for name, sent in summary.sent.items():
            system, _, obj = name.partition("/")
            self.written.labels(*t, system, obj).inc(sent.written)
            self.rejected.labels(*t, system, obj).inc(sent.rejected)
        for system, calls in summary.api_calls.items():
            self.api_calls.labels(*t, system).inc(calls)
        for system, quota in summary.api_quota.items():
            if quota.remaining is not None and quota.daily_max is not None:
                self.quota_remaining.labels(*t, system).set(quota.remaining)
                self.quota_limit.labels(*t, system).set(quota.daily_max)
        if dead_letters is not None:
            self.record_dead_letters(dead_letters, tenant=tenant)

    def record_failure(
        self, seconds: float, *, tenant: str | None = None, now: datetime | None = None
    ) -> None:
        """Count a run that failed before it could report (it could not even start)."""
        t = self._tenant(tenant)
        self.runs.labels(*t, "failed").inc()
        _child(self.duration, t).observe(seconds)
        _child(self.last_duration, t).set(seconds)
        _child(self.last_run, t).set((now or datetime.now(UTC)).timestamp())

    def record_dead_letters(
        self, open_by_connector: Mapping[str, int], *, tenant: str | None = None
    ) -> None:
        """Set the open dead letters per connector; connectors with none left go to 0."""
        t = self._tenant(tenant)
        known = self._dead_letter_connectors.setdefault(tenant or "", set())
        known.update(open_by_connector)
        for connector in known:
            self.dead_letters.labels(*t, connector).set(open_by_connector.get(connector, 0))

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, as a scrape would get them."""
        return generate_latest(self.registry)

    def write_textfile(self, path: Path) -> None:
        """Write the metrics to ``path`` for node_exporter: a temporary file, then a rename."""
        try:
            write_to_textfile(str(path), self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the metrics file {path}: {exc.strerror or exc}"
            ) from None

    @contextmanager
    def serve(self, port: int, address: str = "0.0.0.0") -> Iterator[int]:
        """Answer ``GET /metrics`` on ``address``:``port`` inside the block; yields the port.

        Port 0 takes a free port (the one yielded). A port in use or an
        address that cannot be bound is a one-line ``ConfigError``.
        """
        try:
            server, thread = start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = f"metrics port {port} is already in use on {address}"
            else:
                message = f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}"
            raise ConfigError(f"{message}; choose another with --metrics-port") from None
        bound = int(server.server_address[1])
        log.info(
            "serving metrics on http://%s:%d/metrics",
            address,
            bound,
            extra={"step": "metrics", "port": bound},
        )
        try:
            yield bound
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def _child(metric: M, labels: tuple[str, ...]) -> M:
    """The series of ``labels``, or the metric itself if it has no labels."""
    return metric.labels(*labels) if labels else metric


def check_textfile_path(path: Path) -> None:
    """Refuse, before any run, a metrics file that could not be written."""
    if path.is_dir():
        raise ConfigError(f"metrics file {path} is a directory; give a file such as abmsync.prom")
    if not path.parent.is_dir():
        raise ConfigError(f"metrics file {path}: no such directory {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"metrics file {path}: cannot write in {path.parent}")
    if path.suffix != ".prom":
        log.warning(
            "node_exporter's textfile collector only reads files ending in .prom",
            extra={"step": "metrics", "path": str(path)},
        )
