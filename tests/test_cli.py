"""The command line as a user runs it: exit codes, one-line errors, tables and JSON."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from abmsync.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RULES = ROOT / "examples" / "rules.yaml"
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    pl.DataFrame(
        {
            "id": ["p1", "p2", "p3"],
            "email": ["Ada@Example.com ", "bob@acme.io", "cy@gmail.com"],
            "title": ["VP Engineering", "Student", "Engineer"],
            "seniority": ["VP", "Intern/Student", None],
            "account_id": ["a1", "a1", None],
            "country": ["DE", "US", "FR"],
            "is_competitor": [False, False, False],
        }
    ).write_csv(directory / "people.csv")
    pl.DataFrame(
        {
            "id": ["a1"],
            "name": ["Acme"],
            "domain": ["acme.io"],
            "industry": ["Software"],
            "employees": [800],
            "annual_revenue": [2.0e8],
        }
    ).write_parquet(directory / "accounts.parquet")
    pl.DataFrame(
        {
            "id": ["t1", "t2", "t3"],
            "person_id": ["p1", "p1", "p3"],
            "type": ["form_submit", "page_view", "email_open"],
            "occurred_at": [
                AS_OF - timedelta(days=2),
                AS_OF - timedelta(days=1),
                AS_OF - timedelta(days=40),
            ],
            "url": ["/contact-sales", "/pricing", None],
        }
    ).write_parquet(directory / "touchpoints.parquet")
    return directory


def test_validate_accepts_the_example_rules(runner: CliRunner) -> None:
    result = runner.invoke(main, ["rules", "validate", str(EXAMPLE_RULES)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_validate_prints_file_line_column_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    text = EXAMPLE_RULES.read_text().replace(
        'when: "employees >= 200"', 'when: "employes >= 200"', 1
    )
    broken.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "employes" in row)
    result = runner.invoke(main, ["rules", "validate", str(broken)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{broken}:{line}:")
    assert "unknown field 'employes' (did you mean 'employees'?)" in result.output
    assert "Traceback" not in result.output


def test_rules_test_passes_on_the_example(runner: CliRunner) -> None:
    result = runner.invoke(main, ["rules", "test", str(EXAMPLE_RULES)])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_rules_test_shows_expected_and_actual_and_exits_1(
    runner: CliRunner, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    shutil.copy(EXAMPLE_RULES, rules)
    rules.write_text(
        rules.read_text().replace("expect: {engagement: 10}", "expect: {engagement: 12}")
    )
    result = runner.invoke(main, ["rules", "test", str(rules), "--json"])
    assert result.exit_code == 1
    cases = json.loads(result.output)
    failed = [c for c in cases if not c["passed"]]
    assert len(failed) == 1
    check = next(c for c in failed[0]["checks"] if not c["passed"])
    assert (check["field"], check["expected"], check["actual"]) == ("engagement", 12.0, 10.0)


def test_score_writes_results_with_reasons_and_records_the_ledger(
    runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    database = f"sqlite:///{tmp_path / 'state.db'}"
    args = [
        "score",
        "--rules",
        str(EXAMPLE_RULES),
        "--data",
        str(data_dir),
        "--as-of",
        AS_OF.isoformat(),
        "--out",
        str(out),
        "--database",
        database,
        "--json",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["people"] == 3 and summary["ledger_rows"] == 3
    scores = pl.read_csv(out)
    ada = scores.filter(pl.col("email") == "ada@example.com").row(0, named=True)
    assert ada["grade"] == "A" and ada["stage"] == "mql"
    assert "+15 target industry" in ada["reasons"] and "contact sales form" in ada["reasons"]
    again = runner.invoke(main, args)
    assert json.loads(again.output)["ledger_rows"] == 0


def test_score_explain_prints_the_rules_that_fired(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(
        main,
        [
            "score",
            "--rules",
            str(EXAMPLE_RULES),
            "--data",
            str(data_dir),
            "--as-of",
            AS_OF.isoformat(),
            "--explain",
            "ADA@example.com",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    rules = {r["rule"]: r for r in explained["reasons"]}
    assert rules["target industry"]["points"] == 15
    assert rules["contact sales form"]["age_days"] == pytest.approx(2.0)
    assert explained["account_tier"] == "lite"


def test_score_explain_of_an_unknown_email_is_one_error_line(
    runner: CliRunner, data_dir: Path
) -> None:
    result = runner.invoke(
        main,
        [
            "score",
            "--rules",
            str(EXAMPLE_RULES),
            "--data",
            str(data_dir),
            "--explain",
            "nobody@nowhere.io",
        ],
    )
    assert result.exit_code == 1
    assert "no person with email 'nobody@nowhere.io'" in result.output


def test_score_with_bad_data_is_one_error_line_and_writes_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    directory = tmp_path / "bad"
    directory.mkdir()
    (directory / "people.csv").write_text("email,title\na@b.io,CEO\n")
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        main,
        [
            "score",
            "--rules",
            str(EXAMPLE_RULES),
            "--data",
            str(directory),
            "--out",
            str(out),
            "--no-ledger",
        ],
    )
    assert result.exit_code == 1
    assert "id" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_score_without_data_says_what_to_give(runner: CliRunner) -> None:
    result = runner.invoke(main, ["score", "--rules", str(EXAMPLE_RULES)])
    assert result.exit_code == 1
    assert "--data" in result.output


def test_score_reads_a_vendor_export_through_a_mapping(runner: CliRunner, tmp_path: Path) -> None:
    report = ROOT / "tests" / "connectors" / "fixtures" / "salesforce-leads-report.csv"
    mapping = ROOT / "examples" / "mappings" / "files-salesforce-report.yaml"
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(
        main,
        [
            "score",
            "--rules",
            str(EXAMPLE_RULES),
            "--people",
            str(report),
            "--mapping",
            str(mapping),
            "--out",
            str(out),
            "--no-ledger",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pl.read_ndjson(out)
    assert scores.height == json.loads(result.output)["people"] > 0
    assert scores["person_id"].str.starts_with("00Q").all()
    anna = scores.filter(pl.col("email") == "anna.schmidt@example.de").row(0, named=True)
    # Industry and employee count come from the lead itself, not an account.
    assert "+15 target industry" in anna["reasons"]
    assert "+10 mid-market+" in anna["reasons"]
