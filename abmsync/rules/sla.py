"""SLA timers: start them when people enter a stage, close or breach them, report on them.

One sync pass calls :func:`evaluate_sla` with the stored timers, every
person's current stage and the pass's ``as_of`` time; it stores the returned
timers (one per person and stage, ``TIMER_SCHEMA``) and appends the returned
events (``EVENT_SCHEMA``) to the SLA ledger. Passes are idempotent: feeding a
pass its own output with the same inputs emits nothing, and a breached timer
never breaches again, so re-runs and retries cannot duplicate breaches.

Deadlines are fixed when a timer starts, in working time of the calendar
:func:`~abmsync.rules.calendar.calendar_for` picks (the rule's, else the
routing queue's, else the wall clock). Editing ``within`` affects timers
started afterwards; removing a stage's SLA rule drops its timers silently.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from abmsync.rules.calendar import add_working_time, calendar_for, working_seconds
from abmsync.rules.model import Calendar, RuleSet, SlaRule
from abmsync.schema import TIMESTAMP, SchemaError, cast_column, utc

TIMER_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "stage": pl.String(),
    "owner_id": pl.String(),
    "queue": pl.String(),
    "started_at": TIMESTAMP,
    "due_at": TIMESTAMP,
    "status": pl.String(),  # "open" | "breached"
}
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "stage": pl.String(),
    "kind": pl.String(),  # "started" | "met" | "breached"
    "due_at": TIMESTAMP,
    "occurred_at": TIMESTAMP,
    "action": pl.String(),  # null | "notify" | "reassign" | "escalate"
    "owner_id": pl.String(),
    "escalate_to": pl.String(),
}
# What evaluate_sla reads about each person (the lifecycle state after this pass).
PEOPLE_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "stage": pl.String(),
    "stage_entered_at": TIMESTAMP,
    "owner_id": pl.String(),
    "queue": pl.String(),
    "owned_since": TIMESTAMP,  # when the current owner got the person (null: unknown)
}
# People the caller gave a new owner after a breach (restart_timers).
REASSIGNED_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "owner_id": pl.String(),
    "queue": pl.String(),
}
# The stage-change ledger columns sla_report reads.
STAGE_CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "to_stage": pl.String(),
    "changed_at": TIMESTAMP,
}
OWNER_SCHEMA: dict[str, pl.DataType] = {
    "owner_id": pl.String(),
    "breached": pl.Int64(),
    "met": pl.Int64(),
    "breach_rate": pl.Float64(),
}

OPEN, BREACHED = "open", "breached"
STARTED, MET = "started", "met"
# Order of events at the same instant: a timer closed by a re-entry is met
# before its successor starts; a zero-length timer starts before it breaches.
_KIND_ORDER = {MET: 0, STARTED: 1, BREACHED: 2}
_HOUR = 3600.0


@dataclass(frozen=True, eq=False)
class SlaOutcome:
    """The timers to store after a pass and the events it appends to the ledger."""

    timers: pl.DataFrame
    events: pl.DataFrame


@dataclass(frozen=True)
class TimeToAccept:
    """Hours from entering the SLA stage to the next accepted stage (working hours with
    a calendar); ``None`` statistics when nobody was accepted."""

    count: int
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None
    working_hours: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "median_hours": self.median_hours,
            "p90_hours": self.p90_hours,
            "mean_hours": self.mean_hours,
            "working_hours": self.working_hours,
        }


@dataclass(frozen=True, eq=False)
class SlaReport:
    """How one stage's SLA went: timers started, met, breached, open, and speed of acceptance.

    ``by_owner`` has one row per owner of a closed timer (``OWNER_SCHEMA``),
    most breaches first.
    """

    stage: str
    started: int
    met: int
    breached: int
    still_open: int
    breach_rate: float | None
    time_to_accept: TimeToAccept
    by_owner: pl.DataFrame

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON types (``json.dumps`` takes it as is)."""
        return {
            "stage": self.stage,
            "started": self.started,
            "met": self.met,
            "breached": self.breached,
            "still_open": self.still_open,
            "breach_rate": self.breach_rate,
            "time_to_accept": self.time_to_accept.as_dict(),
            "by_owner": self.by_owner.to_dicts(),
        }


def evaluate_sla(
    ruleset: RuleSet, timers: pl.DataFrame, people: pl.DataFrame, as_of: datetime
) -> SlaOutcome:
    """One pass of the SLA clock at ``as_of``.

    - A person in a stage with an SLA rule and no timer for it gets one from
      ``stage_entered_at`` (``as_of`` when unknown), or from ``owned_since``
      when that is later: an owner is not late for the time before they had
      the person (a move found and routed by this pass, stamped with older
      evidence, starts its clock when it was handed over). It emits ``started``.
    - A timer whose person left its stage (moved, re-entered it since the timer
      started, or is gone from ``people``) is removed. If it was open it emits
      ``met`` at the time they left (the new ``stage_entered_at``, else
      ``as_of``) when that is on or before the deadline, and otherwise
      ``breached`` at the deadline: nobody slips out unbreached because no
      pass ran between the deadline and the move.
    - An open timer past its deadline becomes ``breached`` and emits
      ``breached`` at the deadline with the rule's ``on_breach`` action (and
      ``escalate_to`` for escalations), once; a new timer already past due
      does so in the pass that starts it.
    - Timers of stages that no longer have an SLA rule are dropped silently.

    ``people`` must list every person who has a timer: one row each, with
    ``person_id``, ``stage``, ``stage_entered_at``, ``owner_id``, ``queue`` and
    ``owned_since`` (all but the first two may be null or absent). A timer
    whose person left its stage closes at their entry into the next stage
    (``stage_entered_at``, stamped with the evidence of the move, e.g. the
    CRM's time of sales' acceptance), so SLA figures follow the CRM's events,
    not how often the sync ran. A timer that started without an owner takes
    the person's owner once they have one.
    """
    moment = utc(as_of)
    rules = sla_rules(ruleset)
    current = _conform(timers, TIMER_SCHEMA, "timers", optional=("owner_id", "queue"))
    current = current.filter(pl.col("stage").is_in(list(rules)))
    persons = _conform(
        people,
        PEOPLE_SCHEMA,
        "people",
        optional=("stage_entered_at", "owner_id", "queue", "owned_since"),
    )
    _unique(current, ["person_id", "stage"], "timers")
    _unique(persons, ["person_id"], "people")

    now = pl.lit(moment, dtype=TIMESTAMP)
    joined = current.join(
        persons.select(
            "person_id",
            pl.col("stage").alias("_stage_now"),
            pl.col("stage_entered_at").alias("_entered_at"),
            pl.col("owner_id").alias("_owner_now"),
            pl.col("queue").alias("_queue_now"),
        ),
        on="person_id",
        how="left",
    )
    reentered = (pl.col("_entered_at") > pl.col("started_at")).fill_null(False)
    in_stage = (pl.col("_stage_now") == pl.col("stage")).fill_null(False) & ~reentered
    joined = joined.with_columns(in_stage.alias("_in_stage"), reentered.alias("_reentered"))

    # Timers whose person left the stage: open ones close as met or breached.
    left = joined.filter(~pl.col("_in_stage") & (pl.col("status") == OPEN))
    # They left when they entered their current stage, if that is not before the timer
    # started (an earlier or unknown entry says nothing: then by this pass). A move
    # stamped at the very start (evidence older than the pass that handed them over)
    # left at once.
    moved_on = (pl.col("_stage_now") != pl.col("stage")) & (
        pl.col("_entered_at") >= pl.col("started_at")
    )
    known = pl.col("_reentered") | moved_on.fill_null(False)
    left_at = pl.min_horizontal(pl.when(known).then(pl.col("_entered_at")).otherwise(now), now)
    on_time = left_at <= pl.col("due_at")
    closed = _with_breach_action(
        left.with_columns(
            pl.when(on_time).then(pl.lit(MET)).otherwise(pl.lit(BREACHED)).alias("kind"),
            pl.when(on_time).then(left_at).otherwise(pl.col("due_at")).alias("occurred_at"),
        ),
        rules,
    )

    # Timers still running: fill in a late owner, breach the overdue ones.
    kept = joined.filter(pl.col("_in_stage")).with_columns(
        pl.coalesce("owner_id", "_owner_now").alias("owner_id"),
        pl.coalesce("queue", "_queue_now").alias("queue"),
    )
    overdue = (pl.col("status") == OPEN) & (now >= pl.col("due_at"))
    breaching = kept.filter(overdue).with_columns(
        pl.lit(BREACHED).alias("kind"), pl.col("due_at").alias("occurred_at")
    )
    kept = kept.with_columns(
        pl.when(overdue).then(pl.lit(BREACHED)).otherwise(pl.col("status")).alias("status")
    )

    # People in an SLA stage without a timer for it start one.
    entering = persons.filter(pl.col("stage").is_in(list(rules))).join(
        kept.select("person_id", "stage"), on=["person_id", "stage"], how="anti"
    )
    started = _start_timers(
        ruleset,
        rules,
        entering.select(
            "person_id",
            "stage",
            "owner_id",
            "queue",
            pl.max_horizontal(pl.coalesce("stage_entered_at", now), "owned_since")
            .cast(TIMESTAMP)
            .alias("started_at"),
        ),
    )
    started = started.with_columns(
        pl.when(now >= pl.col("due_at"))
        .then(pl.lit(BREACHED))
        .otherwise(pl.lit(OPEN))
        .alias("status")
    )
    late_start = started.filter(pl.col("status") == BREACHED).with_columns(
        pl.lit(BREACHED).alias("kind"), pl.col("due_at").alias("occurred_at")
    )

    events = pl.concat(
        [
            _events(
                started.with_columns(
                    pl.lit(STARTED).alias("kind"), pl.col("started_at").alias("occurred_at")
                )
            ),
            _events(closed),
            _events(_with_breach_action(breaching, rules)),
            _events(_with_breach_action(late_start, rules)),
        ]
    )
    new_timers = pl.concat([kept.select(list(TIMER_SCHEMA)), started.select(list(TIMER_SCHEMA))])
    return SlaOutcome(timers=_sorted_timers(new_timers), events=_sorted_events(events))


def restart_timers(
    ruleset: RuleSet, timers: pl.DataFrame, reassigned: pl.DataFrame, as_of: datetime
) -> SlaOutcome:
    """Give people who were reassigned (after a breach) a fresh timer with their new owner.

    Each person in ``reassigned`` (``person_id``, ``owner_id``, ``queue``) who
    has a timer gets it replaced by an open one for the same stage that starts
    at ``as_of``, with a deadline in the calendar of the new queue (unless the
    rule names its own), and a ``started`` event. People without a timer are
    ignored; timers of stages without an SLA rule are dropped as in
    :func:`evaluate_sla`.
    """
    moment = utc(as_of)
    rules = sla_rules(ruleset)
    current = _conform(timers, TIMER_SCHEMA, "timers", optional=("owner_id", "queue"))
    current = current.filter(pl.col("stage").is_in(list(rules)))
    moved = _conform(reassigned, REASSIGNED_SCHEMA, "reassigned", optional=("owner_id", "queue"))
    _unique(current, ["person_id", "stage"], "timers")
    _unique(moved, ["person_id"], "reassigned")

    replaced = current.select("person_id", "stage").join(moved, on="person_id", how="inner")
    fresh = _start_timers(
        ruleset,
        rules,
        replaced.with_columns(pl.lit(moment, dtype=TIMESTAMP).alias("started_at")),
    ).with_columns(pl.lit(OPEN).alias("status"))
    remaining = current.join(
        replaced.select("person_id", "stage"), on=["person_id", "stage"], how="anti"
    )
    events = fresh.with_columns(
        pl.lit(STARTED).alias("kind"), pl.col("started_at").alias("occurred_at")
    )
    return SlaOutcome(
        timers=_sorted_timers(pl.concat([remaining, fresh.select(list(TIMER_SCHEMA))])),
        events=_sorted_events(_events(events)),
    )


def sla_report(
    events: pl.DataFrame,
    stage_changes: pl.DataFrame,
    *,
    stage: str,
    accepted: list[str],
    calendar: Calendar | None = None,
) -> SlaReport:
    """Summarise the SLA ledger of ``stage`` and how fast sales accepted its people.

    Counts come from ``events`` (``EVENT_SCHEMA``) of ``stage``; a timer is
    still open when its person's latest event is ``started``. Time to accept
    runs from each entry into ``stage`` in ``stage_changes`` (the stage-change
    ledger) to that person's next entry into one of ``accepted`` before they
    enter ``stage`` again; entries never accepted are not counted. With a
    ``calendar`` it is measured in working hours.
    """
    ledger = _conform(
        events, EVENT_SCHEMA, "events", optional=("action", "owner_id", "escalate_to")
    ).filter(pl.col("stage") == stage)
    counts = ledger.group_by("kind").len()
    count = dict(zip(counts["kind"].to_list(), counts["len"].to_list(), strict=True))
    met, breached = count.get(MET, 0), count.get(BREACHED, 0)
    latest = (
        ledger.with_columns(pl.col("kind").replace_strict(_KIND_ORDER, default=-1).alias("_order"))
        .sort("person_id", "occurred_at", "_order")
        .group_by("person_id", maintain_order=True)
        .last()
    )
    by_owner = (
        ledger.filter(pl.col("kind").is_in([MET, BREACHED]))
        .group_by("owner_id")
        .agg(
            (pl.col("kind") == BREACHED).sum().cast(pl.Int64).alias("breached"),
            (pl.col("kind") == MET).sum().cast(pl.Int64).alias("met"),
        )
        .with_columns(
            (pl.col("breached") / (pl.col("breached") + pl.col("met"))).alias("breach_rate")
        )
        .sort(["breached", "owner_id"], descending=[True, False], nulls_last=True)
        .select(list(OWNER_SCHEMA))
    )
    return SlaReport(
        stage=stage,
        started=count.get(STARTED, 0),
        met=met,
        breached=breached,
        still_open=latest.filter(pl.col("kind") == STARTED).height,
        breach_rate=breached / (met + breached) if met + breached else None,
        time_to_accept=_time_to_accept(stage_changes, stage, accepted, calendar),
        by_owner=by_owner,
    )


def sla_rules(ruleset: RuleSet) -> dict[str, SlaRule]:
    """The SLA rule of each stage; the first one in the file when a stage has several."""
    rules: dict[str, SlaRule] = {}
    for rule in ruleset.lifecycle.sla if ruleset.lifecycle else []:
        rules.setdefault(rule.stage, rule)
    return rules


def _time_to_accept(
    stage_changes: pl.DataFrame, stage: str, accepted: Collection[str], calendar: Calendar | None
) -> TimeToAccept:
    changes = _conform(stage_changes, STAGE_CHANGE_SCHEMA, "stage_changes", optional=())
    entry = pl.col("to_stage") == stage
    timeline = (
        changes.filter(entry | pl.col("to_stage").is_in(list(accepted)))
        .with_columns(entry.alias("_entry"))
        # An entry and an acceptance at the same instant: the entry came first.
        .sort("person_id", "changed_at", "_entry", descending=[False, False, True])
        .with_columns(
            pl.when("_entry")
            .then(pl.col("changed_at"))
            .forward_fill()
            .over("person_id")
            .alias("_entered_at")
        )
    )
    pairs = (
        timeline.filter(~pl.col("_entry") & pl.col("_entered_at").is_not_null())
        .group_by("person_id", "_entered_at")
        .agg(pl.col("changed_at").min().alias("_accepted_at"))
    )
    if calendar is None:
        hours = (
            (pl.col("_accepted_at") - pl.col("_entered_at")).dt.total_microseconds() / 1e6 / _HOUR
        )
        values = pairs.select(hours.alias("hours")).to_series()
    else:
        values = pl.Series(
            "hours",
            [
                working_seconds(entered, accepted_at, calendar) / _HOUR
                for entered, accepted_at in pairs.select("_entered_at", "_accepted_at").iter_rows()
            ],
            dtype=pl.Float64(),
        )
    if values.is_empty():
        return TimeToAccept(0, None, None, None, working_hours=calendar is not None)
    return TimeToAccept(
        count=values.len(),
        median_hours=_number(values.median()),
        p90_hours=_number(values.quantile(0.9, interpolation="linear")),
        mean_hours=_number(values.mean()),
        working_hours=calendar is not None,
    )


def _start_timers(
    ruleset: RuleSet, rules: Mapping[str, SlaRule], starts: pl.DataFrame
) -> pl.DataFrame:
    """``starts`` (person_id, stage, owner_id, queue, started_at) with each timer's due_at."""
    calendars: dict[tuple[str, str | None], Calendar | None] = {}
    due: list[datetime] = []
    for stage, queue, started_at in starts.select("stage", "queue", "started_at").iter_rows():
        key = (stage, queue)
        if key not in calendars:
            calendars[key] = calendar_for(ruleset, rules[stage], queue)
        due.append(add_working_time(started_at, rules[stage].seconds, calendars[key]))
    return starts.with_columns(pl.Series("due_at", due, dtype=TIMESTAMP))


def _with_breach_action(frame: pl.DataFrame, rules: Mapping[str, SlaRule]) -> pl.DataFrame:
    """Add each breach's ``action`` (the rule's on_breach) and ``escalate_to``."""
    actions = pl.DataFrame(
        {
            "stage": list(rules),
            "action": [rule.on_breach for rule in rules.values()],
            "escalate_to": [
                rule.escalate_to if rule.on_breach == "escalate" else None
                for rule in rules.values()
            ],
        },
        schema={"stage": pl.String(), "action": pl.String(), "escalate_to": pl.String()},
    )
    frame = frame.drop("action", "escalate_to", strict=False).join(actions, on="stage", how="left")
    met = pl.col("kind") == MET
    return frame.with_columns(
        pl.when(met).then(None).otherwise(pl.col("action")).alias("action"),
        pl.when(met).then(None).otherwise(pl.col("escalate_to")).alias("escalate_to"),
    )


def _events(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in EVENT_SCHEMA.items()
        if name not in frame.columns
    ]
    return frame.with_columns(missing).select(
        [pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items()]
    )


def _sorted_events(events: pl.DataFrame) -> pl.DataFrame:
    order = pl.col("kind").replace_strict(_KIND_ORDER, default=-1)
    return events.sort(pl.col("occurred_at"), pl.col("person_id"), pl.col("stage"), order).select(
        list(EVENT_SCHEMA)
    )


def _sorted_timers(timers: pl.DataFrame) -> pl.DataFrame:
    return timers.select(list(TIMER_SCHEMA)).sort("person_id", "stage")


def _conform(
    frame: pl.DataFrame,
    schema: Mapping[str, pl.DataType],
    name: str,
    *,
    optional: Collection[str],
) -> pl.DataFrame:
    """``frame`` with exactly the columns of ``schema``, cast; optional ones added as nulls.

    A frame without any columns counts as empty. Raises ``SchemaError``
    naming the missing columns.
    """
    if frame.width == 0:
        return pl.DataFrame(schema=dict(schema))
    missing = [c for c in schema if c not in frame.columns and c not in optional]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}")
    columns = []
    for column, dtype in schema.items():
        if column not in frame.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(column))
        elif frame.schema[column] != dtype:
            columns.append(cast_column(frame.schema[column], column, dtype))
        else:
            columns.append(pl.col(column))
    return frame.select(columns)


def _unique(frame: pl.DataFrame, key: list[str], name: str) -> None:
    if frame.select(key).is_duplicated().any():
        raise SchemaError(f"{name}: more than one row per {' + '.join(key)}")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
