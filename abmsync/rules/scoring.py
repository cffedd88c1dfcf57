"""Score people and accounts: a pure function of (rules, data, as-of).

Everything here is vectorized polars: fit rules become one ``when/then``
column each, engagement events one filtered, decayed sum per person, grades
and bands a ``when`` chain. No row is visited in Python, so a million people
with twenty million touchpoints score in seconds, and the same inputs always
give the same outputs (backtests and what-if comparisons depend on it).

Everything thresholded (grades on fit, bands on engagement, lifecycle
conditions, the MQA roll-up) sees the exact values: 4.996 points of
engagement are below a band at 5. Only what is shown or written is rounded
(:meth:`ScoreResult.public_people`, the write-back's ``score_digits``).

Engagement semantics are described in :mod:`abmsync.rules.engagement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl

from abmsync.rules.accounts import roll_up_accounts, score_accounts
from abmsync.rules.compiled import CompiledRules
from abmsync.rules.engagement import engagement_details, engagement_points, in_window
from abmsync.rules.explain import reasons_text
from abmsync.rules.fields import INHERITED_FROM_ACCOUNT, field_type
from abmsync.rules.lifecycle import next_stages
from abmsync.rules.model import FieldType
from abmsync.schema import TIMESTAMP, cast_column, conform

SECONDS_PER_DAY = 86400.0
SCORE_DIGITS = 2  # decimals of engagement and total as shown and recorded
IN_MEMORY: Final = "in-memory"  # polars engine for the person-level steps
PUBLIC_ENGINE: Final = "streaming"  # for the reasons text: lighter on memory in batches

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
    window: pl.LazyFrame | None = None  # touchpoints in the window, for explanations

    @property
    def as_of(self) -> datetime:
        return self.rules.as_of

    def explained(self, person_ids: Sequence[str] | None = None) -> pl.DataFrame:
        """People (all, or ``person_ids``) with per-rule match counts and newest ages.

        Explanations are built on demand rather than in :func:`score`: they
        cost about as much as scoring itself, and most callers (a backtest
        week, a no-change sync) need them for few people or none.
        """
        return self._explained(person_ids).collect(engine=PUBLIC_ENGINE)

    def public_people(
        self, person_ids: Sequence[str] | None = None, *, digits: int | None = SCORE_DIGITS
    ) -> pl.DataFrame:
        """Scores with their reasons text, rules version and time, without internal columns.

        ``engagement`` and ``total`` are rounded to ``digits`` decimals (None:
        exact, for a caller that rounds once itself, as the write-back does).
        """
        rounded = (
            [pl.col("engagement").round(digits), pl.col("total").round(digits)]
            if digits is not None
            else []
        )
        # Lazy, so only the columns the reasons and the output need are joined.
        return (
            self._explained(person_ids)
            .with_columns(
                *rounded,
                reasons_text(self.rules).alias("reasons"),
                pl.lit(self.rules.as_of, dtype=TIMESTAMP).alias("scored_at"),
                pl.lit(self.rules.version).alias("rules_version"),
            )
            .select([*SCORE_COLUMNS, "scored_at", "rules_version"])
            .collect(engine=PUBLIC_ENGINE)
        )

    def _explained(self, person_ids: Sequence[str] | None) -> pl.LazyFrame:
        people = self.people.lazy()
        if person_ids is not None:
            people = people.filter(pl.col("person_id").is_in(pl.Series(person_ids).implode()))
        details = engagement_details(self.rules, self.window, person_ids)
        counts = [term.count_column for term in self.rules.events]
        return people.join(details, on="person_id", how="left", maintain_order="left").with_columns(
            pl.col(counts).fill_null(0)
        )


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
    # The touchpoints are aggregated by the streaming engine (in batches, never
    # all in memory at once); the person-level steps run in memory, where
    # polars keeps the row order without cost and fuses the column steps.
    window = in_window(rules, touchpoints)
    frame = _join_accounts(people.lazy(), account_frame.lazy())
    frame = frame.with_columns(_fit_columns(rules)).with_columns(_fit_total(rules))
    frame = _join_engagement(frame, engagement_points(rules, window).lazy(), rules)
    frame = frame.with_columns(_grade(rules), _band(rules), *_role_flags(rules))
    frame = frame.with_columns(
        _roles(rules),
        (pl.col("fit") + pl.col("engagement")).alias("total"),
    ).with_columns(
        pl.concat_str([pl.col("grade"), pl.col("band").cast(pl.String)]).alias("priority"),
    )
    # Collected before the roll-up so the account step and the lifecycle step
    # both read the scored people instead of each recomputing them.
    scored = frame.collect(engine=IN_MEMORY)
    account_frame = roll_up_accounts(rules, scored.lazy(), account_frame.lazy()).collect(
        engine=IN_MEMORY
    )
    frame = scored.lazy().join(
        account_frame.lazy().select(pl.col("id").alias("account_id"), "mqa"),
        on="account_id",
        how="left",
        maintain_order="left",
    )
    # The stage the source system reports, kept for placing people seen for the first time.
    frame = frame.with_columns(
        pl.col("mqa").fill_null(False), pl.col("stage").alias("source_stage")
    )
    frame = next_stages(rules, frame).rename({"id": "person_id"})
    return ScoreResult(frame.collect(engine=IN_MEMORY), account_frame, rules, warnings, window)


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


def _join_accounts(people: pl.LazyFrame, accounts: pl.LazyFrame) -> pl.LazyFrame:
    """Bring account attributes onto each person; a person's own value wins."""
    people_columns = people.collect_schema().names()
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
        if c in people_columns
    ]
    frame = people.drop(own).join(inherited, on="account_id", how="left", maintain_order="left")
    merged = []
    for name in ("industry", "employees", "annual_revenue"):
        dtype = _POLARS_TYPES[INHERITED_FROM_ACCOUNT[name]]
        account_value = pl.col(f"__account_{name}").cast(dtype)
        if name in people_columns:
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


def _join_engagement(
    frame: pl.LazyFrame, engagement: pl.LazyFrame, rules: CompiledRules
) -> pl.LazyFrame:
    points = [term.points_column for term in rules.events]
    frame = frame.join(
        engagement, left_on="id", right_on="person_id", how="left", maintain_order="left"
    )
    frame = frame.with_columns(pl.col(points).fill_null(0.0)) if points else frame
    total = pl.sum_horizontal(points) if points else pl.lit(0.0)
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
    """The roles a person holds, as a list in rules order.

    The role flags make a bit mask, which picks one of the few possible lists
    (2^roles): far cheaper than building a list per person.
    """
    names = [role.value for role, _ in rules.roles]
    combinations = pl.Series(
        [
            [name for bit, name in enumerate(names) if mask >> bit & 1]
            for mask in range(1 << len(names))
        ],
        dtype=pl.List(pl.String()),
    )
    if not names:
        return pl.lit(combinations).first().alias("buying_roles")
    mask = pl.sum_horizontal(
        [pl.col(role_column(name)).cast(pl.UInt32) * (1 << bit) for bit, name in enumerate(names)]
    )
    return pl.lit(combinations).gather(mask).alias("buying_roles")
