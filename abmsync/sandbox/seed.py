"""Load a generated data set into the Salesforce and HubSpot emulators.

``seed_sandbox`` writes a :class:`~abmsync.sandbox.generate.Dataset` straight
into the emulators' stores, in process and in bulk (100,000 people take about
ten seconds). Pass the handles the apps expose: ``app.state.sandbox`` of
``abmsync.sandbox.salesforce.create_app()`` and ``app.state.store`` of
``abmsync.sandbox.hubspot.create_app()``; either may be None. Records carry the
vendor fields the mappings in ``examples/mappings`` read, so reading them back
through the connectors and mapping them gives the data set again, except that:

- ids are the vendors' (``00Q…``, ``003…``, HubSpot numbers). Owners are Users
  whose ``Alias`` is the owner id (``own-001``) and HubSpot owners with the
  owner's email; unowned records belong to the org's admin user (alias
  ``admin``), as records an integration user creates do.
- Salesforce holds people of kind ``lead`` as Leads and ``contact`` as Contacts,
  ``meeting`` and ``call`` touchpoints as Tasks, ``webinar`` and ``event`` ones
  as CampaignMembers (one per person and campaign, as Salesforce allows). A
  lead without a company gets Company "[not provided]".
- HubSpot keeps one contact per email (duplicates share it; people without an
  email are not there) and the other, marketing touchpoints as notes on that
  contact. HubSpot's own web-analytics and email-event APIs are not emulated,
  so the portal's custom note properties ``abm_activity_type`` and
  ``abm_activity_url`` say what a note records.

Sales feedback. The rules (``examples/rules.yaml``) read ``crm_status``
``Accepted`` and ``Rejected``. The org is customised as admins running a
marketing-to-sales handoff do: the Lead Status picklist gains ``Accepted`` and
``Rejected`` next to the standard values, a ``Rejection_Reason__c`` picklist
holds the reason, and a record-triggered flow stamps the ``Status_Changed__c``
date/time when the Status changes (the lead mapping reads it as
``crm_status_at``: when sales' verdict was given). So the lead mapping stays a
plain copy (``Status: crm_status``): rules see the value sales picked, and the
standard values ("Working - Contacted") and any the org adds later still read
as they are, where translating with a ``map`` transform would turn every value
its table lacks into null. Leads sales have not judged, the generator's
``Open`` MQLs among them, are "Open - Not Contacted", the standard default.

Times: CreatedDate / ``createdate`` and the times of tasks, members and notes
come from the data set; Salesforce's LastModifiedDate/SystemModstamp fall
between a record's creation and the load, a few shared by neighbouring records
(see ``_stamp_modifications``); ``hs_lastmodifieddate`` is the emulator's clock
at loading, as after an import.

``abmsync.sandbox.week.simulate_week`` then plays a week of activity on top.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from abmsync.sandbox.deal_roles import contact_roles
from abmsync.sandbox.generate import REJECTION_REASONS, Dataset
from abmsync.sandbox.hubspot.properties import ACTIVITY_TYPE, ACTIVITY_URL
from abmsync.sandbox.hubspot.store import HubSpotStore
from abmsync.sandbox.salesforce.app import SalesforceSandbox
from abmsync.sandbox.salesforce.store import Store, custom_field, format_datetime, parse_datetime

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.app import DataverseSandbox
    from abmsync.sandbox.eloqua.store import EloquaStore

SALES_TYPES = {"call": "Call", "meeting": "Meeting"}  # touchpoint type -> Task Type
CAMPAIGN_TYPES = ["webinar", "event"]  # touchpoint types held as CampaignMembers
ACCEPTED, REJECTED, NOT_CONTACTED = "Accepted", "Rejected", "Open - Not Contacted"
REASON_FIELD = "Rejection_Reason__c"
STATUS_CHANGED_FIELD = "Status_Changed__c"  # set by the org's flow when Lead Status changes
NO_COMPANY = "[not provided]"
SF_STAMP, HS_STAMP = "%Y-%m-%dT%H:%M:%S%.3f+0000", "%Y-%m-%dT%H:%M:%S%.3fZ"
LIFECYCLE = {
    "subscriber": "subscriber",
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sal": "salesqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
    "recycled": "lead",
    "disqualified": "other",
}
STAGE_NAMES = {"Proposal": "Proposal/Price Quote", "Negotiation": "Negotiation/Review"}
ID_COLUMNS = dict.fromkeys(("data_id", "system", "object", "record_id"), pl.String())
PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 10,
    "Needs Analysis": 20,
    "Proposal/Price Quote": 75,
    "Negotiation/Review": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
}


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_sandbox`` loaded: records per object in each emulator, and what it left out.

    ``ids`` maps data-set ids (people, accounts, opportunities, touchpoints,
    owners; campaign names) to the records holding them: columns ``data_id``,
    ``system``, ``object``, ``record_id``. People sharing an email share a
    HubSpot contact.
    """

    salesforce: dict[str, int]
    hubspot: dict[str, int]
    skipped: dict[str, int]
    ids: pl.DataFrame
    seconds: float
    dynamics: dict[str, int] = field(default_factory=dict)
    eloqua: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, int]]:
        """(system, object, records) for a table."""
        systems = (
            ("salesforce", self.salesforce),
            ("dynamics", self.dynamics),
            ("hubspot", self.hubspot),
            ("eloqua", self.eloqua),
        )
        return [(system, obj, count) for system, counts in systems for obj, count in counts.items()]


@dataclass
class _Ledger:
    """Counts and id pairs collected while loading."""

    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"salesforce": {}, "dynamics": {}, "hubspot": {}, "eloqua": {}}
    )
    skipped: dict[str, int] = field(default_factory=dict)
    pairs: list[pl.DataFrame] = field(default_factory=list)

    def note(self, system: str, obj: str, created: int, keys: pl.Series, ids: list[str]) -> None:
        self.counts[system][obj] = self.counts[system].get(obj, 0) + created
        frame = pl.DataFrame(
            {"data_id": keys, "system": system, "object": obj, "record_id": ids},
            schema=ID_COLUMNS,
        )
        self.pairs.append(frame)

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def seed_sandbox(
    data: Dataset,
    salesforce: SalesforceSandbox | None,
    hubspot: HubSpotStore | None,
    dynamics: DataverseSandbox | None = None,
    *,
    eloqua: EloquaStore | None = None,
) -> SeedSummary:
    """Load ``data`` into empty emulators; skip one by passing None.

    ``salesforce`` is ``app.state.sandbox`` of a Salesforce emulator app,
    ``hubspot`` the ``app.state.store`` of a HubSpot one, ``dynamics`` the
    ``app.state.sandbox`` of a Dataverse one (see
    :mod:`abmsync.sandbox.seed_dynamics`), ``eloqua`` the ``app.state.store``
    of an Eloqua one (see :mod:`abmsync.sandbox.seed_eloqua`); the apps may be
    served already.
    Customises the orgs first (Lead Status values, ``Rejection_Reason__c``)
    and adds a HubSpot owner per generated owner.
    Seeding twice duplicates the records. Raises the stores' ``RecordError`` /
    ``RecordRejectedError`` for a value an emulator refuses.
    """
    started = time.perf_counter()
    ledger = _Ledger()
    created = _account_created(data)
    if salesforce is not None:
        _seed_salesforce(data, salesforce.store, created, ledger)
    if dynamics is not None:
        from abmsync.sandbox.seed_dynamics import seed_dynamics

        seed_dynamics(data, dynamics.store, created, ledger)
    if hubspot is not None:
        _seed_hubspot(data, hubspot, created, ledger)
    if eloqua is not None:
        from abmsync.sandbox.seed_eloqua import seed_eloqua

        seed_eloqua(data, eloqua, created, ledger)
    ids = pl.concat(ledger.pairs) if ledger.pairs else pl.DataFrame(schema=ID_COLUMNS)
    return SeedSummary(
        salesforce=ledger.counts["salesforce"],
        hubspot=ledger.counts["hubspot"],
        dynamics=ledger.counts["dynamics"],
        eloqua=ledger.counts["eloqua"],
        skipped=ledger.skipped,
        ids=ids,
        seconds=time.perf_counter() - started,
    )


# --- shared ---------------------------------------------------------------------------------


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Records for a store: one dict per row, nulls left out."""
    return [{k: v for k, v in row.items() if v is not None} for row in frame.iter_rows(named=True)]


def _lookup(expr: pl.Expr, table: Mapping[str, Any], default: Any = None) -> pl.Expr:
    """Values of ``expr`` replaced through ``table``; unknown and null ones become ``default``."""
    replaced = expr.replace_strict(list(table), list(table.values()), default=None)
    return replaced.fill_null(default) if default is not None else replaced


def email_key() -> pl.Expr:
    """The identity key of a person: the email trimmed and lower-cased."""
    return pl.col("email").str.strip_chars().str.to_lowercase()


def people_at_accounts(
    data: Dataset, account_ids: dict[str, str], users: dict[str, str], admin: str
) -> pl.DataFrame:
    """The data set's people with their account's firmographics (``_account``,
    ``_industry``, ``_employees``, ``_revenue``, ``_account_owner``) and, in a CRM
    just loaded, their account's record id (``_account_crm``) and owner's user id
    (``_owner_crm``: the person's owner, else the account's, else ``admin``)."""
    return data.people.join(
        data.accounts.select(
            account_id="id",
            _account="name",
            _industry="industry",
            _employees="employees",
            _revenue="annual_revenue",
            _account_owner="owner_id",
        ),
        on="account_id",
        how="left",
        maintain_order="left",
    ).with_columns(
        _account_crm=_lookup(pl.col("account_id"), account_ids),
        _owner_crm=_lookup(pl.coalesce("owner_id", "_account_owner"), users, admin),
    )


def _account_created(data: Dataset) -> pl.DataFrame:
    """A creation time per account: 30 days before its first person or opportunity."""
    first = (
        pl.concat([f.select("account_id", "created_at") for f in (data.people, data.opportunities)])
        .group_by("account_id")
        .agg(pl.col("created_at").min())
    )
    fallback = data.people["created_at"].min()
    return (
        data.accounts.select("id")
        .join(first, left_on="id", right_on="account_id", how="left", maintain_order="left")
        .select("id", created=pl.col("created_at").fill_null(fallback) - timedelta(days=30))
    )


# --- Salesforce -----------------------------------------------------------------------------


def _seed_salesforce(data: Dataset, store: Store, created: pl.DataFrame, ledger: _Ledger) -> None:
    """Users, Accounts, Leads, Contacts, Campaigns, Tasks, CampaignMembers, Opportunities
    and their OpportunityContactRoles (:func:`abmsync.sandbox.deal_roles.contact_roles`)."""
    _customize_org(store)

    def load(obj: str, frame: pl.DataFrame, keys: pl.Series) -> dict[str, str]:
        rows = _rows(frame)
        _stamp_modifications(obj, rows, store.clock())
        ids = store.insert_many(obj, rows)
        ledger.note("salesforce", obj, len(ids), keys, ids)
        return dict(zip(keys.to_list(), ids, strict=True))

    admin = store.admin_id
    owners = data.owners
    users = load("User", _users(owners), owners["id"])
    accounts = data.accounts.join(created, on="id", how="left", maintain_order="left")
    won = data.opportunities.filter("is_won")["account_id"].implode()
    account_ids = load(
        "Account",
        accounts.select(
            Name="name",
            Website="website",
            Industry="industry",
            NumberOfEmployees="employees",
            AnnualRevenue="annual_revenue",
            BillingCountry="country",
            Type=pl.when(pl.col("id").is_in(won)).then(pl.lit("Customer - Direct")),
            OwnerId=_lookup(pl.col("owner_id"), users, admin),
            CreatedDate=pl.col("created").dt.strftime(SF_STAMP),
        ).with_columns(pl.col("Type").fill_null("Prospect")),
        accounts["id"],
    )
    people = people_at_accounts(data, account_ids, users, admin)
    leads = people.filter(pl.col("kind") == "lead")
    lead_ids = load("Lead", _leads(leads), leads["id"])
    contacts = people.filter(pl.col("kind") != "lead")
    contact_ids = load("Contact", _contacts(contacts), contacts["id"])
    people = people.with_columns(
        _sf=_lookup(pl.col("id"), {**lead_ids, **contact_ids}),
        _is_lead=pl.col("kind") == "lead",
    )
    campaigns = _campaigns(data)
    campaign_ids = load("Campaign", campaigns, campaigns["Name"])
    _load_activities(data, people, campaign_ids, load, ledger)
    opportunities = data.opportunities.join(
        data.accounts.select(account_id="id", _account_owner="owner_id"),
        on="account_id",
        how="left",
        maintain_order="left",
    )
    opportunity_ids = load(
        "Opportunity",
        _opportunities(opportunities, account_ids, users, campaign_ids, admin),
        opportunities["id"],
    )
    roles = contact_roles(data)
    load(
        "OpportunityContactRole",
        roles.select(
            OpportunityId=_lookup(pl.col("opportunity_id"), opportunity_ids),
            ContactId=_lookup(pl.col("person_id"), contact_ids),
            Role="role",
            IsPrimary="is_primary",
            CreatedDate=pl.col("created_at").dt.strftime(SF_STAMP),
        ),
        roles["opportunity_id"] + "/" + roles["person_id"],
    )


def _stamp_modifications(obj: str, rows: list[dict[str, Any]], now: datetime) -> None:
    """Give rows a LastModifiedDate/SystemModstamp between their CreatedDate and ``now``.

    As in a real org, most records were last touched at their own moment, and a
    few share a stamp with the record before them (one transaction, e.g. a mass
    update, touches several). Equal stamps are what cursor code must get right.
    The draw is seeded by object, so a data set always loads the same way.
    """
    draw = random.Random(f"salesforce-modstamp:{obj}")
    previous: datetime | None = None
    for row in rows:
        created = parse_datetime(str(row["CreatedDate"])) if row.get("CreatedDate") else now
        if previous is not None and previous >= created and draw.random() < 0.2:
            stamp = previous
        else:
            span = max((now - created).total_seconds(), 0.0)
            stamp = created + timedelta(milliseconds=int(draw.random() * span * 1000))
        row["LastModifiedDate"] = row["SystemModstamp"] = format_datetime(stamp)
        previous = stamp


def _customize_org(store: Store) -> None:
    """Lead Status values for sales' verdict, a picklist for the rejection reason, and the
    date/time field a record-triggered flow stamps when the Status changes."""
    store.add_picklist_values("Lead", "Status", [ACCEPTED, REJECTED])
    lead = store.objects["Lead"]
    if lead.field(REASON_FIELD) is None:
        values = [{"fullName": reason} for reason in REJECTION_REASONS]
        metadata = {
            "type": "Picklist",
            "label": "Rejection Reason",
            "valueSet": {"valueSetDefinition": {"value": values}},
        }
        store.add_field(lead, custom_field(REASON_FIELD, metadata))
    if lead.field(STATUS_CHANGED_FIELD) is None:
        stamp = {"type": "DateTime", "label": "Status Changed"}
        store.add_field(lead, custom_field(STATUS_CHANGED_FIELD, stamp))


def _users(owners: pl.DataFrame) -> pl.DataFrame:
    return owners.select(
        Username="email",
        FirstName=pl.col("name").str.extract(r"^(\S+)\s"),
        LastName=pl.coalesce(pl.col("name").str.extract(r"^\S+\s+(.+)$"), "name"),
        Email="email",
        Alias="id",
        Department="queue",
        Title=pl.lit("Account Executive"),
        IsActive=pl.lit(True),
    )


def _leads(leads: pl.DataFrame) -> pl.DataFrame:
    status = pl.col("crm_status")
    return leads.select(
        FirstName="first_name",
        LastName="last_name",
        Company=pl.coalesce("company", "_account", pl.lit(NO_COMPANY)),
        Title="title",
        Email="email",
        Country="country",
        State="state",
        Industry="_industry",
        NumberOfEmployees="_employees",
        AnnualRevenue="_revenue",
        LeadSource="lead_source",
        Status=_lookup(status, {ACCEPTED: ACCEPTED, REJECTED: REJECTED}, NOT_CONTACTED),
        Rejection_Reason__c=pl.when(status == REJECTED).then("rejection_reason"),
        HasOptedOutOfEmail="unsubscribed",
        OwnerId="_owner_crm",
        CreatedDate=pl.col("created_at").dt.strftime(SF_STAMP),
    )


def _contacts(contacts: pl.DataFrame) -> pl.DataFrame:
    return contacts.select(
        FirstName="first_name",
        LastName="last_name",
        AccountId="_account_crm",
        Title="title",
        Email="email",
        MailingCountry="country",
        LeadSource="lead_source",
        HasOptedOutOfEmail="unsubscribed",
        OwnerId="_owner_crm",
        CreatedDate=pl.col("created_at").dt.strftime(SF_STAMP),
    )


def _campaigns(data: Dataset) -> pl.DataFrame:
    """One Campaign per campaign name in touchpoints and opportunities, spanning its touches."""
    named = pl.concat(
        [
            data.touchpoints.select("campaign", at="occurred_at"),
            data.opportunities.select("campaign", at="created_at"),
        ]
    ).drop_nulls("campaign")
    name = pl.col("Name")
    email = name.str.starts_with("Newsletter") | name.str.starts_with("Product Update")
    recent = pl.col("end") >= pl.col("end").max() - timedelta(days=30)
    return (
        named.group_by("campaign")
        .agg(start=pl.col("at").min(), end=pl.col("at").max())
        .sort("campaign")
        .select(
            Name="campaign",
            StartDate=pl.col("start").dt.strftime("%Y-%m-%d"),
            EndDate=pl.col("end").dt.strftime("%Y-%m-%d"),
            Status=pl.when(recent).then(pl.lit("In Progress")).otherwise(pl.lit("Completed")),
            IsActive=recent,
            CreatedDate=(pl.col("start") - timedelta(days=14)).dt.strftime(SF_STAMP),
        )
        .with_columns(
            Type=pl.when(name.str.starts_with("Webinar"))
            .then(pl.lit("Webinar"))
            .when(email | name.str.starts_with("Nurture"))
            .then(pl.lit("Email"))
            .otherwise(pl.lit("Conference"))
        )
    )


def _load_activities(
    data: Dataset,
    people: pl.DataFrame,
    campaign_ids: dict[str, str],
    load: Callable[[str, pl.DataFrame, pl.Series], dict[str, str]],
    ledger: _Ledger,
) -> None:
    """Sales touchpoints as Tasks; webinar and event ones as CampaignMembers."""
    who = people.select(
        person_id="id", who="_sf", is_lead="_is_lead", what="_account_crm", owner="_owner_crm"
    )
    touches = data.touchpoints.join(who, on="person_id", how="inner", maintain_order="left")
    occurred = pl.col("occurred_at")
    kind = pl.col("type")
    sales = touches.filter(kind.is_in(list(SALES_TYPES)))
    load(
        "Task",
        sales.select(
            WhoId="who",
            WhatId=pl.when(~pl.col("is_lead")).then("what"),
            Subject=_lookup(kind, SALES_TYPES),
            Type=_lookup(kind, SALES_TYPES),
            TaskSubtype=pl.when(kind == "call").then(pl.lit("Call")).otherwise(pl.lit("Task")),
            Status=pl.lit("Completed"),
            Priority=pl.lit("Normal"),
            ActivityDate=occurred.dt.strftime("%Y-%m-%d"),
            OwnerId="owner",
            CreatedDate=occurred.dt.strftime(SF_STAMP),
        ),
        sales["id"],
    )
    responses = touches.filter(kind.is_in(CAMPAIGN_TYPES) & pl.col("campaign").is_not_null())
    members = responses.unique(["campaign", "person_id"], keep="first", maintain_order=True)
    ledger.skip("repeat responses to one campaign", responses.height - members.height)
    load(
        "CampaignMember",
        members.select(
            CampaignId=_lookup(pl.col("campaign"), campaign_ids),
            LeadId=pl.when("is_lead").then("who"),
            ContactId=pl.when(~pl.col("is_lead")).then("who"),
            Status=pl.lit("Attended"),
            HasResponded=pl.lit(True),
            FirstRespondedDate=occurred.dt.strftime("%Y-%m-%d"),
            CreatedDate=occurred.dt.strftime(SF_STAMP),
        ),
        members["id"],
    )


def _opportunities(
    opportunities: pl.DataFrame,
    account_ids: dict[str, str],
    users: dict[str, str],
    campaign_ids: dict[str, str],
    admin: str,
) -> pl.DataFrame:
    stage = pl.col("stage").replace(STAGE_NAMES)
    existing = pl.col("name").str.ends_with(" - Renewal") | pl.col("name").str.ends_with(
        " - Expansion"
    )
    close = pl.coalesce("closed_at", pl.col("created_at") + timedelta(days=90))
    return opportunities.select(
        Name="name",
        AccountId=_lookup(pl.col("account_id"), account_ids),
        StageName=stage,
        CloseDate=close.dt.strftime("%Y-%m-%d"),
        Amount="amount",
        Probability=stage.replace_strict(PROBABILITY, default=None),
        IsClosed="is_closed",
        IsWon="is_won",
        Type=pl.when(existing).then(pl.lit("Existing Business")).otherwise(pl.lit("New Business")),
        CampaignId=_lookup(pl.col("campaign"), campaign_ids),
        OwnerId=_lookup(pl.col("_account_owner"), users, admin),
        CreatedDate=pl.col("created_at").dt.strftime(SF_STAMP),
    )


# --- HubSpot --------------------------------------------------------------------------------


def _seed_hubspot(
    data: Dataset, store: HubSpotStore, created: pl.DataFrame, ledger: _Ledger
) -> None:
    """Owners, companies, contacts (one per email) and the marketing touchpoints as notes."""
    owners = {
        owner_id: store.add_owner(*_first_and_last(name), email)
        for owner_id, name, email in data.owners.select("id", "name", "email").iter_rows()
    }
    ledger.note("hubspot", "owners", len(owners), pl.Series(list(owners)), list(owners.values()))
    accounts = data.accounts.join(created, on="id", how="left", maintain_order="left")
    company_frame = accounts.select(
        name="name",
        domain="domain",
        industry="industry",
        numberofemployees=pl.col("employees").cast(pl.String),
        annualrevenue=pl.col("annual_revenue").round().cast(pl.Int64).cast(pl.String),
        country="country",
        hubspot_owner_id=_lookup(pl.col("owner_id"), owners),
    )
    company_ids = [
        str(i)
        for i in store.insert_many(
            "companies", _rows(company_frame), accounts["created"].dt.epoch("ms").to_list()
        )
    ]
    ledger.note("hubspot", "companies", len(company_ids), accounts["id"], company_ids)
    companies = dict(zip(accounts["id"].to_list(), company_ids, strict=True))

    people = data.people.filter(pl.col("email").is_not_null()).with_columns(_email=email_key())
    ledger.skip("people without an email (no HubSpot contact)", data.people.height - people.height)
    first = people.unique("_email", keep="first", maintain_order=True)
    contact_frame = first.select(
        email="email",
        firstname="first_name",
        lastname="last_name",
        jobtitle="title",
        company="company",
        country="country",
        lifecyclestage=_lookup(pl.col("stage"), LIFECYCLE),
        hs_email_optout=pl.when("unsubscribed").then(pl.lit("true")).otherwise(pl.lit("false")),
        hubspot_owner_id=_lookup(pl.col("owner_id"), owners),
    )
    new = store.insert_many(
        "contacts", _rows(contact_frame), first["created_at"].dt.epoch("ms").to_list()
    )
    by_email = dict(zip(first["_email"].to_list(), (str(i) for i in new), strict=True))
    people = people.with_columns(_contact=_lookup(pl.col("_email"), by_email))
    ledger.note("hubspot", "contacts", len(new), people["id"], people["_contact"].to_list())
    linked = first.with_columns(
        _contact=_lookup(pl.col("_email"), by_email),
        _company=_lookup(pl.col("account_id"), companies),
    ).drop_nulls("_company")
    store.link_many(
        "contacts",
        "companies",
        zip(_ints(linked["_contact"]), _ints(linked["_company"]), strict=True),
    )
    _load_notes(data.touchpoints, people, store, ledger)


def _first_and_last(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def _ints(values: pl.Series) -> list[int]:
    return [int(v) for v in values.to_list()]


def _load_notes(
    touchpoints: pl.DataFrame, people: pl.DataFrame, store: HubSpotStore, ledger: _Ledger
) -> None:
    """Marketing touchpoints of people with a contact as notes associated with it."""
    marketing = touchpoints.filter(~pl.col("type").is_in([*SALES_TYPES, *CAMPAIGN_TYPES]))
    notes = marketing.join(
        people.select(person_id="id", contact="_contact"), on="person_id", maintain_order="left"
    )
    ledger.skip("marketing touchpoints of people without an email", marketing.height - notes.height)
    frame = notes.select(
        hs_timestamp=pl.col("occurred_at").dt.strftime(HS_STAMP),
        hs_note_body=_note_body(pl.col("type"), pl.col("url"), pl.col("campaign")),
        **{ACTIVITY_TYPE: pl.col("type"), ACTIVITY_URL: pl.col("url")},
    )
    ids = store.insert_many("notes", _rows(frame), notes["occurred_at"].dt.epoch("ms").to_list())
    ledger.note("hubspot", "notes", len(ids), notes["id"], [str(i) for i in ids])
    store.link_many("notes", "contacts", zip(ids, _ints(notes["contact"]), strict=True))


def _note_body(kind: pl.Expr, url: pl.Expr, campaign: pl.Expr) -> pl.Expr:
    """A readable line: 'Form Submit: https://…/demo-request', 'Email Open: Newsletter …'."""
    label = kind.str.replace_all("_", " ").str.to_titlecase()
    return pl.concat_str([label, pl.coalesce(url, campaign)], separator=": ", ignore_nulls=True)
