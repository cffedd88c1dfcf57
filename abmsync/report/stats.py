"""Small shared helpers of the report's sections: weeks, quantiles, rounding, stages."""

from __future__ import annotations

from datetime import date

import polars as pl

from abmsync.report.model import WeeklyCount
from abmsync.rules.model import RuleSet

DAY_SECONDS = 86_400.0
MQL = "mql"


def week_of(column: str) -> pl.Expr:
    """The Monday (a date) of the week ``column`` falls in."""
    return pl.col(column).dt.truncate("1w").dt.date()


def quantile(values: pl.Series, q: float, digits: int = 1) -> float | None:
    """The ``q`` quantile (linear interpolation) rounded, ``None`` for no values."""
    values = values.drop_nulls()
    if values.is_empty():
        return None
    result = values.quantile(q, interpolation="linear")
    return None if result is None else round(float(result), digits)


def ratio(part: float, whole: float, digits: int = 4) -> float | None:
    """``part / whole`` rounded, ``None`` when ``whole`` is zero."""
    return round(part / whole, digits) if whole else None


def days_between(start: str, end: str) -> pl.Expr:
    """Days from column ``start`` to column ``end`` as a float."""
    return (pl.col(end) - pl.col(start)).dt.total_seconds() / DAY_SECONDS


def weekly_counts(frame: pl.DataFrame, time_column: str, key_column: str) -> list[WeeklyCount]:
    """Rows per (week, key), oldest week first."""
    if frame.is_empty():
        return []
    counted = (
        frame.with_columns(week_of(time_column).alias("__week"))
        .group_by("__week", key_column)
        .len()
        .sort("__week", key_column)
    )
    return [
        WeeklyCount(week=week, key=str(key), count=int(count))
        for week, key, count in counted.iter_rows()
    ]


def stage_lists(ruleset: RuleSet, seen: list[str]) -> tuple[list[str], list[str]]:
    """The main path and the side stages of the lifecycle.

    The main path runs from the first stage up to the first terminal stage
    (``customer``); stages listed after it (``recycled``, ``disqualified``) are
    side stages. Without a lifecycle, the stages seen in the ledger, in order.
    """
    lifecycle = ruleset.lifecycle
    if lifecycle is None:
        return list(dict.fromkeys(seen)), []
    stages = list(lifecycle.stages)
    ends = [stages.index(t) for t in lifecycle.terminal if t in stages]
    last = min(ends) if ends else len(stages) - 1
    return stages[: last + 1], stages[last + 1 :]


def entry_stage(ruleset: RuleSet, main: list[str]) -> str:
    """The stage where people are handed to sales (routing's ``on_enter``, else ``mql``)."""
    if ruleset.routing is not None and ruleset.routing.entry_stages:
        return ruleset.routing.entry_stages[0]
    return MQL if MQL in main else main[min(2, len(main) - 1)]


def first_day(values: list[date]) -> date | None:
    """The earliest date, ``None`` for none."""
    return min(values) if values else None
