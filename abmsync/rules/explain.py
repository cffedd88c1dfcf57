"""Why a person has their score: the rules that fired and what each gave.

Scoring keeps one contribution column per rule; this module turns them into
the readable reasons text written to the CRM ("+15 target industry; +20 form
fill (2026-11-28)") and into :class:`abmsync.schema.Reason` rows for
``abmsync score --explain``.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from abmsync.rules.compiled import CompiledRules, EventTerm
from abmsync.schema import Reason

NO_REASONS = "no scoring rule applies"


def _points(column: pl.Expr, digits: int) -> pl.Expr:
    """Signed points as text, to ``digits`` decimals, without a trailing ``.0``."""
    rounded = column.round(digits)
    text = rounded.abs().cast(pl.String)
    digits_text = text.str.strip_suffix(".0") if digits <= 1 else text
    return pl.when(rounded > 0).then(pl.lit("+") + digits_text).otherwise(pl.lit("−") + digits_text)


def _fixed_points(points: float) -> str:
    """A fit rule's constant points as text (``+15``, ``−30``, ``+2.5``)."""
    rounded = round(points, 2)
    digits = f"{abs(rounded):g}"
    return f"+{digits}" if rounded > 0 else f"−{digits}"


def _age(column: pl.Expr) -> pl.Expr:
    days = column.floor().cast(pl.Int64)
    return (
        pl.when(days <= 0)
        .then(pl.lit("today"))
        .when(days == 1)
        .then(pl.lit("1 day ago"))
        .otherwise(days.cast(pl.String) + pl.lit(" days ago"))
    )


def _date(column: pl.Expr, as_of: datetime) -> pl.Expr:
    """The calendar day (UTC) of the touchpoint ``column`` days before ``as_of``."""
    at = pl.lit(as_of) - pl.duration(microseconds=(column * 86_400_000_000).round(0).cast(pl.Int64))
    return at.dt.date().cast(pl.String)


def _base_points(event: EventTerm, count: pl.Expr) -> pl.Expr:
    """An event rule's points before decay: points × matches, within its cap."""
    rule = event.rule
    undecayed = count.cast(pl.Float64) * rule.points
    if rule.cap is None:
        return undecayed
    return undecayed.clip(-rule.cap, rule.cap)


def _when(column: pl.Expr, rules: CompiledRules) -> pl.Expr | None:
    match rules.ruleset.writeback.reasons_format.when:
        case "date":
            return pl.lit(" (") + _date(column, rules.as_of) + pl.lit(")")
        case "age":
            return pl.lit(" (") + _age(column) + pl.lit(")")
        case _:
            return None


def reasons_text(rules: CompiledRules) -> pl.Expr:
    """A readable, rule-ordered reasons text built from the contribution columns.

    Its format is the rules' ``writeback.reasons_format``: by default decayed
    points are rounded like the score and touchpoints are dated, so the text
    of someone whose score did not change does not change either.
    """
    digits = rules.ruleset.writeback.reasons_digits
    parts: list[pl.Expr] = []
    for fit in rules.fit:
        # A fit rule gives its points or nothing, so its reason is a constant.
        text = f"{_fixed_points(fit.rule.points)} {fit.rule.name}"
        parts.append(pl.when(pl.col(fit.column) != 0).then(pl.lit(text)))
    base = rules.ruleset.writeback.reasons_format.points == "base"
    for event in rules.events:
        points, count = pl.col(event.points_column), pl.col(event.count_column)
        if base:
            points = _base_points(event, count)
        times = pl.when(count > 1).then(pl.lit(" ×") + count.cast(pl.String)).otherwise(pl.lit(""))
        described = _points(points, digits) + pl.lit(f" {event.rule.label}") + times
        when = _when(pl.col(event.age_column), rules)
        if when is not None:
            described = described + when
        parts.append(pl.when(points.round(digits) != 0).then(described))
    if not parts:
        return pl.lit(NO_REASONS)
    joined = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    # Said in words: an empty text would read as "never scored" in the CRM
    # (which stores it as no value), and would leave an old text standing.
    return pl.when(joined == "").then(pl.lit(NO_REASONS)).otherwise(joined)


def reasons_of(rules: CompiledRules, row: dict[str, object]) -> list[Reason]:
    """The rules that fired for one scored person (a row of ``ScoreResult.people``)."""
    reasons: list[Reason] = []
    for fit in rules.fit:
        value = row.get(fit.column)
        if isinstance(value, int | float) and value != 0:
            reasons.append(Reason(rule=fit.rule.name, kind="fit", points=float(value)))
    for event in rules.events:
        points, count = row.get(event.points_column), row.get(event.count_column)
        age = row.get(event.age_column)
        if isinstance(count, int) and count > 0 and isinstance(points, int | float):
            reasons.append(
                Reason(
                    rule=event.rule.label,
                    kind="engagement",
                    points=round(float(points), 2),
                    count=count,
                    age_days=round(float(age), 2) if isinstance(age, int | float) else None,
                )
            )
    return reasons
