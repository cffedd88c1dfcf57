"""Relationship fields (``Campaign.Name``): checked against describe, read by REST and Bulk."""

from __future__ import annotations

from typing import Any

import pytest

from abmsync.connectors.base import Batch
from abmsync.connectors.salesforce import SalesforceConnector
from abmsync.errors import ConfigError

from .conftest import MakeOrg, Org

RELATED = ["Campaign.Name", "Lead.Company", "Campaign.Owner.Name"]


def _campaign_members(org: Org) -> dict[str, str]:
    """Two campaigns, a lead in one and a contact in the other; member ids by who they are."""
    store = org.sandbox.store
    webinar = store.create("Campaign", {"Name": "Q4 Webinar"})
    fair = store.create("Campaign", {"Name": "Hannover Messe"})
    lead = store.create("Lead", {"LastName": "Lang", "Company": "Acme Robotics"})
    contact = store.create("Contact", {"LastName": "Chief"})
    return {
        "lead": store.create("CampaignMember", {"CampaignId": webinar, "LeadId": lead}),
        "contact": store.create("CampaignMember", {"CampaignId": fair, "ContactId": contact}),
    }


def _related_values(connector: SalesforceConnector) -> dict[str, dict[str, Any]]:
    batches: list[Batch] = list(connector.read_changes("CampaignMember", None))
    rows = [row for b in batches for row in b.records.select("Id", *RELATED).iter_rows()]
    return {row[0]: dict(zip(RELATED, row[1:], strict=True)) for row in rows}


@pytest.mark.parametrize("bulk", [False, True], ids=["rest", "bulk"])
def test_relationship_fields_are_read_as_columns_named_by_their_path(
    make_org: MakeOrg, bulk: bool
) -> None:
    org = make_org()
    members = _campaign_members(org)
    connector = org.connector(bulk_reads=bulk)
    connector.select_fields("CampaignMember", ["Id", "CampaignId", *RELATED])
    values = _related_values(connector)
    owner = values[members["lead"]]["Campaign.Owner.Name"]
    assert owner  # two relationships away: the campaign's owner, a user
    assert values[members["lead"]] == {
        "Campaign.Name": "Q4 Webinar",
        "Lead.Company": "Acme Robotics",
        "Campaign.Owner.Name": owner,
    }
    # A contact's membership has no lead: the lookup is empty and so is the column.
    assert values[members["contact"]]["Campaign.Name"] == "Hannover Messe"
    assert values[members["contact"]]["Lead.Company"] is None


def test_rest_and_bulk_reads_of_relationship_fields_agree(make_org: MakeOrg) -> None:
    org = make_org()
    _campaign_members(org)
    reads = []
    for bulk in (False, True):
        connector = org.connector(bulk_reads=bulk)
        connector.select_fields("CampaignMember", RELATED)
        reads.append(_related_values(connector))
    assert reads[0] == reads[1]


def test_plain_fields_are_read_whether_or_not_they_are_selected(org: Org) -> None:
    _campaign_members(org)
    connector = org.connector()
    connector.select_fields("CampaignMember", ["Campaign.Name"])
    frame = next(iter(connector.read_changes("CampaignMember", None))).records
    assert {"Id", "Status", "CampaignId", "SystemModstamp", "Campaign.Name"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "Campaing.Name",
            "CampaignMember has no relationship 'Campaing' (did you mean 'Campaign'?)",
        ),
        ("Campaign.Nme", "Campaign has no field 'Nme' (did you mean 'Name'?)"),
        ("CampaignId.Name", "CampaignMember has no relationship 'CampaignId'"),
        ("Campaign.", "is not Relationship.Field"),
        ("A.B.C.D.E.F.Name", "crosses 6 relationships; SOQL allows 5"),
    ],
)
def test_an_unknown_relationship_or_parent_field_is_one_clear_line(
    org: Org, path: str, message: str
) -> None:
    connector = org.connector()
    with pytest.raises(ConfigError) as caught:
        connector.select_fields("CampaignMember", ["Id", path])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
