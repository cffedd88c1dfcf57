"""The person write-back values as pure mappings: score scale, HubSpot stage, names, owners."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from abmsync.connectors.base import FieldType
from abmsync.rules.model import RuleSet, ScoreScale, WriteBack
from abmsync.sync.crm import field_specs
from abmsync.sync.person_fields import (
    hubspot_owner_ids,
    hubspot_rank,
    hubspot_stage,
    scaled_score,
)
from abmsync.sync.touchpoint_names import touchpoint_description, touchpoint_title


def _scaled(scale: ScoreScale | None, totals: list[float]) -> list[float]:
    frame = pl.DataFrame({"total": totals})
    scaled = scaled_score(pl.col("total"), scale).alias("total")
    return frame.select(scaled)["total"].round(2).to_list()


def test_no_scale_writes_raw_points() -> None:
    assert _scaled(None, [-20.0, 0.0, 250.0]) == [-20.0, 0.0, 250.0]


def test_clamp_keeps_points_inside_the_bounds() -> None:
    assert _scaled(ScoreScale(min=0, max=100), [-20.0, 42.0, 250.0]) == [0.0, 42.0, 100.0]


def test_linear_maps_zero_to_min_and_the_reference_to_max() -> None:
    scale = ScoreScale(min=0, max=100, mapping="linear", reference=150)
    assert _scaled(scale, [-5.0, 0.0, 75.0, 150.0, 400.0]) == [0.0, 0.0, 50.0, 100.0, 100.0]


def test_logistic_puts_the_midpoint_half_way_and_stays_inside() -> None:
    scale = ScoreScale(min=0, max=100, mapping="logistic", midpoint=60, spread=20)
    low, mid, high = _scaled(scale, [-100.0, 60.0, 200.0])
    assert mid == 50.0
    assert 0 < low < 1 and 99 < high < 100


@pytest.mark.parametrize(
    "options",
    [{"min": 10, "max": 10}, {"mapping": "linear"}, {"mapping": "logistic", "midpoint": 5}],
)
def test_an_incomplete_scale_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScoreScale.model_validate(options)


def test_score_scale_sits_beside_the_systems_in_yaml() -> None:
    writeback = WriteBack.model_validate(
        {"score_scale": {"max": 10}, "hubspot": {"contacts": {"score": "abm_score"}}}
    )
    assert writeback.score_scale == ScoreScale(max=10)
    assert writeback.objects("hubspot") == {"contacts": {"score": "abm_score"}}


def test_new_keys_are_known_and_a_typo_is_not() -> None:
    keys = {"mql_date": "a", "sla_due": "b", "assignment_reason": "c", "hubspot_stage": "d"}
    assert WriteBack.model_validate({"hubspot": {"contacts": keys}}).objects("hubspot")
    with pytest.raises(ValidationError, match="unknown write-back key 'mql_dates'"):
        WriteBack.model_validate({"hubspot": {"contacts": {"mql_dates": "x"}}})


def test_stages_map_to_hubspot_lifecycle_values() -> None:
    stages = ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer"]
    stages += ["recycled", "disqualified", "nurture", None]
    frame = pl.DataFrame({"stage": stages}, schema={"stage": pl.String})
    assert frame.select(hubspot_stage(pl.col("stage")))["stage"].to_list() == [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "lead",
        "other",
        "other",
        None,
    ]


def test_hubspot_order_knows_which_moves_go_backwards() -> None:
    frame = pl.DataFrame({"v": ["subscriber", "marketingqualifiedlead", "customer", "", "odd"]})
    assert frame.select(hubspot_rank(pl.col("v")))["v"].to_list() == [0, 2, 5, None, None]


def test_hubspot_owners_are_matched_by_the_crm_users_email() -> None:
    found = hubspot_owner_ids(
        ["own-001", "own-002", "lee@example.com", "own-404"],
        {"own-001": "Dana@Example.de", "own-002": "dirk@example.de"},
        {"dana@example.de": "201", "LEE@example.com": "203"},
    )
    assert found == {"own-001": "201", "lee@example.com": "203"}


def _titles(rows: list[dict[str, str | None]]) -> tuple[list[str], list[str | None]]:
    frame = pl.DataFrame(rows)
    out = frame.select(
        touchpoint_title(frame.columns).alias("t"), touchpoint_description(frame.columns).alias("d")
    )
    return out["t"].to_list(), out["d"].to_list()


def test_touchpoints_are_named_by_what_happened_not_by_ids() -> None:
    titles, descriptions = _titles(
        [
            {"type": "form_submit", "url": "https://www.example.com/contact-sales?utm=x"},
            {
                "type": "page_view",
                "url": "https://www.example.com/pricing",
                "page_title": "Pricing",
            },
            {"type": "campaign_response", "campaign_name": "Q4 Webinar", "campaign": "701xx"},
            {"type": "form_submit", "asset_name": "Demo request", "url": "/lp/demo"},
            {"type": "meeting", "subject": "Discovery call"},
            {"type": "trade_show"},
        ]
    )
    assert titles == [
        "Form: Contact sales",
        "Web: /pricing (Pricing)",
        "Campaign: Q4 Webinar",
        "Form: Demo request",
        "Meeting: Discovery call",
        "Trade Show",
    ]
    assert descriptions[1] == "URL: https://www.example.com/pricing\nPage: Pricing"
    assert descriptions[2] == "Campaign: Q4 Webinar"  # the name, not the id
    assert descriptions[5] is None


def test_stage_fields_are_picklists_of_the_lifecycle_where_the_crm_has_them() -> None:
    ruleset = RuleSet.model_validate(
        {
            "lifecycle": {"stages": ["lead", "mql", "sql"]},
            "writeback": {
                "salesforce": {"Lead": {"stage": "ABM_Stage__c", "mql_date": "ABM_MQL_Date__c"}},
                "hubspot": {"contacts": {"stage": "abm_stage", "hubspot_stage": "lifecyclestage"}},
                "dynamics": {"lead": {"stage": "abm_stage", "assignment_reason": "abm_reason"}},
            },
        }
    )
    sf = {f.name: f for f in field_specs(ruleset, "salesforce")[0].fields}
    assert sf["ABM_Stage__c"].type is FieldType.PICKLIST
    assert sf["ABM_Stage__c"].picklist == ["lead", "mql", "sql"]
    assert sf["ABM_MQL_Date__c"].type is FieldType.DATETIME
    hubspot = field_specs(ruleset, "hubspot")[0].fields
    assert [(f.name, f.type) for f in hubspot] == [("abm_stage", FieldType.PICKLIST)]
    dynamics = {f.name: f for f in field_specs(ruleset, "dynamics")[0].fields}
    assert dynamics["abm_stage"].type is FieldType.PICKLIST
    assert dynamics["abm_stage"].picklist == ["lead", "mql", "sql"]
    assert dynamics["abm_reason"].length == 255
