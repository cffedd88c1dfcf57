"""An owned field emptied in the CRM is written again by the next sync."""

from __future__ import annotations

import requests
from simple_salesforce.api import Salesforce

from abmsync.sandbox.salesforce.app import SandboxConfig
from tests.sync.crm_env import CrmEnv, later

VERA = "vera.lang@acme-robotics.com"


def _salesforce(env: CrmEnv) -> Salesforce:
    """A plain simple-salesforce handle, as an admin's script would use."""
    config = SandboxConfig()
    session = requests.Session()
    session.trust_env = False
    session.verify = env.sf_ca
    form = {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    token = session.post(f"{env.sf_url}/services/oauth2/token", data=form).json()
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version="62.0",
    )


def _vera(env: CrmEnv) -> dict[str, object]:
    (row,) = [r for r in env.sf_rows("Lead", "Email", "ABM_Score__c") if r["Email"] == VERA]
    return row


def test_a_score_cleared_in_salesforce_is_written_again(env: CrmEnv) -> None:
    first = env.sync()
    assert first.status == "succeeded", first.message
    score = _vera(env)["ABM_Score__c"]
    assert score is not None

    sf = _salesforce(env)
    sf.Lead.update(str(_vera(env)["Id"]), {"ABM_Score__c": None})
    sf.session.close()
    assert _vera(env)["ABM_Score__c"] is None

    again = env.sync(as_of=later(0.01))
    assert again.status == "succeeded", again.message
    assert _vera(env)["ABM_Score__c"] == score
    leads = again.sent["salesforce/Lead"]
    assert leads.written == 1  # only the cleared record
    # Written back and read back: the run after that has nothing to do.
    third = env.sync(as_of=later(0.02))
    assert third.counts()["written"] == 0
