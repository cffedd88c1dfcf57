"""Bad rules files: every command that loads rules reports ``file:line:col: message``, once.

Hostile YAML (custom tags, alias bombs, deep nesting) is refused before any
value is built; numbers must be finite and of a sane size; ``version`` is
required, so are ``grades`` once there are fit rules; names that results
refer to are unique; write-back goes only to systems abmsync knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bad_input.conftest import EXAMPLE_RULES
from tests.bad_input.helpers import (
    FAILED,
    Expect,
    assert_one_error,
    assert_unchanged,
    invoke,
    position_of,
    snapshot,
)

BASE = """\
version: 1
fit:
  - {name: target industry, when: "industry = 'Software'", points: 10}
grades: {A: 40, B: 25, C: 10}
bands: {1: 60, 2: 30, 3: 10}
engagement:
  half_life_days: 30
  window_days: 180
  events:
    - {name: form fill, type: form_submit, points: 20, cap: 40}
accounts:
  engaged_min: 10
calendars:
  dach: {timezone: Europe/Berlin, hours: "09:00-17:00", holidays: [2026-12-24]}
lifecycle:
  stages: [lead, mql, sal]
  fast_track:
    - {name: contact sales, type: form_submit, to: mql, within_days: 14}
  transitions:
    - {name: hot lead, to: mql, from: [lead], when: "engagement >= 40"}
    - {name: accepted, to: sal, from: [mql], when: "crm_status = 'Accepted'"}
  sla:
    - {stage: mql, within: 16h, calendar: dach}
routing:
  on_enter: mql
  rules:
    - {name: everyone, assign: {round_robin: team}}
  queues:
    team: {members: [{owner: own-001, weight: 1}]}
tests:
  - name: software is fit
    person: {industry: Software}
    expect: {fit: 10}
writeback:
  salesforce:
    Lead: {score: ABM_Score__c}
"""


@dataclass(frozen=True)
class Broken:
    name: str
    text: str
    marker: str | None  # where the diagnostic points; None: no exact position checked
    message: str
    occurrence: int = 1

    @property
    def position(self) -> tuple[int, int] | None:
        return position_of(self.text, self.marker, self.occurrence) if self.marker else None


def edit(name: str, old: str, new: str, marker: str | None, message: str, n: int = 1) -> Broken:
    assert BASE.count(old) == 1, old
    return Broken(name, BASE.replace(old, new), marker, message, n)


ALIASES = "version: 1\nx: &a 1\nys: [" + ", ".join(["*a"] * 101) + "]\n"
LAUGHS = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
    for i in range(8)
)
DEEP_LIST = "version: 1\nfit: " + "[" * 200 + "]" * 200 + "\n"
DEEP_MAP = "version: 1\nfit: " + "{a: " * 200 + "1" + "}" * 200 + "\n"
DIGITS = "9" * 5000

BROKEN = [
    # hostile YAML
    edit("tag-on-mapping", "accounts:\n", "accounts: !custom\n", "!custom", "YAML tag '!custom'"),
    edit("tag-on-scalar", "points: 10}", "points: !points 10}", "!points", "YAML tag '!points'"),
    edit(
        "python-object",
        "accounts:\n  engaged_min: 10\n",
        "accounts: !!python/object:os.system {}\n",
        "!!python",
        "python/object:os.system",
    ),
    edit(
        "python-name",
        "engaged_min: 10",
        "engaged_min: !!python/name:os.system ''",
        "!!python",
        "python/name:os.system",
    ),
    edit("binary", "engaged_min: 10", "engaged_min: !!binary aGVsbG8=", "!!binary", "binary"),
    edit("set", "accounts:\n  engaged_min: 10\n", "accounts: !!set {a, b}\n", "!!set", "set"),
    edit("include", "engaged_min: 10", "engaged_min: !include other.yaml", "!include", "!include"),
    Broken("too-many-aliases", ALIASES, "*a", "more than 100 alias uses", 101),
    Broken("billion-laughs", LAUGHS, None, "aliases expand the file to more than"),
    Broken("deep-list", DEEP_LIST, None, "nested more than 64 levels deep"),
    Broken("deep-mapping", DEEP_MAP, None, "nested more than 64 levels deep"),
    # dates
    edit("holiday-feb-30", "[2026-12-24]", "[2026-02-30]", "2026-02-30", "not a valid date"),
    edit("holiday-month-13", "[2026-12-24]", "[2026-13-01]", "2026-13-01", "not a valid date"),
    edit("holiday-month-0", "[2026-12-24]", "[2026-00-10]", "2026-00-10", "not a valid date"),
    edit(
        "holiday-hour-25", "[2026-12-24]", "[2026-12-24 25:00:00]", "2026-12-24 25", "not a valid"
    ),
    edit("holiday-text", "[2026-12-24]", "[christmas]", "christmas", "valid date"),
    # numbers that are not finite
    edit("points-nan", "points: 10}", "points: .nan}", ".nan", "not a finite number"),
    edit("points-inf", "points: 10}", "points: .inf}", ".inf", "not a finite number"),
    edit("points-minus-inf", "points: 10}", "points: -.inf}", "-.inf", "not a finite number"),
    edit("points-nan-text", "points: 10}", "points: 'nan'}", "'nan'", "finite number"),
    edit(
        "half-life-inf", "half_life_days: 30", "half_life_days: .inf", ".inf", "not a finite number"
    ),
    edit("half-life-inf-text", "half_life_days: 30", "half_life_days: inf", "inf", "finite number"),
    edit("window-nan", "window_days: 180", "window_days: .NaN", ".NaN", "not a finite number"),
    edit("cap-inf", "cap: 40}", "cap: .Inf}", ".Inf", "not a finite number"),
    edit("grade-1e309", "A: 40", "A: 1e309", "1e309", "finite number"),
    edit("grade-1.0e+309", "A: 40", "A: 1.0e+309", "1.0e+309", "not a finite number"),
    edit("band-minus-inf", "1: 60", "1: -.inf", "-.inf", "not a finite number"),
    edit("within-days-nan", "within_days: 14", "within_days: .nan", ".nan", "not a finite number"),
    # numbers too large to be meant
    edit("grade-1e13", "A: 40", "A: 1e13", "1e13", "too large"),
    edit("band-5e12", "1: 60", "1: 5.0e+12", "5.0e+12", "too large"),
    edit(
        "points-1e15", "points: 10}", "points: 1000000000000000}", "1000000000000000", "too large"
    ),
    edit("cap-2e12", "cap: 40}", "cap: 2000000000000}", "2000000000000", "too large"),
    edit("half-life-1e13", "half_life_days: 30", "half_life_days: 1e13", "1e13", "too large"),
    edit("engaged-min-1e20", "engaged_min: 10", "engaged_min: 1e20", "1e20", "too large"),
    edit("weight-huge", "weight: 1}", "weight: 10000000000000}", "10000000000000", "too large"),
    edit("points-5000-digits", "points: 10}", f"points: {DIGITS}}}", DIGITS, "not a valid value"),
    # required sections
    Broken("missing-version", BASE.replace("version: 1\n", ""), "fit:", "'version'"),
    edit("missing-grades", "grades: {A: 40, B: 25, C: 10}\n", "", "fit:", "'grades'"),
    edit("version-2", "version: 1", "version: 2", "2", "version: Input should be 1"),
    # names results refer to
    edit(
        "duplicate-transition",
        "name: accepted,",
        "name: hot lead,",
        "hot lead",
        "duplicate transition name 'hot lead'",
        2,
    ),
    edit(
        "duplicate-test",
        "expect: {fit: 10}\n",
        "expect: {fit: 10}\n  - name: software is fit\n    expect: {fit: 10}\n",
        "software is fit",
        "duplicate test name 'software is fit'",
        2,
    ),
    edit(
        "duplicate-fast-track",
        "    - {name: contact sales, type: form_submit, to: mql, within_days: 14}\n",
        "    - {name: contact sales, type: form_submit, to: mql, within_days: 14}\n"
        "    - {name: contact sales, type: form_submit, to: sal}\n",
        "contact sales",
        "duplicate fast track name 'contact sales'",
        2,
    ),
    # write-back targets
    edit(
        "writeback-typo",
        "  salesforce:\n    Lead",
        "  salesfarce:\n    Lead",
        "salesfarce",
        "unknown system 'salesfarce' to write back to (did you mean 'salesforce'?)",
    ),
    edit(
        "writeback-unknown",
        "  salesforce:\n    Lead",
        "  pipedrive:\n    Lead",
        "pipedrive",
        "unknown system 'pipedrive'",
    ),
    edit(
        "writeback-case",
        "  salesforce:\n    Lead",
        "  Salesforce:\n    Lead",
        "Salesforce",
        "known: salesforce, dynamics, hubspot",
    ),
]


def _expect(case: Broken, path: Path) -> Expect:
    position = case.position
    return Expect(
        FAILED,
        (case.message,),
        diagnostic=str(path),
        line=position[0] if position else None,
        column=position[1] if position else None,
    )


def test_the_base_rules_file_is_valid(isolated: Path) -> None:
    path = isolated / "rules.yaml"
    path.write_text(BASE)
    result = invoke(["rules", "validate", path])
    assert result.exit_code == 0, result.output


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", BROKEN, ids=lambda c: c.name)
def test_rules_validate_reports_one_located_problem(case: Broken, isolated: Path) -> None:
    path = isolated / "rules.yaml"
    path.write_text(case.text)
    before = snapshot(isolated)
    result = invoke(["rules", "validate", path])
    assert_one_error(result, _expect(case, path))
    assert_unchanged(before, isolated)


REPRESENTATIVE = [
    "tag-on-mapping", "python-object", "too-many-aliases", "billion-laughs", "deep-list",
    "holiday-feb-30", "points-nan", "half-life-inf", "grade-1e309", "grade-1e13",
    "missing-version", "missing-grades", "duplicate-transition", "duplicate-test",
    "writeback-typo",
]  # fmt: skip


def _commands(path: Path, data: Path, work: Path) -> dict[str, list[object]]:
    database = f"sqlite:///{work / 'state.db'}"
    return {
        "rules-test": ["rules", "test", path],
        "score": ["score", "--rules", path, "--data", data, "--out", work / "scores.csv",
                  "--database", database],
        "run": ["run", "--rules", path, "--data", data, "--database", database],
        "backtest": ["backtest", "--rules", path, "--data", data, "--from", "2026-06-01",
                     "--to", "2026-08-01"],
        "rules-diff": ["rules", "diff", path, EXAMPLE_RULES, "--data", data],
        "crm-check": ["crm", "check", "--rules", path],
    }  # fmt: skip


COMMANDS = ["rules-test", "score", "run", "backtest", "rules-diff", "crm-check"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_every_command_that_loads_rules_reports_the_problem_and_writes_nothing(
    name: str, command: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    case = next(c for c in BROKEN if c.name == name)
    path = isolated / "rules.yaml"
    path.write_text(case.text)
    data = datasets["parquet"]
    before = snapshot(isolated, data)
    result = invoke(_commands(path, data, isolated)[command])
    assert_one_error(result, _expect(case, path))
    assert_unchanged(before, isolated, data)
