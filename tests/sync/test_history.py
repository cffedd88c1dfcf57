"""``abmsync history``: one person's ledger rows in time order, and their state as of a time."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.rules.loader import load_rules
from abmsync.sandbox.generate import generate_dataset, write_dataset
from abmsync.sync.history import HistoryError, find_person
from abmsync.sync.store import Store
from tests.sync.crm_env import AS_OF, RULES, CrmEnv, later

VERA = "vera.lang@acme-robotics.com"
BETWEEN = "2026-11-30T00:00:00Z"  # after the first sync, before the second
AFTER = "2026-12-03T00:00:00Z"  # after the second


def stronger_executives(directory: Path) -> Path:
    """The example rules with 25 points for an executive instead of 15 (a new rules version)."""
    text = RULES.read_text(encoding="utf-8")
    changed = re.sub(r"(\{name: executive,.*points: )15\}", r"\g<1>25}", text)
    assert changed != text
    path = directory / "rules-v2.yaml"
    path.write_text(changed, encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_syncs(
    request: pytest.FixtureRequest, env: CrmEnv, tmp_path: Path
) -> tuple[CrmEnv, str, str]:
    """A sync at AS_OF, the rules changed, a sync three days later; both rules versions.

    The state is in the test's SQLite file or in PostgreSQL.
    """
    if request.param == "postgresql":
        env.database = request.getfixturevalue("postgres_url")
    assert env.sync().status == "succeeded"
    first = env.loaded.version
    env.loaded = load_rules(stronger_executives(tmp_path))
    assert env.sync(as_of=later(3)).status == "succeeded"
    return env, first, env.loaded.version


def history(database: str, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["history", *args, "--database", database, "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_as_of_shows_the_reasons_and_rules_version_recorded_then(
    two_syncs: tuple[CrmEnv, str, str],
) -> None:
    env, first, second = two_syncs
    assert first != second
    before = history(env.database, VERA, "--as-of", BETWEEN)
    score = before["state"]["score"]
    assert score["rules_version"] == first and score["as_of"] == "2026-11-29T12:00:00Z"
    assert "+15 executive" in score["reasons"] and score["fit"] == 45
    assert before["state"]["stage"]["to_stage"] == "lead"  # the pass moved Vera in the first run
    assert before["later"] == 1  # the second run's score is on the timeline, after BETWEEN

    after = history(env.database, VERA, "--as-of", AFTER)
    score = after["state"]["score"]
    assert score["rules_version"] == second and score["as_of"] == "2026-12-02T12:00:00Z"
    assert "+25 executive" in score["reasons"] and score["fit"] == 55
    assert after["later"] == 0
    scores = [e["row"] for e in after["timeline"] if e["kind"] == "score"]
    assert [s["rules_version"] for s in scores] == [first, second]
    assert [e["at"] for e in after["timeline"]] == sorted(e["at"] for e in after["timeline"])


def test_a_person_is_found_by_email_in_any_case_by_person_id_and_by_vendor_id(
    two_syncs: tuple[CrmEnv, str, str],
) -> None:
    env = two_syncs[0]
    by_email = history(env.database, "  Vera.Lang@ACME-robotics.com ")
    lead = next(r["Id"] for r in env.sf_rows("Lead", "Email") if r["Email"] == VERA)
    refs = {(r["system"], r["object"], r["id"]) for r in by_email["refs"]}
    assert ("salesforce", "Lead", lead) in refs and any(r[0] == "hubspot" for r in refs)
    hubspot_id = next(r[2] for r in refs if r[0] == "hubspot")
    for who in (by_email["person_id"], lead, hubspot_id):
        assert history(env.database, who)["person_id"] == by_email["person_id"]


def test_the_tables_show_the_timeline_and_the_state_as_of(
    two_syncs: tuple[CrmEnv, str, str],
) -> None:
    env, first, _ = two_syncs
    result = CliRunner().invoke(
        main, ["history", VERA, "--database", env.database, "--as-of", BETWEEN]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Timeline" in out and "As of 2026-11-30 00:00 UTC" in out
    assert "2026-11-29 12:00" in out and "2026-12-02 12:00" in out and first in out
    assert "subscriber" in out and "executive" in out
    assert "1 later change(s) after 2026-11-30 00:00" in out


def test_before_the_first_run_nothing_was_recorded_yet(two_syncs: tuple[CrmEnv, str, str]) -> None:
    env = two_syncs[0]
    early = history(env.database, VERA, "--as-of", "2026-01-01")
    assert early["state"] == {"score": None, "stage": None, "owner": None, "sla": None}
    assert early["later"] == len(early["timeline"]) > 0


def test_unknown_and_ambiguous_people_are_one_line_and_exit_1(
    two_syncs: tuple[CrmEnv, str, str],
) -> None:
    env = two_syncs[0]
    for who, message in [
        ("nobody@example.com", "no person with email 'nobody@example.com'"),
        ("00Q000000000000AAA", "no person with person id or vendor record id"),
    ]:
        result = CliRunner().invoke(main, ["history", who, "--database", env.database])
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and message in result.stderr
    # One id in two systems, on two people: which one is meant cannot be told.
    lead = next(r["Id"] for r in env.sf_rows("Lead", "Email") if r["Email"] == VERA)
    with Store.open(env.database) as store:
        store.link("person", "p-someone-else", "hubspot", "contacts", lead)
        with pytest.raises(HistoryError, match="names 2 people"):
            find_person(store, lead)
    result = CliRunner().invoke(main, ["history", lead, "--database", env.database])
    assert result.exit_code == 1 and "give a person id" in result.stderr


def test_a_person_without_ledger_rows_says_so(two_syncs: tuple[CrmEnv, str, str]) -> None:
    env = two_syncs[0]
    with Store.open(env.database) as store:
        store.link("person", "p-never-scored", "hubspot", "contacts", "999999")
    result = CliRunner().invoke(main, ["history", "999999", "--database", env.database])
    assert result.exit_code == 0, result.output
    assert "No ledger rows" in result.output and "p-never-scored" in result.output


def test_owners_and_sla_events_of_a_pass_over_files_are_on_the_timeline(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(generate_dataset(1500, seed=3), data)
    database = f"sqlite:///{tmp_path / 'state.db'}"
    run = ["run", "--rules", str(RULES), "--data", str(data), "--database", database, "--json"]
    first = CliRunner().invoke(main, [*run, "--as-of", "2026-10-25"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, [*run, "--as-of", "2026-11-01"])
    assert second.exit_code == 0, second.output
    breach = json.loads(second.stdout)["sla_events"][0]

    person = breach["person_id"]

    # Between the passes: the first owner, and the breach the second pass recorded for then.
    between = history(database, person, "--as-of", "2026-10-30")
    assert {e["kind"] for e in between["timeline"]} == {"score", "stage", "owner", "sla"}
    sla, owner = between["state"]["sla"], between["state"]["owner"]
    assert sla["kind"] == "breached" and sla["stage"] == breach["stage"]
    assert sla["occurred_at"] == breach["occurred_at"].replace("+00:00", "Z")
    assert owner["owner_id"] == breach["owner_id"] and owner["reason"]

    # After the second pass: reassigned for the breach, and a new timer for the new owner.
    after = history(database, person, "--as-of", "2026-11-01")
    owner, sla = after["state"]["owner"], after["state"]["sla"]
    assert owner["owner_id"] != breach["owner_id"] and "SLA breach" in owner["rule"]
    assert sla["kind"] == "started" and sla["owner_id"] == owner["owner_id"]


def test_the_default_as_of_is_now(two_syncs: tuple[CrmEnv, str, str]) -> None:
    env = two_syncs[0]
    shown = history(env.database, VERA)
    assert shown["as_of"] > AS_OF.isoformat()


def test_a_person_whose_records_are_gone_is_still_found_by_email(
    two_syncs: tuple[CrmEnv, str, str],
) -> None:
    env = two_syncs[0]
    person = history(env.database, VERA)
    with Store.open(env.database) as store:
        for ref in person["refs"]:  # as deletions at the sources leave the snapshot
            entity = f"people@{ref['system']}/{ref['object']}"
            assert store.delete_snapshot(entity, [ref["id"]]) == 1
        assert store.find_in_snapshot("people@", "email", VERA) == []
    assert history(env.database, VERA)["person_id"] == person["person_id"]
