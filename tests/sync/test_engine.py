"""The sync loop end to end against the Salesforce and HubSpot emulators over real HTTP."""

from __future__ import annotations

from typing import Any

from abmsync.connectors.budget import ApiBudget
from abmsync.sync.events import ProgressEvent
from abmsync.sync.store import Store
from abmsync.sync.writeback import retry_dead_letters
from tests.sync.crm_env import CrmEnv, later

SCORE_FIELDS = (
    "ABM_Score__c",
    "ABM_Grade__c",
    "ABM_Priority__c",
    "ABM_Stage__c",
    "ABM_Score_Reasons__c",
)


def lead(env: CrmEnv, email: str) -> dict[str, Any]:
    rows = env.sf_rows("Lead", "Email", "OwnerId", *SCORE_FIELDS)
    rows = [r for r in rows if r["Email"] == email]
    assert len(rows) == 1, rows
    return rows[0]


def hubspot_contact(env: CrmEnv, email: str) -> dict[str, Any]:
    rows = [r for r in env.hs_rows("contacts") if r.get("email") == email]
    assert len(rows) == 1, rows
    return rows[0]


def test_first_sync_writes_scores_everywhere_and_a_second_writes_nothing(env: CrmEnv) -> None:
    first = env.sync()
    assert first.status == "succeeded", first.message
    counts = first.counts()
    assert counts["people"] == 6  # 4 leads + 1 contact + 1 HubSpot-only (2 shared by email)
    vera = lead(env, "vera.lang@acme-robotics.com")
    assert vera["ABM_Grade__c"] == "A"
    assert "+15 target industry" in vera["ABM_Score_Reasons__c"]
    assert "+15 executive" in vera["ABM_Score_Reasons__c"]
    assert vera["ABM_Stage__c"]
    student = lead(env, "sam@uni.edu")
    assert student["ABM_Grade__c"] == "D"
    assert "−30 not a buyer" in student["ABM_Score_Reasons__c"]
    # One person seen in both systems gets the same score in both.
    assert float(hubspot_contact(env, "vera.lang@acme-robotics.com")["abm_score"]) == float(
        vera["ABM_Score__c"]
    )
    contact = env.sf_rows("Contact", *SCORE_FIELDS)[0]
    assert contact["ABM_Grade__c"] == "A"  # CTO at the target account
    written = counts["written"]
    assert written == 4 + 1 + 3 + 1  # leads, contact, HubSpot contacts, the Account's brief

    before = env.salesforce.api_used
    second = env.sync()
    assert second.status == "succeeded", second.message
    assert second.counts()["planned"] == 0
    assert second.counts()["written"] == 0
    assert all(stats.sent == 0 for stats in second.sent.values())
    assert env.salesforce.api_used > before  # it did read
    # ... but only to learn that nothing changed: the first run's own writes came
    # back and were recognised as its own, so none counts as a change.
    assert second.counts()["read"] == 0
    assert all(stats.batches <= 2 for stats in second.read.values()), second.read
    assert first.read["salesforce/Lead"].read_back == 0  # the first run reads nothing twice
    assert second.read["salesforce/Lead"].read_back == 4
    assert second.read["hubspot/contacts"].read_back == 3
    third = env.sync()
    assert third.counts()["read"] == 0 and third.counts()["written"] == 0


def test_an_edit_made_after_our_write_is_a_change_not_our_echo(env: CrmEnv) -> None:
    first = env.sync()
    assert first.status == "succeeded", first.message
    sam = lead(env, "sam@uni.edu")
    # Someone edits a record abmsync has just written: a later stamp, other content.
    env.salesforce.store.update("Lead", sam["Id"], {"Title": "VP Sales"})
    second = env.sync(as_of=later(0.01))
    assert second.read["salesforce/Lead"].records == 1  # the edit
    assert second.read["salesforce/Lead"].read_back == 3  # the other leads: our writes
    assert "not a buyer" not in lead(env, "sam@uni.edu")["ABM_Score_Reasons__c"]


def test_an_edit_made_while_the_run_writes_is_kept_not_taken_for_our_own_write(
    env: CrmEnv,
) -> None:
    sam = lead(env, "sam@uni.edu")
    edited: list[str] = []

    def edit_while_writing(event: ProgressEvent) -> None:
        if event.kind == "write" and not edited:
            env.salesforce.store.update("Lead", sam["Id"], {"Title": "VP Sales"})
            edited.append(event.text)

    first = env.sync(progress=edit_while_writing)
    assert first.status == "succeeded", first.message
    assert edited
    assert lead(env, "sam@uni.edu")["ABM_Grade__c"] == "D"  # scored before the edit
    assert first.read["salesforce/Lead"].records == 4
    # The write's stamp is newer than the edit's and hides it; the content does not.
    second = env.sync(as_of=later(0.01))
    assert second.read["salesforce/Lead"].records == 1  # the edit, not taken for our write
    assert "not a buyer" not in lead(env, "sam@uni.edu")["ABM_Score_Reasons__c"]


def test_dry_run_plans_without_writing_or_recording(env: CrmEnv) -> None:
    dry = env.sync(dry_run=True)
    assert dry.status == "dry-run"
    planned = {f"{p.system}/{p.obj}": len(p.patches) for p in dry.plans}
    assert planned["salesforce/Lead"] == 4
    assert planned["hubspot/contacts"] == 3
    assert all(r["ABM_Score__c"] is None for r in env.sf_rows("Lead", "ABM_Score__c"))
    assert all(r.get("abm_score") in (None, "") for r in env.hs_rows("contacts"))
    with Store.open(env.database) as store:
        assert store.recent_runs() == []
        assert store.load_lifecycle_state().is_empty()
    real = env.sync()
    assert real.counts()["written"] == 9  # leads, contact, HubSpot contacts and the Account brief


def test_a_rejected_record_is_dead_lettered_without_blocking_the_rest(env: CrmEnv) -> None:
    env.salesforce.add_validation_rule(
        "Lead",
        lambda values: values.get("ABM_Grade__c") == "D",
        "Grade D leads need a review first",
    )
    run = env.sync()
    assert run.status == "partial"
    assert run.counts()["rejected"] == 2  # the student and the analyst
    assert lead(env, "vera.lang@acme-robotics.com")["ABM_Grade__c"] == "A"
    with Store.open(env.database) as store:
        letters = store.list_dead_letters("salesforce", "Lead")
        assert {d.error_code for d in letters} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
        assert all(d.message == "Grade D leads need a review first" for d in letters)
        assert all(d.payload["values"]["ABM_Grade__c"] == "D" for d in letters)
        # The cursor moved past the rejected records all the same.
        assert store.get_cursor("salesforce", "Lead") is not None
    env.salesforce.validation_rules.clear()
    with env.connectors() as connectors, Store.open(env.database) as store:
        outcome = retry_dead_letters(store, connectors)
        assert outcome[("salesforce", "Lead")].written == 2
        assert store.list_dead_letters() == []
    assert lead(env, "sam@uni.edu")["ABM_Grade__c"] == "D"
    # What the retry wrote counts as written: the next run has nothing to do.
    assert env.sync().counts()["written"] == 0


def test_a_hand_edited_score_is_overwritten_and_reported(env: CrmEnv) -> None:
    env.sync()
    vera = lead(env, "vera.lang@acme-robotics.com")
    env.salesforce.store.update("Lead", vera["Id"], {"ABM_Grade__c": "C"})
    run = env.sync(as_of=later(0.01))
    conflicts = next(p.plan.conflicts for p in run.plans if p.obj == "Lead")
    assert conflicts.height == 1
    row = conflicts.row(0, named=True)
    assert (row["field"], row["crm_value"], row["desired"], row["winner"]) == (
        "ABM_Grade__c",
        "C",
        "A",
        "abmsync_wins",
    )
    assert lead(env, "vera.lang@acme-robotics.com")["ABM_Grade__c"] == "A"


def test_the_lock_lets_only_one_run_through(env: CrmEnv) -> None:
    with Store.open(env.database) as store:
        assert store.try_lock("sync", "someone-else", later(1) - later(0))
    skipped = env.sync()
    assert skipped.status == "skipped"
    assert all(r["ABM_Score__c"] is None for r in env.sf_rows("Lead", "ABM_Score__c"))
    with Store.open(env.database) as store:
        assert store.release_lock("sync", "someone-else")
    assert env.sync().status == "succeeded"


def test_a_stop_request_ends_the_run_partial_and_the_next_run_finishes(env: CrmEnv) -> None:
    asked = {"n": 0}

    def stop() -> bool:
        asked["n"] += 1
        return asked["n"] > 2  # after two batches have been read

    first = env.sync(stop=stop)
    assert first.status == "partial"
    assert "stop requested" in (first.message or "")
    assert first.counts()["written"] == 0
    second = env.sync()
    assert second.status == "succeeded"
    assert lead(env, "vera.lang@acme-robotics.com")["ABM_Grade__c"] == "A"


def test_qualified_people_missing_from_the_crm_are_listed(env: CrmEnv) -> None:
    # Wendy (CEO, HubSpot only) fills the demo-request form: fast-tracked to MQL.
    run = env.sync()
    unreached = run.unreached
    assert unreached is not None
    # Without a touchpoint nobody is qualified yet.
    assert "web.form@hooli.com" not in unreached["email"].to_list()


def test_a_spent_api_budget_ends_the_run_cleanly_and_the_next_run_resumes(env: CrmEnv) -> None:
    budget = ApiBudget("salesforce", max_calls=12)
    first = env.sync(budgets={"salesforce": budget})
    assert first.status == "partial"
    assert "API budget" in (first.message or "")
    assert budget.calls <= 12
    with Store.open(env.database) as store:
        assert store.recent_runs()[0].status == "partial"
        assert store.recent_runs()[0].api_calls["salesforce"] == budget.calls
    second = env.sync()
    assert second.status == "succeeded", second.message
    assert lead(env, "vera.lang@acme-robotics.com")["ABM_Grade__c"] == "A"
