"""Lifecycle stage transitions, evaluated over whole frames.

Each person moves at most once per run: the first transition (in file order)
whose ``from`` includes their current stage and whose condition holds wins.
People in a terminal stage stay there. A person with no stage yet starts in
the first stage of the list. The stateful parts (days in stage, SLA timers,
the stage-change ledger) build on this in the sync engine.
"""

from __future__ import annotations

import polars as pl

from abmsync.rules.compiled import CompiledRules
from abmsync.rules.fields import LIFECYCLE_FIELDS

_LIFECYCLE_DTYPES: dict[str, pl.DataType] = {
    "previous_stage": pl.String(),
    "days_in_stage": pl.Float64(),
    "crm_status": pl.String(),
    "rejection_reason": pl.String(),
}


def next_stages(rules: CompiledRules, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Replace ``stage`` with each person's stage after this run; ``stage_rule`` names the
    transition that moved them (null when they stayed)."""
    present = set(frame.collect_schema().names())
    missing = [
        pl.lit(None, dtype=_LIFECYCLE_DTYPES[name]).alias(name)
        for name in LIFECYCLE_FIELDS
        if name not in present
    ]
    frame = frame.with_columns(missing) if missing else frame
    lifecycle = rules.ruleset.lifecycle
    if lifecycle is None:
        return frame.with_columns(pl.lit(None, dtype=pl.String()).alias("stage_rule"))
    current = pl.col("stage").fill_null(pl.lit(lifecycle.stages[0]))
    movable = ~current.is_in(pl.Series(lifecycle.terminal, dtype=pl.String()).implode())
    new_stage: pl.Expr = current
    rule: pl.Expr = pl.lit(None, dtype=pl.String())
    # Build the chain back to front so the first transition in the file wins.
    for term in reversed(rules.transitions):
        transition = term.transition
        applies = movable & term.condition.expr & (current != pl.lit(transition.to))
        if transition.from_ != "*":
            allowed = pl.Series(transition.from_, dtype=pl.String()).implode()
            applies = applies & current.is_in(allowed)
        new_stage = pl.when(applies).then(pl.lit(transition.to)).otherwise(new_stage)
        rule = pl.when(applies).then(pl.lit(term.label)).otherwise(rule)
    return frame.with_columns(new_stage.alias("stage"), rule.alias("stage_rule"))
