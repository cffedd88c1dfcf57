"""The default vendor mappings turn records read from the sandboxes into the shared schema."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from pydantic import SecretStr

from abmsync.connectors.hubspot.connector import HubSpotConnector
from abmsync.connectors.mapping import apply_mapping, load_mapping
from abmsync.connectors.salesforce.connector import SalesforceConnector
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.server import SandboxServer

MAPPINGS = Path(__file__).resolve().parents[2] / "examples" / "mappings"

SALESFORCE_SEED = {
    "Account": [
        {
            "Name": "Acme GmbH",
            "Website": "https://www.acme.de/",
            "Industry": "Software",
            "NumberOfEmployees": 800,
            "AnnualRevenue": 2.5e8,
            "BillingCountry": "Germany",
        }
    ],
    "Lead": [
        {
            "LastName": "Schmidt",
            "FirstName": "Anna",
            "Company": "Acme",
            "Email": " Anna.Schmidt@ACME.de",
            "Title": "VP Sales",
            "Country": "Deutschland",
            "Industry": "Software",
            "NumberOfEmployees": 800,
            "Status": "Working - Contacted",
        }
    ],
    "Contact": [{"LastName": "Doe", "Email": "john@acme.de", "MailingCountry": "USA"}],
    "Task": [{"Subject": "Call", "Type": "Call", "Status": "Completed"}],
}
HUBSPOT_SEED = {
    "contacts": [
        {
            "email": "Kim@Example.COM",
            "firstname": "Kim",
            "jobtitle": "CTO",
            "country": "United Kingdom",
            "hs_email_optout": "true",
        }
    ],
    "companies": [
        {
            "name": "Example Ltd",
            "domain": "www.example.co.uk",
            "numberofemployees": "120",
            "annualrevenue": "5000000",
        }
    ],
    "deals": [{"dealname": "Big deal", "amount": "25000", "dealstage": "closedwon"}],
}


def read_all(connector: SalesforceConnector | HubSpotConnector, obj: str) -> pl.DataFrame:
    frames = [batch.records for batch in connector.read_changes(obj, None)]
    return pl.concat([f for f in frames if f.height], how="diagonal_relaxed")


@pytest.fixture(scope="module")
def salesforce() -> Iterator[SalesforceConnector]:
    config = SandboxConfig()
    with SandboxServer(
        salesforce_app(config=config, seed_data=SALESFORCE_SEED), tls=True
    ) as server:
        yield SalesforceConnector(
            server.url,
            config.client_id,
            SecretStr(config.client_secret),
            verify=str(server.ca_file),
        )
        gc.collect()


@pytest.fixture(scope="module")
def hubspot() -> Iterator[HubSpotConnector]:
    with SandboxServer(hubspot_app(seed_data=HUBSPOT_SEED)) as server:
        yield HubSpotConnector(SecretStr("sandbox-token"), host=server.url)


def test_salesforce_leads_become_people_with_clean_values(
    salesforce: SalesforceConnector,
) -> None:
    people = apply_mapping(
        load_mapping(MAPPINGS / "salesforce-lead.yaml"), read_all(salesforce, "Lead")
    )
    anna = people.row(0, named=True)
    assert anna["id"].startswith("00Q")
    assert (anna["email"], anna["country"], anna["kind"]) == ("anna.schmidt@acme.de", "DE", "lead")
    assert (anna["industry"], anna["employees"], anna["crm_status"]) == (
        "Software",
        800,
        "Working - Contacted",
    )
    assert anna["created_at"] is not None


@pytest.mark.parametrize(
    ("mapping", "obj"),
    [
        ("salesforce-contact.yaml", "Contact"),
        ("salesforce-account.yaml", "Account"),
        ("salesforce-task.yaml", "Task"),
    ],
)
def test_every_salesforce_mapping_reads_its_object(
    salesforce: SalesforceConnector, mapping: str, obj: str
) -> None:
    frame = apply_mapping(load_mapping(MAPPINGS / mapping), read_all(salesforce, obj))
    assert frame.height == len(SALESFORCE_SEED[obj])
    assert frame["id"].null_count() == 0


def test_salesforce_accounts_get_a_clean_domain(salesforce: SalesforceConnector) -> None:
    accounts = apply_mapping(
        load_mapping(MAPPINGS / "salesforce-account.yaml"), read_all(salesforce, "Account")
    )
    assert accounts.select("domain", "country").row(0) == ("acme.de", "DE")


@pytest.mark.parametrize(
    ("mapping", "obj"),
    [
        ("hubspot-contacts.yaml", "contacts"),
        ("hubspot-companies.yaml", "companies"),
        ("hubspot-deals.yaml", "deals"),
    ],
)
def test_every_hubspot_mapping_reads_its_object(
    hubspot: HubSpotConnector, mapping: str, obj: str
) -> None:
    frame = apply_mapping(load_mapping(MAPPINGS / mapping), read_all(hubspot, obj))
    assert frame.height == len(HUBSPOT_SEED[obj])
    assert frame["id"].null_count() == 0


def test_hubspot_contacts_become_people(hubspot: HubSpotConnector) -> None:
    people = apply_mapping(
        load_mapping(MAPPINGS / "hubspot-contacts.yaml"), read_all(hubspot, "contacts")
    )
    kim = people.row(0, named=True)
    assert (kim["email"], kim["country"], kim["unsubscribed"]) == ("kim@example.com", "GB", True)


def test_hubspot_notes_become_touchpoints_of_their_contact(hubspot: HubSpotConnector) -> None:
    from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate

    contacts = read_all(hubspot, "contacts")
    contact = str(contacts["id"][0])
    note = hubspot.client.api("objects.notes.basic_api").create(
        SimplePublicObjectInputForCreate(
            properties={"hs_note_body": "Asked for pricing", "hs_timestamp": "2026-10-01T10:00:00Z"}
        )
    )
    hubspot.associate("notes", str(note.id), "contacts", contact)
    touchpoints = apply_mapping(
        load_mapping(MAPPINGS / "hubspot-notes.yaml"), read_all(hubspot, "notes")
    )
    row = touchpoints.filter(pl.col("id") == str(note.id)).row(0, named=True)
    assert (row["person_id"], row["type"], row["source_system"]) == (contact, "note", "hubspot")
    assert row["occurred_at"].year == 2026


def test_hubspot_deal_stages_say_whether_a_deal_is_closed_and_won(
    hubspot: HubSpotConnector,
) -> None:
    deals = apply_mapping(load_mapping(MAPPINGS / "hubspot-deals.yaml"), read_all(hubspot, "deals"))
    assert deals.select("stage", "is_closed", "is_won").row(0) == ("closedwon", True, True)
