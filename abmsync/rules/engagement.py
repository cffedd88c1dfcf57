"""Engagement: touchpoints in the window, decayed by age, summed per person and rule.

Semantics, as admins read them in the rules file:

* a touchpoint earns ``points × 0.5^(age / half_life_days)`` for every event
  rule it matches (rules are independent: a pricing-page view can match both
  a generic ``page_view`` rule and a ``/pricing`` rule);
* touchpoints older than ``window_days`` or later than the as-of time count
  for nothing (one exactly ``window_days`` old still counts);
* ``cap`` bounds the decayed total one rule can give one person (for negative
  rules, the magnitude).

Points are one aggregation over all touchpoints. The details that only
explanations need (how many touchpoints matched, how old the newest is) are
a second aggregation, run on demand and only for the people being explained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from abmsync.rules.compiled import CompiledRules, EventTerm
from abmsync.schema import TIMESTAMP

MICROSECONDS_PER_DAY = 86_400e6
TOUCHPOINT_TEXT = ("person_id", "type", "url", "campaign", "source_system", "account_id", "id")


def in_window(
    rules: CompiledRules, touchpoints: pl.DataFrame | pl.LazyFrame | None
) -> pl.LazyFrame | None:
    """Touchpoints inside the engagement window, with ``age_days`` and ``decay`` columns."""
    if touchpoints is None or not rules.events:
        return None
    lazy = _conform(touchpoints.lazy())
    engagement = rules.ruleset.engagement
    as_of = pl.lit(rules.as_of, dtype=TIMESTAMP)
    age = (as_of - pl.col("occurred_at")).dt.total_microseconds() / MICROSECONDS_PER_DAY
    if engagement.half_life_days is None:
        decay = pl.lit(1.0)
    else:
        decay = (pl.col("age_days") * (-math.log(2) / engagement.half_life_days)).exp()
    return (
        lazy.with_columns(age.alias("age_days"))
        .filter(
            pl.col("person_id").is_not_null()
            & (pl.col("age_days") >= 0)
            & (pl.col("age_days") <= engagement.window_days)
        )
        .with_columns(decay.alias("decay"))
    )


def engagement_points(rules: CompiledRules, window: pl.LazyFrame | None) -> pl.DataFrame:
    """Per person, each event rule's decayed and capped points."""
    if window is None:
        return pl.DataFrame(schema=points_schema(rules))
    aggregations = [
        _capped(term, pl.col("decay").filter(term.mask).sum() * term.rule.points)
        for term in rules.events
    ]
    return window.group_by("person_id").agg(aggregations).collect()


def engagement_details(
    rules: CompiledRules, window: pl.LazyFrame | None, person_ids: Sequence[str] | None = None
) -> pl.LazyFrame:
    """Per person and event rule: touchpoints matched and the age of the newest match
    (a lazy plan, for the caller to join and collect in one go)."""
    schema: dict[str, pl.DataType] = {"person_id": pl.String()}
    for term in rules.events:
        schema[term.count_column] = pl.Int64()
        schema[term.age_column] = pl.Float64()
    if window is None:
        return pl.LazyFrame(schema=schema)
    if person_ids is not None:
        window = window.filter(pl.col("person_id").is_in(pl.Series(person_ids).implode()))
    aggregations: list[pl.Expr] = []
    for term in rules.events:
        aggregations += [
            term.mask.sum().cast(pl.Int64).alias(term.count_column),
            pl.col("age_days").filter(term.mask).min().alias(term.age_column),
        ]
    return window.group_by("person_id").agg(aggregations)


def points_schema(rules: CompiledRules) -> dict[str, pl.DataType]:
    """Columns of :func:`engagement_points`."""
    schema: dict[str, pl.DataType] = {"person_id": pl.String()}
    for term in rules.events:
        schema[term.points_column] = pl.Float64()
    return schema


def _capped(term: EventTerm, points: pl.Expr) -> pl.Expr:
    cap = term.rule.cap
    if cap is not None:
        points = points.clip(-cap, cap)
    return points.alias(term.points_column)


def _conform(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """Add missing text columns as nulls and read ``occurred_at`` as UTC."""
    schema = lazy.collect_schema()
    casts = [pl.lit(None, dtype=pl.String()).alias(n) for n in TOUCHPOINT_TEXT if n not in schema]
    occurred = schema.get("occurred_at")
    if occurred == pl.String():
        casts.append(pl.col("occurred_at").str.to_datetime(time_zone="UTC", time_unit="us"))
    elif isinstance(occurred, pl.Datetime) and occurred.time_zone is None:
        casts.append(pl.col("occurred_at").dt.replace_time_zone("UTC").cast(TIMESTAMP))
    elif isinstance(occurred, pl.Datetime) and occurred != TIMESTAMP:
        casts.append(pl.col("occurred_at").dt.convert_time_zone("UTC").cast(TIMESTAMP))
    return lazy.with_columns(casts) if casts else lazy
