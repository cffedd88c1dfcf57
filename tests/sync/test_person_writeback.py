"""Records sales can use: MQL date, SLA due, assignment reason, HubSpot owner and stage.

Over the Salesforce and HubSpot emulators: a VP fills in the contact-sales
form (a HubSpot note), is fast-tracked to MQL, routed to the DACH queue, and
the new fields land on her Salesforce lead and HubSpot contact; a second run
with nothing new writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from abmsync.rules.loader import load_rules
from abmsync.sandbox.hubspot.store import HubSpotStore
from tests.sync.crm_env import AS_OF, RULES, CrmEnv, later

DACH = [("own-001", "Dana", "Eins"), ("own-002", "Dirk", "Zwei"), ("own-003", "Doro", "Drei")]
NEW_FIELDS = ("ABM_MQL_Date__c", "ABM_SLA_Due__c", "ABM_Assignment_Reason__c", "OwnerId")


def _staff(env: CrmEnv, tmp_path: Path) -> dict[str, str]:
    """Salesforce users for the DACH queue and HubSpot owners with their emails.

    Every Salesforce lead has an owner (the integration user here), so the
    regional rule routes owned people too.
    """
    rules = tmp_path / "rules.yaml"
    by_region = "{name: by region, assign: {territory: regions}"
    rules.write_text(RULES.read_text().replace(by_region, by_region + ", reassign: true"))
    env.loaded = load_rules(rules)
    owners = {}
    for alias, first, last in DACH:
        email = f"{first.lower()}@example.de"
        env.salesforce.store.create(
            "User",
            {
                "Alias": alias,
                "Username": f"{alias}@example.de",
                "Email": email,
                "FirstName": first,
                "LastName": last,
                "IsActive": True,
            },
        )
        owners[alias] = env.hubspot.add_owner(first, last, email)
    return owners


def _contact_sales(store: HubSpotStore, email: str, days_ago: float) -> None:
    contact = next(r for r in store.records["contacts"].values() if r.properties["email"] == email)
    stamp = (AS_OF - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    note = store.create(
        "notes",
        {
            "hs_timestamp": stamp,
            "hs_note_body": "Contact sales form",
            "abm_activity_type": "form_submit",
            "abm_activity_url": "https://www.example.com/contact-sales",
        },
    )
    store.associate("notes", str(note.id), "contacts", str(contact.id), 202)


def _vera(env: CrmEnv) -> dict[str, Any]:
    rows = env.sf_rows("Lead", "Email", *NEW_FIELDS)
    return next(r for r in rows if r["Email"] == "vera.lang@acme-robotics.com")


def _hubspot(env: CrmEnv, email: str) -> dict[str, Any]:
    return next(r for r in env.hs_rows("contacts") if r.get("email") == email)


def test_mql_sla_and_assignment_land_on_both_systems_and_a_second_run_writes_nothing(
    env: CrmEnv, tmp_path: Path
) -> None:
    owners = _staff(env, tmp_path)
    _contact_sales(env.hubspot, "vera.lang@acme-robotics.com", days_ago=1)

    first = env.sync()
    assert first.status == "succeeded", first.message
    vera = _vera(env)
    assert str(vera["ABM_MQL_Date__c"]).startswith(AS_OF.strftime("%Y-%m-%dT%H:%M:%S"))
    assert vera["ABM_SLA_Due__c"] is not None
    assert str(vera["ABM_SLA_Due__c"]) > str(vera["ABM_MQL_Date__c"])
    assert str(vera["ABM_Assignment_Reason__c"]).startswith("by region: ")
    user = next(u for u in env.sf_rows("User", "Alias") if u["Id"] == vera["OwnerId"])
    assert user["Alias"] in owners
    contact = _hubspot(env, "vera.lang@acme-robotics.com")
    assert contact["lifecyclestage"] == "marketingqualifiedlead"
    assert contact["hubspot_owner_id"] == owners[user["Alias"]]  # the same person, matched by email
    assert contact["abm_assignment_reason"] == vera["ABM_Assignment_Reason__c"]
    assert contact["abm_mql_date"] and contact["abm_sla_due"]
    assert _hubspot(env, "otto@globex.com")["lifecyclestage"] == "lead"

    second = env.sync()
    assert second.status == "succeeded", second.message
    assert second.counts()["planned"] == 0
    assert all(stats.sent == 0 for stats in second.sent.values()), second.sent


def test_a_backward_hubspot_stage_is_cleared_then_set(env: CrmEnv, tmp_path: Path) -> None:
    _staff(env, tmp_path)
    _contact_sales(env.hubspot, "vera.lang@acme-robotics.com", days_ago=1)
    assert env.sync().status == "succeeded"
    # She goes quiet: recycled after a month in MQL, which HubSpot calls a lead.
    run = env.sync(as_of=later(100))
    assert run.status == "succeeded", run.message
    plan = next(p for p in run.plans if p.system == "hubspot" and p.obj == "contacts")
    assert [c.values for c in plan.clears] == [{"lifecyclestage": None}]
    assert _hubspot(env, "vera.lang@acme-robotics.com")["lifecyclestage"] == "lead"


def test_a_time_moved_by_hand_is_put_back_and_the_same_time_in_another_offset_is_not(
    env: CrmEnv, tmp_path: Path
) -> None:
    _staff(env, tmp_path)
    _contact_sales(env.hubspot, "vera.lang@acme-robotics.com", days_ago=1)
    assert env.sync().status == "succeeded"
    vera = _vera(env)
    mql = datetime.fromisoformat(str(vera["ABM_MQL_Date__c"]))
    due = datetime.fromisoformat(str(vera["ABM_SLA_Due__c"]))
    edits = {
        "ABM_MQL_Date__c": (mql - timedelta(hours=1)).isoformat(),
        "ABM_SLA_Due__c": due.astimezone(timezone(timedelta(hours=1))).isoformat(),
    }
    env.salesforce.store.update("Lead", str(vera["Id"]), edits)
    run = env.sync()
    assert run.status == "succeeded", run.message
    plan = next(p for p in run.plans if p.system == "salesforce" and p.obj == "Lead")
    assert plan.plan.conflicts["field"].to_list() == ["ABM_MQL_Date__c"]
    assert [p.values for p in plan.patches] == [{"ABM_MQL_Date__c": f"{mql:%Y-%m-%dT%H:%M:%SZ}"}]
    after = _vera(env)
    assert datetime.fromisoformat(str(after["ABM_MQL_Date__c"])) == mql
    assert datetime.fromisoformat(str(after["ABM_SLA_Due__c"])) == due
