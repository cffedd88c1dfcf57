"""Scoring: fit, decayed engagement, caps, grades, accounts, lifecycle and reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from abmsync.rules.compiled import compile_rules
from abmsync.rules.explain import reasons_of
from abmsync.rules.model import RuleSet
from abmsync.rules.scoring import ScoreResult, score

AS_OF = datetime(2026, 5, 1, tzinfo=UTC)


def ruleset(**sections: Any) -> RuleSet:
    base: dict[str, Any] = {
        "fit": [{"name": "software", "when": "industry = 'Software'", "points": 20}],
        "engagement": {
            "half_life_days": 10,
            "window_days": 60,
            "events": [
                {"name": "form", "type": "form_submit", "points": 20},
                {
                    "name": "pricing",
                    "type": "page_view",
                    "when": "url ILIKE '%/pricing%'",
                    "points": 10,
                },
                {"name": "any page", "type": "page_view", "points": 1},
                {"name": "opens", "type": "email_open", "points": 2, "cap": 5},
                {"name": "unsubscribe", "type": "unsubscribe", "points": -30, "cap": 20},
            ],
        },
        "grades": {"A": 30, "B": 15, "C": 5},
        "bands": {1: 40, 2: 20, 3: 5},
    }
    base.update(sections)
    return RuleSet.model_validate(base)


def people(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": f"p{i}", **row} for i, row in enumerate(rows)], infer_schema_length=None
    )


def touches(*rows: tuple[str, str, float, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"person_id": p, "type": t, "occurred_at": AS_OF - timedelta(days=d), "url": u}
            for p, t, d, u in rows
        ],
        schema={
            "person_id": pl.String(),
            "type": pl.String(),
            "occurred_at": pl.Datetime("us", "UTC"),
            "url": pl.String(),
        },
    )


def run(
    rules: RuleSet,
    frame: pl.DataFrame,
    tps: pl.DataFrame | pl.LazyFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> ScoreResult:
    return score(compile_rules(rules, AS_OF), frame, tps, accounts)


def row(result: ScoreResult, person: str = "p0") -> dict[str, Any]:
    return result.explained([person]).row(0, named=True)


def test_engagement_halves_every_half_life() -> None:
    result = run(ruleset(), people({}), touches(("p0", "form_submit", 10, None)))
    assert row(result)["engagement"] == pytest.approx(10.0)


def test_touchpoints_outside_the_window_or_in_the_future_count_for_nothing() -> None:
    result = run(
        ruleset(),
        people({}),
        touches(("p0", "form_submit", 61, None), ("p0", "form_submit", -1, None)),
    )
    assert row(result)["engagement"] == 0
    assert row(result)["band"] == 4


def test_a_touchpoint_exactly_window_days_old_still_counts() -> None:
    rules = ruleset(
        engagement={
            "half_life_days": None,
            "window_days": 30,
            "events": [{"type": "webinar", "points": 7}],
        }
    )
    just_older = 30 + 1 / 86_400e6  # one microsecond past the window
    tps = touches(("p0", "webinar", 30, None), ("p1", "webinar", just_older, None))
    result = run(rules, people({}, {}), tps)
    assert row(result, "p0")["engagement"] == 7
    assert row(result, "p1")["engagement"] == 0


def _flat(points: float, **sections: Any) -> RuleSet:
    """Rules where one webinar gives exactly ``points`` (no decay)."""
    engagement = {
        "half_life_days": None,
        "window_days": 30,
        "events": [{"type": "webinar", "points": points}],
    }
    return ruleset(engagement=engagement, **sections)


def test_bands_compare_the_exact_engagement_not_the_rounded_one() -> None:
    rules = _flat(4.996, bands={1: 40, 2: 20, 3: 5})
    exact = _flat(5.0, bands={1: 40, 2: 20, 3: 5})
    below = run(rules, people({}), touches(("p0", "webinar", 1, None)))
    at = run(exact, people({}), touches(("p0", "webinar", 1, None)))
    assert (row(below)["band"], row(below)["priority"]) == (4, "D4")
    assert (row(at)["band"], row(at)["priority"]) == (3, "D3")
    # Shown and recorded rounded, all the same.
    shown = below.public_people().row(0, named=True)
    assert (shown["engagement"], shown["total"], shown["band"]) == (5.0, 5.0, 4)
    assert row(below)["engagement"] == pytest.approx(4.996, abs=1e-12)


def test_a_fit_exactly_at_a_grade_threshold_gets_that_grade() -> None:
    rules = ruleset(
        fit=[
            {"name": "software", "when": "industry = 'Software'", "points": 15},
            {"name": "almost", "when": "industry = 'Retail'", "points": 14.996},
        ]
    )
    result = run(rules, people({"industry": "Software"}, {"industry": "Retail"}))
    assert row(result, "p0")["grade"] == "B"  # B: 15
    assert row(result, "p1")["grade"] == "C"


def test_lifecycle_conditions_see_the_exact_engagement() -> None:
    lifecycle = {
        "stages": ["lead", "mql"],
        "transitions": [{"to": "mql", "from": ["lead"], "when": "engagement >= 5"}],
    }
    almost = run(_flat(4.996, lifecycle=lifecycle), people({}), touches(("p0", "webinar", 1, None)))
    enough = run(_flat(5.0, lifecycle=lifecycle), people({}), touches(("p0", "webinar", 1, None)))
    assert row(almost)["stage"] == "lead"
    assert row(enough)["stage"] == "mql"


def test_mqa_sees_the_exact_account_engagement() -> None:
    accounts = {"mqa": "account_engagement >= 10"}
    frame = people({"account_id": "a1"}, {"account_id": "a1"})
    tps = touches(("p0", "webinar", 1, None), ("p1", "webinar", 1, None))
    account = pl.DataFrame({"id": ["a1"]})
    almost = run(_flat(4.998, accounts=accounts), frame, tps, account)
    enough = run(_flat(5.0, accounts=accounts), frame, tps, account)
    assert almost.accounts.row(0, named=True)["mqa"] is False
    assert almost.accounts.row(0, named=True)["account_engagement"] == 10.0  # shown rounded
    assert enough.accounts.row(0, named=True)["mqa"] is True


def test_one_touchpoint_scores_on_every_rule_it_matches() -> None:
    result = run(ruleset(), people({}), touches(("p0", "page_view", 0, "https://x.io/pricing")))
    assert row(result)["engagement"] == pytest.approx(11.0)


def test_caps_bound_positive_and_negative_rules() -> None:
    opens = [("p0", "email_open", 0, None)] * 10
    result = run(ruleset(), people({}, {}), touches(*opens, ("p1", "unsubscribe", 0, None)))
    assert row(result, "p0")["engagement"] == 5
    assert row(result, "p1")["engagement"] == -20


def test_no_half_life_means_no_decay() -> None:
    rules = ruleset(
        engagement={
            "half_life_days": None,
            "window_days": 30,
            "events": [{"type": "webinar", "points": 7}],
        }
    )
    result = run(rules, people({}), touches(("p0", "webinar", 29, None)))
    assert row(result)["engagement"] == 7


def test_grade_band_and_priority_follow_the_thresholds() -> None:
    result = run(
        ruleset(),
        people({"industry": "Software"}, {"industry": "Retail"}),
        touches(("p0", "form_submit", 0, None), ("p0", "form_submit", 0, None)),
    )
    first, second = row(result, "p0"), row(result, "p1")
    assert (first["fit"], first["grade"], first["band"], first["priority"]) == (20, "B", 1, "B1")
    assert (second["fit"], second["grade"], second["priority"]) == (0, "D", "D4")
    assert first["total"] == pytest.approx(60)


def test_people_inherit_account_attributes_but_their_own_values_win() -> None:
    accounts = pl.DataFrame(
        {"id": ["a1"], "industry": ["Software"], "employees": [900], "annual_revenue": [2e9]}
    )
    frame = people({"account_id": "a1"}, {"account_id": "a1", "industry": "Retail"})
    rules = ruleset(accounts={"tiers": [{"tier": "strategic", "when": "annual_revenue >= 1e9"}]})
    result = run(rules, frame, None, accounts)
    assert row(result, "p0")["fit"] == 20
    assert row(result, "p1")["fit"] == 0
    assert row(result, "p0")["account_tier"] == "strategic"


def test_a_declared_custom_field_missing_from_the_data_warns_and_never_fires() -> None:
    rules = ruleset(
        fields={"is_competitor": "boolean"},
        fit=[{"name": "competitor", "when": "is_competitor", "points": -50}],
    )
    result = run(rules, people({}))
    assert row(result)["fit"] == 0
    assert any("is_competitor" in w for w in result.warnings)


def test_buying_roles_coverage_and_mqa_roll_up_to_the_account() -> None:
    rules = ruleset(
        accounts={
            "buying_roles": {
                "decider": "HAS_WORD(title, 'vp', 'chief')",
                "user": "HAS_WORD(title, 'engineer')",
                "buyer": "HAS_WORD(title, 'procurement')",
            },
            "engaged_min": 5,
            "mqa": "engaged_roles >= 2 AND account_engagement >= 30",
        }
    )
    accounts = pl.DataFrame({"id": ["a1", "a2"], "name": ["One", "Two"]})
    frame = people(
        {"account_id": "a1", "title": "VP Engineering"},
        {"account_id": "a1", "title": "Engineer"},
        {"account_id": "a1", "title": "Procurement lead"},
        {"account_id": "a2", "title": "Chief Engineer"},
    )
    tps = touches(
        ("p0", "form_submit", 0, None), ("p1", "form_submit", 0, None), ("p3", "page_view", 0, None)
    )
    result = run(rules, frame, tps, accounts)
    assert row(result, "p0")["buying_roles"] == ["decider"]  # "Engineering" is not "engineer"
    assert sorted(row(result, "p3")["buying_roles"]) == ["decider", "user"]
    one = result.accounts.filter(pl.col("id") == "a1").row(0, named=True)
    two = result.accounts.filter(pl.col("id") == "a2").row(0, named=True)
    assert (one["people"], one["engaged_people"], one["engaged_roles"]) == (3, 2, 2)
    assert one["coverage"] == pytest.approx(2 / 3, abs=1e-4)
    assert one["mqa"] is True and two["mqa"] is False
    assert row(result, "p2")["mqa"] is True


def test_the_first_matching_transition_wins_and_terminal_stages_stay() -> None:
    rules = ruleset(
        lifecycle={
            "stages": ["lead", "mql", "customer", "disqualified"],
            "terminal": ["customer"],
            "transitions": [
                {"to": "disqualified", "from": "*", "when": "industry = 'Competition'"},
                {"name": "hot", "to": "mql", "from": ["lead"], "when": "engagement >= 20"},
                {"to": "mql", "from": ["lead"], "when": "fit >= 20"},
            ],
        }
    )
    frame = people(
        {"industry": "Competition"},
        {"industry": "Software"},
        {"stage": "customer", "industry": "Competition"},
        {},
    )
    result = run(rules, frame, touches(("p1", "form_submit", 0, None)))
    assert [row(result, f"p{i}")["stage"] for i in range(4)] == [
        "disqualified",
        "mql",
        "customer",
        "lead",
    ]
    assert row(result, "p1")["stage_rule"] == "hot"
    assert row(result, "p3")["stage_rule"] is None


def test_reasons_name_each_rule_with_its_points_and_date_rounded_like_the_score() -> None:
    result = run(
        ruleset(),
        people({"industry": "Software"}),
        touches(
            ("p0", "form_submit", 2, None),
            ("p0", "email_open", 1.5, None),
            ("p0", "email_open", 3, None),
        ),
    )
    text = result.public_people()["reasons"][0]
    # 20 × 0.5^(2/10) = 17.4 → 17; the newest open was 1.5 days before 1 May: 29 April.
    assert text.startswith("+20 software; +17 form (2026-04-29); +3 opens ×2 (2026-04-29)")


def test_reasons_stay_the_same_from_day_to_day_while_the_rounded_points_do() -> None:
    rules = ruleset(
        engagement={
            "half_life_days": 1000,
            "window_days": 60,
            "events": [{"name": "form", "type": "form_submit", "points": 20}],
        }
    )
    frame = people({"industry": "Software"})
    day_one = score(compile_rules(rules, AS_OF), frame, touches(("p0", "form_submit", 2, None)))
    later = AS_OF + timedelta(days=3)
    day_four = score(compile_rules(rules, later), frame, touches(("p0", "form_submit", 2, None)))
    first, second = (r.public_people()["reasons"][0] for r in (day_one, day_four))
    assert first == second == "+20 software; +20 form (2026-04-29)"


def test_reasons_in_base_points_change_only_with_new_activity() -> None:
    rules = ruleset(writeback={"reasons_format": {"points": "base"}})
    frame = people({"industry": "Software"})
    tps = touches(("p0", "form_submit", 2, None), ("p0", "email_open", 1, None))
    texts = [
        score(compile_rules(rules, AS_OF + timedelta(days=d)), frame, tps).public_people()[
            "reasons"
        ][0]
        for d in (0, 5)
    ]
    assert texts[0] == texts[1]
    assert texts[0].startswith("+20 software; +20 form (2026-04-29); +2 opens (2026-04-30)")


def test_reasons_can_show_ages_and_more_decimals_instead() -> None:
    rules = ruleset(writeback={"reasons_format": {"when": "age", "digits": 1}})
    result = run(
        rules,
        people({"industry": "Software"}),
        touches(
            ("p0", "form_submit", 2, None),
            ("p0", "email_open", 1, None),
            ("p0", "email_open", 3, None),
        ),
    )
    text = result.public_people()["reasons"][0]
    assert text.startswith("+20 software; +17.4 form (2 days ago); +3.5 opens ×2 (1 day ago)")
    reasons = reasons_of(result.rules, row(result))
    assert [(r.rule, r.kind, r.count) for r in reasons] == [
        ("software", "fit", 1),
        ("form", "engagement", 1),
        ("opens", "engagement", 2),
    ]
    assert reasons[1].age_days == pytest.approx(2.0)


def test_negative_reasons_use_a_minus_sign() -> None:
    rules = ruleset(fit=[{"name": "student", "when": "HAS_WORD(title, 'student')", "points": -30}])
    assert run(rules, people({"title": "Student"})).public_people()["reasons"][0] == "−30 student"


def test_scoring_is_a_pure_function_of_rules_data_and_as_of() -> None:
    frame = people({"industry": "Software"}, {"industry": None})
    tps = touches(("p0", "form_submit", 3, None), ("p1", "page_view", 1, "/pricing"))
    first, second = run(ruleset(), frame, tps), run(ruleset(), frame, tps)
    assert first.people.equals(second.people)
    later = score(compile_rules(ruleset(), AS_OF + timedelta(days=5)), frame, tps)
    assert not later.people["engagement"].equals(first.people["engagement"])


def test_touchpoint_timestamps_as_text_or_naive_are_read_as_utc() -> None:
    text = pl.DataFrame(
        {"person_id": ["p0"], "type": ["form_submit"], "occurred_at": ["2026-04-21T00:00:00Z"]}
    )
    naive = pl.DataFrame(
        {"person_id": ["p0"], "type": ["form_submit"], "occurred_at": [datetime(2026, 4, 21)]}
    )
    expected = 10.0
    assert row(run(ruleset(), people({}), text))["engagement"] == pytest.approx(expected)
    assert row(run(ruleset(), people({}), naive))["engagement"] == pytest.approx(expected)


def test_scored_people_keep_the_input_order() -> None:
    ids = [f"p{i:05d}" for i in range(20_000)][::-1]
    frame = pl.DataFrame(
        {
            "id": ids,
            "industry": ["Software", None] * 10_000,
            "account_id": [f"a{i % 50}" for i in range(20_000)],
        }
    )
    accounts = pl.DataFrame({"id": [f"a{i}" for i in range(50)], "annual_revenue": [1e9] * 50})
    tps = touches(*[(ids[i], "form_submit", i % 40, None) for i in range(0, 20_000, 3)])
    result = run(ruleset(), frame, tps, accounts)
    assert result.people["person_id"].to_list() == ids
    assert result.accounts["id"].to_list() == accounts["id"].to_list()


def test_buying_roles_list_every_role_held_in_rules_order_and_none_as_empty() -> None:
    rules = ruleset(
        accounts={
            "buying_roles": {
                "user": "HAS_WORD(title, 'engineer')",
                "decider": "HAS_WORD(title, 'vp', 'chief')",
                "buyer": "HAS_WORD(title, 'procurement')",
            }
        }
    )
    frame = people(
        {"title": "Chief Procurement Engineer"},
        {"title": "Procurement VP"},
        {"title": "Analyst"},
        {"title": None},
    )
    result = run(rules, frame)
    assert result.people["buying_roles"].to_list() == [
        ["user", "decider", "buyer"],
        ["decider", "buyer"],
        [],
        [],
    ]
    none_configured = run(ruleset(), people({"title": "VP"}))
    assert none_configured.people["buying_roles"].to_list() == [[]]


def test_a_lifecycle_without_transitions_keeps_every_stage() -> None:
    rules = ruleset(lifecycle={"stages": ["lead", "mql"], "transitions": []})
    result = run(rules, people({"stage": "mql"}, {}))
    assert result.people["stage"].to_list() == ["mql", "lead"]
    assert result.people["stage_rule"].to_list() == [None, None]


def test_touchpoints_scanned_from_parquet_score_like_touchpoints_in_memory(tmp_path: Path) -> None:
    frame = people({"industry": "Software"}, {"title": "VP"}, {})
    tps = touches(
        ("p0", "form_submit", 3, None),
        ("p0", "page_view", 1, "/pricing"),
        ("p1", "email_open", 0.5, None),
        ("p1", "email_open", 70, None),
    )
    tps.write_parquet(tmp_path / "touchpoints.parquet")
    scanned = run(ruleset(), frame, pl.scan_parquet(tmp_path / "touchpoints.parquet"))
    in_memory = run(ruleset(), frame, tps)
    assert scanned.people.equals(in_memory.people)
    assert scanned.public_people().equals(in_memory.public_people())
    assert scanned.public_people(["p1"]).equals(in_memory.public_people().slice(1, 1))
