"""Load a generated data set into the Dynamics 365 (Dataverse) emulator.

The Dataverse counterpart of the Salesforce half of
:func:`abmsync.sandbox.seed.seed_sandbox`: users, accounts, leads, contacts,
campaigns, phone calls, appointments, campaign responses and opportunities,
written straight into the emulator's store with the columns the mappings in
``examples/mappings/dynamics-*.yaml`` read.

The org is customised as a Dynamics shop running a marketing-to-sales handoff
would: the lead and account Industry option sets hold the data set's
industries, the Lead Source option sets its sources, the lead Status Reason
gains ``Accepted`` (open) and ``Rejected`` (disqualified) and an
``abm_rejectionreason`` choice column holds the reason. Custom options get
values from 100000000 on, in the order of :data:`INDUSTRIES`,
:data:`LEAD_SOURCES` and the generator's rejection reasons, which is what the
example mappings list.

Touchpoints: ``call`` ones become phone calls and ``meeting`` ones
appointments, regarding the lead or contact; ``webinar`` and ``event`` ones
campaign responses to the campaign, the person being the response's Customer
activity party (one per person and campaign, as for Salesforce's campaign
members). Users are ``systemusers`` whose ``nickname`` is the data set's owner
id (``own-001``); unowned records belong to the org's application user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from abmsync.sandbox import vocab
from abmsync.sandbox.generate import REJECTION_REASONS, Dataset
from abmsync.sandbox.seed import _lookup, _rows, people_at_accounts

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.store import DataverseStore
    from abmsync.sandbox.seed import _Ledger

SYSTEM = "dynamics"
DV_STAMP = "%Y-%m-%dT%H:%M:%SZ"
INDUSTRIES = [industry.name for industry in vocab.INDUSTRIES]
# Lead Source: the lead's standard option set has these two of the data set's sources.
LEAD_STANDARD_SOURCES = {"Partner": 4, "Trade Show": 7}
LEAD_SOURCES = [name for name, _ in vocab.LEAD_SOURCES if name not in LEAD_STANDARD_SOURCES]
CONTACT_SOURCES = [*LEAD_SOURCES, *LEAD_STANDARD_SOURCES]
ACCEPTED, REJECTED = "Accepted", "Rejected"
REASON_COLUMN = "abm_rejectionreason"
NEW_STATUS = 1  # lead statuscode "New" (state Open)
LEAD_OPEN, LEAD_DISQUALIFIED = 0, 2  # lead statecode
CUSTOMER, PROSPECT = 3, 8  # account customertypecode
CUSTOMER_PARTY = 11  # activityparty participationtypemask: Customer
SALES_ACTIVITIES = {"call": "phonecall", "meeting": "appointment"}
CAMPAIGN_TYPES = ["webinar", "event"]


def seed_dynamics(
    data: Dataset, store: DataverseStore, created: pl.DataFrame, ledger: _Ledger
) -> None:
    """Users, accounts, leads, contacts, campaigns, activities, opportunities into ``store``.

    ``created`` has a creation time per account id (``id``, ``created``).
    """
    options = _customize_org(store)

    def load(obj: str, frame: pl.DataFrame, keys: pl.Series) -> dict[str, str]:
        ids = store.insert_many(obj, _rows(frame))
        ledger.note(SYSTEM, obj, len(ids), keys, ids)
        return dict(zip(keys.to_list(), ids, strict=True))

    admin = store.admin_id
    owners = data.owners
    users = load(
        "systemuser",
        owners.select(
            firstname=pl.col("name").str.extract(r"^(\S+)\s"),
            lastname=pl.coalesce(pl.col("name").str.extract(r"^\S+\s+(.+)$"), "name"),
            fullname="name",
            domainname="email",
            internalemailaddress="email",
            nickname="id",
            title=pl.lit("Account Executive"),
            isdisabled=pl.lit(False),
        ),
        owners["id"],
    )
    accounts = data.accounts.join(created, on="id", how="left", maintain_order="left")
    won = data.opportunities.filter("is_won")["account_id"].implode()
    account_ids = load(
        "account",
        accounts.select(
            name="name",
            websiteurl="website",
            industrycode=_lookup(pl.col("industry"), options["account_industry"]),
            numberofemployees="employees",
            revenue="annual_revenue",
            address1_country="country",
            customertypecode=pl.when(pl.col("id").is_in(won))
            .then(pl.lit(CUSTOMER))
            .otherwise(pl.lit(PROSPECT)),
            ownerid=_lookup(pl.col("owner_id"), users, admin),
            createdon=pl.col("created").dt.strftime(DV_STAMP),
        ),
        accounts["id"],
    )
    people = people_at_accounts(data, account_ids, users, admin)
    leads = people.filter(pl.col("kind") == "lead")
    status = pl.col("crm_status")
    lead_ids = load(
        "lead",
        leads.select(
            firstname="first_name",
            lastname="last_name",
            companyname=pl.coalesce("company", "_account", pl.lit("[not provided]")),
            jobtitle="title",
            emailaddress1="email",
            address1_country="country",
            address1_stateorprovince="state",
            industrycode=_lookup(pl.col("_industry"), options["industry"]),
            numberofemployees="_employees",
            revenue="_revenue",
            leadsourcecode=_lookup(pl.col("lead_source"), options["lead_source"]),
            statecode=pl.when(status == REJECTED)
            .then(pl.lit(LEAD_DISQUALIFIED))
            .otherwise(pl.lit(LEAD_OPEN)),
            statuscode=_lookup(status, options["status"], NEW_STATUS),
            **{
                REASON_COLUMN: pl.when(status == REJECTED).then(
                    _lookup(pl.col("rejection_reason"), options["reason"])
                )
            },
            donotemail="unsubscribed",
            ownerid="_owner_crm",
            createdon=pl.col("created_at").dt.strftime(DV_STAMP),
        ),
        leads["id"],
    )
    contacts = people.filter(pl.col("kind") != "lead")
    contact_ids = load(
        "contact",
        contacts.select(
            firstname="first_name",
            lastname="last_name",
            parentcustomerid="_account_crm",
            jobtitle="title",
            emailaddress1="email",
            address1_country="country",
            leadsourcecode=_lookup(pl.col("lead_source"), options["contact_source"]),
            donotemail="unsubscribed",
            ownerid="_owner_crm",
            createdon=pl.col("created_at").dt.strftime(DV_STAMP),
        ),
        contacts["id"],
    )
    people = people.with_columns(
        _dv=_lookup(pl.col("id"), {**lead_ids, **contact_ids}),
        _is_lead=pl.col("kind") == "lead",
    )
    campaign_ids = _load_campaigns(data, load)
    _load_activities(data, people, campaign_ids, store, load, ledger)
    opportunities = data.opportunities.join(
        data.accounts.select(account_id="id", _account_owner="owner_id"),
        on="account_id",
        how="left",
        maintain_order="left",
    )
    state = pl.when("is_won").then(pl.lit(1)).when("is_closed").then(pl.lit(2)).otherwise(pl.lit(0))
    close = pl.coalesce("closed_at", pl.col("created_at") + pl.duration(days=90))
    load(
        "opportunity",
        opportunities.select(
            name="name",
            parentaccountid=_lookup(pl.col("account_id"), account_ids),
            customerid=_lookup(pl.col("account_id"), account_ids),
            estimatedvalue="amount",
            actualvalue=pl.when("is_won").then("amount"),
            statecode=state,
            estimatedclosedate=close.dt.strftime("%Y-%m-%d"),
            actualclosedate=pl.when("is_closed").then(close.dt.strftime("%Y-%m-%d")),
            campaignid=_lookup(pl.col("campaign"), campaign_ids),
            ownerid=_lookup(pl.col("_account_owner"), users, admin),
            createdon=pl.col("created_at").dt.strftime(DV_STAMP),
        ),
        opportunities["id"],
    )


def _customize_org(store: DataverseStore) -> dict[str, dict[str, int]]:
    """Add the data set's option values; label -> value per option set."""
    if store.get_attribute("lead", REASON_COLUMN) is None:
        store.add_picklist_attribute("lead", REASON_COLUMN, "Rejection Reason")

    def add(entity: str, attribute: str, labels: Sequence[str]) -> dict[str, int]:
        return {label: store.add_option(entity, attribute, label) for label in labels}

    sources = add("lead", "leadsourcecode", LEAD_SOURCES)
    return {
        "industry": add("lead", "industrycode", INDUSTRIES),
        "account_industry": add("account", "industrycode", INDUSTRIES),
        "lead_source": {**sources, **LEAD_STANDARD_SOURCES},
        "contact_source": add("contact", "leadsourcecode", CONTACT_SOURCES),
        "status": add("lead", "statuscode", [ACCEPTED]) | _status(store, REJECTED),
        "reason": add("lead", REASON_COLUMN, REJECTION_REASONS),
    }


def _status(store: DataverseStore, label: str) -> dict[str, int]:
    """A lead Status Reason under the Disqualified state."""
    return {label: store.add_option("lead", "statuscode", label, state=LEAD_DISQUALIFIED)}


def _load_campaigns(data: Dataset, load: Any) -> dict[str, str]:
    """One campaign per campaign name in touchpoints and opportunities."""
    named = pl.concat(
        [
            data.touchpoints.select("campaign", at="occurred_at"),
            data.opportunities.select("campaign", at="created_at"),
        ]
    ).drop_nulls("campaign")
    campaigns = (
        named.group_by("campaign")
        .agg(start=pl.col("at").min(), end=pl.col("at").max())
        .sort("campaign")
    )
    ids: dict[str, str] = load(
        "campaign",
        campaigns.select(
            name="campaign",
            actualstart=pl.col("start").dt.strftime("%Y-%m-%d"),
            actualend=pl.col("end").dt.strftime("%Y-%m-%d"),
            createdon=(pl.col("start") - pl.duration(days=14)).dt.strftime(DV_STAMP),
        ),
        campaigns["campaign"],
    )
    return ids


def _load_activities(
    data: Dataset,
    people: pl.DataFrame,
    campaign_ids: dict[str, str],
    store: DataverseStore,
    load: Any,
    ledger: _Ledger,
) -> None:
    """Calls and meetings regarding the person; webinars and events as campaign responses."""
    who = people.select(person_id="id", who="_dv", is_lead="_is_lead", owner="_owner_crm")
    touches = data.touchpoints.join(who, on="person_id", how="inner", maintain_order="left")
    kind = pl.col("type")
    stamp = pl.col("occurred_at").dt.strftime(DV_STAMP)
    for touch, entity in SALES_ACTIVITIES.items():
        chosen = touches.filter(kind == touch)
        at = "actualend" if entity == "phonecall" else "scheduledstart"
        frame = chosen.select(
            subject=pl.lit("Call" if touch == "call" else "Meeting"),
            statecode=pl.lit(1),  # Completed
            ownerid="owner",
            createdon=stamp,
            **{at: stamp},
        )
        rows = [
            {**row, "regardingobjectid": regarding}
            for row, regarding in zip(_rows(frame), _people_of(chosen), strict=True)
        ]
        ids = store.insert_many(entity, rows)
        ledger.note(SYSTEM, entity, len(ids), chosen["id"], ids)
    responses = touches.filter(kind.is_in(CAMPAIGN_TYPES) & pl.col("campaign").is_not_null())
    members = responses.unique(["campaign", "person_id"], keep="first", maintain_order=True)
    ledger.skip("repeat responses to one campaign", responses.height - members.height)
    response_ids = load(
        "campaignresponse",
        members.select(
            subject=pl.concat_str([pl.lit("Response: "), pl.col("campaign")]),
            regardingobjectid=_lookup(pl.col("campaign"), campaign_ids),
            receivedon=stamp,
            createdon=stamp,
        ),
        members["id"],
    )
    parties = [
        {
            "activityid": response_ids[touch_id],
            "partyid": party,
            "participationtypemask": CUSTOMER_PARTY,
        }
        for touch_id, party in zip(members["id"].to_list(), _people_of(members), strict=True)
    ]
    store.insert_many("activityparty", parties)


def _people_of(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """(entity, id) references to the lead or contact of each row (a polymorphic lookup)."""
    return [
        ("lead" if is_lead else "contact", str(who))
        for who, is_lead in frame.select("who", "is_lead").iter_rows()
    ]
