"""Account-based marketing: tiers, MQAs, engagement trend, buying centre, penetration, red flags.

Accounts are companies, scored and rolled up as a sync run would at the
period's end (tier, engaged people and roles, coverage, MQA): the account
briefs of :attr:`ReportInputs.companies`, so a Salesforce account and a
HubSpot company of one web domain are one account here, as in ``abmsync
accounts`` and on the CRM's account records. People and touchpoints count
for their company. Trends count touchpoints per
week over the last ``TREND_WEEKS`` weeks (sends, bounces and unsubscribes are
not engagement). Key accounts are those in the top two tiers and every MQA.
Red flags on a key account:

- *engagement falling*: its last four weeks have fewer than half the
  touchpoints of the four before (which had at least ``MIN_ACTIVITY``);
- *lost contacts*: people who unsubscribed or whose email bounced lately.

Tier suggestions: an MQA below the top tier may move up one tier; a top-two-tier
account that is no MQA and whose engagement is falling may move down one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from abmsync.accounts.brief import engaging, on_companies
from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Abm, KeyAccount, RoleCoverage, TierCount, TierSuggestion
from abmsync.report.stats import ratio, week_of, weekly_counts

TREND_WEEKS = 12
RECENT_WEEKS = 4
MIN_ACTIVITY = 4
KEY_ACCOUNTS = 25
NO_ROLE = "(no role)"


def build_abm(inputs: ReportInputs) -> Abm:
    """The ABM section of the report."""
    ruleset = inputs.rules.ruleset
    tiers: list[str] = [str(t.tier) for t in ruleset.accounts.tiers] if ruleset.accounts else []
    roles = _expected_roles(inputs)
    accounts = inputs.companies.rename({"account_id": "id"})
    people = on_companies(inputs.people, inputs.links)
    touchpoints = on_companies(inputs.touchpoints, inputs.links)
    engaged = engaging(touchpoints, inputs.period.end)
    weeks = _weeks(inputs.period.end.date())
    trend = _trend(engaged, weeks)
    first_touch = _first_touches(engaged, people)
    key_tiers = tiers[:2]
    key = accounts.filter(pl.col("tier").is_in(key_tiers) | pl.col("mqa")).with_columns(
        pl.col("tier").replace_strict({t: i for i, t in enumerate(tiers)}, default=99).alias("__r")
    )
    recent_start = weeks[-RECENT_WEEKS]
    lost = _lost_contacts(touchpoints, weeks[0], inputs.period.end)
    rows = []
    for row in key.sort(["__r", "account_engagement"], descending=[False, True]).iter_rows(
        named=True
    ):
        series = trend.get(row["id"], [0] * len(weeks))
        flags = _flags(series, lost.get(row["id"], 0))
        new_recent = first_touch.filter(
            (pl.col("account_id") == row["id"]) & (pl.col("__week") >= recent_start)
        ).height
        rows.append(
            KeyAccount(
                id=row["id"],
                name=row["name"],
                tier=row["tier"],
                mqa=bool(row["mqa"]),
                people=int(row["people"]),
                engaged_people=int(row["engaged_people"]),
                account_engagement=round(float(row["account_engagement"]), 1),
                engaged_roles=int(row["engaged_roles"]),
                coverage=round(float(row["coverage"]), 4),
                trend=series,
                new_people_recent=new_recent,
                flags=flags,
            )
        )
    return Abm(
        expected_roles=roles,
        trend_weeks=weeks,
        tiers=_tiers(accounts, tiers),
        mqas=int(accounts["mqa"].sum()),
        key_accounts=rows[:KEY_ACCOUNTS],
        coverage_by_role=_coverage(people, roles, inputs.rules.ruleset.engaged_min),
        penetration=weekly_counts(
            _by_role(first_touch.filter(pl.col("__week") >= weeks[0]), roles), "__first", "role"
        ),
        red_flags=sum(1 for r in rows if r.flags),
        tier_suggestions=_suggestions(rows, tiers),
    )


def _expected_roles(inputs: ReportInputs) -> list[str]:
    configured = (
        inputs.rules.ruleset.accounts.expected_roles if inputs.rules.ruleset.accounts else None
    )
    if configured is not None:
        return [str(r.value) for r in configured]
    return [c.removeprefix("__role_") for c in inputs.people.columns if c.startswith("__role_")]


def _weeks(end: date) -> list[date]:
    last = end - timedelta(days=end.weekday())
    return [last - timedelta(weeks=TREND_WEEKS - 1 - i) for i in range(TREND_WEEKS)]


def _trend(engaged: pl.DataFrame, weeks: list[date]) -> dict[str, list[int]]:
    """Per account, its engaging touchpoints per week of ``weeks``."""
    counts = (
        engaged.drop_nulls("account_id")
        .with_columns(week_of("occurred_at").alias("__week"))
        .filter(pl.col("__week") >= weeks[0])
        .group_by("account_id", "__week")
        .len()
    )
    index = {week: i for i, week in enumerate(weeks)}
    trend: dict[str, list[int]] = {}
    for account, week, n in counts.iter_rows():
        trend.setdefault(account, [0] * len(weeks))[index[week]] = int(n)
    return trend


def _first_touches(engaged: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """Each person's first engaging touchpoint (when they joined the relationship), with roles."""
    roles = [c for c in people.columns if c.startswith("__role_")]
    return (
        engaged.group_by("person_id")
        .agg(
            pl.col("occurred_at").min().alias("__first"), pl.col("account_id").drop_nulls().first()
        )
        .with_columns(week_of("__first").alias("__week"))
        .join(people.select("person_id", *roles), on="person_id", how="left")
    )


def _by_role(first: pl.DataFrame, roles: list[str]) -> pl.DataFrame:
    """One row per (person, role they hold); people without a role under ``NO_ROLE``."""
    held = [f"__role_{r}" for r in roles if f"__role_{r}" in first.columns]
    return (
        first.select(
            "__first",
            pl.concat_list(
                [pl.when(pl.col(c)).then(pl.lit(c.removeprefix("__role_"))) for c in held]
            )
            .list.drop_nulls()
            .alias("role")
            if held
            else pl.lit([], dtype=pl.List(pl.String)).alias("role"),
        )
        .with_columns(
            pl.when(pl.col("role").list.len() == 0).then(pl.lit([NO_ROLE])).otherwise("role")
        )
        .explode("role")
    )


def _lost_contacts(touchpoints: pl.DataFrame, since: date, end: datetime) -> dict[str, int]:
    """Per account, the people who unsubscribed or bounced from ``since`` to ``end``."""
    bounced = touchpoints.filter(
        pl.col("type").is_in(["email_bounce", "unsubscribe"])
        & (pl.col("occurred_at").dt.date() >= since)
        & (pl.col("occurred_at") <= end)
    )
    lost = (
        bounced.drop_nulls("account_id").group_by("account_id").agg(pl.col("person_id").n_unique())
    )
    return {str(a): int(n) for a, n in lost.iter_rows()}


def _flags(series: list[int], lost: int) -> list[str]:
    flags = []
    recent, before = sum(series[-RECENT_WEEKS:]), sum(series[-2 * RECENT_WEEKS : -RECENT_WEEKS])
    if before >= MIN_ACTIVITY and recent < before / 2:
        flags.append(f"engagement falling ({before} → {recent} touchpoints in 4 weeks)")
    if lost:
        flags.append(f"lost contacts ({lost} unsubscribed or bounced)")
    return flags


def _tiers(accounts: pl.DataFrame, tiers: list[str]) -> list[TierCount]:
    names = list(dict.fromkeys([*tiers, *sorted(accounts["tier"].unique().to_list())]))
    result = []
    for tier in names:
        mine = accounts.filter(pl.col("tier") == tier)
        if mine.is_empty() and tier not in tiers:
            continue
        result.append(
            TierCount(
                tier=tier,
                accounts=mine.height,
                mqas=int(mine["mqa"].sum()),
                engaged=mine.filter(pl.col("engaged_people") > 0).height,
            )
        )
    return result


def _coverage(people: pl.DataFrame, roles: list[str], engaged_min: float) -> list[RoleCoverage]:
    """Per role, the accounts where an engaged person holds it."""
    engaged = people.filter(
        (pl.col("engagement") >= engaged_min) & pl.col("account_id").is_not_null()
    )
    with_anyone = engaged["account_id"].n_unique()
    result = []
    for role in roles:
        column = f"__role_{role}"
        covered = (
            engaged.filter(pl.col(column))["account_id"].n_unique()
            if column in engaged.columns
            else 0
        )
        result.append(RoleCoverage(role=role, accounts=covered, share=ratio(covered, with_anyone)))
    return result


def _suggestions(rows: list[KeyAccount], tiers: list[str]) -> list[TierSuggestion]:
    suggestions = []
    for row in rows:
        if row.tier not in tiers:
            continue
        rank = tiers.index(row.tier)
        falling = any(f.startswith("engagement falling") for f in row.flags)
        if row.mqa and rank > 0:
            reason = f"MQA: {row.engaged_roles} engaged roles, engagement {row.account_engagement}"
            suggestions.append(_suggest(row, tiers[rank - 1], reason))
        elif not row.mqa and falling and rank + 1 < len(tiers):
            suggestions.append(_suggest(row, tiers[rank + 1], "no MQA and engagement falling"))
    return suggestions


def _suggest(row: KeyAccount, tier: str, reason: str) -> TierSuggestion:
    return TierSuggestion(id=row.id, name=row.name, tier=row.tier, suggested=tier, reason=reason)
