"""The account brief lands on the CRMs' account records, and ``abmsync accounts`` lists it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sync.store import Store
from tests.sync.crm_env import MAPPINGS, RULES, CrmEnv, Servers, crm_env

BRIEF = (
    "Name",
    "Website",
    "ABM_Account_Score__c",
    "ABM_Tier__c",
    "ABM_MQA__c",
    "ABM_Coverage__c",
    "ABM_Engaged_Roles__c",
    "ABM_Buying_Committee__c",
    "ABM_Recent_Touchpoints__c",
    "ABM_Last_Touch__c",
)


@pytest.fixture
def synced(tmp_path: Path, servers: Servers) -> Iterator[CrmEnv]:
    """Generated demo data in both emulators, synced once."""
    dataset = generate_dataset(240, seed=5, touchpoints_per_person=4)
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        run = env.sync(as_of=DEFAULT_AS_OF)
        assert run.status == "succeeded", run.message
        assert run.sent["salesforce/Account"].written > 0
        yield env


def engaged_account(env: CrmEnv) -> dict[str, object]:
    rows = [
        r
        for r in env.sf_rows("Account", *BRIEF)
        if "· engaged" in (r["ABM_Buying_Committee__c"] or "")
    ]
    assert rows, "no account with engaged people in the brief"
    return max(rows, key=lambda r: float(r["ABM_Account_Score__c"]))  # type: ignore[arg-type]


def test_accounts_with_engaged_people_carry_score_tier_and_committee(synced: CrmEnv) -> None:
    account = engaged_account(synced)
    assert float(account["ABM_Account_Score__c"]) > 0  # type: ignore[arg-type]
    assert account["ABM_Tier__c"] in {"strategic", "lite", "programmatic"}
    committee = str(account["ABM_Buying_Committee__c"]).splitlines()
    assert all(" · last touch " in line or "no touch yet" in line for line in committee)
    assert "(" in str(account["ABM_Engaged_Roles__c"]) and " of 5)" in str(
        account["ABM_Engaged_Roles__c"]
    )
    touches = str(account["ABM_Recent_Touchpoints__c"]).splitlines()
    assert 0 < len(touches) <= 10
    dates = [line[:10] for line in touches]
    assert dates == sorted(dates, reverse=True)  # newest first
    assert account["ABM_Last_Touch__c"] == touches[0][:10]


def test_the_hubspot_company_of_the_same_domain_carries_the_same_brief(synced: CrmEnv) -> None:
    account = engaged_account(synced)
    companies = [c for c in synced.hs_rows("companies") if c.get("name") == account["Name"]]
    assert len(companies) == 1
    company = companies[0]
    assert float(company["abm_account_score"]) == float(account["ABM_Account_Score__c"])  # type: ignore[arg-type]
    assert company["abm_tier"] == account["ABM_Tier__c"]
    assert company["abm_buying_committee"] == account["ABM_Buying_Committee__c"]
    assert company["abm_mqa"] in {"true", "false"}


def test_a_second_sync_writes_no_account_and_a_hand_edit_is_put_right(synced: CrmEnv) -> None:
    again = synced.sync(as_of=DEFAULT_AS_OF)
    assert again.sent["salesforce/Account"].sent == 0
    assert again.sent["hubspot/companies"].sent == 0
    account = engaged_account(synced)
    synced.salesforce.store.update("Account", str(account["Id"]), {"ABM_Tier__c": "hand-made"})
    third = synced.sync(as_of=DEFAULT_AS_OF)
    assert third.sent["salesforce/Account"].written == 1
    plan = next(p for p in third.plans if p.obj == "Account")
    assert plan.plan.conflicts["field"].to_list() == ["ABM_Tier__c"]
    assert engaged_account(synced)["ABM_Tier__c"] == account["ABM_Tier__c"]


def test_abmsync_accounts_lists_the_briefs_by_score(synced: CrmEnv) -> None:
    runner = CliRunner()
    options = ["--rules", str(RULES), "--mappings", str(MAPPINGS), "--database", synced.database]
    result = runner.invoke(main, ["accounts", *options, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == len(synced.sf_rows("Account"))  # HubSpot's companies are the same ones
    scores = [r["account_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    top = engaged_account(synced)
    assert any(r["name"] == top["Name"] and r["tier"] == top["ABM_Tier__c"] for r in rows)
    lite = runner.invoke(main, ["accounts", *options, "--json", "--tier", "lite"])
    assert {r["tier"] for r in json.loads(lite.output)} <= {"lite"}
    mqas = runner.invoke(main, ["accounts", *options, "--json", "--mqa"])
    assert all(r["mqa"] for r in json.loads(mqas.output))
    table = runner.invoke(main, ["accounts", *options])
    assert table.exit_code == 0 and f"Accounts ({len(rows)})" in table.output


def test_a_rejected_account_is_a_dead_letter_until_a_later_sync_gets_it_through(
    tmp_path: Path, servers: Servers
) -> None:
    dataset = generate_dataset(60, seed=7, touchpoints_per_person=4)
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        env.sf_faults.partial_failure = 1.0
        first = env.sync(as_of=DEFAULT_AS_OF)
        assert first.status == "partial"
        with Store.open(env.database) as store:
            letters = store.list_dead_letters("salesforce", "Account", limit=1000)
        assert len(letters) == first.sent["salesforce/Account"].rejected > 0
        assert all("ABM_Account_Score__c" in letter.payload["values"] for letter in letters)
        env.sf_faults.partial_failure = 0.0
        second = env.sync(as_of=DEFAULT_AS_OF)
        assert second.status == "succeeded", second.message
        with Store.open(env.database) as store:
            assert store.list_dead_letters("salesforce", "Account", limit=1000) == []
        briefs = [r for r in env.sf_rows("Account", *BRIEF) if r["ABM_Tier__c"]]
        assert len(briefs) == len(letters)


def test_the_crms_rendering_of_a_number_is_no_edit_and_a_flipped_checkbox_is(
    synced: CrmEnv,
) -> None:
    account = engaged_account(synced)
    company = next(
        r
        for r in synced.hubspot.records["companies"].values()
        if r.properties.get("name") == account["Name"]
    )
    score, mqa = company.properties["abm_account_score"], company.properties["abm_mqa"]
    rendered = f"{float(score):.3f}"  # the same number, as another hand would type it
    assert rendered != score
    flipped = "false" if mqa == "true" else "true"
    synced.hubspot.update("companies", company, {"abm_account_score": rendered, "abm_mqa": flipped})
    run = synced.sync(as_of=DEFAULT_AS_OF)
    plan = next(p for p in run.plans if p.system == "hubspot" and p.obj == "companies")
    assert plan.plan.conflicts["field"].to_list() == ["abm_mqa"]
    assert [p.values for p in plan.patches] == [{"abm_mqa": mqa == "true"}]
    assert run.sent["hubspot/companies"].written == 1
    assert company.properties["abm_mqa"] == mqa
    assert company.properties["abm_account_score"] == rendered
