"""``abmsync sync``, ``status`` and ``deadletters`` as a RevOps engineer runs them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.clikit import ExitCode
from abmsync.sync.commands import EXIT_CODES
from abmsync.sync.store import Store
from tests.sync.crm_env import MAPPINGS, CrmEnv

AS_OF = "2026-11-29T12:00:00Z"


@pytest.fixture
def env(env: CrmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrmEnv:
    """The emulators, with the ``abmsync`` CLI pointed at them through its settings."""
    for key, value in {**env.env(), "ABMSYNC_MAPPINGS": str(MAPPINGS)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no abmsync.toml or .env of the checkout
    return env


def sync(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["sync", "--as-of", AS_OF, *args])
    return result.exit_code, result.output


def test_dry_run_prints_the_plan_and_writes_nothing(env: CrmEnv) -> None:
    code, out = sync("--dry-run")
    assert code == 0, out
    assert "dry-run" in out and "Write plan (dry run: nothing written)" in out
    assert "salesforce/Lead: ABM_Score__c 4" in out  # counts per object and field
    assert "ABM_Grade__c" in out  # a sample of the changes
    assert all(r["ABM_Score__c"] is None for r in env.sf_rows("Lead", "ABM_Score__c"))


def test_sync_then_status_then_a_second_sync_that_writes_nothing(env: CrmEnv) -> None:
    code, out = sync()
    assert code == 0, out
    assert "succeeded" in out
    code, out = sync("--json")
    assert code == 0, out
    second = json.loads(out)
    assert second["counts"]["written"] == 0 and second["counts"]["planned"] == 0
    status = json.loads(CliRunner().invoke(main, ["status", "--json"]).output)
    first_run, second_run = status["runs"][1], status["runs"][0]
    assert first_run["status"] == second_run["status"] == "succeeded"
    assert first_run["counts"]["written"] == 9 and second_run["counts"]["written"] == 0
    assert first_run["api_calls"]["salesforce"] > 0
    assert {c["obj"] for c in status["cursors"]} >= {"Lead", "Contact", "contacts"}


def test_rejections_exit_3_are_listed_and_retried(env: CrmEnv) -> None:
    env.salesforce.add_validation_rule(
        "Lead", lambda values: values.get("ABM_Grade__c") == "D", "Grade D needs a review"
    )
    code, out = sync()
    assert code == ExitCode.PARTIAL == 3, out
    assert "rejected" in out
    listed = CliRunner().invoke(main, ["deadletters", "list"])
    assert listed.exit_code == 0 and "Dead letters (2)" in listed.output
    letters = json.loads(CliRunner().invoke(main, ["deadletters", "list", "--json"]).output)
    assert {d["error_code"] for d in letters} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert {d["message"] for d in letters} == {"Grade D needs a review"}
    again = CliRunner().invoke(main, ["deadletters", "retry"])
    assert again.exit_code == ExitCode.PARTIAL  # still rejected: the rule is still there
    assert "0 resolved, 2 still rejected" in again.output
    env.salesforce.validation_rules.clear()
    fixed = CliRunner().invoke(main, ["deadletters", "retry"])
    assert fixed.exit_code == 0, fixed.output
    assert "salesforce Lead: 2 resolved, 0 still rejected" in fixed.output
    assert CliRunner().invoke(main, ["deadletters", "list", "--json"]).output.strip() == "[]"


def test_bad_credentials_fail_with_one_line_and_exit_1(
    env: CrmEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_SECRET", "wrong-secret")
    code, out = sync()
    assert code == 1
    assert "wrong-secret" not in out
    assert "failed" in out
    status = json.loads(CliRunner().invoke(main, ["status", "--json"]).output)
    assert status["runs"][0]["status"] == "failed"
    assert status["runs"][0]["error"]


def test_a_hand_edit_is_shown_and_logged_in_the_run(env: CrmEnv) -> None:
    assert sync()[0] == 0
    vera = next(
        r for r in env.sf_rows("Lead", "Email") if r["Email"] == "vera.lang@acme-robotics.com"
    )
    env.salesforce.store.update("Lead", vera["Id"], {"ABM_Grade__c": "C"})
    code, out = sync()
    assert code == 0, out
    assert "Owned fields edited by hand in the CRM (1)" in out
    code, out = sync("--json")
    plan = next(p for p in json.loads(out)["plans"] if p["object"] == "Lead")
    assert plan["conflicts"] == 0  # abmsync won last time: nothing is edited any more


def test_a_usage_error_exits_2_which_no_run_outcome_uses(env: CrmEnv) -> None:
    code, out = sync("--every", "15m", "--no-such-option")
    assert code == ExitCode.USAGE == 2, out
    assert set(EXIT_CODES.values()).isdisjoint({ExitCode.USAGE, ExitCode.LOCKED})


def test_a_run_skipped_for_the_lock_exits_4_only_with_fail_if_locked(env: CrmEnv) -> None:
    with Store.open(env.database) as store:
        assert store.try_lock("sync", "someone-else", timedelta(minutes=5))
    code, out = sync()
    assert code == ExitCode.OK, out
    assert "skipped" in out
    code, out = sync("--fail-if-locked")
    assert code == ExitCode.LOCKED == 4, out
    assert all(r["ABM_Score__c"] is None for r in env.sf_rows("Lead", "ABM_Score__c"))
    with Store.open(env.database) as store:
        assert store.release_lock("sync", "someone-else")
    code, out = sync("--fail-if-locked")
    assert code == ExitCode.OK, out
