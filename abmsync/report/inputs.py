"""What the report reads: the state database's snapshot and ledgers, and the rules.

This is the report's only I/O. :func:`load_inputs` assembles people (one row
per person, abmsync's person ids), touchpoints on them and accounts exactly as
a sync run does, re-scores them as of the report's end with the rules file
(scores are a pure function of rules, data and time, so this equals what a
run at that moment would record), rolls accounts up per company (a company
held in several systems is one, :func:`abmsync.sync.account_writeback.brief_accounts`,
as ``abmsync accounts`` and the CRM's account brief count it), and reads the
ledgers. Every section of the report is then a pure function of :class:`ReportInputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from abmsync.errors import TerminalError
from abmsync.rules.compiled import compile_rules
from abmsync.rules.domains import link_people_to_accounts
from abmsync.rules.loader import LoadedRules
from abmsync.rules.scoring import score
from abmsync.schema import FRAME_COLUMNS, TIMESTAMP
from abmsync.sync.account_writeback import account_records, brief_accounts
from abmsync.sync.assemble import assemble
from abmsync.sync.sources import SYSTEM_RANK, Source, load_sources
from abmsync.sync.store import Store


class NoSyncedDataError(TerminalError):
    """The state database holds nothing the mappings read: no sync has filled it."""


@dataclass(frozen=True)
class Period:
    """The reported time span: ledger events with ``start <= time <= end``."""

    start: datetime | None
    end: datetime

    def contains(self, column: str) -> pl.Expr:
        """A filter keeping rows whose ``column`` falls in the period."""
        inside = pl.col(column) <= self.end
        return inside if self.start is None else inside & (pl.col(column) >= self.start)


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything the report's sections compute from; frames as the store returns them.

    ``people`` are scored as of ``period.end`` (columns of a scoring result:
    ``person_id``, ``lead_source``, ``account_id``, ``fit``, ``engagement``,
    ``grade``, ``band``, ``tier``, ``mqa``, ``role_*`` flags, CRM feedback
    columns when a source maps them). ``companies`` are the account briefs, one
    per company (:data:`abmsync.accounts.brief.BRIEF_COLUMNS`: ``account_id``
    of the account that speaks for it, ``tier``, ``account_engagement``,
    ``engaged_roles``, ``coverage``, ``mqa`` ...); ``links`` map every account
    record's ``account_id`` to that ``canonical_id``. ``scores`` are the score
    ledger's rows valid at ``period.end``. ``opportunity_roles`` are the people
    opportunities name (``opportunity_id``, ``person_id`` as abmsync's person
    id, ``role``, ``is_primary``); roles naming a person no source holds are left out.
    """

    rules: LoadedRules
    period: Period
    people: pl.DataFrame
    companies: pl.DataFrame
    links: pl.DataFrame
    touchpoints: pl.DataFrame
    opportunities: pl.DataFrame
    opportunity_roles: pl.DataFrame
    scores: pl.DataFrame
    stage_changes: pl.DataFrame
    assignments: pl.DataFrame
    sla_events: pl.DataFrame
    sla_timers: pl.DataFrame


def load_inputs(
    store: Store,
    rules: LoadedRules,
    mappings: Sequence[Path],
    *,
    start: date | None = None,
    end: date | None = None,
) -> ReportInputs:
    """Read the store and score its snapshot as of the period's end.

    ``start`` and ``end`` are whole days (``end`` inclusive). Without ``end``
    the period ends at the newest ledger entry (the last run's as-of time),
    so a report of a finished demo or backtest shows its own world, not today.
    """
    changes = store.stage_changes()
    assignments = store.assignments()
    events = store.sla_events()
    period = Period(
        start=_day_start(start) if start else None,
        end=_day_start(end, days=1) if end else _newest(changes, assignments, events),
    )
    sources = [s for s in load_sources(list(mappings), SYSTEM_RANK) if _stored(store, s)]
    if not any(s.entity == "people" for s in sources):
        raise NoSyncedDataError(
            f"the state database ({store!r}) holds no people read by the mappings in "
            f"{', '.join(str(m) for m in mappings)}: run `abmsync sync` or `abmsync demo` first"
        )
    assembled = assemble(store, sources, rules.ruleset, None)
    # Leads without an account get the one their email domain belongs to, as a run does.
    people, _ = link_people_to_accounts(assembled.people, assembled.accounts)
    touchpoints = assembled.touchpoints.filter(pl.col("occurred_at") <= period.end)
    compiled = compile_rules(rules, period.end)
    result = score(compiled, people, touchpoints, assembled.accounts)
    scored = result.people
    on_accounts = _on_accounts(touchpoints, scored)
    companies = brief_accounts(
        compiled,
        result,
        on_accounts,
        account_records(store, sources),
        recent_days=rules.ruleset.writeback.touchpoint_days,
    )
    return ReportInputs(
        rules=rules,
        period=period,
        people=scored,
        companies=companies.briefs,
        links=companies.links,
        touchpoints=on_accounts,
        opportunities=_opportunities(store, sources),
        opportunity_roles=_opportunity_roles(store, sources, assembled.records),
        scores=store.scores_as_of(period.end),
        stage_changes=changes,
        assignments=assignments,
        sla_events=events,
        sla_timers=store.load_sla_timers(),
    )


def _stored(store: Store, source: Source) -> bool:
    """Whether the snapshot holds this mapping's records (sources never synced are left out)."""
    return not store.load_snapshot(source.key).is_empty()


def _day_start(day: date, *, days: int = 0) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=days)


def _newest(*frames: pl.DataFrame) -> datetime:
    times = [
        frame.select(pl.col(column).max()).item()
        for frame, column in zip(frames, ("changed_at", "assigned_at", "occurred_at"), strict=True)
        if frame.height
    ]
    return max(times) if times else datetime.now(UTC)


def _on_accounts(touchpoints: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """Touchpoints with the account of their person when they carry none themselves."""
    owners = people.select("person_id", pl.col("account_id").alias("__account"))
    return (
        touchpoints.join(owners, on="person_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("account_id", "__account").alias("account_id"))
        .drop("__account")
        .with_columns(pl.col("occurred_at").cast(TIMESTAMP))
    )


def _opportunities(store: Store, sources: Sequence[Source]) -> pl.DataFrame:
    frames = [s.load(store) for s in sources if s.entity == "opportunities"]
    if not frames:
        return pl.DataFrame(schema=FRAME_COLUMNS["opportunities"])
    return pl.concat(frames, how="diagonal_relaxed").unique("id", keep="first")


def _opportunity_roles(
    store: Store, sources: Sequence[Source], records: pl.DataFrame
) -> pl.DataFrame:
    """Opportunity roles with the vendor's person id resolved to abmsync's person id."""
    people = records.select(
        "system", pl.col("vendor_id").alias("person_id"), pl.col("person_id").alias("__person")
    ).unique(["system", "person_id"])
    frames = [
        s.load(store).select(
            pl.lit(s.system).alias("system"), "opportunity_id", "person_id", "role", "is_primary"
        )
        for s in sources
        if s.entity == "opportunity_roles"
    ]
    columns = ("opportunity_id", "person_id", "role", "is_primary")
    if not frames:
        return pl.DataFrame(schema={c: FRAME_COLUMNS["opportunity_roles"][c] for c in columns})
    return (
        pl.concat(frames)
        .join(people, on=["system", "person_id"], how="inner", maintain_order="left")
        .select("opportunity_id", pl.col("__person").alias("person_id"), "role", "is_primary")
        .unique(["opportunity_id", "person_id"], keep="first", maintain_order=True)
    )
