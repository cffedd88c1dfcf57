"""validate_patch: every connector rejects the same bad values with the same codes."""

from __future__ import annotations

import pytest

from abmsync.connectors.base import (
    CheckItem,
    CheckReport,
    FieldMeta,
    FieldType,
    ObjectMeta,
    Patch,
    PatchValue,
    validate_patch,
)

LEAD = ObjectMeta(
    name="Lead",
    fields={
        "Id": FieldMeta(name="Id", type=FieldType.ID, writable=False),
        "ABM_Score__c": FieldMeta(name="ABM_Score__c", type=FieldType.NUMBER),
        "ABM_Rank__c": FieldMeta(name="ABM_Rank__c", type=FieldType.INTEGER),
        "ABM_MQL__c": FieldMeta(name="ABM_MQL__c", type=FieldType.BOOLEAN),
        "ABM_Scored_At__c": FieldMeta(name="ABM_Scored_At__c", type=FieldType.DATETIME),
        "ABM_Since__c": FieldMeta(name="ABM_Since__c", type=FieldType.DATE),
        "ABM_Reasons__c": FieldMeta(name="ABM_Reasons__c", type=FieldType.STRING, length=10),
        "ABM_Grade__c": FieldMeta(
            name="ABM_Grade__c",
            type=FieldType.PICKLIST,
            picklist=["A", "B", "C", "D"],
            restricted_picklist=True,
        ),
        "ABM_Roles__c": FieldMeta(
            name="ABM_Roles__c",
            type=FieldType.MULTIPICKLIST,
            picklist=["decider", "user"],
            restricted_picklist=True,
        ),
        "Segment__c": FieldMeta(
            name="Segment__c", type=FieldType.PICKLIST, picklist=["SMB"], restricted_picklist=False
        ),
        "ABM_Key__c": FieldMeta(name="ABM_Key__c", external_id=True),
    },
)


def check(values: dict[str, PatchValue], **keys: object) -> str | None:
    """The error code validate_patch gives, or None for a valid patch."""
    patch = Patch.model_validate({"obj": "Lead", "record_id": "00Q1", "values": values, **keys})
    result = validate_patch(LEAD, patch)
    if result is None:
        return None
    assert not result.ok
    assert result.record_id == "00Q1"
    assert result.message
    return result.error_code


def test_valid_patch_passes() -> None:
    values: dict[str, PatchValue] = {
        "ABM_Score__c": 42.5,
        "ABM_Rank__c": 3,
        "ABM_MQL__c": True,
        "ABM_Scored_At__c": "2024-01-15T10:30:00+00:00",
        "ABM_Since__c": "2024-01-15",
        "ABM_Reasons__c": "fit +15",
        "ABM_Grade__c": "A",
        "ABM_Roles__c": "decider;user",
        "Segment__c": "Enterprise",  # unrestricted picklists take any value
    }
    assert check(values) is None


def test_none_clears_a_field_of_any_type() -> None:
    assert check({"ABM_Grade__c": None, "ABM_Rank__c": None}) is None


def test_unknown_field_is_invalid_field() -> None:
    assert check({"ABM_Scroe__c": 1}) == "INVALID_FIELD"


def test_read_only_field_is_not_writable() -> None:
    assert check({"Id": "00Q2"}) == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ABM_Score__c", "42"),
        ("ABM_Score__c", True),
        ("ABM_Rank__c", 3.5),
        ("ABM_Rank__c", False),
        ("ABM_MQL__c", "true"),
        ("ABM_MQL__c", 1),
        ("ABM_Scored_At__c", "yesterday"),
        ("ABM_Since__c", "15.01.2024"),
        ("ABM_Reasons__c", 7),
    ],
)
def test_value_of_the_wrong_type_is_invalid_type(field: str, value: PatchValue) -> None:
    assert check({field: value}) == "INVALID_TYPE_ON_FIELD_IN_RECORD"


def test_integer_is_a_valid_number() -> None:
    assert check({"ABM_Score__c": 42}) is None


def test_value_outside_a_restricted_picklist_is_rejected() -> None:
    assert check({"ABM_Grade__c": "A+"}) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_each_value_of_a_restricted_multipicklist_is_checked() -> None:
    assert check({"ABM_Roles__c": "decider;buyer"}) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_text_longer_than_the_field_is_string_too_long() -> None:
    assert check({"ABM_Reasons__c": "x" * 10}) is None
    assert check({"ABM_Reasons__c": "x" * 11}) == "STRING_TOO_LONG"


def test_upsert_key_must_be_an_external_id_field() -> None:
    assert check({"ABM_Score__c": 1}, external_id=("ABM_Key__c", "k1")) is None
    assert check({"ABM_Score__c": 1}, external_id=("ABM_Score__c", "k1")) == "INVALID_FIELD"


def test_first_problem_is_reported() -> None:
    assert check({"ABM_Grade__c": "Z", "ABM_Reasons__c": "x" * 99}) == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )


def test_check_report_is_ok_only_when_every_item_is() -> None:
    good = CheckItem(name="auth", ok=True)
    assert CheckReport(connector="x", items=[good]).ok
    assert not CheckReport(connector="x", items=[good, CheckItem(name="quota", ok=False)]).ok
