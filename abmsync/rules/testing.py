"""Run the ``tests:`` block of a rules file: admins' unit tests for their rules.

Each case describes one person (and optionally their account and recent
touchpoints, by days ago) and what the rules should make of them. All cases
are scored together in one frame by the same engine production uses, so a
passing test says something true about production scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from abmsync.rules.compiled import compile_rules
from abmsync.rules.explain import reasons_of
from abmsync.rules.loader import LoadedRules
from abmsync.rules.model import RuleTest
from abmsync.rules.progress import advance, empty_state
from abmsync.rules.scoring import SCORE_DIGITS, score

# Tests are relative to "now" through days_ago; a fixed clock keeps them reproducible.
TEST_AS_OF = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOLERANCE = 0.01
# Expectations only a lifecycle: section can meet; without one they fail, saying why.
LIFECYCLE_CHECKS = frozenset({"stage", "moved_by"})
NO_LIFECYCLE = "nothing (the rules have no lifecycle: section)"


@dataclass(frozen=True)
class Check:
    """One expected value against the actual one."""

    field: str
    expected: object
    actual: object
    passed: bool


@dataclass(frozen=True)
class CaseResult:
    name: str
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def run_rule_tests(loaded: LoadedRules) -> list[CaseResult]:
    """Score every test case of ``loaded`` and compare with its expectations."""
    cases = loaded.ruleset.tests
    if not cases:
        return []
    rules = compile_rules(loaded, TEST_AS_OF)
    people, accounts, touchpoints = _frames(cases)
    result = score(rules, people, touchpoints, accounts)
    progressed = advance(rules, result.people, empty_state(), result.window)
    stages = progressed.state.select("person_id", pl.col("stage").alias("__stage"))
    moves = progressed.moved.select("person_id", pl.col("rule").alias("__moved_by"))
    explained = (
        result.explained()
        .join(stages, on="person_id", how="left")
        .join(moves, on="person_id", how="left")
    )
    scored = {row["person_id"]: row for row in explained.iter_rows(named=True)}
    results = []
    for index, case in enumerate(cases):
        row = scored[f"case-{index}"]
        fired = {reason.rule for reason in reasons_of(rules, row)}
        checks = _checks(case, row, fired, has_lifecycle=rules.ruleset.lifecycle is not None)
        results.append(CaseResult(case.name, checks))
    return results


def _frames(cases: list[RuleTest]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    people_rows, account_rows, touch_rows = [], [], []
    for index, case in enumerate(cases):
        person = {"id": f"case-{index}", **case.person}
        if case.account:
            person["account_id"] = f"account-{index}"
            account_rows.append({"id": f"account-{index}", **case.account})
        people_rows.append(person)
        for position, touch in enumerate(case.touchpoints):
            touch_rows.append(
                {
                    "id": f"case-{index}-{position}",
                    "person_id": f"case-{index}",
                    "type": touch.type,
                    "occurred_at": TEST_AS_OF - timedelta(days=touch.days_ago),
                    "url": touch.url,
                    "campaign": touch.campaign,
                }
            )
    people = pl.DataFrame(people_rows, infer_schema_length=None)
    accounts = pl.DataFrame(account_rows, infer_schema_length=None) if account_rows else None
    touchpoints = pl.DataFrame(
        touch_rows,
        schema={
            "id": pl.String(),
            "person_id": pl.String(),
            "type": pl.String(),
            "occurred_at": pl.Datetime("us", "UTC"),
            "url": pl.String(),
            "campaign": pl.String(),
        },
    )
    return people, _normalize_numbers(accounts), touchpoints


def _normalize_numbers(frame: pl.DataFrame | None) -> pl.DataFrame:
    """YAML reads ``2e9`` as text; numeric account fields are cast leniently."""
    if frame is None:
        return pl.DataFrame(schema={"id": pl.String()})
    casts = [
        pl.col(name).cast(pl.Float64, strict=False)
        for name in ("employees", "annual_revenue")
        if name in frame.columns
    ]
    return frame.with_columns(casts) if casts else frame


def _checks(
    case: RuleTest, row: dict[str, object], fired: set[str], *, has_lifecycle: bool
) -> list[Check]:
    expect = case.expect
    checks: list[Check] = []
    for name in ("fit", "engagement", "total"):
        wanted = getattr(expect, name)
        if wanted is not None:
            actual = row[name]
            ok = isinstance(actual, int | float) and abs(actual - wanted) <= TOLERANCE
            shown = round(actual, SCORE_DIGITS) if isinstance(actual, int | float) else actual
            checks.append(Check(name, wanted, shown, ok))
    simple = {
        "grade": "grade",
        "band": "band",
        "priority": "priority",
        "stage": "__stage",
        "moved_by": "__moved_by",
        "tier": "account_tier",
        "mqa": "mqa",
    }
    for name, column in simple.items():
        wanted = getattr(expect, name)
        if wanted is None:
            continue
        if name in LIFECYCLE_CHECKS and not has_lifecycle:
            checks.append(Check(name, wanted, NO_LIFECYCLE, False))
        else:
            checks.append(Check(name, wanted, row[column], row[column] == wanted))
    if expect.roles is not None:
        wanted_roles = sorted(role.value for role in expect.roles)
        actual_roles = sorted(row["buying_roles"] or [])  # type: ignore[call-overload]
        checks.append(Check("roles", wanted_roles, actual_roles, wanted_roles == actual_roles))
    for rule in expect.fired:
        checks.append(Check(f"fired '{rule}'", True, rule in fired, rule in fired))
    for rule in expect.not_fired:
        checks.append(Check(f"not fired '{rule}'", True, rule not in fired, rule not in fired))
    return checks
