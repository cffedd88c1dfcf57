"""The closed loop credits the people an opportunity names in contact roles, else its account's."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl
import pytest

from abmsync.report.attribution import Model
from abmsync.report.closed_loop import RULE_ACCOUNT, RULE_ROLES, build_closed_loop
from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Report
from abmsync.schema import OPPORTUNITY_COLUMNS, OPPORTUNITY_ROLE_COLUMNS, TIMESTAMP

TOUCH_COLUMNS = {
    "id": pl.String(),
    "person_id": pl.String(),
    "account_id": pl.String(),
    "type": pl.String(),
    "occurred_at": TIMESTAMP,
    "campaign": pl.String(),
    "campaign_name": pl.String(),
}
ROLE_COLUMNS = {c: OPPORTUNITY_ROLE_COLUMNS[c] for c in ("opportunity_id", "person_id", "role")}


def _world(inputs: ReportInputs) -> ReportInputs:
    """Two deals at account A a week before the period's end: ``opp-roles`` names Petra
    (Decision Maker), ``opp-plain`` names nobody. Petra fills a form (recorded at another
    account, B), Paul at A attends a webinar, Bea at B clicks an email."""
    created = inputs.period.end - timedelta(days=7)

    def at(days: int) -> datetime:
        return created - timedelta(days=days)

    opportunities = pl.DataFrame(
        [
            {"id": "opp-roles", "account_id": "A", "amount": 1000.0, "is_won": True},
            {"id": "opp-plain", "account_id": "A", "amount": 600.0, "is_won": False},
        ],
        schema={c: OPPORTUNITY_COLUMNS[c] for c in ("id", "account_id", "amount", "is_won")},
    ).with_columns(
        pl.lit(created).cast(TIMESTAMP).alias("created_at"),
        pl.lit("701CAMPAIGN").alias("campaign"),
        pl.lit("Spring Webinar").alias("campaign_name"),
    )
    touches = pl.DataFrame(
        [
            ("t-petra", "petra", "B", "form_submit", at(10), "701FORM", "Contact Sales Form"),
            ("t-paul", "paul", "A", "webinar", at(5), "701WEB", "Spring Webinar"),
            ("t-bea", "bea", "B", "email_click", at(3), "701NEWS", None),
            ("t-old", "paul", "A", "webinar", at(400), "701WEB", "Spring Webinar"),
        ],
        schema=TOUCH_COLUMNS,
        orient="row",
    )
    roles = pl.DataFrame(
        [("opp-roles", "petra", "Decision Maker")], schema=ROLE_COLUMNS, orient="row"
    ).with_columns(pl.lit(True).alias("is_primary"))
    return replace(
        inputs, opportunities=opportunities, touchpoints=touches, opportunity_roles=roles
    )


def test_a_deal_with_contact_roles_credits_only_its_roles_people(
    demo_inputs: ReportInputs,
) -> None:
    loop = build_closed_loop(_world(demo_inputs), Model.LINEAR)
    credited = {(t.opportunity, t.touchpoint): t for t in loop.touches}
    # Petra's form counts for her deal though recorded at B; Paul's webinar at A does not.
    assert set(credited) == {("opp-roles", "t-petra"), ("opp-plain", "t-paul")}
    assert credited["opp-roles", "t-petra"].credited_via == RULE_ROLES
    assert credited["opp-plain", "t-paul"].credited_via == RULE_ACCOUNT
    assert (loop.by_contact_roles, loop.by_account) == (1, 1)
    assert loop.influenced_opportunities == 2
    channels = {c.key: (c.pipeline, c.revenue) for c in loop.by_channel}
    # The account rule alone would split opp-roles' 1000 between the form and the webinar.
    assert channels == {"form_submit": (1000.0, 1000.0), "webinar": (600.0, 0.0)}
    assert any("contact roles (1 opportunities)" in n for n in loop.notes)


def test_without_any_contact_roles_the_account_rule_credits_the_account_people(
    demo_inputs: ReportInputs,
) -> None:
    world = _world(demo_inputs)
    loop = build_closed_loop(
        replace(world, opportunity_roles=world.opportunity_roles.clear()), Model.LINEAR
    )
    assert {t.credited_via for t in loop.touches} == {RULE_ACCOUNT}
    assert (loop.by_contact_roles, loop.by_account) == (0, 2)
    # Both deals are at A: Paul's webinar gets everything, Petra's form (at B) nothing.
    assert {c.key: c.pipeline for c in loop.by_channel} == {"webinar": 1600.0}


def test_campaigns_are_listed_by_name_and_by_id_only_where_no_name_is_known(
    demo_inputs: ReportInputs,
) -> None:
    loop = build_closed_loop(_world(demo_inputs), Model.LINEAR)
    assert {c.key for c in loop.by_campaign} == {"Contact Sales Form", "Spring Webinar"}
    assert [(c.key, c.pipeline, c.revenue) for c in loop.sourced_by_campaign] == [
        ("Spring Webinar", 1600.0, 1000.0)
    ]
    world = _world(demo_inputs)
    unnamed = replace(world, touchpoints=world.touchpoints.drop("campaign_name"))
    assert {c.key for c in build_closed_loop(unnamed, Model.LINEAR).by_campaign} == {
        "701FORM",
        "701WEB",
    }


SALESFORCE_ID = re.compile(r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$")


def test_the_demo_credits_its_deals_through_the_seeded_contact_roles(
    demo_inputs: ReportInputs, demo_report: Report
) -> None:
    loop = demo_report.closed_loop
    roles = demo_inputs.opportunity_roles
    assert loop.by_contact_roles > 0
    # The week's converted lead: its contact is the new opportunity's primary role, no Role set.
    assert roles.filter(pl.col("is_primary") & pl.col("role").is_null()).height >= 1
    assert loop.by_contact_roles + loop.by_account == loop.opportunities
    people = {(o, p) for o, p in roles.select("opportunity_id", "person_id").iter_rows()}
    touches = demo_inputs.touchpoints.select("id", "person_id")
    person_of = dict(touches.iter_rows())
    via_roles = [t for t in loop.touches if t.credited_via == RULE_ROLES]
    assert via_roles
    for touch in via_roles:
        assert (touch.opportunity, person_of[touch.touchpoint]) in people
    campaigns = [c.key for c in (*loop.by_campaign, *loop.sourced_by_campaign)]
    assert loop.sourced_by_campaign
    assert not [k for k in campaigns if SALESFORCE_ID.match(k) and k.startswith("701")]


@pytest.mark.parametrize("model", list(Model))
def test_every_model_credits_the_same_touchpoints(demo_inputs: ReportInputs, model: Model) -> None:
    loop = build_closed_loop(_world(demo_inputs), model)
    assert sum(c.pipeline for c in loop.by_channel) == pytest.approx(loop.influenced_pipeline)
