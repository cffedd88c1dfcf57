"""Score people and accounts: a pure function of (rules, data, as-of).

Everything here is vectorized polars: fit rules become one ``when/then``
column each, engagement events one filtered, decayed sum per person, grades
and bands a ``when`` chain. No row is visited in Python, so a million people
with twenty million touchpoints score in seconds, and the same inputs always
give the same outputs (backtests and what-if comparisons depend on it).

Engagement semantics, as admins read them in the rules file:

* a touchpoint earns ``points × 0.5^(age / half_life_days)`` for every event
  rule it matches (rules are independent: a pricing-page view can match both
  a generic ``page_view`` rule and a ``/pricing`` rule);
* touchpoints older than ``window_days`` or later than the as-of time count
  for nothing;
* ``cap`` bounds the decayed total one rule can give one person (for negative
  rules, the magnitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from abmsync.rules.accounts import roll_up_accounts, score_accounts
from abmsync.rules.compiled import CompiledRules, EventTerm
from abmsync.rules.explain import reasons_text
from abmsync.rules.fields import INHERITED_FROM_ACCOUNT, field_type
from abmsync.rules.lifecycle import next_stages
from abmsync.rules.model import FieldType
from abmsync.schema import TIMESTAMP, cast_column, conform

SECONDS_PER_DAY = 86400.0

_POLARS_TYPES: dict[FieldType, pl.DataType] = {
    "text": pl.String(),
    "number": pl.Float64(),
    "integer": pl.Int64(),
    "boolean": pl.Boolean(),
    "datetime": TIMESTAMP,
}

# Output columns of a scored people frame, in order (contribution columns follow).
SCORE_COLUMNS = [
    "person_id",
    "email",
    "account_id",
    "fit",
    "engagement",
    "total",
    "grade",
    "band",
    "priority",
    "account_tier",
    "buying_roles",
    "mqa",
    "stage",
    "stage_rule",
    "reasons",
]


@dataclass(frozen=True)
class ScoreResult:
    """Scored people and accounts, with the rules that produced them."""

    people: pl.DataFrame
    accounts: pl.DataFrame
    rules: CompiledRules
    warnings: list[str] = field(default_factory=list)

    @property
    def as_of(self) -> datetime:
        return self.rules.as_of

    def public_people(self) -> pl.DataFrame:
        """Scores with their reasons text, rules version and time, without internal columns.

        Reasons are built here rather than in :func:`score`: turning every
        contribution into text costs about as much as scoring itself, and a
        caller that only needs grades (a backtest week, a diff) skips it.
        """
        return self.people.with_columns(
            reasons_text(self.rules).alias("reasons"),
            pl.lit(self.rules.as_of, dtype=TIMESTAMP).alias("scored_at"),
            pl.lit(self.rules.version).alias("rules_version"),
        ).select([*SCORE_COLUMNS, "scored_at", "rules_version"])


def score(
    rules: CompiledRules,
    people: pl.DataFrame,
    touchpoints: pl.DataFrame | pl.LazyFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> ScoreResult:
    """Score ``people`` (with their ``touchpoints`` and ``accounts``) as of ``rules.as_of``."""
    warnings: list[str] = []
    people = _with_custom(conform(people, "people"), rules, "people", warnings)
    account_frame = score_accounts(rules, _prepare_accounts(accounts, rules, warnings))
    frame = _join_accounts(people, account_frame)
    frame = frame.with_columns(_fit_columns(rules)).with_columns(_fit_total(rules))
    frame = _join_engagement(frame, engagement_by_person(rules, touchpoints))
    frame = frame.with_columns(_grade(rules), _band(rules), *_role_flags(rules))
    frame = frame.with_columns(_roles(rules))
    frame = frame.with_columns(
        (pl.col("fit") + pl.col("engagement")).round(2).alias("total"),
        pl.concat_str([pl.col("grade"), pl.col("band").cast(pl.String)]).alias("priority"),
    )
    account_frame = roll_up_accounts(rules, frame, account_frame)
    frame = frame.join(
        account_frame.select(pl.col("id").alias("account_id"), "mqa"), on="account_id", how="left"
    ).with_columns(pl.col("mqa").fill_null(False))
    frame = next_stages(rules, frame).rename({"id": "person_id"})
    return ScoreResult(frame, account_frame, rules, warnings)


def engagement_by_person(
    rules: CompiledRules, touchpoints: pl.DataFrame | pl.LazyFrame | None
) -> pl.DataFrame:
    """Per person: each event rule's decayed, capped points, match count and newest age."""
    events = rules.events
    if touchpoints is None or not events:
        return pl.DataFrame(schema=_engagement_schema(rules))
    lazy = touchpoints.lazy() if isinstance(touchpoints, pl.DataFrame) else touchpoints
    lazy = _conform_touchpoints(lazy)
    engagement = rules.ruleset.engagement
    as_of = pl.lit(rules.as_of, dtype=TIMESTAMP)
    age = (as_of - pl.col("occurred_at")).dt.total_microseconds() / (SECONDS_PER_DAY * 1e6)
    in_window = lazy.with_columns(age.alias("age_days")).filter(
        pl.col("person_id").is_not_null()
        & (pl.col("age_days") >= 0)
        & (pl.col("age_days") < engagement.window_days)
    )
    if engagement.half_life_days is None:
        decay = pl.lit(1.0)
    else:
        decay = (pl.col("age_days") * (-math.log(2) / engagement.half_life_days)).exp()
    aggregations: list[pl.Expr] = []
    for term in events:
        aggregations += [
            _capped(term, decay.filter(term.mask).sum() * term.rule.points),
            term.mask.sum().cast(pl.Int64).alias(term.count_column),
            pl.col("age_days").filter(term.mask).min().alias(term.age_column),
        ]
    return in_window.group_by("person_id").agg(aggregations).collect()


def _engagement_schema(rules: CompiledRules) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {"person_id": pl.String()}
    for term in rules.events:
        schema[term.points_column] = pl.Float64()
        schema[term.count_column] = pl.Int64()
        schema[term.age_column] = pl.Float64()
    return schema


def _capped(term: EventTerm, points: pl.Expr) -> pl.Expr:
    cap = term.rule.cap
    if cap is not None:
        points = points.clip(-cap, cap)
    return points.alias(term.points_column)


def _conform_touchpoints(lazy: pl.LazyFrame) -> pl.LazyFrame:
    schema = lazy.collect_schema()
    casts = []
    for name in ("person_id", "type", "url", "campaign", "source_system", "account_id", "id"):
        if name not in schema:
            casts.append(pl.lit(None, dtype=pl.String()).alias(name))
    occurred = schema.get("occurred_at")
    if occurred == pl.String():
        casts.append(pl.col("occurred_at").str.to_datetime(time_zone="UTC", time_unit="us"))
    elif isinstance(occurred, pl.Datetime) and occurred.time_zone is None:
        casts.append(pl.col("occurred_at").dt.replace_time_zone("UTC").cast(TIMESTAMP))
    elif isinstance(occurred, pl.Datetime) and occurred != TIMESTAMP:
        casts.append(pl.col("occurred_at").dt.convert_time_zone("UTC").cast(TIMESTAMP))
    return lazy.with_columns(casts) if casts else lazy


def _with_custom(
    frame: pl.DataFrame, rules: CompiledRules, entity: str, warnings: list[str]
) -> pl.DataFrame:
    """Add declared custom fields the data lacks (as nulls, with a warning) and cast them."""
    additions: list[pl.Expr] = []
    for name, kind in rules.custom_fields.items():
        dtype = _POLARS_TYPES[kind]
        if name not in frame.columns:
            if entity == "people":
                warnings.append(
                    f"field '{name}' is declared in the rules but missing from the {entity} "
                    "data: rules on it never fire"
                )
            additions.append(pl.lit(None, dtype=dtype).alias(name))
        elif field_type(frame.schema[name]) != kind and not (
            kind in ("number", "integer")
            and field_type(frame.schema[name]) in ("number", "integer")
        ):
            additions.append(cast_column(frame.schema[name], name, dtype, strict=False))
    return frame.with_columns(additions) if additions else frame


def _prepare_accounts(
    accounts: pl.DataFrame | None, rules: CompiledRules, warnings: list[str]
) -> pl.DataFrame:
    if accounts is None:
        accounts = pl.DataFrame(schema={"id": pl.String()})
    return _with_custom(conform(accounts, "accounts"), rules, "accounts", warnings)


def _join_accounts(people: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """Bring account attributes onto each person; a person's own value wins."""
    inherited = accounts.select(
        pl.col("id").alias("account_id"),
        pl.col("industry").alias("__account_industry"),
        pl.col("employees").alias("__account_employees"),
        pl.col("annual_revenue").alias("__account_annual_revenue"),
        pl.col("name").alias("account_name"),
        pl.col("domain").alias("account_domain"),
        pl.col("country").alias("account_country"),
        pl.col("owner_id").alias("account_owner_id"),
        pl.col("tier").alias("account_tier"),
    )
    own = [
        c
        for c in (
            "account_name",
            "account_domain",
            "account_country",
            "account_owner_id",
            "account_tier",
        )
        if c in people.columns
    ]
    frame = people.drop(own).join(inherited, on="account_id", how="left")
    merged = []
    for name in ("industry", "employees", "annual_revenue"):
        dtype = _POLARS_TYPES[INHERITED_FROM_ACCOUNT[name]]
        account_value = pl.col(f"__account_{name}").cast(dtype)
        if name in frame.columns:
            merged.append(
                pl.coalesce(pl.col(name).cast(dtype, strict=False), account_value).alias(name)
            )
        else:
            merged.append(account_value.alias(name))
    return (
        frame.with_columns(merged)
        .drop([f"__account_{n}" for n in ("industry", "employees", "annual_revenue")])
        .with_columns(pl.col("account_tier").fill_null("none"))
    )


def _fit_columns(rules: CompiledRules) -> list[pl.Expr]:
    return [
        pl.when(term.condition.expr)
        .then(pl.lit(term.rule.points))
        .otherwise(pl.lit(0.0))
        .alias(term.column)
        for term in rules.fit
    ]


def _fit_total(rules: CompiledRules) -> pl.Expr:
    if not rules.fit:
        return pl.lit(0.0).alias("fit")
    return pl.sum_horizontal([term.column for term in rules.fit]).alias("fit")


def _join_engagement(frame: pl.DataFrame, engagement: pl.DataFrame) -> pl.DataFrame:
    frame = frame.join(engagement, left_on="id", right_on="person_id", how="left")
    points = [c for c in engagement.columns if c.startswith("__evt_")]
    counts = [c for c in engagement.columns if c.startswith("__evtn_")]
    frame = frame.with_columns(pl.col(points).fill_null(0.0), pl.col(counts).fill_null(0))
    total = pl.sum_horizontal(points).round(2) if points else pl.lit(0.0)
    return frame.with_columns(total.alias("engagement"))


def _grade(rules: CompiledRules) -> pl.Expr:
    grades = rules.ruleset.grades
    if not grades:
        return pl.lit(rules.ruleset.lowest_grade).alias("grade")
    items = list(grades.items())
    chain: Any = pl.when(pl.col("fit") >= items[0][1]).then(pl.lit(items[0][0]))
    for name, threshold in items[1:]:
        chain = chain.when(pl.col("fit") >= threshold).then(pl.lit(name))
    grade: pl.Expr = chain.otherwise(pl.lit(rules.ruleset.lowest_grade))
    return grade.alias("grade")


def _band(rules: CompiledRules) -> pl.Expr:
    bands = sorted(rules.ruleset.bands.items())
    if not bands:
        return pl.lit(rules.ruleset.lowest_band).alias("band")
    chain: Any = pl.when(pl.col("engagement") >= bands[0][1]).then(pl.lit(bands[0][0]))
    for number, threshold in bands[1:]:
        chain = chain.when(pl.col("engagement") >= threshold).then(pl.lit(number))
    band: pl.Expr = chain.otherwise(pl.lit(rules.ruleset.lowest_band))
    return band.cast(pl.Int64).alias("band")


def role_column(role: str) -> str:
    """The internal boolean column saying whether a person holds ``role``."""
    return f"__role_{role}"


def _role_flags(rules: CompiledRules) -> list[pl.Expr]:
    return [condition.expr.alias(role_column(role.value)) for role, condition in rules.roles]


def _roles(rules: CompiledRules) -> pl.Expr:
    """The roles a person holds, as a list (built via text: far cheaper than concat_list)."""
    empty = pl.lit([], dtype=pl.List(pl.String()))
    if not rules.roles:
        return empty.alias("buying_roles")
    held = [pl.when(pl.col(role_column(role.value))).then(pl.lit(role.value))
            for role, _ in rules.roles]
    joined = pl.concat_str(held, separator=",", ignore_nulls=True)
    return pl.when(joined == "").then(empty).otherwise(joined.str.split(",")).alias("buying_roles")
