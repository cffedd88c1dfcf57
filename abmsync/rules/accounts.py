"""Account-based marketing: tiers, account fit, buying-centre roll-up and MQA.

Accounts are scored in two steps around person scoring: first what is known
of the account alone (tier, account fit), which people inherit; then, once
people are scored, the roll-up of their engagement and buying roles onto
their account (engaged people, engaged roles, coverage) and the
marketing-qualified-account condition over it. The condition sees the exact
roll-up; ``account_engagement`` and ``coverage`` are rounded only afterwards,
for display.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from abmsync.rules.compiled import CompiledRules


def score_accounts(rules: CompiledRules, accounts: pl.DataFrame) -> pl.DataFrame:
    """Add ``tier`` (first matching tier rule, else 'none') and ``account_fit``."""
    tier: pl.Expr = pl.lit("none")
    if rules.tiers:
        first_name, first = rules.tiers[0]
        chain: Any = pl.when(first.expr).then(pl.lit(first_name))
        for name, condition in rules.tiers[1:]:
            chain = chain.when(condition.expr).then(pl.lit(name))
        tier = chain.otherwise(pl.lit("none"))
    contributions = [
        pl.when(term.condition.expr)
        .then(pl.lit(term.rule.points))
        .otherwise(pl.lit(0.0))
        .alias(term.column)
        for term in rules.account_fit
    ]
    frame = accounts.with_columns([tier.alias("tier"), *contributions])
    fit = pl.sum_horizontal([t.column for t in rules.account_fit]) if contributions else pl.lit(0.0)
    return frame.with_columns(fit.alias("account_fit"))


def expected_roles(rules: CompiledRules) -> list[str]:
    """Roles a complete buying centre has, for coverage."""
    configured = rules.ruleset.accounts.expected_roles
    roles = configured if configured is not None else [role for role, _ in rules.roles]
    return [role.value for role in roles]


def roll_up_accounts(
    rules: CompiledRules, people: pl.LazyFrame, accounts: pl.LazyFrame
) -> pl.LazyFrame:
    """Roll scored people up onto their accounts and evaluate the MQA condition.

    ``engaged_roles`` counts the expected roles held by at least one engaged
    person; ``coverage`` is that count over the number of expected roles.
    """
    engaged = pl.col("engagement") >= rules.ruleset.engaged_min
    roles = expected_roles(rules)
    held = set(people.collect_schema().names())
    per_role = [
        (engaged & pl.col(f"__role_{role}")).any().alias(f"__engaged_{role}")
        if f"__role_{role}" in held
        else pl.lit(False).alias(f"__engaged_{role}")
        for role in roles
    ]
    rollup = (
        people.filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(
            pl.len().cast(pl.Int64).alias("people"),
            pl.col("engagement").sum().alias("account_engagement"),
            engaged.sum().cast(pl.Int64).alias("engaged_people"),
            *per_role,
        )
    )
    role_columns = [f"__engaged_{role}" for role in roles]
    engaged_roles = (
        pl.sum_horizontal([pl.col(c).cast(pl.Int64) for c in role_columns])
        if role_columns
        else pl.lit(0, dtype=pl.Int64)
    )
    rollup = rollup.with_columns(engaged_roles.alias("engaged_roles")).drop(role_columns)
    frame = accounts.join(
        rollup, left_on="id", right_on="account_id", how="left", maintain_order="left"
    ).with_columns(
        pl.col("people").fill_null(0),
        pl.col("account_engagement").fill_null(0.0),
        pl.col("engaged_people").fill_null(0),
        pl.col("engaged_roles").fill_null(0),
    )
    coverage = pl.col("engaged_roles") / len(roles) if roles else pl.lit(0.0)
    frame = frame.with_columns(coverage.alias("coverage"))
    mqa = rules.mqa.expr if rules.mqa is not None else pl.lit(False)
    return frame.with_columns(mqa.alias("mqa")).with_columns(
        pl.col("account_engagement").round(2), pl.col("coverage").round(4)
    )
