"""A lifecycle pass: placement, fast track, transitions, terminal stages, sales feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from abmsync.rules.compiled import compile_rules
from abmsync.rules.model import RuleSet
from abmsync.rules.progress import (
    PLACED_FROM_SOURCE,
    PLACED_INITIAL,
    LifecycleOutcome,
    advance,
    empty_state,
)
from abmsync.rules.scoring import score

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
RULES = RuleSet.model_validate(
    {
        "fields": {"is_competitor": "boolean"},
        "fit": [{"name": "software", "when": "industry = 'Software'", "points": 30}],
        "engagement": {
            "half_life_days": None,
            "window_days": 90,
            "events": [{"type": "form_submit", "points": 20}],
        },
        "grades": {"A": 30, "B": 20, "C": 10},
        "lifecycle": {
            "stages": ["subscriber", "lead", "mql", "sal", "recycled", "customer", "disqualified"],
            "terminal": ["customer", "disqualified"],
            "fast_track": [
                {
                    "name": "contact sales",
                    "type": "form_submit",
                    "when": "url ILIKE '%/contact-sales%'",
                    "to": "mql",
                    "from": ["subscriber", "lead", "recycled"],
                    "within_days": 7,
                }
            ],
            "transitions": [
                {"to": "disqualified", "from": "*", "when": "is_competitor"},
                {
                    "name": "rejected",
                    "to": "recycled",
                    "from": ["mql", "sal"],
                    "when": "crm_status = 'Rejected'",
                },
                {
                    "name": "qualified",
                    "to": "mql",
                    "from": ["subscriber", "lead"],
                    "when": "grade = 'A' AND engagement >= 20",
                },
                {
                    "name": "gone quiet",
                    "to": "recycled",
                    "from": ["mql"],
                    "when": "days_in_stage > 30",
                },
            ],
            "feedback": {"rejected": ["Rejected"], "accepted": ["Accepted"]},
        },
    }
)


def people(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": f"p{i}", **row} for i, row in enumerate(rows)], infer_schema_length=None
    )


def touches(*rows: tuple[str, str, datetime, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"person_id": p, "type": t, "occurred_at": at, "url": u} for p, t, at, u in rows],
        schema={
            "person_id": pl.String(),
            "type": pl.String(),
            "occurred_at": pl.Datetime("us", "UTC"),
            "url": pl.String(),
        },
    )


def run(
    frame: pl.DataFrame,
    at: datetime,
    state: pl.DataFrame | None = None,
    tps: pl.DataFrame | None = None,
    since: datetime | None = None,
) -> LifecycleOutcome:
    rules = compile_rules(RULES, at)
    result = score(rules, frame, tps)
    current = empty_state() if state is None else state
    return advance(rules, result.people, current, result.window, since=since)


def stage_of(outcome: LifecycleOutcome, person: str) -> str:
    return str(outcome.state.filter(pl.col("person_id") == person)["stage"][0])


def test_new_people_are_placed_in_their_source_stage_or_the_initial_one() -> None:
    outcome = run(people({"stage": "sal"}, {"stage": "Nurture"}, {}), T0)
    assert [stage_of(outcome, p) for p in ("p0", "p1", "p2")] == ["sal", "subscriber", "subscriber"]
    rules = dict(outcome.changes.select("person_id", "rule").iter_rows())
    assert rules == {"p0": PLACED_FROM_SOURCE, "p1": PLACED_INITIAL, "p2": PLACED_INITIAL}


def test_a_second_pass_with_nothing_new_changes_nothing() -> None:
    frame = people({"industry": "Software"}, {"stage": "mql"})
    tps = touches(("p0", "form_submit", T0 - timedelta(days=1), "/ebook"))
    first = run(frame, T0, tps=tps)
    second = run(frame, T0 + timedelta(hours=1), first.state, tps)
    assert first.moved["person_id"].to_list() == ["p0"]
    assert second.changes.is_empty()
    assert second.state.equals(first.state)


def test_days_in_stage_comes_from_when_they_entered_it() -> None:
    first = run(people({"stage": "mql"}), T0)
    assert (
        stage_of(run(people({"stage": "mql"}), T0 + timedelta(days=20), first.state), "p0") == "mql"
    )
    later = run(people({"stage": "mql"}), T0 + timedelta(days=31), first.state)
    assert stage_of(later, "p0") == "recycled"
    assert later.moved.row(0, named=True)["rule"] == "gone quiet"
    moved_state = later.state.row(0, named=True)
    assert moved_state["previous_stage"] == "mql"
    assert moved_state["stage_entered_at"] == T0 + timedelta(days=31)


def test_a_fast_track_touchpoint_skips_the_queue_only_when_it_is_new() -> None:
    frame = people({"stage": "lead"}, {"stage": "lead"})
    recent = T0 - timedelta(days=2)
    stale = T0 - timedelta(days=20)
    tps = touches(
        ("p0", "form_submit", recent, "https://x.io/contact-sales"),
        ("p1", "form_submit", stale, "https://x.io/contact-sales"),
    )
    outcome = run(frame, T0, tps=tps)
    assert stage_of(outcome, "p0") == "mql"
    assert outcome.moved.row(0, named=True)["rule"] == "fast track: contact sales"
    assert stage_of(outcome, "p1") == "lead"  # older than within_days
    # Recycled later, the same old form must not fast-track them again.
    recycled = outcome.state.with_columns(
        pl.lit("recycled").alias("stage"), pl.lit(T0 + timedelta(days=1)).alias("stage_entered_at")
    )
    again = run(frame, T0 + timedelta(days=2), recycled, tps)
    assert stage_of(again, "p0") == "recycled"


def test_disqualification_beats_a_fast_track_and_terminal_stages_hold() -> None:
    frame = people({"stage": "lead", "is_competitor": True}, {"stage": "customer"})
    tps = touches(
        ("p0", "form_submit", T0, "/contact-sales"), ("p1", "form_submit", T0, "/contact-sales")
    )
    outcome = run(frame, T0, tps=tps)
    assert stage_of(outcome, "p0") == "disqualified"
    assert stage_of(outcome, "p1") == "customer"


def test_sales_rejection_is_kept_with_its_reason_and_missing_reasons_are_flagged() -> None:
    frame = people(
        {"stage": "mql", "crm_status": "Rejected", "rejection_reason": "no budget"},
        {"stage": "mql", "crm_status": "Rejected", "rejection_reason": "  "},
        {"stage": "mql", "crm_status": "Accepted"},
    )
    outcome = run(frame, T0)
    move = outcome.changes.filter(pl.col("from_stage") == "mql").sort("person_id")
    assert move["reason"].to_list() == [
        "crm_status=Rejected; rejection_reason=no budget",
        "crm_status=Rejected; rejection_reason=  ",
    ]
    assert outcome.flags["person_id"].to_list() == ["p1"]


def test_people_seen_first_keep_their_source_owner() -> None:
    outcome = run(people({"stage": "mql", "owner_id": "u7"}), T0)
    assert outcome.state.row(0, named=True)["owner_id"] == "u7"
    changes = outcome.changes
    assert changes["rules_version"].n_unique() == 1
    assert (changes["changed_at"] == T0).all()


def test_rerunning_a_pass_at_the_same_time_moves_nobody_twice() -> None:
    frame = people({"stage": "lead", "crm_status": "Rejected"})
    tps = touches(("p0", "form_submit", T0 - timedelta(hours=1), "/contact-sales"))
    first = run(frame, T0, tps=tps)
    assert stage_of(first, "p0") == "mql"  # fast track despite the stale rejection
    again = run(frame, T0, first.state, tps)
    assert again.changes.is_empty()
    later = run(frame, T0 + timedelta(days=1), first.state, tps)
    assert stage_of(later, "p0") == "recycled"  # a day later the status still says rejected


def test_a_fast_track_touchpoint_exactly_within_days_old_still_counts() -> None:
    frame = people({"stage": "lead"}, {"stage": "lead"})
    edge = T0 - timedelta(days=7)
    tps = touches(
        ("p0", "form_submit", edge, "https://x.io/contact-sales"),
        ("p1", "form_submit", edge - timedelta(microseconds=1), "https://x.io/contact-sales"),
    )
    outcome = run(frame, T0, tps=tps)
    assert stage_of(outcome, "p0") == "mql"
    assert stage_of(outcome, "p1") == "lead"


def test_a_move_is_stamped_with_the_crm_time_of_sales_verdict() -> None:
    placed = run(people({"stage": "mql"}), T0)
    verdict = T0 + timedelta(days=2, hours=3)
    frame = people({"stage": "mql", "crm_status": "Rejected", "crm_status_at": verdict})
    outcome = run(frame, T0 + timedelta(days=7), placed.state, since=T0)
    change = outcome.changes.row(0, named=True)
    assert (change["to_stage"], change["changed_at"]) == ("recycled", verdict)
    assert change["recorded_at"] == T0 + timedelta(days=7)
    assert outcome.state.row(0, named=True)["stage_entered_at"] == verdict


def test_a_move_is_never_stamped_before_the_previous_pass_nor_after_this_one() -> None:
    placed = run(people({"stage": "mql"}, {"stage": "mql"}), T0 - timedelta(days=30))
    frame = people(
        {"stage": "mql", "crm_status": "Rejected", "crm_status_at": T0 - timedelta(days=20)},
        {"stage": "mql", "crm_status": "Rejected", "crm_status_at": T0 + timedelta(days=9)},
    )
    outcome = run(frame, T0 + timedelta(days=7), placed.state, since=T0)
    stamps = dict(outcome.changes.select("person_id", "changed_at").iter_rows())
    assert stamps == {"p0": T0, "p1": T0 + timedelta(days=7)}


def test_a_fast_track_is_stamped_with_its_form_and_a_threshold_with_the_newest_touch() -> None:
    created = T0 - timedelta(days=40)
    frame = people(
        {"created_at": created},
        {"created_at": created, "industry": "Software"},
    )
    form, ebook = T0 - timedelta(days=3), T0 - timedelta(days=5)
    tps = touches(
        ("p0", "form_submit", form, "https://x.io/contact-sales"),
        ("p1", "form_submit", ebook, "/ebook"),
    )
    outcome = run(frame, T0, tps=tps)
    moves = outcome.changes.filter(pl.col("from_stage").is_not_null())
    assert dict(moves.select("person_id", "rule").iter_rows()) == {
        "p0": "fast track: contact sales",
        "p1": "qualified",
    }
    assert dict(moves.select("person_id", "changed_at").iter_rows()) == {"p0": form, "p1": ebook}
    # Placed in the initial stage when they were created: a real stint before the move.
    placements = outcome.changes.filter(pl.col("from_stage").is_null())
    assert (placements["changed_at"] == created).all()
    assert (outcome.changes["recorded_at"] == T0).all()


def test_a_condition_on_the_clock_is_stamped_at_the_pass() -> None:
    first = run(people({"stage": "mql"}), T0)
    later = run(people({"stage": "mql"}), T0 + timedelta(days=31), first.state, since=T0)
    assert later.changes.row(0, named=True)["changed_at"] == T0 + timedelta(days=31)


def test_a_pass_not_after_the_previous_one_moves_nobody() -> None:
    frame = people({"stage": "mql", "crm_status": "Rejected", "crm_status_at": T0})
    placed = run(people({"stage": "mql"}), T0 - timedelta(days=3))
    assert run(frame, T0, placed.state, since=T0).changes.is_empty()
    assert run(frame, T0 - timedelta(days=1), placed.state, since=T0).changes.is_empty()
    assert stage_of(run(frame, T0 + timedelta(hours=1), placed.state, since=T0), "p0") == "recycled"


def test_a_crm_time_read_as_text_is_evidence_and_an_unreadable_one_is_not() -> None:
    placed = run(people({"stage": "mql"}, {"stage": "mql"}), T0)
    frame = people(
        {"stage": "mql", "crm_status": "Rejected", "crm_status_at": "2026-04-03T09:30:00.000+0000"},
        {"stage": "mql", "crm_status": "Rejected", "crm_status_at": "last Tuesday"},
    )
    outcome = run(frame, T0 + timedelta(days=7), placed.state, since=T0)
    stamps = dict(outcome.changes.select("person_id", "changed_at").iter_rows())
    assert stamps == {
        "p0": datetime(2026, 4, 3, 9, 30, tzinfo=UTC),
        "p1": T0 + timedelta(days=7),
    }
