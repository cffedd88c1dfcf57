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


def test_an_owned_field_emptied_in_the_crm_is_written_again() -> None:
    last = written(("00Q1", "42", "A", "x"))
    crm = written(("00Q1", None, "", "x"))  # a sandbox refresh: null, or HubSpot's ""
    plan = plan_writes(
        "Lead", desired(("00Q1", 42, "A", "x")), FIELDS, last_written=last, crm_values=crm
    )
    assert [p.values for p in plan.patches] == [{"ABM_Score__c": 42.0, "ABM_Grade__c": "A"}]
    reported = plan.conflicts.sort("field").select("field", "crm_value", "winner").rows()
    assert reported == [
        ("ABM_Grade__c", None, "abmsync_wins"),
        ("ABM_Score__c", None, "abmsync_wins"),
    ]


def test_a_field_emptied_by_hand_stays_empty_when_the_crm_wins() -> None:
    owner = [OwnedField("OwnerId", "owner_id")]
    last = pl.DataFrame({"record_id": ["00Q1"], "OwnerId": ["005A"]})
    crm = pl.DataFrame({"record_id": ["00Q1"], "OwnerId": [None]}, schema=last.schema)
    want = pl.DataFrame({"record_id": ["00Q1"], "owner_id": ["005A"]})
    plan = plan_writes("Lead", want, owner, last_written=last, crm_values=crm, policy="crm_wins")
    assert plan.patches == []
    assert plan.conflicts.select("field", "crm_value", "desired").row(0) == (
        "OwnerId",
        None,
        "005A",
    )


def test_a_record_the_crm_snapshot_lacks_is_compared_with_what_was_last_written() -> None:
    last = written(("00Q1", "42", "A", "x"), ("00Q2", "7", "C", "y"))
    crm = written(("00Q2", "7", "C", "y"))  # 00Q1 not read (yet): unknown, not empty
    want = desired(("00Q1", 42, "A", "x"), ("00Q2", 7, "C", "y"))
    plan = plan_writes("Lead", want, FIELDS, last_written=last, crm_values=crm)
    assert plan.patches == []
    assert plan.conflicts.is_empty()
