"""``abmsync history EMAIL`` finds people scored only from files, by the email each pass kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sandbox.generate import generate_dataset, write_dataset
from abmsync.sync.store import Store
from tests.sync.crm_env import RULES


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    write_dataset(generate_dataset(200, seed=3), directory)
    return directory


def invoke(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 and "--json" in args else result


def run_pass(data: Path, database: str, as_of: str) -> None:
    invoke("run", "--rules", str(RULES), "--data", str(data), "--database", database,
           "--as-of", as_of, "--json")  # fmt: skip


def people(data: Path) -> pl.DataFrame:
    return pl.read_parquet(next(data.glob("people.*")))


def test_a_person_scored_from_files_is_found_by_email_in_any_case(
    data: Path, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    run_pass(data, database, "2026-10-25")
    person = people(data).filter(pl.col("email").is_not_null()).row(0, named=True)
    with Store.open(database) as store:
        assert store.find_in_snapshot("people@", "email", person["email"]) == []  # no snapshot
    shown = invoke("history", f"  {person['email'].upper()} ", "--database", database, "--json")
    assert shown["person_id"] == person["id"]
    assert {e["kind"] for e in shown["timeline"]} >= {"score", "stage"}


def test_a_changed_email_finds_the_person_and_the_old_one_no_longer_does(
    data: Path, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    run_pass(data, database, "2026-10-25")
    frame = people(data)
    person = frame.filter(pl.col("email").is_not_null()).row(0, named=True)
    moved = frame.with_columns(
        pl.when(pl.col("id") == person["id"])
        .then(pl.lit("New.Address@example.org"))
        .otherwise(pl.col("email"))
        .alias("email")
    )
    moved.write_parquet(next(data.glob("people.*")))
    run_pass(data, database, "2026-11-01")
    found = invoke("history", "new.address@example.org", "--database", database, "--json")
    assert found["person_id"] == person["id"]
    gone = invoke("history", person["email"], "--database", database, code=1)
    assert f"no person with email {person['email']!r}" in gone.stderr


def test_two_people_of_one_email_in_the_files_are_ambiguous(data: Path, tmp_path: Path) -> None:
    frame = people(data).filter(pl.col("email").is_not_null())
    first, second = frame.row(0, named=True), frame.row(1, named=True)
    shared = people(data).with_columns(
        pl.when(pl.col("id") == second["id"])
        .then(pl.lit(first["email"]))
        .otherwise(pl.col("email"))
        .alias("email")
    )
    shared.write_parquet(next(data.glob("people.*")))
    database = f"sqlite:///{tmp_path / 'state.db'}"
    run_pass(data, database, "2026-10-25")
    result = invoke("history", first["email"], "--database", database, code=1)
    assert "names 2 people" in result.stderr and "give a person id" in result.stderr


def test_abmsync_score_into_a_database_keeps_emails_too(data: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    invoke("score", "--rules", str(RULES), "--data", str(data), "--database", database,
           "--as-of", "2026-10-25", "--json")  # fmt: skip
    person = people(data).filter(pl.col("email").is_not_null()).row(3, named=True)
    shown = invoke("history", person["email"], "--database", database, "--json")
    assert shown["person_id"] == person["id"]
    assert [e["kind"] for e in shown["timeline"]] == ["score"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state in the test's SQLite file or in PostgreSQL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'state.db'}"


def test_only_new_and_changed_emails_are_written(database: str) -> None:
    frame = pl.DataFrame({"person_id": ["a", "b", "c"], "email": ["A@x.com", " b@x.com", None]})
    with Store.open(database) as store:
        assert store.save_person_emails(frame) == 2  # c has none
        assert store.save_person_emails(frame) == 0  # nothing changed
        changed = frame.with_columns(pl.Series("email", ["a@x.com", "b@y.com", None]))
        assert store.save_person_emails(changed) == 1  # case is no change
        assert store.people_with_email("B@Y.com ") == ["b"]
        assert store.people_with_email("b@x.com") == []
        assert store.people_with_email("a@x.com") == ["a"]
