"""Write plans: only changed owned fields, rounding against churn, conflicts by policy."""

from __future__ import annotations

import polars as pl

from abmsync.sync.plan import OwnedField, plan_writes

FIELDS = [
    OwnedField("ABM_Score__c", "total", digits=0),
    OwnedField("ABM_Grade__c", "grade"),
    OwnedField("ABM_Score_Reasons__c", "reasons", length=20),
]


def desired(*rows: tuple[str, float, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["record_id", "total", "grade", "reasons"], orient="row")


def written(*rows: tuple[str, str | None, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=["record_id", "ABM_Score__c", "ABM_Grade__c", "ABM_Score_Reasons__c"],
        orient="row",
    )


def test_first_run_writes_every_owned_field() -> None:
    plan = plan_writes("Lead", desired(("00Q1", 41.6, "A", "+15 target industry")), FIELDS)
    assert [p.values for p in plan.patches] == [
        {"ABM_Score__c": 42.0, "ABM_Grade__c": "A", "ABM_Score_Reasons__c": "+15 target industry"}
    ]


def test_nothing_changed_means_no_patches_and_decay_below_rounding_does_not_churn() -> None:
    before = written(("00Q1", "42.0", "A", "+15 target industry"))
    plan = plan_writes(
        "Lead",
        desired(("00Q1", 41.7, "A", "+15 target industry")),
        FIELDS,
        last_written=before,
        crm_values=before,
    )
    assert plan.patches == []
    assert plan.unchanged == 1


def test_only_the_fields_that_change_are_sent() -> None:
    before = written(("00Q1", "42", "A", "x"), ("00Q2", "10", "C", "y"))
    plan = plan_writes(
        "Lead", desired(("00Q1", 42, "B", "x"), ("00Q2", 10, "C", "y")), FIELDS, last_written=before
    )
    assert [(p.record_id, p.values) for p in plan.patches] == [("00Q1", {"ABM_Grade__c": "B"})]
    assert plan.changed_fields == {"ABM_Score__c": 0, "ABM_Grade__c": 1, "ABM_Score_Reasons__c": 0}


def test_long_reasons_are_cut_to_the_field_length_with_an_ellipsis() -> None:
    plan = plan_writes(
        "Lead", desired(("00Q1", 1, "D", "+15 target industry; +20 form fill")), FIELDS
    )
    reasons = plan.patches[0].values["ABM_Score_Reasons__c"]
    assert reasons == "+15 target industry…"
    assert isinstance(reasons, str) and len(reasons) == 20


def test_a_hand_edited_field_is_left_alone_when_the_crm_wins() -> None:
    last = written(("00Q1", "42", "A", "x"))
    crm = written(("00Q1", "42", "B", "x"))  # a rep changed the grade by hand
    want = desired(("00Q1", 42, "A", "x"))
    kept = plan_writes("Lead", want, FIELDS, last_written=last, crm_values=crm, policy="crm_wins")
    assert kept.patches == []
    assert kept.conflicts.select("field", "crm_value", "desired", "winner").row(0) == (
        "ABM_Grade__c",
        "B",
        "A",
        "crm_wins",
    )
    overwritten = plan_writes(
        "Lead", want, FIELDS, last_written=last, crm_values=crm, policy="abmsync_wins"
    )
    assert [p.values for p in overwritten.patches] == [{"ABM_Grade__c": "A"}]
    assert overwritten.conflicts.height == 1
