"""Routing: strategies, fall-through, capacity, fallback and the round-robin guarantees."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abmsync.rules.model import QueueMember, RuleSet
from abmsync.rules.routing import (
    ASSIGNMENT_COLUMNS,
    FALLBACK_RULE,
    RoutingOutcome,
    RoutingState,
    next_in_queue,
    route,
    weighted_cycle,
)

AS_OF = datetime(2026, 5, 1, tzinfo=UTC)

CANDIDATE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "owner_id": pl.String(),
    "account_owner_id": pl.String(),
    "account_name": pl.String(),
    "account_id": pl.String(),
    "account_tier": pl.String(),
    "account_country": pl.String(),
    "grade": pl.String(),
    "band": pl.Int64(),
    "total": pl.Float64(),
    "country": pl.String(),
    "state": pl.String(),
    "postal_code": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
}
OWNER_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "name": pl.String(),
    "queue": pl.String(),
    "max_open": pl.Int64(),
    "available": pl.Boolean(),
}


def ruleset(
    rules: list[dict[str, Any]],
    queues: dict[str, Any] | None = None,
    territories: dict[str, Any] | None = None,
    fallback: str | None = None,
) -> RuleSet:
    routing: dict[str, Any] = {"on_enter": "mql", "rules": rules, "queues": queues or {}}
    if territories is not None:
        routing["territories"] = territories
    if fallback is not None:
        routing["fallback"] = fallback
    return RuleSet.model_validate({"routing": routing})


def queue(*members: str | tuple[str, int], max_open: int | None = None) -> dict[str, Any]:
    listed = [
        {"owner": m, "weight": 1} if isinstance(m, str) else {"owner": m[0], "weight": m[1]}
        for m in members
    ]
    return {"members": listed, "max_open": max_open}


def owners(*rows: str | dict[str, Any]) -> pl.DataFrame:
    base = {"name": None, "queue": None, "max_open": None, "available": True}
    records = [{**base, "id": r} if isinstance(r, str) else {**base, **r} for r in rows]
    return pl.DataFrame(records, schema=OWNER_COLUMNS)


def candidates(*rows: dict[str, Any]) -> pl.DataFrame:
    records = [{**dict.fromkeys(CANDIDATE_COLUMNS), **row} for row in rows]
    return pl.DataFrame(records, schema=CANDIDATE_COLUMNS)


def people(count: int, **fields: Any) -> pl.DataFrame:
    return candidates(*[{"id": f"p{i:02}", **fields} for i in range(1, count + 1)])


def run(
    rules: RuleSet,
    frame: pl.DataFrame,
    team: pl.DataFrame,
    state: RoutingState | None = None,
) -> RoutingOutcome:
    return route(rules, frame, team, state or RoutingState(), as_of=AS_OF)


def owner_of(outcome: RoutingOutcome) -> dict[str, str]:
    rows = outcome.assignments.select("person_id", "owner_id").iter_rows()
    return {str(person): str(owner) for person, owner in rows}


def reason_of(outcome: RoutingOutcome, person: str) -> str:
    frames = (outcome.assignments, outcome.unassigned, outcome.kept)
    found = [f.filter(pl.col("person_id") == person)["reason"] for f in frames]
    return next(str(s.item()) for s in found if s.len())


# --- weighted cycle -----------------------------------------------------------------------


def members(*weights: int) -> list[QueueMember]:
    return [QueueMember(owner=chr(ord("A") + i), weight=w) for i, w in enumerate(weights)]


@pytest.mark.parametrize(
    ("weights", "cycle"),
    [
        ((1,), "A"),
        ((1, 1, 1), "ABC"),
        ((2, 1), "ABA"),
        ((5, 1, 1), "AABACAA"),
        ((3, 2), "ABABA"),
        ((1, 1, 3), "CACBC"),
        ((4, 2), "ABA"),  # divided by the common divisor: same interleaving, shorter
    ],
)
def test_weighted_cycle_interleaves_smoothly(weights: tuple[int, ...], cycle: str) -> None:
    assert "".join(weighted_cycle(members(*weights))) == cycle


def test_weighted_cycle_adds_up_a_member_listed_twice() -> None:
    listed = [QueueMember(owner="A"), QueueMember(owner="B"), QueueMember(owner="A")]
    assert weighted_cycle(listed) == ["A", "B", "A"]


# --- round robin --------------------------------------------------------------------------


DACH = ruleset(
    [{"name": "DACH", "when": "country IN ('DE', 'AT', 'CH')", "assign": {"round_robin": "dach"}}],
    queues={"dach": queue(("anna", 2), "ben")},
)


def test_round_robin_follows_the_weighted_cycle_and_keeps_its_pointer() -> None:
    outcome = run(DACH, people(7, country="DE"), owners("anna", "ben"))
    assert list(owner_of(outcome).values()) == ["anna", "ben", "anna"] * 2 + ["anna"]
    assert outcome.state.pointers == {"dach": 1}
    assert outcome.state.open_counts == {"anna": 5, "ben": 2}
    assert outcome.assignments.schema == pl.Schema(ASSIGNMENT_COLUMNS)
    assert outcome.assignments.row(0) == (
        "p01",
        "anna",
        "dach",
        "DACH",
        "round robin in dach (weight 2 of 3)",
    )
    assert reason_of(outcome, "p02") == "round robin in dach (weight 1 of 3)"


def test_round_robin_starts_at_the_persisted_pointer() -> None:
    outcome = run(DACH, people(3, country="AT"), owners("anna", "ben"), RoutingState({"dach": 1}))
    assert list(owner_of(outcome).values()) == ["ben", "anna", "anna"]
    assert outcome.state.pointers == {"dach": 1}


def test_round_robin_passes_over_unavailable_members() -> None:
    team = owners("anna", {"id": "ben", "available": False})
    outcome = run(DACH, people(4, country="CH"), team)
    assert set(owner_of(outcome).values()) == {"anna"}
    assert outcome.state.open_counts == {"anna": 4}


def test_an_owner_whose_availability_is_unknown_counts_as_available() -> None:
    team = owners({"id": "anna", "available": None}, {"id": "ben", "available": False})
    outcome = run(DACH, people(2, country="DE"), team)
    assert set(owner_of(outcome).values()) == {"anna"}


def test_round_robin_passes_over_members_missing_from_the_owners_list() -> None:
    outcome = run(DACH, people(3, country="DE"), owners("ben"))
    assert set(owner_of(outcome).values()) == {"ben"}


def test_people_a_rule_does_not_match_are_not_routed_by_it() -> None:
    outcome = run(DACH, people(2, country="FR"), owners("anna", "ben"))
    assert outcome.assignments.is_empty()
    assert (
        outcome.unassigned["reason"].to_list()
        == ["no routing rule matches and there is no fallback queue"] * 2
    )


# --- account owner and fall-through -------------------------------------------------------

STRATEGIC = ruleset(
    [
        {
            "name": "strategic accounts",
            "when": "account_tier = 'strategic'",
            "assign": "account_owner",
        },
        {"name": "everyone", "assign": {"round_robin": "inside"}},
    ],
    queues={"inside": queue("sdr1", "sdr2")},
)


def test_account_owner_gets_people_of_their_account() -> None:
    frame = candidates(
        {
            "id": "p1",
            "account_tier": "strategic",
            "account_owner_id": "ae",
            "account_name": "Acme GmbH",
        }
    )
    outcome = run(STRATEGIC, frame, owners("ae", "sdr1", "sdr2"))
    assert outcome.assignments.row(0) == (
        "p1",
        "ae",
        None,
        "strategic accounts",
        "account owner of Acme GmbH",
    )
    assert outcome.state.open_counts == {"ae": 1}
    assert outcome.state.pointers == {}


@pytest.mark.parametrize(
    ("team", "account_owner", "why"),
    [
        (owners({"id": "ae", "available": False}, "sdr1", "sdr2"), "ae", "ae is unavailable"),
        (owners({"id": "ae", "max_open": 3}, "sdr1", "sdr2"), "ae", "ae is at capacity (3 of 3)"),
        (owners("sdr1", "sdr2"), "ae", "ae is not in the owners list"),
        (owners("ae", "sdr1", "sdr2"), None, "the account has no owner"),
    ],
)
def test_an_ineligible_account_owner_falls_through_to_the_next_rule(
    team: pl.DataFrame, account_owner: str | None, why: str
) -> None:
    frame = candidates({"id": "p1", "account_tier": "strategic", "account_owner_id": account_owner})
    outcome = run(STRATEGIC, frame, team, RoutingState(open_counts={"ae": 3}))
    assert owner_of(outcome) == {"p1": "sdr1"}
    assert outcome.assignments["rule"].item() == "everyone"
    prefix = "account owner " if account_owner else ""
    assert reason_of(outcome, "p1") == (
        f"round robin in inside (weight 1 of 2); skipped: {prefix}{why} (rule strategic accounts)"
    )


def test_rules_are_tried_in_file_order() -> None:
    rules = ruleset(
        [
            {"name": "A grades", "when": "grade = 'A'", "assign": {"round_robin": "senior"}},
            {"name": "Germany", "when": "country = 'DE'", "assign": {"round_robin": "dach"}},
            {"name": "rest", "assign": {"round_robin": "inside"}},
        ],
        queues={"senior": queue("s"), "dach": queue("d"), "inside": queue("i")},
    )
    frame = candidates(
        {"id": "p1", "grade": "A", "country": "DE"},
        {"id": "p2", "grade": "B", "country": "DE"},
        {"id": "p3", "grade": "B", "country": "FR"},
    )
    outcome = run(rules, frame, owners("s", "d", "i"))
    assert owner_of(outcome) == {"p1": "s", "p2": "d", "p3": "i"}
    assert outcome.assignments["rule"].to_list() == ["A grades", "Germany", "rest"]


def test_a_rule_whose_queue_is_full_falls_through_to_the_next() -> None:
    rules = ruleset(
        [
            {"name": "Germany", "when": "country = 'DE'", "assign": {"round_robin": "dach"}},
            {"name": "rest", "assign": {"round_robin": "inside"}},
        ],
        queues={"dach": queue("d", max_open=1), "inside": queue("i")},
    )
    outcome = run(rules, people(2, country="DE"), owners("d", "i"))
    assert owner_of(outcome) == {"p01": "d", "p02": "i"}
    assert reason_of(outcome, "p02") == (
        "round robin in inside (weight 1 of 1); skipped: dach queue at capacity (rule Germany)"
    )


def test_conditions_measure_time_from_as_of() -> None:
    rules = ruleset(
        [{"name": "new", "when": "DAYS_SINCE(created_at) <= 7", "assign": {"round_robin": "q"}}],
        queues={"q": queue("o")},
    )
    frame = candidates({"id": "p1", "created_at": AS_OF - timedelta(days=3)})
    assert owner_of(run(rules, frame, owners("o"))) == {"p1": "o"}
    later = route(rules, frame, owners("o"), RoutingState(), as_of=AS_OF + timedelta(days=30))
    assert later.assignments.is_empty()


def test_a_field_missing_from_the_candidates_counts_as_null() -> None:
    rules = ruleset(
        [
            {"name": "software", "when": "industry = 'Software'", "assign": {"round_robin": "a"}},
            {"name": "rest", "assign": {"round_robin": "b"}},
        ],
        queues={"a": queue("x"), "b": queue("y")},
    )
    assert owner_of(run(rules, people(1), owners("x", "y"))) == {"p01": "y"}


# --- territories --------------------------------------------------------------------------

TERRITORIES = ruleset(
    [{"name": "regions", "assign": {"territory": "emea"}}],
    queues={"uk": queue("uk1", "uk2"), "dach": queue(("de1", 2), "de2")},
    territories={
        "emea": [
            {"country": ["gb", "IE"], "queue": "uk"},
            {"country": "DE", "postal": ["8*", "90"], "owner": "munich"},
            {"country": "DE", "queue": "dach"},
            {"country": "US", "state": ["ca", "WA"], "owner": "west"},
        ]
    },
)
TERRITORY_TEAM = owners("uk1", "uk2", "de1", "de2", "munich", "west")


@pytest.mark.parametrize(
    ("person", "owner", "reason"),
    [
        (
            {"country": "de", "postal_code": "80331"},
            "munich",
            "territory emea row 2 (country DE, postal 80331)",
        ),
        (
            {"country": "DE", "postal_code": "90402"},
            "munich",
            "territory emea row 2 (country DE, postal 90402)",
        ),
        (
            {"country": "DE", "postal_code": "10115"},
            "de1",
            "territory emea row 3 (country DE): round robin in dach (weight 2 of 3)",
        ),
        (
            {"country": "DE"},
            "de1",
            "territory emea row 3 (country DE): round robin in dach (weight 2 of 3)",
        ),
        (
            {"country": " Gb "},
            "uk1",
            "territory emea row 1 (country GB): round robin in uk (weight 1 of 2)",
        ),
        (
            {"country": "IE"},
            "uk1",
            "territory emea row 1 (country IE): round robin in uk (weight 1 of 2)",
        ),
        ({"country": "US", "state": "Ca"}, "west", "territory emea row 4 (country US, state Ca)"),
        (
            {"account_country": "US", "state": "WA"},
            "west",
            "territory emea row 4 (country US, state WA)",
        ),
    ],
)
def test_the_first_matching_territory_row_decides(
    person: dict[str, Any], owner: str, reason: str
) -> None:
    outcome = run(TERRITORIES, candidates({"id": "p1", **person}), TERRITORY_TEAM)
    assert owner_of(outcome) == {"p1": owner}
    assert reason_of(outcome, "p1") == reason


@pytest.mark.parametrize(
    "person",
    [{"country": "US", "state": "NY"}, {"country": "FR"}, {"postal_code": "80331"}, {}],
)
def test_a_person_no_territory_row_matches_is_not_routed_by_the_table(
    person: dict[str, Any],
) -> None:
    outcome = run(TERRITORIES, candidates({"id": "p1", **person}), TERRITORY_TEAM)
    assert outcome.assignments.is_empty()
    assert reason_of(outcome, "p1").startswith("no eligible owner: no row of territory emea")


def test_a_territory_owner_at_capacity_falls_through() -> None:
    rules = ruleset(
        [
            {"name": "regions", "assign": {"territory": "t"}},
            {"name": "rest", "assign": {"round_robin": "inside"}},
        ],
        queues={"inside": queue("i")},
        territories={"t": [{"postal": "8", "owner": "munich"}]},
    )
    team = owners({"id": "munich", "max_open": 1}, "i")
    outcome = run(rules, people(2, postal_code="81667"), team)
    assert owner_of(outcome) == {"p01": "munich", "p02": "i"}
    assert "territory t row 1 (postal 81667): munich is at capacity (1 of 1)" in reason_of(
        outcome, "p02"
    )


# --- capacity and availability ------------------------------------------------------------


@pytest.mark.parametrize(
    ("own_max", "queue_max", "open_now", "eligible"),
    [
        (None, None, 500, True),
        (3, None, 2, True),
        (3, None, 3, False),
        (None, 3, 3, False),
        (5, 2, 2, False),  # the queue's limit is lower
        (2, 5, 2, False),  # the owner's own limit is lower
        (5, 5, 4, True),
    ],
)
def test_capacity_is_the_smaller_of_the_owners_and_the_queues_limit(
    own_max: int | None, queue_max: int | None, open_now: int, eligible: bool
) -> None:
    rules = ruleset(
        [{"name": "q", "assign": {"round_robin": "q"}}],
        queues={"q": queue("a", "b", max_open=queue_max)},
    )
    team = owners({"id": "a", "max_open": own_max}, "b")
    outcome = run(rules, people(1), team, RoutingState(open_counts={"a": open_now}))
    assert owner_of(outcome) == {"p01": "a" if eligible else "b"}


def test_a_direct_assignment_respects_the_owners_home_queue_limit() -> None:
    rules = ruleset(
        [{"name": "key accounts", "assign": "account_owner"}],
        queues={"dach": queue("ae", max_open=2)},
    )
    team = owners({"id": "ae", "queue": "dach", "max_open": 10})
    outcome = run(rules, people(3, account_owner_id="ae"), team)
    assert list(owner_of(outcome)) == ["p01", "p02"]
    assert reason_of(outcome, "p03") == (
        "no eligible owner: account owner ae is at capacity (2 of 2) (rule key accounts)"
    )


def test_assignments_stop_when_everyone_is_at_capacity() -> None:
    rules = ruleset(
        [{"name": "DACH", "assign": {"round_robin": "dach"}}],
        queues={"dach": queue("a", "b", max_open=2)},
    )
    outcome = run(rules, people(6), owners("a", "b"), RoutingState(open_counts={"a": 1}))
    assert Counter(owner_of(outcome).values()) == {"a": 1, "b": 2}
    assert outcome.state.open_counts == {"a": 2, "b": 2}
    assert outcome.unassigned["person_id"].to_list() == ["p04", "p05", "p06"]
    assert reason_of(outcome, "p06") == "no eligible owner: dach queue at capacity (rule DACH)"


def test_an_unassigned_reason_says_what_kept_each_member_out() -> None:
    rules = ruleset(
        [{"name": "DACH", "assign": {"round_robin": "dach"}}],
        queues={"dach": queue("a", "b", "c", max_open=1)},
    )
    team = owners({"id": "a", "available": False}, "b")
    outcome = run(rules, people(1), team, RoutingState(open_counts={"b": 1}))
    assert reason_of(outcome, "p01") == (
        "no eligible owner: dach queue has no eligible member "
        "(1 at capacity, 1 unavailable, 1 unknown) (rule DACH)"
    )


# --- fallback -----------------------------------------------------------------------------


def test_the_fallback_queue_takes_people_no_rule_could_route() -> None:
    rules = ruleset(
        [{"name": "DACH", "when": "country = 'DE'", "assign": {"round_robin": "dach"}}],
        queues={"dach": queue("d", max_open=1), "default": queue("f1", "f2")},
        fallback="default",
    )
    frame = candidates({"id": "p1", "country": "DE"}, {"id": "p2", "country": "DE"}, {"id": "p3"})
    outcome = run(rules, frame, owners("d", "f1", "f2"))
    assert owner_of(outcome) == {"p1": "d", "p2": "f1", "p3": "f2"}
    assert outcome.assignments["rule"].to_list() == ["DACH", FALLBACK_RULE, FALLBACK_RULE]
    assert reason_of(outcome, "p3") == "fallback queue default (weight 1 of 2)"
    assert reason_of(outcome, "p2") == (
        "fallback queue default (weight 1 of 2); skipped: dach queue at capacity (rule DACH)"
    )
    assert outcome.state.pointers == {"dach": 0, "default": 0}


def test_people_even_the_fallback_cannot_take_are_unassigned_with_every_reason() -> None:
    rules = ruleset(
        [{"name": "DACH", "when": "country = 'DE'", "assign": {"round_robin": "dach"}}],
        queues={"dach": queue("d"), "default": queue("f")},
        fallback="default",
    )
    team = owners({"id": "d", "available": False}, {"id": "f", "available": False})
    outcome = run(rules, candidates({"id": "p1", "country": "DE"}), team)
    assert outcome.assignments.is_empty()
    assert outcome.unassigned.rows() == [
        (
            "p1",
            "no eligible owner: dach queue: every member is unavailable (rule DACH); "
            "default queue: every member is unavailable (fallback)",
        )
    ]


# --- people who already have an owner -----------------------------------------------------


def test_people_who_already_have_an_owner_keep_them() -> None:
    outcome = run(DACH, people(2, country="DE", owner_id="carl"), owners("anna", "ben"))
    assert outcome.assignments.is_empty()
    assert outcome.unassigned.is_empty()
    assert outcome.kept.rows()[0] == (
        "p01",
        "carl",
        "DACH",
        "already owned by carl; rule DACH does not reassign",
    )
    assert outcome.state == RoutingState()


def test_a_reassigning_rule_routes_owned_people_again() -> None:
    rules = ruleset(
        [{"name": "DACH", "assign": {"round_robin": "dach"}, "reassign": True}],
        queues={"dach": queue("anna", "ben")},
    )
    outcome = run(rules, people(1, owner_id="integration-user"), owners("anna", "ben"))
    assert owner_of(outcome) == {"p01": "anna"}
    assert reason_of(outcome, "p01") == (
        "round robin in dach (weight 1 of 2); replaces integration-user"
    )


def test_a_reassigning_rule_leaves_people_whose_owner_is_already_in_its_queue() -> None:
    rules = ruleset(
        [{"name": "DACH", "assign": {"round_robin": "dach"}, "reassign": True}],
        queues={"dach": queue("anna", "ben")},
    )
    outcome = run(rules, people(1, owner_id="ben"), owners("anna", "ben"))
    assert outcome.assignments.is_empty()
    assert outcome.kept.rows() == [("p01", "ben", "DACH", "already owned by ben, a member of dach")]


def test_owned_people_no_rule_matches_keep_their_owner_even_with_a_fallback() -> None:
    rules = ruleset(
        [{"name": "DACH", "when": "country = 'DE'", "assign": {"round_robin": "dach"}}],
        queues={"dach": queue("d"), "default": queue("f")},
        fallback="default",
    )
    outcome = run(rules, people(1, owner_id="x"), owners("d", "f"))
    assert outcome.assignments.is_empty()
    assert outcome.kept.rows() == [
        ("p01", "x", None, "already owned by x; no routing rule matches")
    ]


def test_a_reassigning_account_owner_rule_leaves_people_the_account_owner_has() -> None:
    rules = ruleset([{"name": "key", "assign": "account_owner", "reassign": True}])
    frame = candidates(
        {"id": "p1", "owner_id": "ae", "account_owner_id": "ae", "account_name": "Acme"},
        {"id": "p2", "owner_id": "sdr", "account_owner_id": "ae", "account_name": "Acme"},
    )
    outcome = run(rules, frame, owners("ae", "sdr"))
    assert owner_of(outcome) == {"p2": "ae"}
    assert outcome.kept.rows() == [
        ("p1", "ae", "key", "already owned by ae, the account owner of Acme")
    ]


def test_a_reassigning_territory_rule_leaves_people_already_in_the_territory() -> None:
    rules = ruleset(
        [{"name": "regions", "assign": {"territory": "t"}, "reassign": True}],
        queues={"dach": queue("d1", "d2")},
        territories={"t": [{"country": "DE", "queue": "dach"}, {"country": "US", "owner": "us"}]},
    )
    frame = candidates(
        {"id": "p1", "country": "DE", "owner_id": "d2"},
        {"id": "p2", "country": "US", "owner_id": "us"},
        {"id": "p3", "country": "US", "owner_id": "d2"},
    )
    outcome = run(rules, frame, owners("d1", "d2", "us"))
    assert owner_of(outcome) == {"p3": "us"}
    assert outcome.kept.rows() == [
        ("p1", "d2", "regions", "already owned by d2, a member of dach"),
        ("p2", "us", "regions", "already owned by us, the owner of territory t row 2"),
    ]


def test_the_first_matching_rule_decides_whether_an_owned_person_is_reassigned() -> None:
    rules = ruleset(
        [
            {"name": "DACH", "when": "country = 'DE'", "assign": {"round_robin": "dach"}},
            {"name": "rest", "assign": {"round_robin": "inside"}, "reassign": True},
        ],
        queues={"dach": queue("d"), "inside": queue("i")},
    )
    frame = candidates(
        {"id": "p1", "country": "DE", "owner_id": "x"}, {"id": "p2", "owner_id": "x"}
    )
    outcome = run(rules, frame, owners("d", "i"))
    assert owner_of(outcome) == {"p2": "i"}
    assert outcome.kept["person_id"].to_list() == ["p1"]


def test_an_owned_person_whose_reassignment_fails_keeps_their_owner() -> None:
    rules = ruleset(
        [{"name": "key", "assign": "account_owner", "reassign": True}],
        queues={"default": queue("f")},
        fallback="default",
    )
    frame = candidates({"id": "p1", "owner_id": "x", "account_owner_id": "ae"})
    outcome = run(rules, frame, owners({"id": "ae", "available": False}, "f"))
    assert outcome.assignments.is_empty()
    assert outcome.unassigned.is_empty()
    assert outcome.kept.rows() == [
        (
            "p1",
            "x",
            None,
            "already owned by x; no reassigning rule could route them: "
            "account owner ae is unavailable (rule key)",
        )
    ]


# --- order and state ----------------------------------------------------------------------


def test_the_best_candidates_are_routed_first() -> None:
    rules = ruleset(
        [{"name": "q", "assign": {"round_robin": "q"}}], queues={"q": queue("solo", max_open=2)}
    )
    frame = candidates(
        {"id": "p1", "grade": "B", "band": 1},
        {"id": "p2", "grade": None, "band": 1},
        {"id": "p3", "grade": "A", "band": 2, "total": 10.0},
        {"id": "p4", "grade": "A", "band": 2, "total": 50.0},
        {"id": "p5", "grade": "A", "band": 1, "total": 1.0},
    )
    outcome = run(rules, frame, owners("solo"))
    assert list(owner_of(outcome)) == ["p5", "p4"]
    assert outcome.unassigned["person_id"].to_list() == ["p3", "p1", "p2"]


def test_the_same_people_in_any_row_order_get_the_same_owners() -> None:
    frame = candidates(*[{"id": f"p{i}", "grade": "ABC"[i % 3], "country": "DE"} for i in range(9)])
    first = run(DACH, frame, owners("anna", "ben"))
    for seed in range(3):
        again = run(
            DACH, frame.sample(fraction=1.0, shuffle=True, seed=seed), owners("anna", "ben")
        )
        assert again.assignments.equals(first.assignments)


def test_the_input_state_is_not_changed() -> None:
    state = RoutingState(pointers={"dach": 1}, open_counts={"anna": 1})
    outcome = run(DACH, people(3, country="DE"), owners("anna", "ben"), state)
    assert state == RoutingState(pointers={"dach": 1}, open_counts={"anna": 1})
    assert outcome.state != state


def test_routing_without_a_routing_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="no 'routing' section"):
        run(RuleSet(), people(1), owners("a"))


# --- next in queue ------------------------------------------------------------------------


def test_next_in_queue_gives_the_member_after_the_pointer() -> None:
    rules = ruleset([], queues={"dach": queue("a", "b", "c")})
    state = RoutingState(pointers={"dach": 1}, open_counts={"b": 4})
    owner, after = next_in_queue(rules, "dach", owners("a", "b", "c"), state)
    assert owner == "b"
    assert after == RoutingState(pointers={"dach": 2}, open_counts={"b": 5})
    assert state == RoutingState(pointers={"dach": 1}, open_counts={"b": 4})


def test_next_in_queue_passes_over_the_excluded_owner() -> None:
    rules = ruleset([], queues={"dach": queue("a", "b", "c")})
    owner, after = next_in_queue(
        rules, "dach", owners("a", "b", "c"), RoutingState({"dach": 1}), exclude="b"
    )
    assert owner == "c"
    assert after.pointers == {"dach": 0}


def test_next_in_queue_gives_nobody_when_no_one_else_is_eligible() -> None:
    rules = ruleset([], queues={"dach": queue("a", "b", max_open=1)})
    state = RoutingState({"dach": 0}, {"a": 1})
    owner, after = next_in_queue(rules, "dach", owners("a", "b"), state, exclude="b")
    assert owner is None
    assert after == state


def test_next_in_queue_rejects_an_unknown_queue() -> None:
    rules = ruleset([], queues={"dach": queue("a")})
    with pytest.raises(ValueError, match="queue 'emea'"):
        next_in_queue(rules, "emea", owners("a"), RoutingState())


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    weights=st.lists(st.integers(1, 10), min_size=1, max_size=6),
    count=st.integers(1, 150),
)
def test_round_robin_shares_follow_the_weights(weights: list[int], count: int) -> None:
    names = [f"o{i}" for i in range(len(weights))]
    rules = ruleset(
        [{"name": "q", "assign": {"round_robin": "q"}}],
        queues={"q": queue(*zip(names, weights, strict=True))},
    )
    outcome = run(rules, people(count), owners(*names))
    got = Counter(owner_of(outcome).values())
    total = sum(weights)
    for name, weight in zip(names, weights, strict=True):
        assert abs(got[name] - count * weight / total) < 2
        if count % total == 0:
            assert got[name] == count * weight // total


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    pointer=st.integers(0, 100),
    cycles=st.integers(1, 4),
)
def test_every_full_cycle_gives_each_member_exactly_its_weight(
    weights: list[int], pointer: int, cycles: int
) -> None:
    names = [f"o{i}" for i in range(len(weights))]
    rules = ruleset(
        [{"name": "q", "assign": {"round_robin": "q"}}],
        queues={"q": queue(*zip(names, weights, strict=True))},
    )
    length = len(weighted_cycle(rules.routing.queues["q"].members))  # type: ignore[union-attr]
    state = RoutingState(pointers={"q": pointer})
    outcome = run(rules, people(length * cycles), owners(*names), state)
    got = Counter(owner_of(outcome).values())
    total = sum(weights)
    assert got == {n: w * length * cycles // total for n, w in zip(names, weights, strict=True)}
    assert outcome.state.pointers == {"q": pointer % length}


COUNTRIES = ["DE", "FR", "US", None]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RuleSet, pl.DataFrame, pl.DataFrame, RoutingState]:
    """A random team in disjoint queues, rules of every strategy, candidates and a state."""
    queue_count = draw(st.integers(1, 3))
    queues: dict[str, Any] = {}
    team: list[dict[str, Any]] = []
    for q in range(queue_count):
        names = [f"q{q}m{m}" for m in range(draw(st.integers(1, 3)))]
        weights = [draw(st.integers(1, 3)) for _ in names]
        queues[f"q{q}"] = queue(
            *zip(names, weights, strict=True), max_open=draw(st.none() | st.integers(1, 4))
        )
        for name in names:
            team.append(
                {
                    "id": name,
                    "queue": f"q{q}",
                    "max_open": draw(st.none() | st.integers(1, 5)),
                    "available": draw(st.booleans() | st.just(True)),
                }
            )
    ids = [t["id"] for t in team]
    queue_names = st.sampled_from(sorted(queues))
    assign = st.one_of(
        st.just("account_owner"),
        queue_names.map(lambda q: {"round_robin": q}),
        st.just({"territory": "t"}),
    )
    rules = [
        {
            "name": f"r{i}",
            "when": draw(st.sampled_from([None, "country = 'DE'", "grade IN ('A', 'B')"])),
            "assign": draw(assign),
            "reassign": draw(st.booleans()),
        }
        for i in range(draw(st.integers(0, 4)))
    ]
    rows = [
        {"country": "DE", "queue": draw(queue_names)},
        {"country": "US", "owner": draw(st.sampled_from(ids))},
    ]
    fallback = draw(st.none() | queue_names)
    ruleset_ = ruleset(rules, queues, {"t": rows}, fallback)
    people_ = [
        {
            "id": f"p{i:03}",
            "grade": draw(st.sampled_from(["A", "B", "C", None])),
            "country": draw(st.sampled_from(COUNTRIES)),
            "account_owner_id": draw(st.none() | st.sampled_from([*ids, "ghost"])),
            "owner_id": draw(st.none() | st.none() | st.sampled_from([*ids, "someone"])),
        }
        for i in range(draw(st.integers(0, 30)))
    ]
    state = RoutingState(
        pointers={q: draw(st.integers(0, 9)) for q in queues},
        open_counts={i: draw(st.integers(0, 3)) for i in ids if draw(st.booleans())},
    )
    return ruleset_, candidates(*people_), owners(*team), state


def routing_order(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["grade", "id"], nulls_last=True)


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios(), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_routing_in_several_calls_equals_routing_in_one(
    scenario: tuple[RuleSet, pl.DataFrame, pl.DataFrame, RoutingState], cuts: list[int]
) -> None:
    rules, frame, team, state = scenario
    whole = run(rules, frame, team, state)
    ordered = routing_order(frame)
    bounds = [0, *sorted(c for c in cuts if c <= ordered.height), ordered.height]
    carried = state
    parts: list[RoutingOutcome] = []
    for start, end in pairwise(bounds):
        part = run(rules, ordered.slice(start, end - start), team, carried)
        parts.append(part)
        carried = part.state
    assert pl.concat([p.assignments for p in parts]).equals(whole.assignments)
    assert pl.concat([p.unassigned for p in parts]).equals(whole.unassigned)
    assert pl.concat([p.kept for p in parts]).equals(whole.kept)
    assert carried == whole.state


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_routing_the_routed_people_again_changes_nothing(
    scenario: tuple[RuleSet, pl.DataFrame, pl.DataFrame, RoutingState],
) -> None:
    rules, frame, team, state = scenario
    first = run(rules, frame, team, state)
    assigned = first.assignments.select(pl.col("person_id").alias("id"), "owner_id")
    updated = frame.update(assigned, on="id")
    second = run(rules, updated, team, first.state)
    assert second.assignments.is_empty()
    assert second.state == first.state
    assert second.unassigned.equals(first.unassigned)


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_capacity_is_never_exceeded_and_everyone_is_accounted_for(
    scenario: tuple[RuleSet, pl.DataFrame, pl.DataFrame, RoutingState],
) -> None:
    rules, frame, team, state = scenario
    outcome = run(rules, frame, team, state)
    assert rules.routing is not None
    given_out = Counter(outcome.assignments["owner_id"].to_list())
    for owner_id, home, own_max, available in team.select(
        "id", "queue", "max_open", "available"
    ).iter_rows():
        before = state.open_counts.get(owner_id, 0)
        after = outcome.state.open_counts.get(owner_id, 0)
        assert after == before + given_out[owner_id]
        limits = [x for x in (own_max, rules.routing.queues[home].max_open) if x is not None]
        if limits:
            assert after <= max(before, min(limits))
        if not available:
            assert given_out[owner_id] == 0
    assert set(given_out) <= set(team["id"])
    seen = [
        *outcome.assignments["person_id"],
        *outcome.unassigned["person_id"],
        *outcome.kept["person_id"],
    ]
    assert sorted(seen) == sorted(frame["id"])
    owned = frame.filter(pl.col("owner_id").is_not_null())["id"].to_list()
    assert not set(owned) & set(outcome.unassigned["person_id"])
