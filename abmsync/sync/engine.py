"""One sync run: read what changed, score, move, route, and write the results back.

The service behind ``abmsync sync`` (and ``abmsync demo``)::

    lock ─▶ read changes into the snapshot (cursor per batch, after its data)
         ─▶ assemble people, touchpoints, accounts, owners
         ─▶ score ─▶ lifecycle ─▶ route ─▶ SLA ─▶ record ledger and state
         ─▶ plan the minimal patches ─▶ write in chunks ─▶ record results
         ─▶ reconcile (qualified in the marketing platform, never in the CRM)

Nothing is lost to a crash at any point: reads commit with their cursor, the
pass commits its state before anything is written, and writes are planned
from the whole snapshot against what was confirmed written, so the next run
sends whatever a crashed one did not (upserts by key make a resend harmless).
Writing moves the written records' modification stamps past the cursors, so
a run's own writes come back in the next run's read, which recognises them
by content and does not count them as changes (:func:`read_source`).
``progress`` hears each step and the records read and sent so far per object
(:mod:`abmsync.sync.events`); the run logs its start and end, the reads, plans
and writes log themselves (:mod:`abmsync.logs`).
A stop request (SIGTERM) or a spent API budget ends the run after the current
batch, as ``partial``; the next run carries on from there.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

import polars as pl

from abmsync.closing import Closing
from abmsync.connectors.base import Batch, Connector, Connectors
from abmsync.connectors.budget import ApiBudget, BudgetSnapshot
from abmsync.errors import AbmsyncError, BudgetExhaustedError
from abmsync.logs import log_context
from abmsync.rules.compiled import compile_rules
from abmsync.rules.loader import LoadedRules
from abmsync.sync import events
from abmsync.sync.account_writeback import (
    AccountBriefs,
    account_records,
    brief_accounts,
    check_keys,
    is_account_target,
    plan_account_object,
)
from abmsync.sync.assemble import Assembled, assemble, owner_refs
from abmsync.sync.events import Progress
from abmsync.sync.lanes import Lanes
from abmsync.sync.lifecycle_job import (
    EvaluatedPass,
    PassSummary,
    evaluate_pass,
    load_opportunities,
    record_pass,
)
from abmsync.sync.memory import trim_memory
from abmsync.sync.person_fields import hubspot_owner_ids
from abmsync.sync.sources import ReadStats, Source, read_source
from abmsync.sync.store import Store
from abmsync.sync.touchpoints import echo_field
from abmsync.sync.writeback import (
    CHUNK,
    SAMPLE,
    ObjectPlan,
    SendStats,
    person_results,
    plan_object,
    plan_touchpoints,
    send_plan,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
# How loudly a run's end is logged: a clean run is quiet at the default level.
END_LEVELS = {"partial": logging.WARNING, "failed": logging.ERROR}
LOCK = "sync"
CRM_SYSTEMS = ("salesforce", "dynamics")
# Where each CRM keeps its users, and their columns under Salesforce's names (assemble's).
USER_OBJECTS: dict[str, tuple[str, dict[str, str]]] = {
    "salesforce": ("User", {}),
    "dynamics": (
        "systemuser",
        {
            "systemuserid": "Id",
            "nickname": "Alias",
            "domainname": "Username",
            "internalemailaddress": "Email",
            "firstname": "FirstName",
            "lastname": "LastName",
            "isdisabled": "IsDisabled",
        },
    ),
}


class StoppedEarlyError(Exception):
    """The run stopped early on purpose (a stop request or the API budget)."""


@dataclass(frozen=True)
class SyncOptions:
    """How to run: for real or as a dry run, as of when, in what chunks."""

    dry_run: bool = False
    as_of: datetime | None = None
    chunk: int = CHUNK
    lock_ttl: timedelta = timedelta(minutes=30)
    # Keep each object's whole plan in the summary once sent (to inspect every patch),
    # not only its counts and a sample: every change of the run is then held at once.
    keep_plans: bool = False


@dataclass
class SyncSummary:
    """What one run did, for the CLI's tables, ``--json`` and the runs table."""

    status: str  # succeeded | partial | failed | skipped | dry-run
    run_id: int | None = None
    as_of: datetime | None = None
    rules_version: str = ""
    message: str | None = None
    read: dict[str, ReadStats] = field(default_factory=dict)
    people: int = 0
    duplicates: int = 0
    orphan_touchpoints: int = 0
    passed: PassSummary | None = None
    plans: list[ObjectPlan] = field(default_factory=list)
    sent: dict[str, SendStats] = field(default_factory=dict)
    unreached: pl.DataFrame | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    api_quota: dict[str, BudgetSnapshot] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """The run's counts as stored in the runs table."""
        sent = self.sent.values()
        return {
            "read": sum(s.records for s in self.read.values()),
            "deleted": sum(s.deleted for s in self.read.values()),
            "people": self.people,
            "planned": sum(p.records for p in self.plans),
            "written": sum(s.written for s in sent),
            "created": sum(s.created for s in sent),
            "rejected": sum(s.rejected for s in sent),
            "conflicts": sum(p.plan.conflicts.height for p in self.plans),
            "unreached": self.unreached.height if self.unreached is not None else 0,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "rules_version": self.rules_version,
            "message": self.message,
            "counts": self.counts(),
            "read": {name: vars(stats) for name, stats in self.read.items()},
            "duplicates": self.duplicates,
            "orphan_touchpoints": self.orphan_touchpoints,
            "stages": self.passed.stages if self.passed else {},
            "stage_changes": self.passed.as_dict()["stage_changes"] if self.passed else [],
            "plans": [plan_dict(p) for p in self.plans],
            "sent": {name: vars(stats) for name, stats in self.sent.items()},
            "unreached": self.unreached.head(50).to_dicts() if self.unreached is not None else [],
            "api_calls": self.api_calls,
            "api_quota": {
                name: {"remaining": quota.remaining, "daily_max": quota.daily_max}
                for name, quota in self.api_quota.items()
                if quota.daily_max is not None
            },
            "seconds": round(self.seconds, 3),
        }


def plan_dict(plan: ObjectPlan) -> dict[str, Any]:
    """One object's plan: counts per field, a sample of changes, calls it would use."""
    return {
        "system": plan.system,
        "object": plan.obj,
        "records": plan.records,
        "unchanged": plan.plan.unchanged,
        "fields": {k: v for k, v in plan.plan.changed_fields.items() if v},
        "conflicts": plan.plan.conflicts.height,
        "conflict_sample": plan.plan.conflicts.head(SAMPLE).to_dicts(),
        "unresolved_owners": plan.unresolved_owners,
        "api_calls": plan.calls,
        "sample": [
            {"record": p.record_id or (p.external_id[1] if p.external_id else None), **p.values}
            for p in plan.patches[:SAMPLE]
        ],
    }


class SyncRun(Closing):
    """One run over the configured sources and targets; call :meth:`run`.

    Used as a context manager, it closes its connectors at the end.
    """

    def __init__(
        self,
        loaded: LoadedRules,
        sources: list[Source],
        connectors: dict[str, Connector],
        store: Store,
        *,
        options: SyncOptions | None = None,
        stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
    ) -> None:
        self.loaded = loaded
        self.sources = sources
        self.connectors = connectors
        self.store = store
        self.options = options or SyncOptions()
        self.stop = stop
        self.progress: Progress = events.serialised(progress or events.ignore)
        self.step: Callable[[str], None] = lambda text: self.progress(events.step(text))
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopped_by: str | None = None
        self._calls_before = self._calls_so_far()
        self._lanes = Lanes()

    def close(self) -> None:
        """Close the run's connectors (``with open_run(...) as run:``)."""
        Connectors(self.connectors).close()

    # -- the run ------------------------------------------------------------------

    def run(self) -> SyncSummary:
        """Run once; a run that finds the lock taken does nothing (status ``skipped``)."""
        started = time.perf_counter()
        if not self._take_lock():
            log.warning(
                "sync skipped: another sync of this configuration holds the lock",
                extra={"step": "lock", "status": "skipped", "holder": self.store.lock_holder(LOCK)},
            )
            return SyncSummary(
                status="skipped", message="another sync of this configuration is running"
            )
        return self._execute(SyncSummary(status="running"), started)

    def read_object(self, source_name: str, run_id: int | None = None) -> ReadStats:
        """Read one source of a run on its own (one worker task), committing its cursor per batch.

        The caller holds the run lock as :attr:`holder`; the read renews it.
        """
        source = next(s for s in self.sources if s.name == source_name)
        return self._read_one(source, SyncSummary(status="running", run_id=run_id))

    def finish_pass(
        self, run_id: int, read: dict[str, ReadStats], read_calls: dict[str, int] | None = None
    ) -> SyncSummary:
        """Score, plan, write and record run ``run_id``, whose sources :meth:`read_object` read.

        ``read_calls`` are the API calls those reads made, counted in the run's.
        The caller holds the run lock as :attr:`holder`; it is released at the end.
        """
        summary = SyncSummary(
            status="running", run_id=run_id, read=dict(read), api_calls=dict(read_calls or {})
        )
        return self._execute(summary, time.perf_counter(), read=False)

    def _execute(self, summary: SyncSummary, started: float, *, read: bool = True) -> SyncSummary:
        """Under the lock: start the run, run its steps, record how it ended, release the lock."""
        try:
            if not self.options.dry_run and summary.run_id is None:
                summary.run_id = self.store.start_run()
            with log_context(run_id=summary.run_id):
                log.info(
                    "sync started",
                    extra={
                        "step": "start",
                        "dry_run": self.options.dry_run,
                        "systems": list(self.connectors),
                        "sources": [source.name for source in self.sources],
                    },
                )
                self._run(summary, read=read)
            if summary.status == "running":
                summary.status = "dry-run" if self.options.dry_run else "succeeded"
                if any(s.rejected for s in summary.sent.values()):
                    summary.status = "partial"
                    rejected = sum(s.rejected for s in summary.sent.values())
                    summary.message = (
                        f"{rejected} record(s) rejected; see `abmsync deadletters list`"
                    )
        except StoppedEarlyError as stop:
            summary.status = "partial"
            summary.message = str(stop)
        except AbmsyncError as error:
            summary.status = "failed"
            summary.message = str(error)
        except BaseException as error:
            summary.status = "failed"
            summary.message = f"interrupted: {type(error).__name__}"
            self._finish(summary, started)
            raise
        self._finish(summary, started)
        return summary

    def _take_lock(self) -> bool:
        """Take the run lock; a lock left by a process of this host that died is taken over."""
        if self.store.try_lock(LOCK, self.holder, self.options.lock_ttl):
            return True
        holder = self.store.lock_holder(LOCK)
        if holder is None or not _dead_here(holder):
            return False
        # kill -9 or a power cut: the holder never released it. Its run is over.
        log.warning(
            "taking over the lock of a process that ended", extra={"step": "lock", "holder": holder}
        )
        self.store.release_lock(LOCK, holder)
        self.store.interrupt_running_runs(f"interrupted: process {holder} ended without finishing")
        return self.store.try_lock(LOCK, self.holder, self.options.lock_ttl)

    def _finish(self, summary: SyncSummary, started: float) -> None:
        mine = self.api_calls()  # plus any made for this run elsewhere (finish_pass)
        earlier = summary.api_calls
        systems = sorted({*earlier, *mine})
        summary.api_calls = {s: earlier.get(s, 0) + mine.get(s, 0) for s in systems}
        summary.api_quota = self.api_quota()
        summary.seconds = time.perf_counter() - started
        try:
            if summary.run_id is not None:
                status = summary.status if summary.status != "running" else "failed"
                self.store.finish_run(
                    summary.run_id,
                    status,
                    summary.counts(),
                    summary.message,
                    api_calls=summary.api_calls,
                )
        finally:
            self.store.release_lock(LOCK, self.holder)
        log.log(
            END_LEVELS.get(summary.status, logging.INFO),
            "sync %s in %.1f s",
            summary.status,
            summary.seconds,
            extra={
                "run_id": summary.run_id,
                "step": "finish",
                "status": summary.status,
                "counts": summary.counts(),
                "api_calls": summary.api_calls,
                "duration_s": round(summary.seconds, 3),
                "detail": summary.message,
            },
        )

    def api_calls(self) -> dict[str, int]:
        """Calls each connector made in this run, as its budget counted them."""
        now = self._calls_so_far()
        return {name: calls - self._calls_before.get(name, 0) for name, calls in now.items()}

    def api_quota(self) -> dict[str, BudgetSnapshot]:
        """Where each connector's budget stands: calls made, daily quota left if known."""
        return {
            name: budget.snapshot()
            for name, connector in self.connectors.items()
            if isinstance(budget := getattr(connector, "budget", None), ApiBudget)
        }

    def _calls_so_far(self) -> dict[str, int]:
        calls = {}
        for name, connector in self.connectors.items():
            budget = getattr(connector, "budget", None)
            if budget is not None:
                calls[name] = int(budget.calls)
        return calls

    def _run(self, summary: SyncSummary, *, read: bool = True) -> None:
        rules = compile_rules(self.loaded, self.options.as_of or datetime.now(UTC))
        summary.as_of, summary.rules_version = rules.as_of, rules.version
        users = self._read_users()
        if read:
            self._read_all(summary)
        self.step("resolving people")
        trim_memory()
        assembled = assemble(self.store, self.sources, rules.ruleset, users)
        trim_memory()
        summary.people = assembled.people.height
        summary.duplicates = assembled.duplicates.height
        summary.orphan_touchpoints = assembled.orphan_touchpoints
        log.info(
            "resolved %d people",
            summary.people,
            extra={
                "step": "resolve",
                "people": summary.people,
                "duplicates": summary.duplicates,
                "orphan_touchpoints": summary.orphan_touchpoints,
            },
        )
        evaluated = evaluate_pass(
            rules,
            self.store,
            assembled.people,
            assembled.touchpoints,
            assembled.accounts,
            assembled.owners,
            opportunities=load_opportunities(self.store, self.sources),
            progress=self.step,
        )
        summary.unreached = unreached(assembled, evaluated)
        trim_memory()
        self.step("planning the write-back")
        # Everyone's scores as the write-back names them; the ledger records them too.
        results = person_results(evaluated, self.store)
        planners = self._planners(assembled, evaluated, results)
        if self.options.dry_run:
            summary.plans = [planner.plan() for planner in planners]
            summary.passed = evaluated.summary(0)
            return
        self.step("recording scores and stages")
        with self.store.transaction() as tx:
            self.store.link_many(
                assembled.records.select(
                    pl.lit("person").alias("entity"),
                    pl.col("person_id").alias("local_id"),
                    "system",
                    pl.col("object").alias("obj"),
                    "vendor_id",
                ),
                tx=tx,
            )
            score_rows = record_pass(self.store, evaluated, tx=tx, scores=results)
        trim_memory()
        summary.passed = evaluated.summary(score_rows)
        # The plans hold what they need (person results, account briefs, records):
        # the scoring result and the people frame need not stay through the writes.
        del evaluated, assembled, results
        trim_memory()
        self._write(planners, summary)

    def _write(self, planners: list[Planner], summary: SyncSummary) -> None:
        """Plan and send each object in its system's lane, one object at a time.

        A plan is made just before it is sent and kept only as its counts and
        a sample once sent (:meth:`ObjectPlan.released`): a run holds one
        object's changes per system, not every object's at once.
        """
        plans: dict[str, ObjectPlan] = {}
        sent: dict[str, SendStats] = {}

        def write(group: list[Planner]) -> None:
            for planner in group:
                self._check_stop()
                plan = planner.plan()
                try:
                    sent[planner.name] = self._send(plan)
                finally:
                    plans[planner.name] = plan if self.options.keep_plans else plan.released()
                    del plan
                    trim_memory()

        try:
            self._lanes.run(by_system(planners, write))
        finally:  # in plan order, however the lanes finished
            summary.plans = [plans[p.name] for p in planners if p.name in plans]
            summary.sent.update((p.name, sent[p.name]) for p in planners if p.name in sent)

    # -- steps --------------------------------------------------------------------

    def _read_users(self) -> pl.DataFrame | None:
        """The CRM's users (for owner names), read in full: there are few."""
        if self.loaded.ruleset.routing is None:
            return None
        for system, (obj, columns) in USER_OBJECTS.items():
            connector = self.connectors.get(system)
            if connector is None:
                continue
            self.step(f"reading {system} users")
            batches: list[Batch] = self._guard(
                lambda connector=connector, obj=obj: list(connector.read_changes(obj, None))  # type: ignore[misc]
            )
            frames: list[pl.DataFrame] = [b.records for b in batches if b.records.height]
            if not frames:
                return None
            users = pl.concat(frames, how="diagonal_relaxed")
            present = {vendor: ours for vendor, ours in columns.items() if vendor in users.columns}
            return users.rename(present) if present else users
        return None

    def _read_all(self, summary: SyncSummary) -> None:
        read: dict[str, ReadStats] = {}

        def read_each(sources: list[Source]) -> None:
            for source in sources:
                self._check_stop()
                read[source.name] = self._read_one(source, summary)

        try:
            self._lanes.run(by_system(self.sources, read_each))
        finally:  # in source order, however the lanes finished
            summary.read.update((s.name, read[s.name]) for s in self.sources if s.name in read)

    def _read_one(self, source: Source, summary: SyncSummary) -> ReadStats:
        writeback = self.loaded.ruleset.writeback
        targets = {
            system: (t.object, t.external_id)
            for system in writeback.systems
            if (t := writeback.touchpoints(system)) is not None
        }
        connector = self.connectors[source.system]
        owned = list(writeback.objects(source.system).get(source.obj, {}).values())
        stats = self._guard(
            lambda: read_source(
                self.store,
                connector,
                source,
                owned=owned,
                echo=echo_field(source.system, source.obj, targets),
                run_id=summary.run_id,
                stop=self._should_stop,
                progress=self.progress,
            )
        )
        self._renew_lock()
        trim_memory()
        return stats

    def _planners(
        self, assembled: Assembled, evaluated: EvaluatedPass, results: pl.DataFrame
    ) -> list[Planner]:
        """A planner per object written, in order; what can be wrong is checked now.

        The targets' metadata is read, their keys checked and HubSpot's owners
        matched here, before anything is recorded or written; the plans
        themselves are made as each object's turn to be written comes.
        """
        writeback = self.loaded.ruleset.writeback
        briefs: AccountBriefs | None = None
        planners = []
        for system, connector in self.connectors.items():
            for obj, keys in writeback.objects(system).items():
                meta = self._guard(lambda connector=connector, obj=obj: connector.describe(obj))  # type: ignore[misc]
                if is_account_target(self.sources, system, obj):
                    if briefs is None:
                        briefs = brief_accounts(
                            evaluated.rules,
                            evaluated.result,
                            assembled.touchpoints,
                            account_records(self.store, self.sources),
                            recent_days=writeback.touchpoint_days,
                        )
                    plan = partial(
                        plan_account_object, self.store, system, obj, keys, meta, briefs, writeback
                    )
                    planners.append(Planner(system, obj, plan))
                    continue
                check_keys(system, obj, keys, accounts=False)
                owner_ids = self._owner_ids(system, connector, assembled) if "owner" in keys else {}
                plan = partial(
                    plan_object,
                    self.store,
                    system,
                    obj,
                    keys,
                    meta,
                    results,
                    assembled.records,
                    writeback,
                    owner_ids=owner_ids,
                )
                planners.append(Planner(system, obj, plan))
            target = writeback.touchpoints(system)
            if target is not None:
                as_of = evaluated.rules.as_of
                plan = partial(
                    plan_touchpoints,
                    self.store,
                    system,
                    target,
                    assembled.records,
                    assembled.touchpoints,
                    writeback,
                    as_of,
                )
                planners.append(Planner(system, target.object, plan))
        return planners

    def _owner_ids(self, system: str, connector: Connector, assembled: Assembled) -> dict[str, str]:
        """The rules' owner names as ``system``'s owner ids.

        In the CRM the users came from, the user ids the run matched; HubSpot
        owners are matched by email to the CRM users the rules name.
        """
        owners_by_email = getattr(connector, "owner_ids_by_email", None)
        if system in CRM_SYSTEMS or owners_by_email is None:
            return assembled.user_ids
        refs = list(owner_refs(self.loaded.ruleset))
        return hubspot_owner_ids(refs, assembled.user_emails, self._guard(owners_by_email))

    def _send(self, plan: ObjectPlan) -> SendStats:
        connector = self.connectors[plan.system]
        associate = None
        if plan.links and hasattr(connector, "associate_many"):
            many = connector.associate_many

            def associate(pairs: list[tuple[str, str]]) -> None:
                many(plan.obj, "contacts", pairs)

        stats = self._guard(
            lambda: send_plan(
                self.store,
                connector,
                plan,
                associate_with=associate,
                stop=self._should_stop,
                chunk=self.options.chunk,
                progress=self.progress,
            )
        )
        self._renew_lock()
        return stats

    # -- stopping -----------------------------------------------------------------

    def _guard(self, call: Callable[[], T]) -> T:
        """Run one step; a spent API budget becomes a clean stop."""
        try:
            return call()
        except BudgetExhaustedError as error:
            log.warning("stopping: %s", error, extra={"step": "budget"})
            raise StoppedEarlyError(
                f"{error}; the next run resumes where this one stopped"
            ) from None

    def _should_stop(self) -> bool:
        if self._lanes.halted:
            self._stopped_by = "another system's lane failed: finished the current batch"
            return True
        if self.stop():
            self._stopped_by = "stop requested: finished the current batch"
            return True
        return False

    def _check_stop(self) -> None:
        if self._stopped_by is not None or self._should_stop():
            raise StoppedEarlyError(self._stopped_by or "stop requested")

    def _renew_lock(self) -> None:
        if not self.store.try_lock(LOCK, self.holder, self.options.lock_ttl):
            raise StoppedEarlyError("lost the run lock to another sync; stopping")


class _HasSystem(Protocol):
    @property
    def system(self) -> str: ...


Item = TypeVar("Item", bound=_HasSystem)


def by_system(
    items: list[Item], work: Callable[[list[Item]], None]
) -> dict[str, Callable[[], None]]:
    """A job per system (in order of first appearance): ``work`` on its items, in order."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.system, []).append(item)
    return {system: partial(work, group) for system, group in groups.items()}


@dataclass(frozen=True)
class Planner:
    """How to plan the write-back of one object, when its turn comes."""

    system: str
    obj: str
    plan: Callable[[], ObjectPlan]

    @property
    def name(self) -> str:
        return f"{self.system}/{self.obj}"


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` (host:pid:nonce) was a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def unreached(assembled: Assembled, evaluated: EvaluatedPass) -> pl.DataFrame:
    """People qualified (MQL or later) that exist only outside the CRM.

    These are the web-form leads lost between systems: the marketing
    platform qualified them, the CRM never got a record for sales to work.
    Empty when no CRM is among the sources.
    """
    records = assembled.records
    schema = {
        "person_id": pl.String(),
        "email": pl.String(),
        "stage": pl.String(),
        "systems": pl.String(),
    }
    if records.filter(pl.col("system").is_in(CRM_SYSTEMS)).is_empty():
        return pl.DataFrame(schema=schema)
    qualified = qualified_stages(evaluated)
    in_crm = records.filter(pl.col("system").is_in(CRM_SYSTEMS)).select("person_id").unique()
    systems = records.group_by("person_id").agg(
        pl.col("system").unique().sort().str.join(", ").alias("systems")
    )
    people = assembled.people.select(pl.col("id").alias("person_id"), "email")
    return (
        evaluated.state.filter(pl.col("stage").is_in(qualified))
        .select("person_id", "stage")
        .join(in_crm, on="person_id", how="anti")
        .join(people, on="person_id", how="left")
        .join(systems, on="person_id", how="left")
        .select(list(schema))
        .sort("person_id")
    )


def qualified_stages(evaluated: EvaluatedPass) -> list[str]:
    """From the stage routing starts at up to the first terminal stage (mql … opportunity)."""
    ruleset = evaluated.rules.ruleset
    if ruleset.lifecycle is None:
        return []
    stages = list(ruleset.lifecycle.stages)
    start = ruleset.routing.entry_stages[0] if ruleset.routing else "mql"
    if start not in stages:
        return []
    out = []
    for stage in stages[stages.index(start) :]:
        if stage in ruleset.lifecycle.terminal:
            break
        out.append(stage)
    return out
