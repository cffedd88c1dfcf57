"""Why a person has their score: the rules that fired and what each gave.

Scoring keeps one contribution column per rule; this module turns them into
the readable reasons text written to the CRM ("+15 target industry; +20 form
fill (2 days ago)") and into :class:`abmsync.schema.Reason` rows for
``abmsync score --explain``.
"""

from __future__ import annotations

import polars as pl

from abmsync.rules.compiled import CompiledRules
from abmsync.schema import Reason


def _points(column: pl.Expr) -> pl.Expr:
    """Signed points as text: whole numbers without decimals, others to one decimal."""
    rounded = column.round(1)
    digits = rounded.abs().cast(pl.String).str.strip_suffix(".0")
    return pl.when(rounded > 0).then(pl.lit("+") + digits).otherwise(pl.lit("−") + digits)


def _fixed_points(points: float) -> str:
    """The same text as :func:`_points` for a constant."""
    rounded = round(points, 1)
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


def reasons_text(rules: CompiledRules) -> pl.Expr:
    """A readable, rule-ordered reasons text built from the contribution columns."""
    parts: list[pl.Expr] = []
    for fit in rules.fit:
        # A fit rule gives its points or nothing, so its reason is a constant.
        text = f"{_fixed_points(fit.rule.points)} {fit.rule.name}"
        parts.append(pl.when(pl.col(fit.column) != 0).then(pl.lit(text)))
    for event in rules.events:
        points, count = pl.col(event.points_column), pl.col(event.count_column)
        times = pl.when(count > 1).then(pl.lit(" ×") + count.cast(pl.String)).otherwise(pl.lit(""))
        described = (
            _points(points)
            + pl.lit(f" {event.rule.label}")
            + times
            + pl.lit(" (")
            + _age(pl.col(event.age_column))
            + pl.lit(")")
        )
        parts.append(pl.when(points.round(1) != 0).then(described))
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)


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
