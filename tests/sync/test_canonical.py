"""Owned fields compare by value kind: a CRM's rendering of an unchanged value is no change."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from abmsync.connectors.base import FieldType
from abmsync.sync.canonical import ValueKind, canonical, canonical_time, kind_of
from abmsync.sync.plan import ConflictPolicy, OwnedField, WritePlan, plan_writes

FIELD = "ABM_Field__c"
MARCH = datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_vendor_datetimes_read_back_as_abmsync_writes_them() -> None:
    texts = [
        "2026-11-29T12:00:00.000+0000",  # Salesforce REST
        "2026-11-29T12:00:00.000Z",  # HubSpot
        "2026-11-29T12:00:00Z",  # Dataverse
        "2026-11-29T13:00:00+01:00",
        "1795953600000",  # Salesforce Bulk 1.0 JSON: epoch milliseconds
        None,
        "not a time",
    ]
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    out = frame.select(canonical_time(pl.col("t")))["t"].to_list()
    assert out == ["2026-11-29T12:00:00Z"] * 5 + [None, None]
    # Whatever rendering comes first, every other one in the column is still read.
    mixed = ["2026-11-29", "2026-11-29 13:00:00", "2026-11-29T13:00:00+01:00", "1795953600000"]
    frame = pl.DataFrame({"t": mixed})
    out = frame.select(canonical_time(pl.col("t")))["t"].to_list()
    assert out == ["2026-11-29T00:00:00Z", "2026-11-29T13:00:00Z"] + ["2026-11-29T12:00:00Z"] * 2
    stamp = pl.DataFrame({"t": [datetime(2026, 11, 29, 12, tzinfo=UTC)]})
    assert stamp.select(canonical_time(pl.col("t")))["t"].item() == "2026-11-29T12:00:00Z"


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        ("number", ["12", "12.0", " 12 ", "12.5", "n/a", ""], [12.0, 12.0, 12.0, 12.5, None, None]),
        (
            "boolean",
            ["true", "TRUE", "1", "false", "0", "maybe"],
            [True, True, True, False, False, None],
        ),
        (
            "date",
            ["2026-03-01", "2026-03-01T10:00:00.000+0000", "1772359200000", "03/01/2026"],
            ["2026-03-01", "2026-03-01", "2026-03-01", None],
        ),
        ("text", ["A", " A", None], ["A", " A", None]),
    ],
)
def test_vendor_texts_read_as_their_kind(
    kind: ValueKind, values: list[str | None], expected: list[object]
) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    assert frame.select(canonical(pl.col("v"), kind))["v"].to_list() == expected


def test_typed_values_keep_their_type_and_text_takes_the_fields() -> None:
    assert kind_of(pl.Float64()) == kind_of(pl.Int64(), FieldType.STRING) == "number"
    assert kind_of(pl.Boolean(), FieldType.STRING) == "boolean"
    assert kind_of(pl.Datetime("us", "UTC")) == "time"
    assert kind_of(pl.Datetime("us", "UTC"), FieldType.DATE) == "date"
    assert kind_of(pl.Date()) == "date"
    assert kind_of(pl.String(), FieldType.DATETIME) == "time"
    assert kind_of(pl.String(), FieldType.BOOLEAN) == "boolean"
    assert kind_of(pl.String(), FieldType.NUMBER) == "number"
    assert kind_of(pl.String(), FieldType.PICKLIST) == kind_of(pl.String()) == "text"


# (desired value, its dtype, the kind, what abmsync last wrote (text), the CRM's
# rendering of that same value, the CRM holding a different value)
CASES = {
    "integer": (3, pl.Int64(), None, "3", "3.0", "4.0"),
    "number": (12.0, pl.Float64(), None, "12.0", "12", "12.5"),
    "number read as text": ("12", pl.String(), "number", "12", "12.0", "13"),
    "boolean": (True, pl.Boolean(), None, "True", "true", "false"),
    "boolean as 1/0": (False, pl.Boolean(), None, "False", "0", "1"),
    "time": (MARCH, pl.Datetime("us", "UTC"), None, "2026-03-01T10:00:00Z",
             "2026-03-01T10:00:00.000+0000", "2026-03-01T11:00:00.000+0000"),
    "time as text": ("2026-03-01T10:00:00Z", pl.String(), "time", "2026-03-01T10:00:00Z",
                     "2026-03-01T11:00:00+01:00", "2026-03-01T10:00:00+01:00"),
    "date": (date(2026, 3, 1), pl.Date(), None, "2026-03-01", "1772323200000", "2026-03-02"),
}  # fmt: skip


def _plan(
    case: str, crm: object, *, written: bool = True, policy: ConflictPolicy = "abmsync_wins"
) -> WritePlan:
    value, dtype, kind, last, _, _ = CASES[case]
    desired = pl.DataFrame({"record_id": ["r1"], "v": pl.Series([value], dtype=dtype)})
    owned = [OwnedField(FIELD, "v", kind=kind)]
    last_written = pl.DataFrame({"record_id": ["r1"], FIELD: [last]}) if written else None
    crm_values = pl.DataFrame({"record_id": ["r1"], FIELD: [crm]})
    return plan_writes(
        "Account",
        desired,
        owned,
        last_written=last_written,
        crm_values=crm_values,
        policy=policy,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_an_unchanged_value_in_the_crms_rendering_is_not_written(case: str) -> None:
    plan = _plan(case, CASES[case][4])
    assert plan.patches == []
    assert plan.conflicts.is_empty()
    first = _plan(case, CASES[case][4], written=False)  # a first run over a filled field
    assert first.patches == [] and [p.record_id for p in first.confirmed] == ["r1"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_real_change_in_the_crm_is_a_conflict_and_written_back(case: str) -> None:
    plan = _plan(case, CASES[case][5])
    assert [p.record_id for p in plan.patches] == ["r1"]
    assert plan.conflicts["field"].to_list() == [FIELD]
    kept = _plan(case, CASES[case][5], policy="crm_wins")
    assert kept.patches == [] and kept.conflicts.height == 1


@pytest.mark.parametrize("case", list(CASES))
def test_a_new_value_is_written_in_the_form_abmsync_writes(case: str) -> None:
    value, dtype, kind, *_ = CASES[case]
    desired = pl.DataFrame({"record_id": ["r1"], "v": pl.Series([value], dtype=dtype)})
    plan = plan_writes("Account", desired, [OwnedField(FIELD, "v", kind=kind)])
    sent = plan.patches[0].values[FIELD]
    written_as = {"time": "2026-03-01T10:00:00Z", "date": "2026-03-01"}
    assert sent == written_as.get(kind or kind_of(dtype), value)
