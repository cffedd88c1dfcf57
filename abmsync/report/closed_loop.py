"""Closed-loop reporting: marketing-sourced and -influenced pipeline and revenue, attributed.

Opportunities created in the period count as pipeline (their amount) and,
when won, as revenue. An opportunity is *marketing-sourced* when the CRM
names the campaign that sourced it (Salesforce's primary campaign source), and
*marketing-influenced* when people of its account had marketing touchpoints
(``MARKETING_TYPES``) in the ``LOOKBACK_DAYS`` before it was created. Those
touchpoints share its amount by the chosen model
(:mod:`abmsync.report.attribution`).
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


def build_closed_loop(inputs: ReportInputs, model: Model) -> ClosedLoop:
    """The closed-loop section of the report, with credit given by ``model``."""
    opportunities = inputs.opportunities.filter(
        pl.col("created_at").is_not_null() & inputs.period.contains("created_at")
    ).with_columns(pl.col("amount").fill_null(0.0))
    credited = {m: _credit(inputs, opportunities, m) for m in Model}
    chosen = credited[model]
    notes = [
        f"Touchpoints credited: {', '.join(MARKETING_TYPES)} by people of the opportunity's "
        f"account in the {LOOKBACK_DAYS} days before it was created.",
    ]
    if opportunities["account_id"].null_count():
        notes.append(
            f"{opportunities['account_id'].null_count()} opportunities have no account: "
            "no touchpoint can be credited to them."
        )
    if opportunities.is_empty():
        notes.append("Not available: no opportunities are in the state database for this period.")
    won = opportunities.filter(pl.col("is_won"))
    sourced = opportunities.filter(pl.col("campaign").is_not_null())
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
        models=[
            ModelTotals(model=m.value, by_channel=_totals(c, "type")) for m, c in credited.items()
        ],
        touches=[
            CreditedTouch(
                opportunity=row["opportunity"],
                touchpoint=row["id"],
                type=row["type"],
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


def _credit(inputs: ReportInputs, opportunities: pl.DataFrame, model: Model) -> pl.DataFrame:
    """One row per (opportunity, credited touchpoint) with its share and credited amounts."""
    touches = inputs.touchpoints.filter(pl.col("type").is_in(MARKETING_TYPES)).select(
        "id", "account_id", "type", "occurred_at", pl.col("campaign").fill_null(NO_CAMPAIGN)
    )
    pairs = (
        opportunities.select(
            pl.col("id").alias("opportunity"),
            "account_id",
            "amount",
            "is_won",
            pl.col("created_at").alias("__created"),
        )
        .drop_nulls("account_id")
        .join(touches, on="account_id")
        .filter(
            (pl.col("occurred_at") < pl.col("__created"))
            & (pl.col("occurred_at") >= pl.col("__created") - timedelta(days=LOOKBACK_DAYS))
        )
        .sort("opportunity", "occurred_at", "id")
    )
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
