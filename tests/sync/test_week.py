"""A week in the life of the sync: new activity, sales feedback, conversion, merge, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.week import ActivitySummary, simulate_week
from abmsync.sync.engine import SyncSummary
from abmsync.sync.store import Store
from tests.sync.crm_env import CrmEnv, crm_env, crm_servers

WEEK_LATER = DEFAULT_AS_OF + timedelta(days=7)


class Week:
    def __init__(self, env: CrmEnv, week: ActivitySummary, first: SyncSummary, second: SyncSummary):
        self.env, self.week, self.first, self.second = env, week, first, second


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    data = generate_dataset(400, seed=9, touchpoints_per_person=5)
    with (
        crm_servers() as servers,
        crm_env(tmp_path_factory.mktemp("week"), servers, dataset=data) as env,
    ):
        first = env.sync(as_of=DEFAULT_AS_OF)
        assert first.status == "succeeded", first.message
        week = simulate_week(data, env.salesforce, env.hubspot, seed=3, start=DEFAULT_AS_OF)
        second = env.sync(as_of=WEEK_LATER)
        assert second.status == "succeeded", second.message
        yield Week(env, week, first, second)


def person_of(env: CrmEnv, system: str, obj: str, vendor_id: str) -> str | None:
    with Store.open(env.database) as store:
        return store.find_local(system, obj, vendor_id)


def test_a_converted_lead_hands_its_person_and_history_to_the_contact(played: Week) -> None:
    conversion = played.week.conversion
    assert conversion is not None
    env = played.env
    person = person_of(env, "salesforce", "Lead", conversion.lead_id)
    assert person is not None
    assert person_of(env, "salesforce", "Contact", conversion.contact_id) == person
    with Store.open(env.database) as store:
        history = store.score_history(person)
    assert history  # scored in the first run, as the lead
    contact = [
        r
        for r in env.sf_rows("Contact", "ABM_Score__c", "ABM_Stage__c")
        if r["Id"] == conversion.contact_id
    ]
    assert contact and contact[0]["ABM_Score__c"] is not None and contact[0]["ABM_Stage__c"]
    # The converted lead is never written to again.
    plan = next(p for p in played.second.plans if p.obj == "Lead")
    assert conversion.lead_id not in {p.record_id for p in plan.patches}


def test_merged_and_deleted_leads_are_never_written_and_never_recreated(played: Week) -> None:
    merge, deleted = played.week.merge, played.week.deleted_lead_id
    assert merge is not None and deleted is not None
    env = played.env
    written = {p.record_id for plan in played.second.plans for p in plan.patches}
    assert merge.duplicate_id not in written and deleted not in written
    assert played.second.counts()["deleted"] >= 2
    assert played.second.counts()["rejected"] == 0
    # The loser's person is the survivor's: its touchpoints count for the survivor.
    assert person_of(env, "salesforce", "Lead", merge.duplicate_id) == person_of(
        env, "salesforce", "Lead", merge.master_id
    )
    live = {r["Id"] for r in env.sf_rows("Lead")}
    assert deleted not in live and merge.duplicate_id not in live


def test_demo_requests_fast_track_people_to_mql_with_an_owner(played: Week) -> None:
    env = played.env
    moved = played.second.passed
    assert moved is not None
    fast = moved.stage_changes.filter(moved.stage_changes["rule"] == "fast track: contact sales")
    assert fast.height and int(fast["people"].sum()) >= 1
    users = {r["Id"]: r["Alias"] for r in env.sf_rows("User", "Alias")}
    emails = {t.email for t in played.week.fast_tracks}
    leads = [
        r
        for r in env.sf_rows("Lead", "Email", "ABM_Stage__c", "OwnerId")
        if (r["Email"] or "").lower() in emails
    ]
    assert leads
    for lead in leads:
        assert lead["ABM_Stage__c"] in ("mql", "sal", "sql")
        assert users[lead["OwnerId"]].startswith("own-")  # routed to a queue member


def test_new_activity_becomes_salesforce_history_once(played: Week) -> None:
    keys = [
        r["ABM_Touchpoint_Key__c"]
        for r in played.env.sf_rows("ABM_Touchpoint__c", "ABM_Touchpoint_Key__c")
    ]
    assert len(keys) == len(set(keys))
    new_notes = {f"hubspot:notes:{t.note_id}" for t in played.week.touchpoints}
    # Every new note of a person Salesforce knows crossed over.
    crossed = new_notes & set(keys)
    assert crossed
    plan = next(p for p in played.second.plans if p.obj == "ABM_Touchpoint__c")
    assert plan.records <= len(new_notes) + 50  # the week's news, not the whole history


def test_web_form_sign_ups_missing_from_salesforce_are_reported(played: Week) -> None:
    unreached = played.second.unreached
    assert unreached is not None
    signups = {c.email for c in played.week.new_contacts}
    listed = set(unreached["email"].to_list())
    # The sign-up who asked for a demo is qualified, and Salesforce never heard of them.
    assert listed and listed <= signups | {t.email for t in played.week.fast_tracks}
    assert listed & signups
    assert all("salesforce" not in systems for systems in unreached["systems"].to_list())
