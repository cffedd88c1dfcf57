"""Every broken rules file in tests/rules/broken is reported at its exact position."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abmsync.rules.loader import RulesError, load_rules

BROKEN = Path(__file__).parent / "broken"
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _expectation(path: Path) -> tuple[int, int, str]:
    match = EXPECT.match(path.read_text().splitlines()[0])
    assert match, f"{path.name} lacks an '# expect: line:col: message' header"
    return int(match.group(1)), int(match.group(2)), match.group(3)


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_rules_file_is_reported_at_its_line_and_column(path: Path) -> None:
    line, column, message = _expectation(path)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    found = [(d.line, d.column, d.message) for d in caught.value.diagnostics]
    assert any(
        (d_line, d_column) == (line, column) and message in d_message
        for d_line, d_column, d_message in found
    ), f"expected {line}:{column}: {message}\ngot: {found}"
    assert all(str(d).startswith(f"{path}:") for d in caught.value.diagnostics)


def test_example_rules_are_valid() -> None:
    loaded = load_rules(Path(__file__).parents[2] / "examples" / "rules.yaml")
    assert loaded.ruleset.fit and loaded.ruleset.tests


def test_every_problem_in_a_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        "fit:\n"
        "  - {name: a, when: \"industy = 'x'\", points: 1}\n"
        "  - {name: b, when: \"employees > 'many'\", points: 1}\n"
        "grades: {A: 10, B: 20}\n"
    )
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    lines = sorted(d.line for d in caught.value.diagnostics)
    assert lines == [3, 4, 5]


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "nope.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'nope.yaml'}:1:1: cannot read rules file")


def test_version_ignores_comments_and_tests_but_not_points(tmp_path: Path) -> None:
    base = 'version: 1\nfit:\n  - {name: a, when: "employees > 5", points: 1}\ngrades: {A: 1}\n'
    first, second, third = (tmp_path / f"{n}.yaml" for n in "abc")
    first.write_text(base)
    second.write_text("# a comment\n" + base + "tests: []\n")
    third.write_text(base.replace("points: 1", "points: 2"))
    assert load_rules(first).version == load_rules(second).version
    assert load_rules(first).version != load_rules(third).version
