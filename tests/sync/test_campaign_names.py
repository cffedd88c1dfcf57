"""Campaign touchpoints carry the campaign's name (``Campaign.Name``) into the other systems."""

from __future__ import annotations

from tests.sync.crm_env import CrmEnv


def test_a_campaign_response_is_titled_by_the_campaign_name_not_its_id(env: CrmEnv) -> None:
    store = env.salesforce.store
    vera = next(r for r in env.sf_rows("Lead", "Email") if r["Email"].startswith("vera."))
    campaign = store.create("Campaign", {"Name": "Q4 Webinar"})
    member = {"CampaignId": campaign, "LeadId": vera["Id"], "Status": "Responded"}
    store.create(
        "CampaignMember", {**member, "CreatedDate": "2026-11-20T10:00:00.000+0000"}, trusted=True
    )

    summary = env.sync()

    assert summary.status == "succeeded", summary.message
    notes = [r for r in env.hs_rows("notes") if r.get("abm_touchpoint_key")]
    campaign_notes = [n["hs_note_body"] for n in notes if "Campaign" in n["hs_note_body"]]
    assert campaign_notes == ["Campaign: Q4 Webinar (from salesforce)\nCampaign: Q4 Webinar"]
    assert campaign not in campaign_notes[0]
