"""Closed-loop reporting: marketing-sourced and -influenced pipeline and revenue, attributed.

Opportunities created in the period count as pipeline (their amount) and,
when won, as revenue. An opportunity is *marketing-sourced* when the CRM
names the campaign that sourced it (Salesforce's primary campaign source), and
*marketing-influenced* when its people had marketing touchpoints
(``MARKETING_TYPES``) in the ``LOOKBACK_DAYS`` before it was created. Its
people are those it names in contact roles (Salesforce OpportunityContactRole,
the people Campaign Influence credits); an opportunity without contact roles
falls back to the people of its account (``RULE_ROLES`` / ``RULE_ACCOUNT``).
Those touchpoints share its amount by the chosen model
(:mod:`abmsync.report.attribution`). Campaigns are shown by name where the
source maps one (``campaign_name``), else by the id it holds.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from abmsync.report.attribution import DESCRIPTIONS, Model, weights
from abmsync.report.inputs import ReportInputs
from abmsync.report.model import ClosedLoop, Credit, CreditedTouch, ModelTotals

LOOKBACK_DAYS = 365
MARKETING_TYPES = (
    "form_submit",
    "webinar",
    "download",
    "event",
    "email_click",
    "campaign_response",
    "subscribe",
)
LEAD_CREATION = "form_submit"
NO_CAMPAIGN = "(no campaign)"
TOUCH_ROWS = 200
RULE_ROLES = "contact roles"
RULE_ACCOUNT = "account"


def build_closed_loop(inputs: ReportInputs, model: Model) -> ClosedLoop:
    """The closed-loop section of the report, with credit given by ``model``."""
    opportunities = inputs.opportunities.filter(
        pl.col("created_at").is_not_null() & inputs.period.contains("created_at")
    ).with_columns(pl.col("amount").fill_null(0.0))
    with_roles = opportunities.filter(
        pl.col("id").is_in(inputs.opportunity_roles["opportunity_id"].implode())
    )
    pairs = _pairs(inputs, opportunities)
    credited = {m: _credit(pairs, m) for m in Model}
    chosen = credited[model]
    by_account = opportunities.height - with_roles.height
    notes = [
        f"Touchpoints credited: {', '.join(MARKETING_TYPES)} in the {LOOKBACK_DAYS} days before "
        f"the opportunity was created, by the people it names in contact roles "
        f"({with_roles.height} opportunities) or, where it names none, by the people of its "
        f"account ({by_account} opportunities).",
    ]
    unlinked = opportunities.filter(
        pl.col("account_id").is_null() & ~pl.col("id").is_in(with_roles["id"].implode())
    ).height
    if unlinked:
        notes.append(
            f"{unlinked} opportunities have neither contact roles nor an account: "
            "no touchpoint can be credited to them."
        )
    if opportunities.is_empty():
        notes.append("Not available: no opportunities are in the state database for this period.")
    won = opportunities.filter(pl.col("is_won"))
    sourced = opportunities.filter(pl.col("campaign").is_not_null()).with_columns(
        _campaign_label(opportunities).alias("campaign"),
        pl.when(pl.col("is_won")).then(pl.col("amount")).otherwise(0.0).alias("revenue"),
        pl.col("amount").alias("pipeline"),
    )
    influenced = opportunities.filter(pl.col("id").is_in(chosen["opportunity"].unique().implode()))
    return ClosedLoop(
        model=model.value,
        model_description=DESCRIPTIONS[model],
        opportunities=opportunities.height,
        pipeline=_sum(opportunities),
        won=won.height,
        revenue=_sum(won),
        sourced_opportunities=sourced.height,
        sourced_pipeline=_sum(sourced),
        sourced_revenue=_sum(sourced.filter(pl.col("is_won"))),
        influenced_opportunities=influenced.height,
        influenced_pipeline=_sum(influenced),
        influenced_revenue=_sum(influenced.filter(pl.col("is_won"))),
        by_channel=_totals(chosen, "type"),
        by_campaign=_totals(chosen, "campaign"),
        sourced_by_campaign=_totals(sourced, "campaign"),
        by_contact_roles=with_roles.height,
        by_account=by_account,
        models=[
            ModelTotals(model=m.value, by_channel=_totals(c, "type")) for m, c in credited.items()
        ],
        touches=[
            CreditedTouch(
                opportunity=row["opportunity"],
                touchpoint=row["id"],
                type=row["type"],
                credited_via=row["rule"],
                occurred_at=row["occurred_at"],
                share=round(row["share"], 4),
                pipeline=round(row["pipeline"], 2),
            )
            for row in chosen.sort("opportunity", "occurred_at")
            .head(TOUCH_ROWS)
            .iter_rows(named=True)
        ],
        notes=notes,
    )


def _sum(frame: pl.DataFrame) -> float:
    return round(float(frame["amount"].sum()), 2)


def _campaign_label(frame: pl.DataFrame) -> pl.Expr:
    """The campaign's name where the source maps one, else what ``campaign`` holds."""
    if "campaign_name" not in frame.columns:
        return pl.col("campaign")
    return pl.coalesce(pl.col("campaign_name").cast(pl.String), "campaign")


def _pairs(inputs: ReportInputs, opportunities: pl.DataFrame) -> pl.DataFrame:
    """One row per (opportunity, marketing touchpoint of its people in the lookback).

    An opportunity's people are its contact roles' people; without roles, its
    account's. ``rule`` says which applied.
    """
    touches = inputs.touchpoints.filter(pl.col("type").is_in(MARKETING_TYPES)).select(
        "id",
        "person_id",
        "account_id",
        "type",
        "occurred_at",
        _campaign_label(inputs.touchpoints).fill_null(NO_CAMPAIGN).alias("campaign"),
    )
    deals = opportunities.select(
        pl.col("id").alias("opportunity"),
        "account_id",
        "amount",
        "is_won",
        pl.col("created_at").alias("__created"),
    )
    roles = inputs.opportunity_roles.select(
        pl.col("opportunity_id").alias("opportunity"), "person_id"
    )
    by_roles = deals.drop("account_id").join(roles, on="opportunity").join(touches, on="person_id")
    by_account = (
        deals.filter(~pl.col("opportunity").is_in(roles["opportunity"].implode()))
        .drop_nulls("account_id")
        .join(touches, on="account_id")
    )
    columns = [*deals.columns, *(c for c in touches.columns if c not in deals.columns)]
    return (
        pl.concat(
            [
                by_roles.select(columns).with_columns(rule=pl.lit(RULE_ROLES)),
                by_account.select(columns).with_columns(rule=pl.lit(RULE_ACCOUNT)),
            ]
        )
        .filter(
            (pl.col("occurred_at") < pl.col("__created"))
            & (pl.col("occurred_at") >= pl.col("__created") - timedelta(days=LOOKBACK_DAYS))
        )
        .sort("opportunity", "occurred_at", "id")
    )


def _credit(pairs: pl.DataFrame, model: Model) -> pl.DataFrame:
    """One row per (opportunity, credited touchpoint) with its share and credited amounts."""
    shares: list[float] = []
    for _, group in pairs.group_by("opportunity", maintain_order=True):
        days = ((group["__created"] - group["occurred_at"]).dt.total_seconds() / 86_400).to_list()
        forms = group["type"].to_list()
        lead = forms.index(LEAD_CREATION) if LEAD_CREATION in forms else None
        shares.extend(weights(model, days, lead))
    return pairs.with_columns(pl.Series("share", shares, dtype=pl.Float64())).with_columns(
        (pl.col("share") * pl.col("amount")).alias("pipeline"),
        pl.when(pl.col("is_won"))
        .then(pl.col("share") * pl.col("amount"))
        .otherwise(0.0)
        .alias("revenue"),
    )


def _totals(credited: pl.DataFrame, column: str) -> list[Credit]:
    totals = (
        credited.group_by(column)
        .agg(pl.col("pipeline").sum(), pl.col("revenue").sum())
        .sort(["pipeline", column], descending=[True, False])
    )
    return [
        Credit(key=str(key), pipeline=round(p, 2), revenue=round(r, 2))
        for key, p, r in totals.iter_rows()
    ]
