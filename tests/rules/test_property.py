"""The vectorized engine agrees with the per-record reference on random rules and data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abmsync.rules.compiled import compile_rules
from abmsync.rules.model import RuleSet
from abmsync.rules.scoring import score
from tests.rules.reference import evaluate, score_person

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
TITLES = [
    "VP Sales",
    "Director of International Sales",
    "cto",
    "Student",
    "Engineer",
    "Head of IT",
    "Chief Executive",
    "intern",
    "",
]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "software"]
URLS = ["/pricing", "/blog/a", "/Pricing/enterprise", "/contact-sales", "/docs/x_y"]
TYPES = ["form_submit", "page_view", "email_open"]

text_field = st.sampled_from(["title", "industry"])
words = st.sampled_from(["vp", "cto", "sales", "intern", "soft", "head", "chief", "of"])


def _text_value(field: str) -> st.SearchStrategy[str]:
    pool = TITLES if field == "title" else INDUSTRIES
    return st.sampled_from(pool)


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["cmp", "in", "ilike", "like", "word", "null", "bool", "num"]))
    field = draw(text_field)
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "!=", "<>"]))
        return f"{field} {op} '{draw(_text_value(field))}'"
    if kind == "in":
        values = draw(st.lists(_text_value(field), min_size=1, max_size=3))
        return f"{field} IN ({', '.join(repr(v) for v in values)})"
    if kind == "ilike":
        return f"{field} ILIKE '%{draw(words)}%'"
    if kind == "like":
        operator = draw(st.sampled_from(["LIKE", "ILIKE"]))
        pattern = draw(st.sampled_from(["V%", "%s", "c_o", "%Sales%", "%of%sales", "_"]))
        return f"{field} {operator} '{pattern}'"
    if kind == "word":
        return f"HAS_WORD({field}, '{draw(words)}', '{draw(words)}')"
    if kind == "null":
        return f"{draw(st.sampled_from(['title', 'industry', 'employees']))} IS NULL"
    if kind == "bool":
        return draw(st.sampled_from(["is_partner", "NOT is_partner", "TRUE", "FALSE"]))
    op = draw(st.sampled_from([">", ">=", "<", "<=", "="]))
    if draw(st.booleans()):
        return f"employees BETWEEN {draw(st.integers(0, 500))} AND {draw(st.integers(0, 5000))}"
    return f"employees {op} {draw(st.integers(0, 2000))}"


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) AND ({p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} OR {p[1]}"),
        inner.map(lambda c: f"NOT ({c})"),
    ),
    max_leaves=4,
)

url_conditions = st.sampled_from(
    [
        None,
        "url ILIKE '%pricing%'",
        "url LIKE '/blog%'",
        "url IS NULL",
        "NOT url ILIKE '%contact%'",
        "HAS_WORD(url, 'docs') OR url = '/pricing'",
    ]
)


@st.composite
def rulesets(draw: st.DrawFn) -> RuleSet:
    fit = [
        {"name": f"r{i}", "when": draw(conditions), "points": draw(st.integers(-30, 30))}
        for i in range(draw(st.integers(0, 5)))
    ]
    events = []
    for i in range(draw(st.integers(0, 4))):
        event: dict[str, object] = {"name": f"e{i}", "points": draw(st.integers(-20, 40))}
        event_type = draw(st.sampled_from([*TYPES, None]))
        when = draw(url_conditions)
        if event_type is None and when is None:
            event_type = "page_view"
        if event_type is not None:
            event["type"] = event_type
        if when is not None:
            event["when"] = when
        if draw(st.booleans()):
            event["cap"] = draw(st.integers(1, 50))
        events.append(event)
    half_life = draw(st.sampled_from([None, 7, 30.5]))
    return RuleSet.model_validate(
        {
            "fields": {"is_partner": "boolean"},
            "fit": fit,
            "engagement": {
                "half_life_days": half_life,
                "window_days": draw(st.sampled_from([30, 90])),
                "events": events,
            },
            "grades": {"A": 30, "B": 10, "C": 0},
            "bands": {1: 40, 2: 15, 3: 3},
        }
    )


people_rows = st.lists(
    st.fixed_dictionaries(
        {
            "title": st.one_of(st.none(), st.sampled_from(TITLES)),
            "industry": st.one_of(st.none(), st.sampled_from(INDUSTRIES)),
            "employees": st.one_of(st.none(), st.integers(0, 3000)),
            "is_partner": st.one_of(st.none(), st.booleans()),
        }
    ),
    min_size=1,
    max_size=8,
)

touch_rows = st.lists(
    st.fixed_dictionaries(
        {
            "person": st.integers(0, 7),
            "type": st.sampled_from([*TYPES, "webinar"]),
            "url": st.one_of(st.none(), st.sampled_from(URLS)),
            # Now and both windows' edges exactly, besides anything in between.
            "days_ago": st.one_of(
                st.floats(-5, 120, allow_nan=False), st.sampled_from([0.0, 30.0, 90.0])
            ),
        }
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ruleset=rulesets(), people=people_rows, touches=touch_rows)
def test_vectorized_scores_equal_the_reference_evaluator(
    ruleset: RuleSet, people: list[dict[str, object]], touches: list[dict[str, object]]
) -> None:
    person_rows = [{"id": f"p{i}", **row} for i, row in enumerate(people)]
    touchpoints = [
        {
            "id": f"t{i}",
            "person_id": f"p{t['person']}",
            "type": t["type"],
            "url": t["url"],
            "occurred_at": AS_OF - timedelta(days=float(t["days_ago"])),
        }  # type: ignore[arg-type]
        for i, t in enumerate(touches)
        if int(t["person"]) < len(people)  # type: ignore[call-overload]
    ]
    frame = pl.DataFrame(
        person_rows,
        schema={
            "id": pl.String(),
            "title": pl.String(),
            "industry": pl.String(),
            "employees": pl.Int64(),
            "is_partner": pl.Boolean(),
        },
    )
    touch_frame = pl.DataFrame(
        touchpoints,
        schema={
            "id": pl.String(),
            "person_id": pl.String(),
            "type": pl.String(),
            "url": pl.String(),
            "occurred_at": pl.Datetime("us", "UTC"),
        },
    )
    result = score(compile_rules(ruleset, AS_OF), frame, touch_frame).people
    by_id = {row["person_id"]: row for row in result.iter_rows(named=True)}
    for person in person_rows:
        mine = [t for t in touchpoints if t["person_id"] == person["id"]]
        fit, engagement, grade, band = score_person(ruleset, person, mine, AS_OF)
        got = by_id[person["id"]]
        assert got["fit"] == fit, (person, [r.when for r in ruleset.fit])
        assert got["engagement"] == pytest.approx(engagement, abs=1e-9), (person, mine)
        assert got["grade"] == grade
        # Both classify the exact value; only summation order may differ, by ulps.
        near_threshold = any(abs(engagement - t) < 1e-9 for t in ruleset.bands.values())
        if not near_threshold:
            assert got["band"] == band, (engagement, got["engagement"])


@settings(max_examples=200, deadline=None)
@given(condition=conditions, people=people_rows)
def test_compiled_conditions_treat_unknown_as_false_like_the_reference(
    condition: str, people: list[dict[str, object]]
) -> None:
    from abmsync.rules.expr import compile_condition

    scope = {"title": "text", "industry": "text", "employees": "integer", "is_partner": "boolean"}
    compiled = compile_condition(condition, scope)  # type: ignore[arg-type]
    frame = pl.DataFrame(
        people,
        schema={
            "title": pl.String(),
            "industry": pl.String(),
            "employees": pl.Int64(),
            "is_partner": pl.Boolean(),
        },
    )
    got = frame.with_columns(compiled.expr.alias("hit"))["hit"].to_list()
    assert got == [evaluate(condition, row) for row in people], condition
