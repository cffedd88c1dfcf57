"""One lifecycle pass: from where people stand to where the rules move them.

A pure function of (rules, scored people, current state, touchpoints): it
returns the new state, the stage changes to append to the ledger, and flags
for sales feedback that marketing cannot learn from (a rejection without a
reason). The sync engine and ``abmsync run`` load the state, call
:func:`advance`, and store its outputs in one transaction; backtests call it
week after week with the state kept in memory.

Order of precedence in one pass, per person:

1. a person seen for the first time is placed in the stage their source
   system reports (when it is one of the admin's stages) or the initial stage;
2. a transition into a terminal stage (e.g. a competitor to disqualified)
   wins over everything else;
3. then a fast track (e.g. a "contact sales" form newer than the person's
   stage entry and at most ``within_days`` old) moves them at once;
4. otherwise the first matching transition moves them;
5. people in a terminal stage never move, and nobody moves in a pass at or
   before the previous one (``since``), nor twice at the same as-of time (so
   re-running a pass is a no-op).

Times (see :mod:`abmsync.rules.lifecycle`): a placement in the initial stage
is stamped with the person's ``created_at`` (they were in it from the start),
one in a stage their source reports with the pass's as-of time (the source
does not say since when), a move with the
time of its evidence (the fast track's touchpoint, the CRM's status change
time, the newest touchpoint behind an engagement threshold, the opportunity's
creation or close), kept after the person's stage entry and the previous pass
and never after the as-of time. ``changed_at`` in the ledger is that time,
``recorded_at`` the as-of time of the pass that recorded the change;
``stage_entered_at`` in the state is ``changed_at`` of the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from abmsync.rules.compiled import CompiledRules
from abmsync.rules.lifecycle import (
    EVIDENCE_COLUMN,
    move_time,
    next_stages,
    placement_time,
    with_last_touch,
)
from abmsync.schema import TIMESTAMP

STATE_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "stage": pl.String(),
    "stage_entered_at": TIMESTAMP,
    "previous_stage": pl.String(),
    "owner_id": pl.String(),
    "queue": pl.String(),
}
CHANGE_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "from_stage": pl.String(),
    "to_stage": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
    "rules_version": pl.String(),
    "changed_at": TIMESTAMP,  # when the evidence says it happened
    "recorded_at": TIMESTAMP,  # the as-of time of the pass that recorded it
}
MOVED_COLUMNS = ("person_id", "from_stage", "to_stage", "rule")
FLAG_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "flag": pl.String(),
    "detail": pl.String(),
}
PLACED_FROM_SOURCE = "placed: stage from source system"
PLACED_INITIAL = "placed: initial stage"
MICROSECONDS_PER_DAY = 86_400e6


@dataclass(frozen=True)
class LifecycleOutcome:
    """The state after a pass, what changed, and feedback problems."""

    state: pl.DataFrame  # STATE_COLUMNS, every scored person
    changes: pl.DataFrame  # CHANGE_COLUMNS, placements first, then moves
    flags: pl.DataFrame  # FLAG_COLUMNS
    moved: pl.DataFrame  # MOVED_COLUMNS: this pass's moves only


def empty_state() -> pl.DataFrame:
    """The state before the first pass."""
    return pl.DataFrame(schema=STATE_COLUMNS)


def advance(
    rules: CompiledRules,
    people: pl.DataFrame,
    state: pl.DataFrame,
    window: pl.LazyFrame | None = None,
    *,
    since: datetime | None = None,
) -> LifecycleOutcome:
    """Move scored ``people`` (``ScoreResult.people``) on from ``state`` as of ``rules.as_of``.

    ``window`` holds the touchpoints in the engagement window (with
    ``age_days``), as ``ScoreResult.window`` does; fast tracks and the
    evidence time of engagement thresholds read it. ``since`` is the as-of
    time of the previous pass (none before the first): no move is stamped
    before it, and a pass at or before it moves nobody.
    """
    lifecycle = rules.ruleset.lifecycle
    if lifecycle is None:
        return LifecycleOutcome(
            state.filter(pl.lit(False)),
            pl.DataFrame(schema=CHANGE_COLUMNS),
            _flags(rules, people),
            pl.DataFrame(schema={name: CHANGE_COLUMNS[name] for name in MOVED_COLUMNS}),
        )
    as_of = pl.lit(rules.as_of, dtype=TIMESTAMP)
    people = with_last_touch(people, window, rules.as_of)
    known = pl.Series(lifecycle.stages, dtype=pl.String()).implode()
    prior = state.select(
        "person_id",
        pl.col("stage").alias("__prior_stage"),
        pl.col("stage_entered_at").alias("__entered"),
        pl.col("previous_stage").alias("__previous"),
        "owner_id",
        "queue",
    )
    source = pl.col("source_stage") if "source_stage" in people.columns else pl.col("stage")
    source_owner = (
        pl.col("owner_id") if "owner_id" in people.columns else pl.lit(None, dtype=pl.String())
    )
    dropped = [
        c for c in ("owner_id", "queue", "previous_stage", "days_in_stage") if c in people.columns
    ]
    frame = (
        people.with_columns(source_owner.alias("__source_owner"))
        .drop(dropped)
        .join(prior, on="person_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("__prior_stage").is_null().alias("__new"),
            pl.coalesce(
                "__prior_stage",
                pl.when(source.is_in(known)).then(source),
                pl.lit(lifecycle.initial_stage),
            ).alias("__placed"),
        )
        .with_columns(
            pl.col("__placed").alias("stage"),
            pl.col("__entered")
            .fill_null(
                pl.when(pl.col("__placed") == lifecycle.initial_stage)
                .then(placement_time(people.columns, rules.as_of))
                .otherwise(as_of)
            )
            .alias("__entered"),
            pl.col("__previous").alias("previous_stage"),
        )
        .with_columns(
            ((as_of - pl.col("__entered")).dt.total_microseconds() / MICROSECONDS_PER_DAY).alias(
                "days_in_stage"
            )
        )
    )
    frame = _with_fast_tracks(rules, frame, window)
    moved = next_stages(rules, frame.lazy()).collect()
    fast_stage, fast_rule, fast_at = _fast_track_choice(rules)
    terminal = pl.Series(lifecycle.terminal, dtype=pl.String()).implode()
    # A move into a terminal stage (disqualified, customer) beats any fast track.
    final = pl.col("stage_rule").is_not_null() & pl.col("stage").is_in(terminal)
    moved = moved.with_columns(
        pl.when(final)
        .then(pl.col("stage"))
        .otherwise(pl.coalesce(fast_stage, pl.col("stage")))
        .alias("__to"),
        pl.when(final)
        .then(pl.col("stage_rule"))
        .otherwise(pl.coalesce(fast_rule, pl.col("stage_rule")))
        .alias("__rule"),
        pl.when(final)
        .then(pl.col(EVIDENCE_COLUMN))
        .otherwise(
            pl.when(fast_stage.is_not_null()).then(fast_at).otherwise(pl.col(EVIDENCE_COLUMN))
        )
        .alias("__evidence"),
    )
    # Someone who already moved at this very time stays put: re-running a pass
    # at the same as-of time changes nothing.
    settled = ~pl.col("__new") & (pl.col("__entered") >= as_of)
    if since is not None and since >= rules.as_of:
        settled = ~pl.col("__new")
    earliest = pl.col("__entered")
    if since is not None:
        earliest = pl.max_horizontal(earliest, pl.lit(since, dtype=TIMESTAMP))
    moved = moved.with_columns(
        pl.when(settled).then(pl.col("__placed")).otherwise(pl.col("__to")).alias("__to")
    )
    changed = pl.col("__to") != pl.col("__placed")
    moved = moved.with_columns(
        pl.when(changed)
        .then(move_time(pl.col("__evidence"), earliest, rules.as_of))
        .otherwise(pl.col("__entered"))
        .alias("__moved_at")
    )
    reason = _feedback_reason()
    state_out = moved.select(
        "person_id",
        pl.col("__to").alias("stage"),
        pl.col("__moved_at").alias("stage_entered_at"),
        pl.when(changed)
        .then(pl.col("__placed"))
        .otherwise(pl.col("previous_stage"))
        .alias("previous_stage"),
        # A person seen for the first time keeps the owner their source system gives.
        pl.when(pl.col("__new"))
        .then(pl.col("__source_owner"))
        .otherwise(pl.col("owner_id"))
        .alias("owner_id"),
        "queue",
    )
    placements = moved.filter(pl.col("__new")).select(
        "person_id",
        pl.lit(None, dtype=pl.String()).alias("from_stage"),
        pl.col("__placed").alias("to_stage"),
        pl.when(pl.col("__placed") == lifecycle.initial_stage)
        .then(pl.lit(PLACED_INITIAL))
        .otherwise(pl.lit(PLACED_FROM_SOURCE))
        .alias("rule"),
        pl.lit(None, dtype=pl.String()).alias("reason"),
        pl.col("__entered").alias("changed_at"),
    )
    moves = moved.filter(changed).select(
        "person_id",
        pl.col("__placed").alias("from_stage"),
        pl.col("__to").alias("to_stage"),
        pl.col("__rule").alias("rule"),
        reason.alias("reason"),
        pl.col("__moved_at").alias("changed_at"),
    )
    changes = pl.concat([placements, moves]).with_columns(
        pl.lit(rules.version).alias("rules_version"), as_of.alias("recorded_at")
    )
    return LifecycleOutcome(
        state=state_out.cast(STATE_COLUMNS),  # type: ignore[arg-type]
        changes=changes.select(list(CHANGE_COLUMNS)).cast(CHANGE_COLUMNS),  # type: ignore[arg-type]
        flags=_flags(rules, people),
        moved=moves.select(MOVED_COLUMNS),
    )


def _with_fast_tracks(
    rules: CompiledRules, frame: pl.DataFrame, window: pl.LazyFrame | None
) -> pl.DataFrame:
    """Add each fast track's newest qualifying touchpoint time per person."""
    terms = rules.fast_tracks
    if not terms:
        return frame
    columns = [term.column for term in terms]
    if window is None:
        return frame.with_columns(pl.lit(None, dtype=TIMESTAMP).alias(c) for c in columns)
    newest = (
        window.group_by("person_id")
        .agg(
            pl.col("occurred_at")
            .filter(term.mask & (pl.col("age_days") <= term.rule.within_days))
            .max()
            .alias(term.column)
            for term in terms
        )
        .collect()
    )
    return frame.join(newest, on="person_id", how="left", maintain_order="left")


def _fast_track_choice(rules: CompiledRules) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The stage, rule and touchpoint time of the first fast track that applies
    (null when none)."""
    lifecycle = rules.ruleset.lifecycle
    assert lifecycle is not None
    current = pl.col("__placed")
    terminal = current.is_in(pl.Series(lifecycle.terminal, dtype=pl.String()).implode())
    stage: pl.Expr = pl.lit(None, dtype=pl.String())
    rule: pl.Expr = pl.lit(None, dtype=pl.String())
    at: pl.Expr = pl.lit(None, dtype=TIMESTAMP)
    for term in reversed(rules.fast_tracks):
        fast = term.rule
        fresh = pl.col(term.column).is_not_null() & (
            pl.col("__new") | (pl.col(term.column) > pl.col("__entered"))
        )
        applies = fresh & ~terminal & (current != fast.to)
        if fast.from_ != "*":
            applies = applies & current.is_in(pl.Series(fast.from_, dtype=pl.String()).implode())
        stage = pl.when(applies).then(pl.lit(fast.to)).otherwise(stage)
        rule = pl.when(applies).then(pl.lit(f"fast track: {fast.name}")).otherwise(rule)
        at = pl.when(applies).then(pl.col(term.column)).otherwise(at)
    return stage, rule, at


def _feedback_reason() -> pl.Expr:
    """Sales' verdict as it stood when the person moved, kept for marketing to learn from."""
    status = pl.col("crm_status")
    reason = pl.col("rejection_reason")
    return (
        pl.when(status.is_not_null() & reason.is_not_null())
        .then(pl.format("crm_status={}; rejection_reason={}", status, reason))
        .when(status.is_not_null())
        .then(pl.format("crm_status={}", status))
    )


def _flags(rules: CompiledRules, people: pl.DataFrame) -> pl.DataFrame:
    """People whom sales rejected without saying why."""
    lifecycle = rules.ruleset.lifecycle
    feedback = lifecycle.feedback if lifecycle else None
    if (
        feedback is None
        or not feedback.rejected
        or not feedback.reason_required
        or "crm_status" not in people.columns
    ):
        return pl.DataFrame(schema=FLAG_COLUMNS)
    reason = (
        pl.col("rejection_reason").cast(pl.String).str.strip_chars()
        if "rejection_reason" in people.columns
        else pl.lit(None, dtype=pl.String())
    )
    rejected = pl.col("crm_status").is_in(pl.Series(feedback.rejected, dtype=pl.String()).implode())
    return people.filter(rejected & (reason.is_null() | (reason == ""))).select(
        "person_id",
        pl.lit("rejected without a reason").alias("flag"),
        pl.format("crm_status={}", pl.col("crm_status")).alias("detail"),
    )
