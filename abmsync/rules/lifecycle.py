"""Lifecycle stage transitions, evaluated over whole frames, and when each move happened.

Each person moves at most once per run: the first transition (in file order)
whose ``from`` includes their current stage and whose condition holds wins.
People in a terminal stage stay there. A person with no stage yet starts in
the first stage of the list. The stateful parts (days in stage, SLA timers,
the stage-change ledger) build on this in the sync engine.

A move is stamped with the time of the evidence that caused it when the data
carries one, not with the time the pass noticed it: each field a condition
reads may have an *evidence column* (:data:`EVIDENCE`), e.g. ``crm_status``
the CRM's own time of the status change (``crm_status_at``) and
``engagement`` the newest touchpoint (``last_touch_at``). A transition's
evidence time is the latest evidence of the fields it reads (the moment the
last of its conditions came true); a condition that reads the clock
(``days_in_stage``) or no field with evidence has none, and the move is
stamped with the pass's as-of time. :func:`move_time` keeps a stamp between
the person's previous stage entry (and the previous pass) and the as-of time.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from abmsync.rules.compiled import CompiledRules
from abmsync.schema import TIMESTAMP, cast_column

_LIFECYCLE_DTYPES: dict[str, pl.DataType] = {
    "previous_stage": pl.String(),
    "days_in_stage": pl.Float64(),
    "crm_status": pl.String(),
    "crm_status_at": TIMESTAMP,
    "rejection_reason": pl.String(),
    "open_opportunities": pl.Int64(),
    "won_opportunities": pl.Int64(),
    "opportunity_opened_at": TIMESTAMP,
    "won_at": TIMESTAMP,
}
# Field a condition reads -> the column holding when its current value came about.
EVIDENCE: dict[str, str] = {
    "engagement": "last_touch_at",
    "total": "last_touch_at",
    "band": "last_touch_at",
    "priority": "last_touch_at",
    "crm_status": "crm_status_at",
    "rejection_reason": "crm_status_at",
    "open_opportunities": "opportunity_opened_at",
    "won_opportunities": "won_at",
}
# Fields that change with the clock alone: a condition on them came true at the pass.
CLOCK_FIELDS = frozenset({"days_in_stage"})
EVIDENCE_COLUMN = "stage_evidence_at"
_CHOSEN = "__transition"  # internal: the number of the transition that moved a person
_EVIDENCE_DTYPES: dict[str, pl.DataType] = {"last_touch_at": TIMESTAMP}


def next_stages(rules: CompiledRules, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Replace ``stage`` with each person's stage after this run; ``stage_rule`` names the
    transition that moved them and ``stage_evidence_at`` the time of its evidence (both
    null when they stayed; the time also null when the move has no dated evidence)."""
    present = frame.collect_schema()
    wanted = {**_LIFECYCLE_DTYPES, **_EVIDENCE_DTYPES}
    # Missing fields are null; others get their type (a snapshot keeps custom times as text).
    conformed = [
        _conform(present[name], name, dtype)
        if name in present
        else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in wanted.items()
        if name not in present or present[name] != dtype
    ]
    frame = frame.with_columns(conformed) if conformed else frame
    lifecycle = rules.ruleset.lifecycle
    if lifecycle is None:
        return frame.with_columns(
            pl.lit(None, dtype=pl.String()).alias("stage_rule"),
            pl.lit(None, dtype=TIMESTAMP).alias(EVIDENCE_COLUMN),
        )
    current = pl.col("stage").fill_null(pl.lit(lifecycle.stages[0]))
    movable = ~current.is_in(pl.Series(lifecycle.terminal, dtype=pl.String()).implode())
    # The number of the transition that moves each person (null: they stay). Built back
    # to front so the first transition in the file wins; stage and rule are then looked
    # up by that number, far cheaper than a chain of text columns per transition.
    chosen: pl.Expr = pl.lit(None, dtype=pl.UInt32())
    evidence: pl.Expr = pl.lit(None, dtype=TIMESTAMP)
    for number, term in reversed(list(enumerate(rules.transitions))):
        transition = term.transition
        applies = term.condition.expr & (current != pl.lit(transition.to))
        if transition.from_ != "*":
            allowed = pl.Series(transition.from_, dtype=pl.String()).implode()
            applies = applies & current.is_in(allowed)
        chosen = pl.when(applies).then(pl.lit(number, dtype=pl.UInt32())).otherwise(chosen)
        moved_by = pl.col(_CHOSEN) == number
        evidence = pl.when(moved_by).then(evidence_time(term.condition.columns)).otherwise(evidence)
    if not rules.transitions:
        return frame.with_columns(
            current.alias("stage"),
            pl.lit(None, dtype=pl.String()).alias("stage_rule"),
            evidence.alias(EVIDENCE_COLUMN),
        )
    targets = pl.Series([t.transition.to for t in rules.transitions], dtype=pl.String())
    labels = pl.Series([t.label for t in rules.transitions], dtype=pl.String())
    return (
        frame.with_columns(pl.when(movable).then(chosen).alias(_CHOSEN))
        .with_columns(
            pl.coalesce(pl.lit(targets).gather(pl.col(_CHOSEN)), current).alias("stage"),
            pl.lit(labels).gather(pl.col(_CHOSEN)).alias("stage_rule"),
            evidence.alias(EVIDENCE_COLUMN),
        )
        .drop(_CHOSEN)
    )


def _conform(current: pl.DataType, name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as ``dtype``; a text time that does not parse is no evidence (null)."""
    if dtype == TIMESTAMP and current == pl.String():
        return pl.col(name).str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    return cast_column(current, name, dtype, strict=False)


def evidence_time(fields: frozenset[str]) -> pl.Expr:
    """When a condition reading ``fields`` came true, as far as the data says (null: unknown)."""
    if fields & CLOCK_FIELDS:
        return pl.lit(None, dtype=TIMESTAMP)
    columns = sorted({EVIDENCE[name] for name in fields if name in EVIDENCE})
    if not columns:
        return pl.lit(None, dtype=TIMESTAMP)
    return pl.max_horizontal(pl.col(c).cast(TIMESTAMP) for c in columns)


def with_last_touch(
    people: pl.DataFrame, window: pl.LazyFrame | None, as_of: datetime
) -> pl.DataFrame:
    """``people`` with ``last_touch_at``: their newest touchpoint in the window up to ``as_of``
    (replacing any such column; null for people without one)."""
    people = people.drop("last_touch_at", strict=False)
    if window is None:
        return people.with_columns(pl.lit(None, dtype=TIMESTAMP).alias("last_touch_at"))
    newest = (
        window.filter(pl.col("occurred_at") <= pl.lit(as_of, dtype=TIMESTAMP))
        .group_by("person_id")
        .agg(pl.col("occurred_at").max().cast(TIMESTAMP).alias("last_touch_at"))
        .collect()
    )
    return people.join(newest, on="person_id", how="left", maintain_order="left")


def placement_time(frame_columns: list[str], as_of: datetime) -> pl.Expr:
    """When a person seen for the first time entered the initial stage: when their record
    was created in its source system (never after ``as_of``), else ``as_of``."""
    moment = pl.lit(as_of, dtype=TIMESTAMP)
    if "created_at" not in frame_columns:
        return moment
    created = pl.col("created_at").cast(TIMESTAMP)
    return pl.when(created <= moment).then(created).otherwise(moment)


def move_time(evidence: pl.Expr, earliest: pl.Expr, as_of: datetime) -> pl.Expr:
    """A move's time: its evidence (``as_of`` when unknown), never before ``earliest``
    (the person's entry into the stage they leave, or the previous pass) nor after ``as_of``."""
    moment = pl.lit(as_of, dtype=TIMESTAMP)
    stamped = pl.coalesce(evidence.cast(TIMESTAMP), moment)
    floor = pl.coalesce(earliest.cast(TIMESTAMP), moment)
    return pl.min_horizontal(pl.max_horizontal(stamped, floor), moment)
