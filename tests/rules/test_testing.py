"""The tests: block of a rules file, run against the production scoring engine."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from abmsync.cli import main
from abmsync.rules.loader import load_rules
from abmsync.rules.testing import NO_LIFECYCLE, run_rule_tests

WITHOUT_LIFECYCLE = """\
version: 1
fit:
  - {name: software, when: "industry = 'Software'", points: 30}
grades: {A: 30, B: 10}
tests:
  - name: software is A
    person: {industry: Software}
    expect: {grade: A}
  - name: retail is B
    person: {industry: Retail}
    expect: {grade: B}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_rules_without_a_lifecycle_run_their_grade_tests(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "test", str(_write(tmp_path, WITHOUT_LIFECYCLE))])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "PASS software is A" in result.output
    assert "FAIL retail is B" in result.output
    assert "grade: expected B, got C" in result.output
    assert result.exit_code == 1


def test_expecting_a_move_without_a_lifecycle_fails_and_says_why(tmp_path: Path) -> None:
    text = WITHOUT_LIFECYCLE + (
        "  - name: moved\n    person: {industry: Software}\n    expect: {moved_by: qualified}\n"
    )
    results = run_rule_tests(load_rules(_write(tmp_path, text)))
    assert [r.passed for r in results] == [True, False, False]
    (check,) = results[2].checks
    assert (check.field, check.expected, check.actual) == ("moved_by", "qualified", NO_LIFECYCLE)


def test_expecting_a_stage_without_a_lifecycle_is_one_clear_error(tmp_path: Path) -> None:
    text = WITHOUT_LIFECYCLE + (
        "  - name: staged\n    person: {industry: Software}\n    expect: {stage: mql}\n"
    )
    result = CliRunner().invoke(main, ["rules", "test", str(_write(tmp_path, text))])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "no lifecycle" in result.output


def test_shown_scores_are_rounded_but_compared_exactly(tmp_path: Path) -> None:
    text = """\
version: 1
engagement:
  half_life_days: null
  events: [{type: webinar, points: 4.996}]
bands: {3: 5}
tests:
  - name: just below the band
    person: {}
    touchpoints: [{type: webinar, days_ago: 1}]
    expect: {band: 3, engagement: 4.996}
"""
    out = CliRunner().invoke(main, ["rules", "test", str(_write(tmp_path, text)), "--json"])
    (case,) = json.loads(out.output)
    checks = {c["field"]: c for c in case["checks"]}
    assert checks["engagement"]["passed"] is True
    assert (checks["band"]["passed"], checks["band"]["actual"]) == (False, 4)
