"""Write plans held as frames: patches are built only for the records read out."""

from __future__ import annotations

import polars as pl

from abmsync.connectors.base import Patch
from abmsync.sync.person_fields import backward_clears
from abmsync.sync.plan import Changes, OwnedField, merge_changes, plan_writes

FIELDS = [OwnedField("ABM_Score__c", "total", digits=0), OwnedField("ABM_Grade__c", "grade")]


def _desired(*rows: tuple[str, float, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["record_id", "total", "grade"], orient="row")


def test_a_plan_holds_one_row_per_changed_record_with_nulls_for_fields_left_alone() -> None:
    before = pl.DataFrame(
        {
            "record_id": ["b", "a", "c"],
            "ABM_Score__c": ["42", "10", "5"],
            "ABM_Grade__c": list("AAC"),
        }
    )
    plan = plan_writes(
        "Lead",
        _desired(("b", 42, "B"), ("a", 11, "A"), ("c", 5, "C")),
        FIELDS,
        last_written=before,
        crm_values=before,
    )
    assert plan.patches.frame.to_dicts() == [
        {"record_id": "a", "ABM_Score__c": 11.0, "ABM_Grade__c": None},
        {"record_id": "b", "ABM_Score__c": None, "ABM_Grade__c": "B"},
    ]
    assert plan.patches[1:] == [Patch(obj="Lead", record_id="b", values={"ABM_Grade__c": "B"})]
    assert plan.patches[-1] == plan.patches[1] and len(plan.patches) == 2
    assert plan.changed_fields == {"ABM_Score__c": 1, "ABM_Grade__c": 1}
    assert plan.unchanged == 1


def test_values_the_crm_already_holds_are_confirmed_a_chunk_at_a_time() -> None:
    crm = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(5)],
            "ABM_Score__c": ["7.0"] * 5,
            "ABM_Grade__c": None,
        }
    )
    plan = plan_writes(
        "Lead", _desired(*[(f"r{i}", 7, "A") for i in range(5)]), FIELDS, crm_values=crm
    )
    assert [p.values for p in plan.patches] == [{"ABM_Grade__c": "A"}] * 5
    parts = [part.values() for part in plan.confirmed.chunks(2)]
    assert parts == [
        {"r0": {"ABM_Score__c": 7.0}, "r1": {"ABM_Score__c": 7.0}},
        {"r2": {"ABM_Score__c": 7.0}, "r3": {"ABM_Score__c": 7.0}},
        {"r4": {"ABM_Score__c": 7.0}},
    ]


def test_changes_upserted_on_an_external_id_carry_it_as_a_value() -> None:
    frame = pl.DataFrame({"record_id": ["k1"], "Subject__c": ["Webinar"]})
    changes = Changes("ABM_Touchpoint__c", frame, external_id="ABM_Key__c")
    assert list(changes) == [
        Patch(
            obj="ABM_Touchpoint__c",
            external_id=("ABM_Key__c", "k1"),
            values={"Subject__c": "Webinar", "ABM_Key__c": "k1"},
        )
    ]


def test_fields_under_two_policies_merge_into_one_patch_per_record() -> None:
    score = Changes("Lead", pl.DataFrame({"record_id": ["b", "a"], "ABM_Score__c": [2.0, 1.0]}))
    grade = Changes("Lead", pl.DataFrame({"record_id": ["c", "b"], "ABM_Grade__c": ["C", "B"]}))
    merged = merge_changes("Lead", [score, grade])
    assert [(p.record_id, p.values) for p in merged] == [
        ("a", {"ABM_Score__c": 1.0}),
        ("b", {"ABM_Score__c": 2.0, "ABM_Grade__c": "B"}),
        ("c", {"ABM_Grade__c": "C"}),
    ]


def test_a_stage_moving_back_from_what_the_crm_holds_is_cleared_first() -> None:
    planned = pl.DataFrame(
        {"record_id": ["a", "b", "c", "d"], "lifecyclestage": ["lead", "lead", None, "customer"]}
    )
    last = pl.DataFrame({"record_id": ["a", "b", "c"], "lifecyclestage": ["opportunity"] * 3})
    # The CRM's value, as read last, wins over the one written: b was moved back by hand.
    crm = pl.DataFrame({"record_id": ["b", "d"], "lifecyclestage": ["subscriber", "lead"]})
    clears = backward_clears("contacts", "lifecyclestage", planned, crm, last)
    assert [(c.record_id, c.values) for c in clears] == [("a", {"lifecyclestage": None})]
    assert clears.frame.columns == ["record_id", "lifecyclestage"]  # held as a frame until sent
