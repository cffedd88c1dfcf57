"""abmsync run, rules diff and backtest from the command line, on generated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sandbox.generate import generate_dataset, write_dataset

RULES = Path(__file__).resolve().parents[1] / "examples" / "rules.yaml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    write_dataset(generate_dataset(1500, seed=3), directory)
    return directory


def invoke(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


def test_two_runs_a_week_apart_show_moves_assignments_and_breaches(
    data_dir: Path, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    common = ["run", "--rules", str(RULES), "--data", str(data_dir), "--database", database]
    first = invoke(*common, "--as-of", "2026-10-25")
    second = invoke(*common, "--as-of", "2026-11-01")
    assert first["stage_changes"] and first["assignments"]
    assert first["sla"] == {"started": first["sla"]["started"]}  # type: ignore[index]
    assert second["sla"]["breached"] > 0  # type: ignore[index]
    assert all(a["reason"] for a in second["assignments"])  # type: ignore[union-attr]
    assert sum(first["stages"].values()) == 1500  # type: ignore[union-attr]
    report = invoke("sla", "--database", database)
    mql_breaches = [e for e in second["sla_events"] if e["stage"] == "mql"]  # type: ignore[union-attr]
    assert report["breached"] == len(mql_breaches) > 0
    assert 0 < report["breach_rate"] <= 1  # type: ignore[operator]


def test_run_output_as_tables(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--rules",
            str(RULES),
            "--data",
            str(data_dir),
            "--database",
            f"sqlite:///{tmp_path / 's.db'}",
            "--as-of",
            "2026-10-25",
        ],
    )
    assert result.exit_code == 0, result.output
    for heading in ("Stage changes", "Assignments", "SLA timers", "People by stage"):
        assert heading in result.output


def test_diff_of_a_file_with_itself_changes_nothing(data_dir: Path) -> None:
    report = invoke(
        "rules",
        "diff",
        str(RULES),
        str(RULES),
        "--data",
        str(data_dir),
        "--as-of",
        "2026-11-01",
        "--weeks",
        "2",
    )
    assert report["changed"] == {"grade": 0, "priority": 0, "stage": 0, "owner_id": 0}
    weekly = report["weekly_mqls"]
    assert [w["old_mqls"] for w in weekly] == [w["new_mqls"] for w in weekly]  # type: ignore[union-attr]


def test_diff_counts_people_whose_grade_changes(data_dir: Path, tmp_path: Path) -> None:
    looser = tmp_path / "looser.yaml"
    looser.write_text(
        RULES.read_text().replace("grades: {A: 40, B: 25, C: 10}", "grades: {A: 30, B: 20, C: 5}")
    )
    report = invoke(
        "rules",
        "diff",
        str(RULES),
        str(looser),
        "--data",
        str(data_dir),
        "--as-of",
        "2026-11-01",
        "--weeks",
        "1",
    )
    changed = report["changed"]
    assert changed["grade"] > 0  # type: ignore[index]
    moves = [t for t in report["transitions"] if t["field"] == "grade"]  # type: ignore[union-attr]
    assert all(m["old"] > m["new"] for m in moves)  # only upgrades: "C" > "B" alphabetically
    assert report["sample"]


def test_backtest_weeks_add_up_to_the_totals(data_dir: Path) -> None:
    report = invoke(
        "backtest",
        "--rules",
        str(RULES),
        "--data",
        str(data_dir),
        "--from",
        "2026-09-01",
        "--to",
        "2026-10-15",
    )
    (rule_set,) = report["rule_sets"]  # type: ignore[misc]
    weeks = rule_set["weeks"]
    assert len(weeks) == 7
    totals = rule_set["totals"]
    assert totals["qualified"] == sum(w["qualified"] for w in weeks)
    assert totals["to_won"] <= totals["to_opportunity"] <= totals["qualified"]


def test_backtest_rejects_an_empty_period(data_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--rules",
            str(RULES),
            "--data",
            str(data_dir),
            "--from",
            "2026-10-15",
            "--to",
            "2026-09-01",
        ],
    )
    assert result.exit_code == 1
    assert "must come after" in result.output
