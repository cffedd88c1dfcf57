"""Conditions compile to polars expressions with SQL semantics and null as false."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from abmsync.rules.expr import ConditionError, check_condition, compile_condition

SCOPE = {
    "title": "text",
    "industry": "text",
    "employees": "integer",
    "revenue": "number",
    "partner": "boolean",
    "created_at": "datetime",
}
PEOPLE = pl.DataFrame(
    {
        "title": ["VP Sales", "Director of International Sales", None, "CTO", "intern"],
        "industry": ["Software", None, "Retail", "Manufacturing", "Software"],
        "employees": [500, None, 10, 300, 40],
        "revenue": [1e9, None, 2.5e6, 3e8, None],
        "partner": [False, True, None, False, None],
        "created_at": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 5, 10, 20, 30)],
    },
    schema_overrides={"created_at": pl.Datetime("us", "UTC")},
)


def hits(condition: str) -> list[bool]:
    compiled = compile_condition(condition, SCOPE, as_of=datetime(2026, 2, 1, tzinfo=UTC))  # type: ignore[arg-type]
    return PEOPLE.with_columns(compiled.expr.alias("hit"))["hit"].to_list()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("industry IN ('Software', 'Manufacturing')", [True, False, False, True, True]),
        ("NOT industry IN ('Software')", [False, False, True, True, False]),
        ("employees >= 300", [True, False, False, True, False]),
        ("employees BETWEEN 10 AND 300", [False, False, True, True, True]),
        ("NOT (employees > 100)", [False, False, True, False, True]),
        ("industry IS NULL", [False, True, False, False, False]),
        ("industry IS NOT NULL AND employees < 100", [False, False, True, False, True]),
        ("partner", [False, True, False, False, False]),
        ("NOT partner", [True, False, False, True, False]),
        ("revenue >= 1e8 OR employees > 400", [True, False, False, True, False]),
        ("employees * 2 > 700", [True, False, False, False, False]),
        ("TRUE", [True] * 5),
    ],
)
def test_conditions_follow_sql_semantics_with_null_as_false(
    condition: str, expected: list[bool]
) -> None:
    assert hits(condition) == expected


def test_ilike_matches_substrings_in_any_case() -> None:
    assert hits("title ILIKE '%sales%'") == [True, True, False, False, False]
    assert hits("title LIKE '%sales%'") == [False, False, False, False, False]
    assert hits("title LIKE 'VP%'") == [True, False, False, False, False]
    assert hits("title ILIKE 'c_o'") == [False, False, False, True, False]


def test_substring_traps_are_avoided_by_whole_word_matching() -> None:
    # 'cto' is inside "Director" and 'intern' inside "International".
    assert hits("title ILIKE '%cto%'") == [False, True, False, True, False]
    assert hits("HAS_WORD(title, 'cto')") == [False, False, False, True, False]
    assert hits("HAS_WORD(title, 'intern', 'student')") == [False, False, False, False, True]


def test_or_of_ilike_terms_on_one_column_gives_the_same_answer_as_separate_terms() -> None:
    merged = hits("title ILIKE '%vp%' OR title ILIKE '%cto%' OR industry = 'Retail'")
    assert merged == [True, True, True, True, False]


def test_functions() -> None:
    assert hits("LOWER(title) = 'cto'") == [False, False, False, True, False]
    assert hits("LENGTH(title) > 10") == [False, True, False, False, False]
    assert hits("COALESCE(industry, 'Unknown') = 'Unknown'") == [False, True, False, False, False]
    assert hits("REGEXP_LIKE(title, '^(?i)vp\\b')") == [True, False, False, False, False]
    assert hits("DAYS_SINCE(created_at) > 20") == [True, True, True, False, False]
    assert hits("created_at >= '2026-01-10'") == [False, False, True, True, True]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("industy = 'x'", "unknown field 'industy' (did you mean 'industry'?)"),
        ("employees > 'many'", "type mismatch: cannot compare a number field and text 'many'"),
        ("industry IN ('a', 3)", "type mismatch: cannot compare a text field and number 3"),
        ("FOO(title)", "unknown function 'FOO'"),
        ("HAS_WORDS(title, 'x')", "unknown function 'HAS_WORDS' (did you mean 'HAS_WORD'?)"),
        ("employees", "a condition must be true or false, not number"),
        ("title ILIKE", "syntax error"),
        ("REGEXP_LIKE(title, '(')", "bad regular expression: unclosed group"),
        ("created_at > 'yesterday'", "not a date or time: 'yesterday'"),
        ("a.title = 'x'", "write the field name alone"),
        ("employees + title > 3", "arithmetic needs"),
    ],
)
def test_bad_conditions_are_reported_with_a_clear_message(condition: str, message: str) -> None:
    errors = check_condition(condition, SCOPE)  # type: ignore[arg-type]
    assert any(message in error.message for error in errors), errors


def test_error_offsets_point_at_the_offending_field() -> None:
    errors = check_condition("industry = 'x' AND employes > 3", SCOPE)  # type: ignore[arg-type]
    assert [e.offset for e in errors] == [19]


def test_compile_raises_with_every_error() -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition("industy = 'x' OR titel = 'y'", SCOPE)  # type: ignore[arg-type]
    assert len(caught.value.errors) == 2


def test_compiled_condition_lists_the_fields_it_reads() -> None:
    compiled = compile_condition("industry = 'x' OR HAS_WORD(title, 'vp')", SCOPE)  # type: ignore[arg-type]
    assert compiled.columns == {"industry", "title"}
