"""Lifecycle state, SLA timers and routing pointers survive between runs, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from abmsync.sync import bulk
from abmsync.sync.state import STATE_COLUMNS, TIMER_COLUMNS
from abmsync.sync.store import Store

T0 = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def state(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "person_id": p,
                "stage": s,
                "stage_entered_at": T0,
                "previous_stage": None,
                "owner_id": o,
                "queue": None,
            }
            for p, s, o in rows
        ],
        schema=STATE_COLUMNS,
    )


def test_lifecycle_state_upserts_by_person(store: Store) -> None:
    store.save_lifecycle_state(state(("p1", "lead", None), ("p2", "mql", "u1")))
    store.save_lifecycle_state(state(("p2", "sal", "u2")))
    loaded = store.load_lifecycle_state()
    assert loaded.select("person_id", "stage", "owner_id").rows() == [
        ("p1", "lead", None),
        ("p2", "sal", "u2"),
    ]
    assert loaded["stage_entered_at"].to_list() == [T0, T0]


def test_state_written_in_a_failed_transaction_is_not_kept(store: Store) -> None:
    store.save_lifecycle_state(state(("p1", "lead", None)))

    def crash_after_writing() -> None:
        with store.transaction() as tx:
            store.save_lifecycle_state(state(("p1", "mql", "u1")), tx=tx)
            store.save_routing_pointers({"dach": 3}, tx=tx)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_after_writing()
    assert store.load_lifecycle_state()["stage"].to_list() == ["lead"]
    assert store.load_routing_pointers() == {}


def test_sla_timers_are_replaced_whole(store: Store) -> None:
    timers = pl.DataFrame(
        [
            {
                "person_id": "p1",
                "stage": "mql",
                "owner_id": "u1",
                "queue": "dach",
                "started_at": T0,
                "due_at": T0 + timedelta(hours=48),
                "status": "open",
            },
            {
                "person_id": "p2",
                "stage": "mql",
                "owner_id": None,
                "queue": None,
                "started_at": T0,
                "due_at": T0 + timedelta(hours=2),
                "status": "breached",
            },
        ],
        schema=TIMER_COLUMNS,
    )
    store.replace_sla_timers(timers)
    assert store.load_sla_timers().equals(timers)
    store.replace_sla_timers(timers.head(1))
    assert store.load_sla_timers()["person_id"].to_list() == ["p1"]


def test_routing_pointers_persist_and_update(store: Store) -> None:
    store.save_routing_pointers({"dach": 2, "default": 7})
    store.save_routing_pointers({"dach": 5})
    assert store.load_routing_pointers() == {"dach": 5, "default": 7}


def test_written_values_round_trip_as_one_row_per_record(store: Store) -> None:
    store.save_written_values(
        "salesforce",
        "Lead",
        {
            "00Q1": {"ABM_Score__c": 42.0, "ABM_Grade__c": "A"},
            "00Q2": {"ABM_Score__c": 7, "ABM_Grade__c": None},
        },
    )
    store.save_written_values("salesforce", "Lead", {"00Q1": {"ABM_Grade__c": "B"}})
    store.save_written_values("hubspot", "contacts", {"1": {"abm_grade": "C"}})
    lead = store.load_written_values("salesforce", "Lead")
    assert lead.select("record_id", "ABM_Score__c", "ABM_Grade__c").rows() == [
        ("00Q1", "42.0", "B"),
        ("00Q2", "7", None),
    ]
    assert store.load_written_values("salesforce", "Contact").is_empty()


def test_written_values_read_in_chunks_give_one_row_per_record_across_chunk_ends(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = ["ABM_Grade__c", "ABM_Reasons__c", "ABM_Score__c"]
    values = {
        f"00Q{n}": {
            name: (None if (n + i) % 4 == 0 else f"{name}-{n}") for i, name in enumerate(fields)
        }
        for n in range(7)
    }
    values["00Q9"] = {"ABM_Stage__c": "mql"}  # a field no other record has, in the last chunk
    store.save_written_values("salesforce", "Lead", values)
    whole = store.load_written_values("salesforce", "Lead")
    monkeypatch.setattr(bulk, "READ_CHUNK_ROWS", 2)  # records straddle chunk ends
    chunked = store.load_written_values("salesforce", "Lead")
    assert chunked.height == len(values) == whole.height
    assert chunked.select(whole.columns).equals(whole)
    assert chunked.filter(pl.col("record_id") == "00Q3").row(0, named=True) == {
        "record_id": "00Q3",
        "ABM_Grade__c": "ABM_Grade__c-3",
        "ABM_Reasons__c": None,
        "ABM_Score__c": "ABM_Score__c-3",
        "ABM_Stage__c": None,
    }


def test_written_values_feed_a_plan_that_writes_nothing_when_nothing_changed(
    store: Store,
) -> None:
    from abmsync.sync.plan import OwnedField, plan_writes

    store.save_written_values("salesforce", "Lead", {"00Q1": {"ABM_Score__c": 42.0}})
    desired = pl.DataFrame({"record_id": ["00Q1"], "total": [41.8]})
    plan = plan_writes(
        "Lead",
        desired,
        [OwnedField("ABM_Score__c", "total", digits=0)],
        last_written=store.load_written_values("salesforce", "Lead"),
    )
    assert plan.patches == []
