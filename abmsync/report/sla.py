"""SLA compliance from the SLA timers' ledger, per stage, queue and owner.

Counts come from timer events, not from sync runs: a timer starts once,
closes once (``met`` when the person left the stage in time, ``breached`` at
its deadline, which never repeats), so running the sync more often changes
nothing. Compliance is ``met / (met + breached)``. Time to accept runs from
each entry into the SLA stage to the next entry into a later stage of the main
path, in working hours of the queue's calendar when the rules give one; it is
credited to the owner whose timer was running at acceptance.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Sla, SlaGroup
from abmsync.report.stats import quantile, ratio, stage_lists, weekly_counts
from abmsync.rules.calendar import calendar_for, working_seconds
from abmsync.rules.model import RuleSet, SlaRule
from abmsync.rules.sla import sla_rules

ALL = "all"
HOUR = 3600.0


def build_sla(inputs: ReportInputs) -> Sla:
    """The SLA section of the report."""
    ruleset = inputs.rules.ruleset
    rules = sla_rules(ruleset)
    queue_of = _queues_of_owners(ruleset, inputs.assignments)
    events = inputs.sla_events.filter(inputs.period.contains("occurred_at")).with_columns(
        _queue(queue_of).alias("queue")
    )
    timers = inputs.sla_timers.with_columns(
        pl.coalesce("queue", _queue(queue_of)).alias("queue"),
    )
    accepted = _accepted(inputs, rules, queue_of)
    stages = [stage for stage in rules if stage in set(inputs.stage_changes["to_stage"])] or list(
        rules
    )
    overall, by_queue, by_owner = [], [], []
    for stage in stages:
        parts = (
            events.filter(pl.col("stage") == stage),
            timers.filter((pl.col("stage") == stage) & (pl.col("status") == "open")),
            accepted.filter(pl.col("stage") == stage),
        )
        overall.extend(_groups(stage, *parts, column=None))
        by_queue.extend(_groups(stage, *parts, column="queue"))
        by_owner.extend(_groups(stage, *parts, column="owner_id"))
    breaches = events.filter(pl.col("kind") == "breached")
    overdue = timers.filter((pl.col("status") == "open") & (pl.col("due_at") < inputs.period.end))
    return Sla(
        working_hours=any(
            calendar_for(ruleset, rule, q) is not None
            for rule in rules.values()
            for q in set(queue_of.values())
        )
        or any(rule.calendar for rule in rules.values()),
        overall=overall,
        by_queue=by_queue,
        by_owner=by_owner,
        breaches_by_week=weekly_counts(breaches, "occurred_at", "stage"),
        reassignments=breaches.filter(pl.col("action") == "reassign").height,
        escalations=breaches.filter(pl.col("action") == "escalate").height,
        overdue_open=overdue.height,
    )


def _queues_of_owners(ruleset: RuleSet, assignments: pl.DataFrame) -> dict[str, str]:
    """Each owner's queue: the rules' queue membership, else their latest assignment's queue."""
    queue_of: dict[str, str] = {}
    for owner, queue in assignments.drop_nulls("queue").select("owner_id", "queue").iter_rows():
        queue_of[str(owner)] = str(queue)
    if ruleset.routing is not None:
        for name, queue in ruleset.routing.queues.items():
            for member in queue.members:
                queue_of[member.owner] = name
    return queue_of


def _queue(queue_of: dict[str, str]) -> pl.Expr:
    return pl.col("owner_id").replace_strict(queue_of, default=None, return_dtype=pl.String())


def _accepted(
    inputs: ReportInputs, rules: dict[str, SlaRule], queue_of: dict[str, str]
) -> pl.DataFrame:
    """One row per acceptance in the period: stage, owner, queue, hours to accept."""
    ruleset = inputs.rules.ruleset
    changes = inputs.stage_changes.filter(pl.col("changed_at") <= inputs.period.end)
    main, _ = stage_lists(ruleset, changes["to_stage"].unique().to_list())
    started = inputs.sla_events.filter(pl.col("kind") == "started").select(
        "person_id", "stage", "owner_id", pl.col("occurred_at").alias("__started")
    )
    rows: list[tuple[str, str | None, str | None, float]] = []
    for stage, rule in rules.items():
        if stage not in main:
            continue
        later = main[main.index(stage) + 1 :]
        pairs = (
            changes.filter(pl.col("to_stage").is_in([stage, *later]))
            .with_columns((pl.col("to_stage") == stage).alias("__entry"))
            .sort("person_id", "changed_at", "__entry", descending=[False, False, True])
            .with_columns(
                pl.when("__entry")
                .then(pl.col("changed_at"))
                .forward_fill()
                .over("person_id")
                .alias("__entered")
            )
            .filter(~pl.col("__entry") & pl.col("__entered").is_not_null())
            .group_by("person_id", "__entered")
            .agg(pl.col("changed_at").min().alias("__accepted"))
            .filter(inputs.period.contains("__accepted"))
            .sort("person_id", "__accepted")
        )
        # The owner whose timer was running when sales accepted.
        owners = started.filter(pl.col("stage") == stage).drop("stage")
        pairs = (
            pairs.join(owners, on="person_id", how="left")
            .filter(pl.col("__started").is_null() | (pl.col("__started") <= pl.col("__accepted")))
            .sort("person_id", "__entered", "__started", nulls_last=False)
            .group_by("person_id", "__entered", maintain_order=True)
            .last()
            .select("person_id", "__entered", "__accepted", "owner_id", "__started")
        )
        for _, entered, accepted_at, owner, _started in pairs.iter_rows():
            queue = queue_of.get(owner) if owner is not None else None
            rows.append((stage, owner, queue, _hours(ruleset, rule, queue, entered, accepted_at)))
    schema = {
        "stage": pl.String(),
        "owner_id": pl.String(),
        "queue": pl.String(),
        "hours": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _hours(
    ruleset: RuleSet, rule: SlaRule, queue: str | None, start: datetime, end: datetime
) -> float:
    calendar = calendar_for(ruleset, rule, queue)
    if calendar is None:
        return (end - start).total_seconds() / HOUR
    return working_seconds(start, end, calendar) / HOUR


def _groups(
    stage: str,
    events: pl.DataFrame,
    open_timers: pl.DataFrame,
    accepted: pl.DataFrame,
    *,
    column: str | None,
) -> list[SlaGroup]:
    def key(frame: pl.DataFrame) -> pl.Series:
        if column is None:
            return pl.Series([ALL] * frame.height, dtype=pl.String())
        return frame[column].fill_null("(none)")

    names = sorted(
        set(key(events).to_list()) | set(key(open_timers).to_list()) | set(key(accepted).to_list())
    )
    groups = []
    for name in names:
        mine = events.filter(key(events) == name)
        kinds = mine["kind"]
        met, breached = int((kinds == "met").sum()), int((kinds == "breached").sum())
        hours = accepted.filter(key(accepted) == name)["hours"]
        groups.append(
            SlaGroup(
                stage=stage,
                group=name,
                started=int((kinds == "started").sum()),
                met=met,
                breached=breached,
                open=int((key(open_timers) == name).sum()),
                compliance=ratio(met, met + breached),
                accepted=hours.len(),
                median_hours_to_accept=quantile(hours, 0.5),
                p90_hours_to_accept=quantile(hours, 0.9),
            )
        )
    return groups
