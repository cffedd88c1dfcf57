"""SLA timers: started, met, breached exactly once, restarted on reassignment, and reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from abmsync.rules.model import Calendar, RuleSet
from abmsync.rules.sla import (
    EVENT_SCHEMA,
    TIMER_SCHEMA,
    SlaOutcome,
    evaluate_sla,
    restart_timers,
    sla_report,
)
from abmsync.schema import TIMESTAMP, SchemaError

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # a Monday
NO_TIMERS = pl.DataFrame(schema=TIMER_SCHEMA)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def ruleset(*sla: dict[str, Any], **extra: Any) -> RuleSet:
    return RuleSet.model_validate(
        {
            "lifecycle": {
                "stages": ["lead", "mql", "sal", "sql", "recycled"],
                "sla": list(sla) or [{"stage": "mql", "within": "48h", "on_breach": "reassign"}],
            },
            **extra,
        }
    )


def people(*rows: tuple[str, str, datetime | None, str | None]) -> pl.DataFrame:
    """(person_id, stage, stage_entered_at, owner_id) rows, with no routing queue."""
    return pl.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "stage": [r[1] for r in rows],
            "stage_entered_at": [r[2] for r in rows],
            "owner_id": [r[3] for r in rows],
            "queue": [None for _ in rows],
        },
        schema={
            "person_id": pl.String(),
            "stage": pl.String(),
            "stage_entered_at": TIMESTAMP,
            "owner_id": pl.String(),
            "queue": pl.String(),
        },
    )


def kinds(outcome: SlaOutcome) -> list[tuple[str, str]]:
    return [(r["person_id"], r["kind"]) for r in outcome.events.iter_rows(named=True)]


def only_event(outcome: SlaOutcome) -> dict[str, Any]:
    assert outcome.events.height == 1, outcome.events
    return outcome.events.row(0, named=True)


def timer(outcome: SlaOutcome, person: str) -> dict[str, Any]:
    rows = outcome.timers.filter(pl.col("person_id") == person)
    assert rows.height == 1, outcome.timers
    return rows.row(0, named=True)


# Starting ------------------------------------------------------------------------------


def test_entering_an_sla_stage_starts_a_timer_due_after_the_rules_duration() -> None:
    outcome = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1))
    assert timer(outcome, "p1") == {
        "person_id": "p1",
        "stage": "mql",
        "owner_id": "o1",
        "queue": None,
        "started_at": T0,
        "due_at": hours(48),
        "status": "open",
    }
    assert only_event(outcome) == {
        "person_id": "p1",
        "stage": "mql",
        "kind": "started",
        "due_at": hours(48),
        "occurred_at": T0,
        "action": None,
        "owner_id": "o1",
        "escalate_to": None,
    }


def test_frames_follow_the_declared_schemas() -> None:
    outcome = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(60))
    assert dict(outcome.timers.schema) == TIMER_SCHEMA
    assert dict(outcome.events.schema) == EVENT_SCHEMA


def test_people_in_stages_without_an_sla_rule_get_no_timer() -> None:
    outcome = evaluate_sla(
        ruleset(), NO_TIMERS, people(("p1", "lead", T0, "o1"), ("p2", "sal", T0, "o1")), hours(1)
    )
    assert outcome.timers.is_empty()
    assert outcome.events.is_empty()


def test_the_first_pass_accepts_an_empty_frame_without_columns() -> None:
    outcome = evaluate_sla(ruleset(), pl.DataFrame(), people(("p1", "mql", T0, "o1")), hours(1))
    assert kinds(outcome) == [("p1", "started")]


def test_a_person_already_overdue_when_first_seen_starts_and_breaches_in_one_pass() -> None:
    outcome = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(50))
    assert kinds(outcome) == [("p1", "started"), ("p1", "breached")]
    assert outcome.events["occurred_at"].to_list() == [T0, hours(48)]
    assert timer(outcome, "p1")["status"] == "breached"


def test_an_unknown_stage_entry_time_starts_the_timer_now() -> None:
    outcome = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", None, "o1")), hours(5))
    assert timer(outcome, "p1")["started_at"] == hours(5)
    assert timer(outcome, "p1")["due_at"] == hours(53)


def test_the_deadline_counts_working_hours_of_the_routing_queues_calendar() -> None:
    rules = ruleset(
        {"stage": "mql", "within": "4h"},
        calendars={"office": {"timezone": "Europe/Berlin", "hours": "09:00-17:00"}},
        routing={
            "on_enter": "mql",
            "queues": {"dach": {"members": [{"owner": "o1"}], "calendar": "office"}},
        },
    )
    friday_3pm_berlin = datetime(2026, 5, 8, 13, 0, tzinfo=UTC)
    routed = people(("p1", "mql", friday_3pm_berlin, "o1"), ("p2", "mql", friday_3pm_berlin, "o1"))
    routed = routed.with_columns(pl.Series("queue", ["dach", None]))
    outcome = evaluate_sla(rules, NO_TIMERS, routed, friday_3pm_berlin)
    monday_11am_berlin = datetime(2026, 5, 11, 9, 0, tzinfo=UTC)
    assert timer(outcome, "p1")["due_at"] == monday_11am_berlin
    assert timer(outcome, "p1")["queue"] == "dach"
    assert timer(outcome, "p2")["due_at"] == friday_3pm_berlin + timedelta(hours=4)


# Meeting and breaching -----------------------------------------------------------------


def test_leaving_the_stage_before_the_deadline_meets_the_sla_and_removes_the_timer() -> None:
    first = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1))
    second = evaluate_sla(
        ruleset(), first.timers, people(("p1", "sal", hours(20), "o1")), hours(30)
    )
    assert only_event(second) == {
        "person_id": "p1",
        "stage": "mql",
        "kind": "met",
        "due_at": hours(48),
        "occurred_at": hours(20),
        "action": None,
        "owner_id": "o1",
        "escalate_to": None,
    }
    assert second.timers.is_empty()


def test_leaving_exactly_at_the_deadline_meets_the_sla() -> None:
    first = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1))
    second = evaluate_sla(
        ruleset(), first.timers, people(("p1", "sal", hours(48), "o1")), hours(49)
    )
    assert only_event(second)["kind"] == "met"


def test_an_overdue_timer_breaches_at_its_deadline_with_the_rules_action() -> None:
    first = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1))
    second = evaluate_sla(ruleset(), first.timers, people(("p1", "mql", T0, "o1")), hours(48))
    event = only_event(second)
    assert (event["kind"], event["occurred_at"], event["action"]) == (
        "breached",
        hours(48),
        "reassign",
    )
    assert event["owner_id"] == "o1"
    assert event["escalate_to"] is None
    assert timer(second, "p1")["status"] == "breached"


def test_a_breach_is_emitted_once_however_often_the_sync_runs() -> None:
    state = people(("p1", "mql", T0, "o1"))
    first = evaluate_sla(ruleset(), NO_TIMERS, state, hours(1))
    breach = evaluate_sla(ruleset(), first.timers, state, hours(50))
    assert kinds(breach) == [("p1", "breached")]
    rerun = evaluate_sla(ruleset(), breach.timers, state, hours(50))
    later = evaluate_sla(ruleset(), rerun.timers, state, hours(500))
    assert rerun.events.is_empty()
    assert later.events.is_empty()
    assert later.timers.equals(breach.timers)


def test_rerunning_a_pass_on_its_own_output_emits_nothing_and_changes_nothing() -> None:
    before = people(
        ("p1", "mql", T0, "o1"), ("p2", "mql", hours(10), "o2"), ("p3", "mql", T0, None)
    )
    old = evaluate_sla(ruleset(), NO_TIMERS, before, hours(11)).timers
    after = people(
        ("p1", "sal", hours(20), "o1"),  # met
        ("p2", "mql", hours(10), "o2"),  # breaches
        ("p3", "recycled", hours(70), None),  # left late: breached
        ("p4", "mql", hours(40), "o4"),  # starts
    )
    first = evaluate_sla(ruleset(), old, after, hours(60))
    assert sorted(kinds(first)) == [
        ("p1", "met"),
        ("p2", "breached"),
        ("p3", "breached"),
        ("p4", "started"),
    ]
    again = evaluate_sla(ruleset(), first.timers, after, hours(60))
    assert again.events.is_empty()
    assert again.timers.equals(first.timers)


def test_leaving_after_the_deadline_with_no_run_in_between_is_still_a_breach() -> None:
    first = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1))
    # The next run happens after the person moved on, which was after the deadline.
    second = evaluate_sla(
        ruleset(), first.timers, people(("p1", "sal", hours(60), "o1")), hours(72)
    )
    event = only_event(second)
    assert (event["kind"], event["occurred_at"], event["action"]) == (
        "breached",
        hours(48),
        "reassign",
    )
    assert second.timers.is_empty()


def test_a_breached_timer_is_removed_silently_when_the_person_moves_on() -> None:
    state = people(("p1", "mql", T0, "o1"))
    breached = evaluate_sla(ruleset(), NO_TIMERS, state, hours(50))
    moved = evaluate_sla(
        ruleset(), breached.timers, people(("p1", "sal", hours(70), "o1")), hours(80)
    )
    assert moved.events.is_empty()
    assert moved.timers.is_empty()


def test_a_person_who_leaves_without_a_new_entry_time_left_at_the_run() -> None:
    # A stage entry time at or before the timer's start says nothing about when they left.
    timers = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1)).timers
    met = evaluate_sla(ruleset(), timers, people(("p1", "sal", None, "o1")), hours(40))
    assert (only_event(met)["kind"], only_event(met)["occurred_at"]) == ("met", hours(40))
    late = evaluate_sla(ruleset(), timers, people(("p1", "sal", hours(-5), "o1")), hours(49))
    assert (only_event(late)["kind"], only_event(late)["occurred_at"]) == ("breached", hours(48))


def test_a_person_gone_from_the_data_closes_their_timer_at_the_run() -> None:
    timers = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1)).timers
    outcome = evaluate_sla(ruleset(), timers, people(("p2", "lead", T0, None)), hours(10))
    assert kinds(outcome) == [("p1", "met")]
    assert outcome.timers.is_empty()


def test_reentering_the_stage_closes_the_old_timer_and_starts_a_new_one() -> None:
    timers = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1)).timers
    # Recycled and back in mql by the next run, before the first deadline.
    outcome = evaluate_sla(ruleset(), timers, people(("p1", "mql", hours(30), "o2")), hours(31))
    assert kinds(outcome) == [("p1", "met"), ("p1", "started")]
    assert timer(outcome, "p1") == {
        "person_id": "p1",
        "stage": "mql",
        "owner_id": "o2",
        "queue": None,
        "started_at": hours(30),
        "due_at": hours(78),
        "status": "open",
    }


def test_moving_between_two_sla_stages_closes_one_timer_and_starts_the_next() -> None:
    rules = ruleset(
        {"stage": "mql", "within": "48h"}, {"stage": "sal", "within": "5d", "on_breach": "notify"}
    )
    timers = evaluate_sla(rules, NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1)).timers
    outcome = evaluate_sla(rules, timers, people(("p1", "sal", hours(10), "o1")), hours(11))
    assert kinds(outcome) == [("p1", "met"), ("p1", "started")]
    assert outcome.timers["stage"].to_list() == ["sal"]
    assert timer(outcome, "p1")["due_at"] == hours(10 + 120)


def test_escalation_breaches_name_who_to_escalate_to() -> None:
    rules = ruleset(
        {"stage": "mql", "within": "1d", "on_breach": "escalate", "escalate_to": "manager"},
        {"stage": "sal", "within": "1d", "on_breach": "notify", "escalate_to": "ignored"},
    )
    state = people(("p1", "mql", T0, "o1"), ("p2", "sal", T0, "o2"))
    outcome = evaluate_sla(rules, NO_TIMERS, state, hours(30))
    breaches = outcome.events.filter(pl.col("kind") == "breached").sort("person_id")
    assert breaches.select("person_id", "action", "escalate_to").rows() == [
        ("p1", "escalate", "manager"),
        ("p2", "notify", None),
    ]


def test_removing_the_sla_rule_drops_its_timers_silently() -> None:
    state = people(("p1", "mql", T0, "o1"))
    timers = evaluate_sla(ruleset(), NO_TIMERS, state, hours(1)).timers
    without = ruleset({"stage": "sal", "within": "2d"})
    outcome = evaluate_sla(without, timers, state, hours(100))
    assert outcome.timers.is_empty()
    assert outcome.events.is_empty()
    no_lifecycle = evaluate_sla(RuleSet(), timers, state, hours(100))
    assert no_lifecycle.timers.is_empty()
    assert no_lifecycle.events.is_empty()


def test_a_timer_started_before_routing_takes_the_owner_the_person_gets() -> None:
    timers = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, None)), hours(1)).timers
    routed = people(("p1", "mql", T0, "o7")).with_columns(pl.lit("dach").alias("queue"))
    outcome = evaluate_sla(ruleset(), timers, routed, hours(49))
    assert only_event(outcome)["owner_id"] == "o7"
    assert (timer(outcome, "p1")["owner_id"], timer(outcome, "p1")["queue"]) == ("o7", "dach")


def test_a_person_listed_twice_is_an_error() -> None:
    twice = people(("p1", "mql", T0, "o1"), ("p1", "sal", T0, "o1"))
    with pytest.raises(SchemaError, match="people"):
        evaluate_sla(ruleset(), NO_TIMERS, twice, hours(1))


def test_a_missing_column_is_named() -> None:
    with pytest.raises(SchemaError, match="stage"):
        evaluate_sla(ruleset(), NO_TIMERS, pl.DataFrame({"person_id": ["p1"]}), hours(1))


# Restarting after reassignment ---------------------------------------------------------


def test_reassigning_after_a_breach_restarts_the_timer_for_the_new_owner() -> None:
    state = people(("p1", "mql", T0, "o1"), ("p2", "mql", T0, "o2"))
    breached = evaluate_sla(ruleset(), NO_TIMERS, state, hours(50))
    reassigned = pl.DataFrame({"person_id": ["p1"], "owner_id": ["o9"], "queue": ["dach"]})
    outcome = restart_timers(ruleset(), breached.timers, reassigned, hours(51))
    assert timer(outcome, "p1") == {
        "person_id": "p1",
        "stage": "mql",
        "owner_id": "o9",
        "queue": "dach",
        "started_at": hours(51),
        "due_at": hours(99),
        "status": "open",
    }
    assert timer(outcome, "p2") == timer(breached, "p2")
    event = only_event(outcome)
    assert (event["person_id"], event["kind"], event["owner_id"]) == ("p1", "started", "o9")
    assert (event["occurred_at"], event["due_at"]) == (hours(51), hours(99))


def test_a_restarted_timer_is_not_mistaken_for_a_new_stage_entry() -> None:
    state = people(("p1", "mql", T0, "o1"))
    breached = evaluate_sla(ruleset(), NO_TIMERS, state, hours(50))
    reassigned = pl.DataFrame({"person_id": ["p1"], "owner_id": ["o9"], "queue": [None]})
    restarted = restart_timers(ruleset(), breached.timers, reassigned, hours(51))
    moved_owner = state.with_columns(pl.lit("o9").alias("owner_id"))
    quiet = evaluate_sla(ruleset(), restarted.timers, moved_owner, hours(60))
    assert quiet.events.is_empty()
    overdue = evaluate_sla(ruleset(), restarted.timers, moved_owner, hours(100))
    assert kinds(overdue) == [("p1", "breached")]
    assert only_event(overdue)["owner_id"] == "o9"


def test_a_restart_uses_the_new_queues_calendar() -> None:
    rules = ruleset(
        {"stage": "mql", "within": "2h"},
        calendars={"office": {"timezone": "UTC", "hours": "09:00-17:00"}},
        routing={
            "on_enter": "mql",
            "queues": {"day": {"members": [{"owner": "o9"}], "calendar": "office"}},
        },
    )
    timers = evaluate_sla(rules, NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(3)).timers
    reassigned = pl.DataFrame({"person_id": ["p1"], "owner_id": ["o9"], "queue": ["day"]})
    outcome = restart_timers(rules, timers, reassigned, hours(7))  # 16:00 UTC
    assert timer(outcome, "p1")["due_at"] == hours(25)  # one hour today, one tomorrow


def test_restarting_ignores_people_without_a_timer() -> None:
    timers = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), hours(1)).timers
    reassigned = pl.DataFrame({"person_id": ["p5"], "owner_id": ["o9"], "queue": [None]})
    outcome = restart_timers(ruleset(), timers, reassigned, hours(2))
    assert outcome.events.is_empty()
    assert outcome.timers.equals(timers)


# Reporting -----------------------------------------------------------------------------


def ledger(*rows: tuple[str, str, str, datetime, str | None]) -> pl.DataFrame:
    """(person_id, stage, kind, occurred_at, owner_id) rows of the SLA ledger."""
    return pl.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "stage": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "due_at": [r[3] + timedelta(hours=48) for r in rows],
            "occurred_at": [r[3] for r in rows],
            "action": [None for _ in rows],
            "owner_id": [r[4] for r in rows],
            "escalate_to": [None for _ in rows],
        },
        schema=EVENT_SCHEMA,
    )


def changes(*rows: tuple[str, str | None, str, datetime]) -> pl.DataFrame:
    """(person_id, from_stage, to_stage, changed_at) rows of the stage-change ledger."""
    return pl.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "from_stage": [r[1] for r in rows],
            "to_stage": [r[2] for r in rows],
            "rule": ["rule" for _ in rows],
            "reason": [None for _ in rows],
            "rules_version": ["v1" for _ in rows],
            "changed_at": [r[3] for r in rows],
        },
        schema={
            "person_id": pl.String(),
            "from_stage": pl.String(),
            "to_stage": pl.String(),
            "rule": pl.String(),
            "reason": pl.String(),
            "rules_version": pl.String(),
            "changed_at": TIMESTAMP,
        },
    )


EVENTS = ledger(
    ("p1", "mql", "started", hours(0), "ann"),
    ("p1", "mql", "met", hours(10), "ann"),
    ("p2", "mql", "started", hours(0), "bob"),
    ("p2", "mql", "breached", hours(48), "bob"),
    ("p3", "mql", "started", hours(0), "bob"),
    ("p3", "mql", "breached", hours(48), "bob"),
    ("p3", "mql", "started", hours(50), "cat"),  # reassigned and restarted: still open
    ("p4", "mql", "started", hours(1), "ann"),  # still open
    ("p6", "mql", "started", hours(0), "ann"),
    ("p6", "mql", "started", hours(5), "dan"),  # reassigned before the deadline: one open timer
    ("p7", "mql", "started", hours(0), "cat"),
    ("p7", "mql", "met", hours(30), "cat"),  # left and came back at the same instant
    ("p7", "mql", "started", hours(30), "cat"),
    ("p5", "sal", "started", hours(1), "dan"),  # another stage
    ("p5", "sal", "breached", hours(49), "dan"),
)
CHANGES = changes(
    ("p1", "lead", "mql", hours(0)),
    ("p1", "mql", "sal", hours(10)),  # 10 h
    ("p1", "sal", "sql", hours(20)),  # a second accepted stage: not a second acceptance
    ("p2", "lead", "mql", hours(0)),
    ("p2", "mql", "sql", hours(30)),  # 30 h, skipping sal
    ("p3", "lead", "mql", hours(0)),
    ("p3", "mql", "recycled", hours(5)),  # the first stint was never accepted
    ("p3", "recycled", "mql", hours(100)),
    ("p3", "mql", "sal", hours(102)),  # 2 h from the re-entry
    ("p4", "lead", "mql", hours(1)),  # not accepted yet
)


def test_the_report_counts_timers_of_the_stage() -> None:
    report = sla_report(EVENTS, CHANGES, stage="mql", accepted=["sal", "sql"])
    assert (report.started, report.met, report.breached) == (9, 2, 2)
    assert report.still_open == 4  # p3, p4, p6 and p7 each have one timer running
    assert report.breach_rate == pytest.approx(0.5)


def test_the_report_measures_time_to_accept_from_each_stage_entry() -> None:
    accept = sla_report(EVENTS, CHANGES, stage="mql", accepted=["sal", "sql"]).time_to_accept
    # 2, 10 and 30 hours.
    assert accept.count == 3
    assert accept.median_hours == pytest.approx(10)
    assert accept.mean_hours == pytest.approx(14)
    assert accept.p90_hours == pytest.approx(26)
    assert accept.working_hours is False


def test_time_to_accept_in_working_hours_with_a_calendar() -> None:
    friday_4pm = datetime(2026, 5, 8, 16, 0, tzinfo=UTC)
    monday_10am = datetime(2026, 5, 11, 10, 0, tzinfo=UTC)
    stage_changes = changes(("p1", "lead", "mql", friday_4pm), ("p1", "mql", "sal", monday_10am))
    office = Calendar(hours="09:00-17:00")
    wall = sla_report(EVENTS, stage_changes, stage="mql", accepted=["sal"])
    working = sla_report(EVENTS, stage_changes, stage="mql", accepted=["sal"], calendar=office)
    assert wall.time_to_accept.median_hours == pytest.approx(66)
    assert working.time_to_accept.median_hours == pytest.approx(2)
    assert working.time_to_accept.working_hours is True


def test_the_report_breaks_breaches_down_by_owner_worst_first() -> None:
    report = sla_report(EVENTS, CHANGES, stage="mql", accepted=["sal"])
    assert report.by_owner.rows() == [("bob", 2, 0, 1.0), ("ann", 0, 1, 0.0), ("cat", 0, 1, 0.0)]
    assert report.by_owner.columns == ["owner_id", "breached", "met", "breach_rate"]


def test_the_report_is_json_friendly() -> None:
    report = sla_report(EVENTS, CHANGES, stage="mql", accepted=["sal", "sql"])
    data = json.loads(json.dumps(report.as_dict()))
    assert data["breached"] == 2
    assert data["breach_rate"] == pytest.approx(0.5)
    assert data["time_to_accept"]["count"] == 3
    assert data["by_owner"][0] == {"owner_id": "bob", "breached": 2, "met": 0, "breach_rate": 1.0}


def test_a_report_with_nothing_closed_or_accepted_has_no_rates() -> None:
    report = sla_report(
        ledger(("p1", "mql", "started", T0, "ann")),
        changes(("p1", "lead", "mql", T0)),
        stage="mql",
        accepted=["sal"],
    )
    assert (report.started, report.still_open, report.breach_rate) == (1, 1, None)
    assert report.time_to_accept.count == 0
    assert report.time_to_accept.median_hours is None
    assert report.by_owner.is_empty()
    assert json.dumps(report.as_dict())


def test_the_report_reads_the_ledger_evaluate_sla_writes() -> None:
    state = people(("p1", "mql", T0, "ann"), ("p2", "mql", T0, "bob"))
    first = evaluate_sla(ruleset(), NO_TIMERS, state, hours(1))
    moved = people(("p1", "sal", hours(12), "ann"), ("p2", "mql", T0, "bob"))
    second = evaluate_sla(ruleset(), first.timers, moved, hours(60))
    events = pl.concat([first.events, second.events])
    report = sla_report(events, CHANGES.head(0), stage="mql", accepted=["sal"])
    assert (report.started, report.met, report.breached, report.still_open) == (2, 1, 1, 0)
    assert report.breach_rate == pytest.approx(0.5)


# Handed over later than the evidence ---------------------------------------------------


def test_a_timer_starts_when_the_person_was_handed_over_not_at_older_evidence() -> None:
    entered_last_month = people(("p1", "mql", hours(-24 * 30), "o1")).with_columns(
        pl.lit(T0, dtype=TIMESTAMP).alias("owned_since")
    )
    outcome = evaluate_sla(ruleset(), NO_TIMERS, entered_last_month, T0)
    assert only_event(outcome)["kind"] == "started"
    assert (timer(outcome, "p1")["started_at"], timer(outcome, "p1")["status"]) == (T0, "open")


def test_without_a_hand_over_time_an_old_stage_entry_is_already_late() -> None:
    outcome = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", hours(-100), "o1")), T0)
    assert kinds(outcome) == [("p1", "started"), ("p1", "breached")]


def test_acceptance_is_met_at_the_crm_time_of_the_move_not_at_the_next_sync() -> None:
    started = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), T0).timers
    # A week later the sync sees the acceptance, stamped with the CRM's time: 5 hours in.
    outcome = evaluate_sla(ruleset(), started, people(("p1", "sal", hours(5), "o1")), hours(168))
    assert (only_event(outcome)["kind"], only_event(outcome)["occurred_at"]) == ("met", hours(5))
    late = evaluate_sla(ruleset(), started, people(("p1", "sal", hours(60), "o1")), hours(168))
    assert (only_event(late)["kind"], only_event(late)["occurred_at"]) == ("breached", hours(48))


def test_a_move_stamped_at_the_hand_over_itself_closes_the_timer_then() -> None:
    started = evaluate_sla(ruleset(), NO_TIMERS, people(("p1", "mql", T0, "o1")), T0).timers
    # The next pass finds the evidence predates the hand-over: the move is stamped at it.
    outcome = evaluate_sla(ruleset(), started, people(("p1", "sql", T0, "o1")), hours(168))
    assert (only_event(outcome)["kind"], only_event(outcome)["occurred_at"]) == ("met", T0)
