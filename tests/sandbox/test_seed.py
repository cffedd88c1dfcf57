"""A generated data set loaded into the emulators reads back, through the real connectors and
the example mappings, as the data set; a simulated week reads back as incremental changes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import SecretStr

from abmsync.connectors.base import Cursor, SelectsFields
from abmsync.connectors.hubspot.connector import HubSpotConnector
from abmsync.connectors.mapping import apply_mapping, load_mapping
from abmsync.connectors.salesforce.connector import SalesforceConnector
from abmsync.sandbox import vocab
from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset, generate_dataset
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.hubspot.errors import RecordRejectedError
from abmsync.sandbox.hubspot.store import HubSpotStore
from abmsync.sandbox.salesforce.app import SalesforceSandbox, SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.salesforce.store import RecordError
from abmsync.sandbox.seed import SeedSummary, seed_sandbox
from abmsync.sandbox.server import SandboxServer
from abmsync.sandbox.week import ActivitySummary, simulate_week

MAPPINGS = Path(__file__).resolve().parents[2] / "examples" / "mappings"
TOKEN = "sandbox-token"
COUNTRY_CODES = [c.code for c in vocab.COUNTRIES]


@dataclass
class Emulators:
    """Seeded Salesforce and HubSpot emulators, served, with connectors to read them."""

    data: Dataset
    summary: SeedSummary
    sandbox: SalesforceSandbox
    store: HubSpotStore
    salesforce: SalesforceConnector
    hubspot: HubSpotConnector


@dataclass
class Read:
    """Everything one ``read_changes`` run handed out."""

    records: pl.DataFrame
    deleted: list[str]
    cursor: Cursor | None


def read(
    connector: SalesforceConnector | HubSpotConnector, obj: str, cursor: Cursor | None
) -> Read:
    frames: list[pl.DataFrame] = []
    deleted: list[str] = []
    last = cursor
    for batch in connector.read_changes(obj, cursor):
        frames.append(batch.records)
        deleted += batch.deleted_ids
        last = batch.cursor
    filled = [f for f in frames if f.height]
    records = pl.concat(filled, how="diagonal_relaxed") if filled else frames[0]
    return Read(records, deleted, last)


def mapped(emulators: Emulators, mapping: str, obj: str) -> pl.DataFrame:
    connector: SalesforceConnector | HubSpotConnector = (
        emulators.hubspot if mapping.startswith("hubspot") else emulators.salesforce
    )
    loaded = load_mapping(MAPPINGS / mapping)
    if isinstance(connector, SelectsFields):  # relationship fields are read only when asked
        connector.select_fields(obj, loaded.vendor_fields)
    return apply_mapping(loaded, read(connector, obj, None).records)


def ids_of(summary: SeedSummary, system: str, obj: str) -> pl.DataFrame:
    """data_id -> record_id for one object."""
    ids = summary.ids.filter((pl.col("system") == system) & (pl.col("object") == obj))
    return ids.select("data_id", "record_id")


def with_data_ids(frame: pl.DataFrame, summary: SeedSummary, system: str, obj: str) -> pl.DataFrame:
    """``frame`` (mapped, ``id`` = vendor id) with the data-set id it came from as ``data_id``."""
    ids = ids_of(summary, system, obj).rename({"record_id": "id"})
    return frame.join(ids, on="id", how="inner")


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate_dataset(300, touchpoints_per_person=6)


def serve(data: Dataset) -> Iterator[Emulators]:
    config = SandboxConfig()
    salesforce, hubspot = salesforce_app(config=config), hubspot_app(token=TOKEN)
    summary = seed_sandbox(data, salesforce.state.sandbox, hubspot.state.store)
    with (
        SandboxServer(salesforce, tls=True) as sf_server,
        SandboxServer(hubspot) as hs_server,
    ):
        sf = SalesforceConnector(
            sf_server.url,
            config.client_id,
            SecretStr(config.client_secret),
            verify=str(sf_server.ca_file),
        )
        hs = HubSpotConnector(SecretStr(TOKEN), host=hs_server.url)
        yield Emulators(data, summary, salesforce.state.sandbox, hubspot.state.store, sf, hs)
        sf.client.session.close()
        gc.collect()


@pytest.fixture(scope="module")
def seeded(data: Dataset) -> Iterator[Emulators]:
    yield from serve(data)


@pytest.fixture
def fresh(data: Dataset) -> Iterator[Emulators]:
    yield from serve(data)


# --- Salesforce ---------------------------------------------------------------------------


def test_the_summary_counts_what_went_into_each_object(seeded: Emulators) -> None:
    data, summary = seeded.data, seeded.summary
    leads = data.people.filter(pl.col("kind") == "lead").height
    assert summary.salesforce["Lead"] == leads
    assert summary.salesforce["Contact"] == data.people.height - leads
    assert summary.salesforce["Account"] == data.accounts.height
    assert summary.salesforce["User"] == data.owners.height
    assert summary.salesforce["Opportunity"] == data.opportunities.height
    emails = data.people["email"].str.strip_chars().str.to_lowercase().drop_nulls()
    assert summary.hubspot["contacts"] == emails.n_unique()
    assert ("salesforce", "Lead", leads) in summary.rows()


def test_owners_are_users_whose_alias_is_the_owner_id(seeded: Emulators) -> None:
    users = read(seeded.salesforce, "User", None).records
    owners = users.filter(pl.col("Alias").str.starts_with("own-"))
    assert sorted(owners["Alias"]) == sorted(seeded.data.owners["id"])
    assert set(owners["Email"]) == set(seeded.data.owners["email"])


def test_leads_map_back_to_the_generated_people(seeded: Emulators) -> None:
    data = seeded.data
    leads = with_data_ids(
        mapped(seeded, "salesforce-lead.yaml", "Lead"), seeded.summary, "salesforce", "Lead"
    )
    generated = data.people.join(
        data.accounts.select(account_id="id", account_name="name", account_industry="industry"),
        on="account_id",
        how="left",
    )
    both = leads.join(generated, left_on="data_id", right_on="id", suffix="_data")
    assert both.height == data.people.filter(pl.col("kind") == "lead").height
    expected_email = pl.col("email_data").str.strip_chars().str.to_lowercase()
    assert both.filter(pl.col("email").ne_missing(expected_email)).height == 0
    assert (both["created_at"] == both["created_at_data"]).all()
    assert (both["last_name"] == both["last_name_data"].str.strip_chars()).all()
    # A lead's Company is what the person typed, else its account's name.
    company = pl.coalesce("company_data", "account_name", pl.lit("[not provided]"))
    assert (both["company"] == both.select(company.str.strip_chars()).to_series()).all()
    unnamed = both.filter(pl.col("company_data").is_null() & pl.col("account_name").is_not_null())
    assert unnamed.height > 0
    assert (unnamed["company"] == unnamed["account_name"].str.strip_chars()).all()
    # Firmographics come from the account; sales' verdict is the Lead Status.
    linked = both.filter(pl.col("account_id_data").is_not_null())
    assert linked.filter(pl.col("industry").ne_missing(pl.col("account_industry"))).height == 0
    status = both.select("crm_status", "crm_status_data").unique().sort("crm_status_data")
    assert status.rows() == [
        ("Open - Not Contacted", None),
        ("Accepted", "Accepted"),
        ("Open - Not Contacted", "Open"),
        ("Rejected", "Rejected"),
    ]
    coded = both.filter(pl.col("country_data").is_in(COUNTRY_CODES))
    assert (coded["country"] == coded["country_data"]).all()


def test_records_are_owned_by_the_user_of_their_owner(seeded: Emulators) -> None:
    users = read(seeded.salesforce, "User", None).records.select(owner_id="Id", alias="Alias")
    contacts = with_data_ids(
        mapped(seeded, "salesforce-contact.yaml", "Contact"),
        seeded.summary,
        "salesforce",
        "Contact",
    ).join(users, on="owner_id")
    both = contacts.join(seeded.data.people, left_on="data_id", right_on="id", suffix="_data")
    owned = both.filter(pl.col("owner_id_data").is_not_null())
    assert owned.height > 0 and (owned["alias"] == owned["owner_id_data"]).all()
    assert set(both.filter(pl.col("owner_id_data").is_null())["alias"]) <= {"admin"}


def test_contacts_and_opportunities_point_at_their_accounts(seeded: Emulators) -> None:
    accounts = ids_of(seeded.summary, "salesforce", "Account").rename(
        {"data_id": "data_account", "record_id": "account_id"}
    )
    contacts = with_data_ids(
        mapped(seeded, "salesforce-contact.yaml", "Contact"),
        seeded.summary,
        "salesforce",
        "Contact",
    ).join(accounts, on="account_id", how="left")
    both = contacts.join(seeded.data.people, left_on="data_id", right_on="id", suffix="_data")
    assert (both["data_account"] == both["account_id_data"]).all()
    opportunities = with_data_ids(
        mapped(seeded, "salesforce-opportunity.yaml", "Opportunity"),
        seeded.summary,
        "salesforce",
        "Opportunity",
    ).join(accounts, on="account_id")
    deals = opportunities.join(
        seeded.data.opportunities, left_on="data_id", right_on="id", suffix="_data"
    )
    assert deals.height == seeded.data.opportunities.height
    assert (deals["data_account"] == deals["account_id_data"]).all()
    assert (deals["amount"] == deals["amount_data"]).all()
    assert (deals["is_won"] == deals["is_won_data"]).all()


def test_accounts_keep_name_domain_and_size(seeded: Emulators) -> None:
    accounts = with_data_ids(
        mapped(seeded, "salesforce-account.yaml", "Account"),
        seeded.summary,
        "salesforce",
        "Account",
    )
    both = accounts.join(seeded.data.accounts, left_on="data_id", right_on="id", suffix="_data")
    assert both.height == seeded.data.accounts.height
    assert (both["name"] == both["name_data"].str.strip_chars()).all()
    assert (both["domain"] == both["domain_data"]).all()
    assert both.filter(pl.col("employees").ne_missing(pl.col("employees_data"))).height == 0


def test_sales_touchpoints_are_tasks_and_webinars_campaign_members(seeded: Emulators) -> None:
    touches = seeded.data.touchpoints
    tasks = with_data_ids(
        mapped(seeded, "salesforce-task.yaml", "Task"), seeded.summary, "salesforce", "Task"
    ).join(touches, left_on="data_id", right_on="id", suffix="_data")
    assert tasks.height == touches.filter(pl.col("type").is_in(["call", "meeting"])).height > 0
    assert (tasks["type"] == tasks["type_data"]).all()
    assert (tasks["occurred_at"] == tasks["occurred_at_data"]).all()
    people = pl.concat(
        [ids_of(seeded.summary, "salesforce", obj) for obj in ("Lead", "Contact")]
    ).rename({"data_id": "person_data", "record_id": "person_id"})
    who = tasks.join(people, on="person_id")
    assert (who["person_data"] == who["person_id_data"]).all()
    members = mapped(seeded, "salesforce-campaignmember.yaml", "CampaignMember")
    responses = touches.filter(pl.col("type").is_in(["webinar", "event"]))
    assert members.height == responses.select("campaign", "person_id").n_unique() > 0
    assert members["person_id"].null_count() == 0
    assert set(members["type"]) == {"campaign_response"}


# --- HubSpot ------------------------------------------------------------------------------


def test_people_with_an_email_are_the_hubspot_contacts(seeded: Emulators) -> None:
    contacts = mapped(seeded, "hubspot-contacts.yaml", "contacts")
    people = seeded.data.people.with_columns(
        email=pl.col("email").str.strip_chars().str.to_lowercase()
    ).drop_nulls("email")
    assert sorted(contacts["email"]) == sorted(people["email"].unique())
    first = people.group_by("email").agg(pl.col("created_at").min(), pl.col("unsubscribed").first())
    both = contacts.join(first, on="email", suffix="_data")
    assert (both["created_at"] == both["created_at_data"]).all()
    assert (both["unsubscribed"] == both["unsubscribed_data"]).all()


def test_accounts_are_hubspot_companies(seeded: Emulators) -> None:
    companies = mapped(seeded, "hubspot-companies.yaml", "companies")
    assert sorted(companies["domain"]) == sorted(seeded.data.accounts["domain"])


def test_marketing_touchpoints_are_notes_on_their_contact(seeded: Emulators) -> None:
    notes = with_data_ids(
        mapped(seeded, "hubspot-notes.yaml", "notes"), seeded.summary, "hubspot", "notes"
    )
    touches = seeded.data.touchpoints
    marketing = touches.filter(~pl.col("type").is_in(["call", "meeting", "webinar", "event"]))
    with_email = marketing.join(
        seeded.data.people.filter(pl.col("email").is_not_null()).select(person_id="id"),
        on="person_id",
    )
    assert notes.height == with_email.height > 0
    assert notes["person_id"].null_count() == 0
    contact_of = ids_of(seeded.summary, "hubspot", "contacts").rename(
        {"data_id": "person_data", "record_id": "person_id"}
    )
    both = notes.join(touches, left_on="data_id", right_on="id", suffix="_data").join(
        contact_of, left_on="person_id_data", right_on="person_data"
    )
    assert (both["person_id"] == both["person_id_right"]).all()
    assert (both["type"] == both["type_data"]).all()
    assert both.filter(pl.col("url").ne_missing(pl.col("url_data"))).height == 0
    assert (both["occurred_at"] == both["occurred_at_data"]).all()
    assert "form_submit" in set(notes["type"]) and set(notes["source_system"]) == {"hubspot"}


# --- the stores' bulk inserts ---------------------------------------------------------------


def test_a_bad_row_stops_a_salesforce_bulk_insert_before_anything_is_stored() -> None:
    sandbox: SalesforceSandbox = salesforce_app().state.sandbox
    rows = [{"LastName": "Ok", "Company": "C"}, {"LastName": "Bad", "Status": "Nonsense"}]
    with pytest.raises(RecordError) as caught:
        sandbox.store.insert_many("Lead", rows)
    assert caught.value.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sandbox.store.select('SELECT COUNT(*) FROM "Lead"') == [(0,)]


def test_a_taken_email_stops_a_hubspot_bulk_insert_before_anything_is_stored() -> None:
    store = HubSpotStore()
    store.create("contacts", {"email": "ann@example.com"})
    with pytest.raises(RecordRejectedError):
        store.insert_many("contacts", [{"email": "bob@example.com"}, {"email": " ANN@example.com"}])
    assert sorted(store.ids_by("contacts", "email")) == ["ann@example.com"]


# --- a week of activity -----------------------------------------------------------------------


def cursors(emulators: Emulators, objects: dict[str, str]) -> dict[str, Cursor | None]:
    """A cursor per object after reading everything (as a first sync does)."""
    found: dict[str, Cursor | None] = {}
    for obj, system in objects.items():
        connector: Any = emulators.hubspot if system == "hubspot" else emulators.salesforce
        found[obj] = read(connector, obj, None).cursor
    return found


WATCHED = {"Lead": "salesforce", "Contact": "salesforce", "notes": "hubspot", "contacts": "hubspot"}


@pytest.fixture
def week(fresh: Emulators) -> tuple[Emulators, ActivitySummary, dict[str, Read]]:
    before = cursors(fresh, WATCHED)
    summary = simulate_week(fresh.data, fresh.sandbox, fresh.store, start=DEFAULT_AS_OF)
    after: dict[str, Read] = {}
    for obj, system in WATCHED.items():
        connector: Any = fresh.hubspot if system == "hubspot" else fresh.salesforce
        after[obj] = read(connector, obj, before[obj])
    return fresh, summary, after


def test_the_converted_lead_reads_back_converted_to_its_contact(
    week: tuple[Emulators, ActivitySummary, dict[str, Read]],
) -> None:
    _, summary, after = week
    assert summary.conversion is not None
    leads = apply_mapping(load_mapping(MAPPINGS / "salesforce-lead.yaml"), after["Lead"].records)
    lead = leads.filter(pl.col("id") == summary.conversion.lead_id).row(0, named=True)
    assert lead["is_converted"] is True
    assert lead["converted_contact_id"] == summary.conversion.contact_id
    contacts = after["Contact"].records
    contact = contacts.filter(pl.col("Id") == summary.conversion.contact_id).row(0, named=True)
    assert contact["AccountId"] == summary.conversion.account_id
    assert f"converted to contact {summary.conversion.contact_id}" in "\n".join(summary.lines())


def test_the_merged_duplicate_and_the_deleted_lead_read_back_deleted(
    week: tuple[Emulators, ActivitySummary, dict[str, Read]],
) -> None:
    _, summary, after = week
    assert summary.merge is not None and summary.deleted_lead_id is not None
    assert {summary.merge.duplicate_id, summary.deleted_lead_id} <= set(after["Lead"].deleted)
    loser = after["Lead"].records.filter(pl.col("Id") == summary.merge.duplicate_id)
    assert loser.row(0, named=True)["MasterRecordId"] == summary.merge.master_id
    assert summary.merge.master_id not in after["Lead"].deleted


def test_sales_feedback_reads_back_as_crm_status(
    week: tuple[Emulators, ActivitySummary, dict[str, Read]],
) -> None:
    _, summary, after = week
    leads = apply_mapping(load_mapping(MAPPINGS / "salesforce-lead.yaml"), after["Lead"].records)
    statuses = dict(leads.select("id", "crm_status").iter_rows())
    verdicts = {f.lead_id: f.status for f in summary.feedback}
    assert {"Accepted", "Rejected"} <= set(verdicts.values())
    converted = summary.conversion.lead_id if summary.conversion else None
    for lead_id, status in verdicts.items():
        assert statuses[lead_id] == ("Closed - Converted" if lead_id == converted else status)


def test_new_touchpoints_are_read_after_a_cursor_taken_before_the_week(
    week: tuple[Emulators, ActivitySummary, dict[str, Read]],
) -> None:
    emulators, summary, after = week
    notes = apply_mapping(load_mapping(MAPPINGS / "hubspot-notes.yaml"), after["notes"].records)
    assert sorted(notes["id"]) == sorted(t.note_id for t in summary.touchpoints)
    assert notes["person_id"].null_count() == 0
    assert (notes["occurred_at"] >= summary.start).all() and (
        notes["occurred_at"] < summary.end
    ).all()
    forms = notes.filter(pl.col("id").is_in([t.note_id for t in summary.fast_tracks]))
    assert forms.height == len(summary.fast_tracks) == 6  # 5 known people, 1 new sign-up
    assert set(forms["type"]) == {"form_submit"}
    assert forms["url"].str.contains("/contact-sales|/demo-request").all()
    new = {c.contact_id for c in summary.new_contacts}
    assert len(new) == 4 and new <= set(after["contacts"].records["id"])
    emails = {c.email for c in summary.new_contacts}
    salesforce = read(emulators.salesforce, "Lead", None).records["Email"].drop_nulls()
    assert not emails & set(salesforce.str.to_lowercase())


def test_the_same_seed_plays_the_same_week(data: Dataset) -> None:
    def play(seed: int) -> list[str]:
        salesforce, hubspot = salesforce_app(), hubspot_app()
        seed_sandbox(data, salesforce.state.sandbox, hubspot.state.store)
        start = DEFAULT_AS_OF + timedelta(days=1)
        return simulate_week(
            data, salesforce.state.sandbox, hubspot.state.store, seed=seed, start=start
        ).lines()

    assert play(11) == play(11)
    assert play(11) != play(12)
