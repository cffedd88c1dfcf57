"""A week of activity on seeded emulators, for demos of incremental syncs.

``simulate_week`` plays the seven days after ``start`` on the Salesforce and
HubSpot emulators that ``abmsync.sandbox.seed.seed_sandbox`` loaded (pass the
same handles: ``app.state.sandbox`` and ``app.state.store``). It writes to the
stores in process, as users and integrations would through the APIs, and
returns an :class:`ActivitySummary` naming every record it touched:

- the marketing platform (HubSpot, or Eloqua with ``eloqua=``): ongoing
  activity, each contact touching about as often as in the four weeks before
  ``start``, so engaged accounts stay engaged; marketing touches by about 1 %
  of the contacts more (HubSpot notes typed by
  ``abm_activity_type``; Eloqua activities with the sends, visits and
  bouncebacks that come with them); five contact-sales or demo-request form
  fills by people still in subscriber, lead or recycled, which fast-track them
  to MQL under ``examples/rules.yaml``; four new contacts from form fills,
  never in the CRM.
- Salesforce: sales work the MQL leads handed to them (those abmsync marked
  ``ABM_Stage__c = 'mql'``, else the data set's): most are called and
  accepted within hours of the week's start, some only days later, about one
  in five is rejected (Lead Status ``Accepted`` / ``Rejected``, most with a
  ``Rejection_Reason__c``) and a few wait; each verdict stamps
  ``Status_Changed__c`` with its time, as the org's flow does. One accepted
  lead is converted (to its company's account when the org has it) with an
  opportunity whose primary contact role is the new contact, as Salesforce's
  conversion creates by default; the newest of a
  pair of leads with one email is merged into the oldest; one lead is deleted
  (a competitor's when there is one).

The same seed, data set and emulator state give the same activity. Activity
times fall in the week; modification stamps are the emulators' clocks, so a
cursor taken before the call sees all of it.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import polars as pl

from abmsync.sandbox import vocab
from abmsync.sandbox.generate import REJECTION_REASONS, Dataset
from abmsync.sandbox.hubspot.properties import ACTIVITY_TYPE, ACTIVITY_URL
from abmsync.sandbox.hubspot.store import HubSpotStore
from abmsync.sandbox.salesforce.app import SalesforceSandbox
from abmsync.sandbox.salesforce.store import Store
from abmsync.sandbox.seed import (
    ACCEPTED,
    CAMPAIGN_TYPES,
    NOT_CONTACTED,
    REASON_FIELD,
    REJECTED,
    STATUS_CHANGED_FIELD,
    email_key,
)
from abmsync.schema import normalize_email, utc

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.store import DataverseStore
    from abmsync.sandbox.eloqua.store import EloquaStore

FAST_TRACK_PATHS = ("/contact-sales", "/demo-request")


@dataclass(frozen=True)
class NewTouch:
    """A touchpoint added to the marketing platform (a HubSpot note, an Eloqua activity)."""

    note_id: str
    contact_id: str
    email: str
    type: str
    url: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class NewContact:
    """A marketing platform's contact from a form fill that never reached the CRM."""

    contact_id: str
    email: str
    company: str | None


@dataclass(frozen=True)
class LeadFeedback:
    """Sales' verdict on an MQL lead: its new Status, the reason, and the call logged."""

    lead_id: str
    status: str
    reason: str | None
    task_id: str | None


@dataclass(frozen=True)
class Conversion:
    lead_id: str
    contact_id: str
    account_id: str


@dataclass(frozen=True)
class Merge:
    master_id: str
    duplicate_id: str
    email: str


@dataclass(frozen=True)
class ActivitySummary:
    """What ``simulate_week`` did, with the records involved.

    ``fast_tracks`` are the contact-sales and demo-request form fills; they are
    in ``touchpoints`` too.
    """

    start: datetime
    end: datetime
    touchpoints: tuple[NewTouch, ...] = ()
    fast_tracks: tuple[NewTouch, ...] = ()
    new_contacts: tuple[NewContact, ...] = ()
    feedback: tuple[LeadFeedback, ...] = ()
    conversion: Conversion | None = None
    merge: Merge | None = None
    deleted_lead_id: str | None = None

    def lines(self) -> list[str]:
        """One readable line per notable change, for a demo to print."""
        lines = [f"{len(self.touchpoints)} new marketing touchpoints in HubSpot"]
        lines += [f"{t.email} filled in {t.url} (contact {t.contact_id})" for t in self.fast_tracks]
        lines += [
            f"new HubSpot contact {c.contact_id} ({c.email}), not in the CRM"
            for c in self.new_contacts
        ]
        for item in self.feedback:
            reason = f" ({item.reason})" if item.reason else ""
            lines.append(f"lead {item.lead_id} set to {item.status}{reason}")
        if self.conversion is not None:
            c = self.conversion
            lines.append(
                f"lead {c.lead_id} converted to contact {c.contact_id} at account {c.account_id}"
            )
        if self.merge is not None:
            m = self.merge
            lines.append(f"lead {m.duplicate_id} merged into {m.master_id} ({m.email})")
        if self.deleted_lead_id is not None:
            lines.append(f"lead {self.deleted_lead_id} deleted")
        return lines


@dataclass
class _Week:
    """Seven days from ``start`` and the random stream that picks times and people."""

    rng: random.Random
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def moment(self) -> datetime:
        """A time in the week, to the millisecond."""
        offset = self.rng.randrange(7 * 86_400_000 - 3_600_000)
        return self.start + timedelta(milliseconds=offset)

    def pick(self, items: list[str], count: int) -> list[str]:
        """Up to ``count`` distinct items, drawn in a reproducible order."""
        return self.rng.sample(sorted(items), min(count, len(items)))


def simulate_week(
    data: Dataset,
    salesforce: SalesforceSandbox | None,
    hubspot: HubSpotStore | None,
    *,
    seed: int = 11,
    start: datetime,
    dynamics: DataverseStore | None = None,
    eloqua: EloquaStore | None = None,
) -> ActivitySummary:
    """Play the week after ``start`` on emulators seeded with ``data``; the same seed,
    data and emulator state give the same activity.

    HubSpot: each contact keeps the pace of its last four weeks, about 1 % of
    contacts (10 to 500 people) touch more, five contact-sales or demo-request
    form fills by subscribers, leads or recycled people (they fast-track to MQL
    under ``examples/rules.yaml``), and four new contacts from form fills.
    Salesforce: sales judge the MQL leads handed to them (most accepted within
    hours, some days late, about one in five rejected, a few left waiting),
    stamping each verdict's time in ``Status_Changed__c``; one accepted lead is
    converted (to its account when there is one) with an opportunity, one pair
    of leads with the same email is merged into the older, and one lead is
    deleted (a competitor's when there is one). Activity times fall in the
    week; modification stamps are the emulators' clocks, so a cursor taken
    before the call sees all of it. ``dynamics`` (a Dataverse emulator's store)
    plays a sales week there (:mod:`abmsync.sandbox.week_dynamics`), ``eloqua`` (an Eloqua
    emulator's store) the same marketing week (:mod:`abmsync.sandbox.week_eloqua`).
    """
    week = _Week(random.Random(seed), utc(start))
    people = data.people.join(
        data.accounts.select(account_id="id", _account="name"),
        on="account_id",
        how="left",
        maintain_order="left",
    ).with_columns(_email=email_key())
    summary = ActivitySummary(start=week.start, end=week.end)
    if hubspot is not None:
        summary = marketing_week(data, people, HubSpotWeek(hubspot), week, summary)
    if eloqua is not None:
        from abmsync.sandbox.week_eloqua import EloquaWeek

        summary = marketing_week(data, people, EloquaWeek(eloqua), week, summary)
    if salesforce is not None:
        summary = _salesforce_week(people, salesforce, week, summary)
    if dynamics is not None:
        from abmsync.sandbox.week_dynamics import dynamics_week

        summary = dynamics_week(people, dynamics, week, summary)
    return summary


# --- the week in the marketing platform -------------------------------------------------------

_MARKETING = [
    (kind, ordinary)
    for kind, ordinary, _, system in vocab.TOUCHPOINT_RATES
    if system == "hubspot" and ordinary > 0 and kind not in CAMPAIGN_TYPES
]
_EMAIL_TYPES = set(vocab.EMAIL_TYPES)
_PATHS = {
    "page_view": vocab.PAGE_PATHS,
    "form_submit": tuple(p for p in vocab.FORM_PATHS if p[0] not in FAST_TRACK_PATHS),
    "download": vocab.DOWNLOAD_PATHS,
}


@dataclass(frozen=True)
class Touch:
    """A marketing touch to record on a contact of the platform."""

    contact_id: str
    email: str
    type: str
    url: str | None
    at: datetime
    campaign: str | None = None


@dataclass(frozen=True)
class SignUp:
    """A person who signs up on the website: a new contact of the marketing platform."""

    email: str
    first_name: str
    last_name: str
    title: str
    company: str
    domain: str
    country: str
    stage: str  # "subscriber" (newsletter) or "lead"
    at: datetime


class MarketingPlatform(Protocol):
    """What the marketing week needs of an emulated platform's store."""

    def contacts_by_email(self) -> dict[str, int]:
        """Contact ids by lower-case email."""
        ...

    def company_domains(self) -> set[str]:
        """Domains of the companies the platform holds."""
        ...

    def add_signups(self, signups: Sequence[SignUp]) -> list[str]:
        """Create the sign-ups as contacts at their companies; their ids, in order."""
        ...

    def add_touches(self, touches: Sequence[Touch]) -> list[NewTouch]:
        """Record the touches on their contacts (oldest first)."""
        ...


class HubSpotWeek:
    """The marketing week in HubSpot: contacts, and touches as notes."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def contacts_by_email(self) -> dict[str, int]:
        return self.store.ids_by("contacts", "email")

    def company_domains(self) -> set[str]:
        return set(self.store.ids_by("companies", "domain"))

    def add_signups(self, signups: Sequence[SignUp]) -> list[str]:
        companies = self.store.ids_by("companies", "domain")
        rows = [
            {
                "email": s.email,
                "firstname": s.first_name,
                "lastname": s.last_name,
                "jobtitle": s.title,
                "company": s.company,
                "country": s.country,
                "lifecyclestage": s.stage,
                "hs_email_optout": "false",
            }
            for s in signups
        ]
        ids = self.store.insert_many(
            "contacts", rows, [round(s.at.timestamp() * 1000) for s in signups]
        )
        self.store.link_many(
            "contacts",
            "companies",
            [(i, companies[s.domain]) for i, s in zip(ids, signups, strict=True)],
        )
        return [str(i) for i in ids]

    def add_touches(self, touches: Sequence[Touch]) -> list[NewTouch]:
        return _add_notes(self.store, list(touches))


def marketing_week(
    data: Dataset,
    people: pl.DataFrame,
    platform: MarketingPlatform,
    week: _Week,
    summary: ActivitySummary,
) -> ActivitySummary:
    """The marketing platform's week: touches, fast-track form fills and sign-ups."""
    contacts = platform.contacts_by_email()
    reachable = people.filter(pl.col("_email").is_in(list(contacts)))
    quiet = reachable.filter(
        pl.col("stage").is_in(["subscriber", "lead", "recycled"]) & ~pl.col("is_competitor")
    )
    touches: list[Touch] = []
    fast: list[Touch] = []
    for email in week.pick(quiet["_email"].unique().to_list(), 5):
        at, path = week.moment(), week.rng.choice(FAST_TRACK_PATHS)
        contact = str(contacts[email])
        touches.append(Touch(contact, email, "page_view", vocab.VENDOR_SITE + "/pricing", at))
        fast.append(Touch(contact, email, "form_submit", vocab.VENDOR_SITE + path, at + _MINUTE))
    unsubscribed = set(reachable.filter("unsubscribed")["_email"].to_list())
    for email, rate in _weekly_rates(data, reachable, week.start):
        for _ in range(_poisson(week.rng, rate)):
            touches.append(_random_touch(week, str(contacts[email]), email, email in unsubscribed))
    active = week.pick(
        reachable["_email"].unique().to_list(), max(10, min(500, len(contacts) // 100))
    )
    for email in active:
        for _ in range(week.rng.randint(1, 4)):
            touches.append(_random_touch(week, str(contacts[email]), email, email in unsubscribed))
    new_contacts, signups = _new_contacts(data, platform, week, contacts)
    touches += signups
    notes = platform.add_touches([*touches, *fast])
    return replace(
        summary,
        touchpoints=tuple(notes),
        fast_tracks=tuple(
            n
            for n in notes
            if n.type == "form_submit" and n.url and n.url.endswith(FAST_TRACK_PATHS)
        ),
        new_contacts=tuple(new_contacts),
    )


_MINUTE = timedelta(minutes=1)
_RECENT = timedelta(days=28)


def _weekly_rates(
    data: Dataset, reachable: pl.DataFrame, start: datetime
) -> list[tuple[str, float]]:
    """(email, marketing touches a week) of each reachable contact in the four weeks before
    ``start``, in email order: the pace the week keeps up."""
    kinds = [kind for kind, _ in _MARKETING]
    recent = data.touchpoints.filter(
        pl.col("type").is_in(kinds)
        & (pl.col("occurred_at") >= start - _RECENT)
        & (pl.col("occurred_at") < start)
    )
    per_email = (
        recent.join(reachable.select(person_id="id", _email="_email"), on="person_id")
        .group_by("_email")
        .len()
        .sort("_email")
    )
    weeks = _RECENT / timedelta(days=7)
    return [(str(email), n / weeks) for email, n in per_email.iter_rows()]


def _poisson(rng: random.Random, rate: float) -> int:
    """A Poisson-distributed count with mean ``rate`` (Knuth's method; rates are small)."""
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _random_touch(week: _Week, contact: str, email: str, unsubscribed: bool) -> Touch:
    """One marketing touch drawn with the generator's rates; no emails to the unsubscribed."""
    kinds, weights = zip(*_MARKETING, strict=True)
    kind = week.rng.choices(kinds, weights)[0]
    if unsubscribed and kind in _EMAIL_TYPES:
        kind = "page_view"
    at = week.moment()
    paths = _PATHS.get(kind)
    url = None
    if paths:
        url = vocab.VENDOR_SITE + week.rng.choices([p[0] for p in paths], [p[1] for p in paths])[0]
    campaign = f"Newsletter {at:%Y-%m}" if kind in _EMAIL_TYPES else None
    return Touch(contact, email, kind, url, at, campaign)


def _new_contacts(
    data: Dataset, platform: MarketingPlatform, week: _Week, contacts: dict[str, int]
) -> tuple[list[NewContact], list[Touch]]:
    """Four people who sign up on the website: marketing contacts, no CRM record.

    The first of them asks for a demo, which qualifies them at once.
    """
    companies = platform.company_domains()
    accounts = data.accounts.filter(pl.col("domain").is_in(list(companies))).sort("id")
    if accounts.height == 0:
        return [], []
    firsts = sorted(set(data.people["first_name"].drop_nulls().to_list()))
    lasts = sorted(set(data.people["last_name"].drop_nulls().to_list()))
    titles = sorted(set(data.people["title"].drop_nulls().str.strip_chars().to_list()))
    signups: list[SignUp] = []
    forms: list[str] = []
    for number in range(4):
        account = accounts.row(week.rng.randrange(accounts.height), named=True)
        first, last = week.rng.choice(firsts), week.rng.choice(lasts)
        email = _free_address(f"{_ascii(first)}.{_ascii(last)}", account["domain"], contacts)
        # The first asks for a demo: the web-form lead that gets lost between systems.
        form = (
            "/demo-request"
            if number == 0
            else week.rng.choice(["/newsletter-signup", "/whitepaper/abm-playbook"])
        )
        at = week.moment()  # drawn before the title, as the stream always was
        signups.append(
            SignUp(
                email=email,
                first_name=first,
                last_name=last,
                title=week.rng.choice(titles),
                company=account["name"],
                domain=account["domain"],
                country=account["country"] or "",
                stage="subscriber" if form == "/newsletter-signup" else "lead",
                at=at,
            )
        )
        forms.append(form)
        contacts[email] = -1  # taken
    ids = platform.add_signups(signups)
    touches = [
        Touch(record_id, s.email, "form_submit", vocab.VENDOR_SITE + form, s.at)
        for record_id, s, form in zip(ids, signups, forms, strict=True)
    ]
    made = [NewContact(i, s.email, s.company) for i, s in zip(ids, signups, strict=True)]
    return made, touches


def _ascii(text: str) -> str:
    """Letters of ``text`` without accents, lower-case, for an email address."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalpha()) or "contact"


def _free_address(local: str, domain: str, taken: dict[str, int]) -> str:
    email, number = f"{local}@{domain}", 1
    while email in taken:
        number += 1
        email = f"{local}{number}@{domain}"
    return email


def _add_notes(store: HubSpotStore, touches: list[Touch]) -> list[NewTouch]:
    """The touches as notes on their contacts, oldest first."""
    touches = sorted(touches, key=lambda t: (t.at, t.contact_id, t.type))
    rows = []
    for touch in touches:
        label = touch.type.replace("_", " ").title()
        what = touch.url or touch.campaign
        row = {
            "hs_timestamp": touch.at.isoformat(timespec="milliseconds"),
            "hs_note_body": f"{label}: {what}" if what else label,
            ACTIVITY_TYPE: touch.type,
        }
        if touch.url:
            row[ACTIVITY_URL] = touch.url
        rows.append(row)
    ids = store.insert_many("notes", rows, [round(t.at.timestamp() * 1000) for t in touches])
    store.link_many(
        "notes", "contacts", [(i, int(t.contact_id)) for i, t in zip(ids, touches, strict=True)]
    )
    return [
        NewTouch(str(i), t.contact_id, t.email, t.type, t.url, t.at)
        for i, t in zip(ids, touches, strict=True)
    ]


# --- the week in Salesforce -------------------------------------------------------------------


@dataclass(frozen=True)
class _Lead:
    id: str
    email: str | None
    created: str
    status: str
    owner: str | None


def _salesforce_week(
    people: pl.DataFrame, sandbox: SalesforceSandbox, week: _Week, summary: ActivitySummary
) -> ActivitySummary:
    store = sandbox.store
    rows = store.select(
        'SELECT "Id", "Email", "CreatedDate", "Status", "OwnerId" FROM "Lead" '
        'WHERE "IsDeleted" = 0 AND "IsConverted" = 0 ORDER BY "Id"'
    )
    leads = [_Lead(r[0], normalize_email(r[1]), r[2], r[3], r[4]) for r in rows]
    handed = _handed_over(store, people)
    waiting = [
        lead.id
        for lead in leads
        if lead.status == NOT_CONTACTED and (lead.id in handed or lead.email in handed)
    ]
    verdicts = plan_verdicts(week, waiting)
    stamped = store.objects["Lead"].field(STATUS_CHANGED_FIELD) is not None
    by_id = {lead.id: lead for lead in leads}
    feedback: list[LeadFeedback] = []
    for verdict in verdicts:
        changed = {STATUS_CHANGED_FIELD: verdict.at.isoformat()} if stamped else {}
        if verdict.status == ACCEPTED:
            feedback.append(_accept(store, by_id[verdict.lead_id], verdict.at, changed))
            continue
        reason = week.rng.choice(REJECTION_REASONS) if week.rng.random() < 0.8 else None
        store.update("Lead", verdict.lead_id, {"Status": REJECTED, REASON_FIELD: reason, **changed})
        feedback.append(LeadFeedback(verdict.lead_id, REJECTED, reason, None))
    accepted = [v.lead_id for v in verdicts if v.status == ACCEPTED]
    used = {v.lead_id for v in verdicts}
    accepted_at = {v.lead_id: v.at for v in verdicts if v.status == ACCEPTED}
    conversion = _convert(people, sandbox, accepted_at, by_id) if accepted else None
    merge = _merge(sandbox, [lead for lead in leads if lead.id not in used], week)
    if merge is not None:
        used |= {merge.master_id, merge.duplicate_id}
    deleted = pick_deletion(people, [lead for lead in leads if lead.id not in used], week)
    for lead_id in deleted:
        store.delete("Lead", lead_id)
    return replace(
        summary,
        feedback=tuple(feedback),
        conversion=conversion,
        merge=merge,
        deleted_lead_id=deleted[0] if deleted else None,
    )


@dataclass(frozen=True)
class Verdict:
    """Sales' verdict on one lead and when they gave it."""

    lead_id: str
    status: str  # ACCEPTED or REJECTED
    at: datetime


# Share of handed-over MQLs and hours after the hand-over (the week's start) of each verdict:
# most are accepted the next working day, some days late, about one in five rejected.
_VERDICTS = (
    (0.55, ACCEPTED, 32.0, 56.0),
    (0.15, ACCEPTED, 80.0, 150.0),
    (0.20, REJECTED, 30.0, 100.0),
)


def plan_verdicts(week: _Week, waiting: Sequence[str]) -> list[Verdict]:
    """Sales' verdicts on the leads ``waiting`` for them, oldest first; the rest still wait."""
    verdicts = []
    for lead_id in sorted(waiting):
        draw, cumulative = week.rng.random(), 0.0
        for share, status, earliest, latest in _VERDICTS:
            cumulative += share
            if draw < cumulative:
                hours = week.rng.uniform(earliest, latest)
                verdicts.append(Verdict(lead_id, status, week.start + timedelta(hours=hours)))
                break
    return sorted(verdicts, key=lambda v: (v.at, v.lead_id))


def _handed_over(store: Store, people: pl.DataFrame) -> set[str]:
    """Ids of the leads abmsync marked MQL in the CRM, or (before any sync wrote the stage)
    the emails of the data set's MQL leads."""
    if store.objects["Lead"].field("ABM_Stage__c") is not None:
        rows = store.select('SELECT "Id" FROM "Lead" WHERE "ABM_Stage__c" = \'mql\'')
        if rows:
            return {str(r[0]) for r in rows}
    mql = (pl.col("stage") == "mql") & (pl.col("kind") == "lead")
    return set(people.filter(mql)["_email"].drop_nulls())


def _accept(store: Store, lead: _Lead, at: datetime, changed: Mapping[str, str]) -> LeadFeedback:
    """Sales call the lead and, on the call, accept it."""
    task = {
        "WhoId": lead.id,
        "Subject": "Call",
        "Type": "Call",
        "TaskSubtype": "Call",
        "Status": "Completed",
        "ActivityDate": at.date().isoformat(),
        "OwnerId": lead.owner,
        "CreatedDate": at.isoformat(),
    }
    task_id = store.create("Task", task, trusted=True)
    store.update("Lead", lead.id, {"Status": ACCEPTED, **changed})
    return LeadFeedback(lead.id, ACCEPTED, None, task_id)


def _convert(
    people: pl.DataFrame,
    sandbox: SalesforceSandbox,
    accepted: Mapping[str, datetime],
    leads: dict[str, _Lead],
) -> Conversion:
    """Convert the first accepted lead whose person works at an account of the org, to that
    account; else the first accepted lead, to a new account from its Company. The rep
    converts a day after accepting, with an opportunity, as Salesforce does by default."""
    rows = sandbox.store.select(
        'SELECT "Name", "Id" FROM "Account" WHERE "IsDeleted" = 0 ORDER BY "Id"'
    )
    accounts: dict[str, str] = dict(reversed(rows))  # the oldest of a name wins
    chosen, account_id = pick_conversion(people, accounts, list(accepted), leads)
    done = sandbox.convert_lead(chosen, account_id)
    at = accepted[chosen] + timedelta(days=1)
    lead = leads[chosen]
    opportunity = sandbox.store.create(
        "Opportunity",
        {
            "Name": f"{lead.email or chosen} - New Business",
            "AccountId": done["accountId"],
            "StageName": "Prospecting",
            "CloseDate": (at + timedelta(days=90)).date().isoformat(),
            "OwnerId": lead.owner,
            "CreatedDate": at.isoformat(),
        },
        trusted=True,
    )
    # The converted contact becomes the opportunity's primary contact role, as in Salesforce.
    sandbox.store.create(
        "OpportunityContactRole",
        {
            "OpportunityId": opportunity,
            "ContactId": done["contactId"],
            "IsPrimary": True,
            "CreatedDate": at.isoformat(),
        },
        trusted=True,
    )
    return Conversion(done["leadId"], done["contactId"], done["accountId"])


def _merge(sandbox: SalesforceSandbox, leads: list[_Lead], week: _Week) -> Merge | None:
    """Merge the newest of two or more leads with one email into the oldest."""
    pair = pick_duplicates(leads, week)
    if pair is None:
        return None
    master, duplicate, email = pair
    sandbox.merge("Lead", master, [duplicate])
    return Merge(master, duplicate, email)


def pick_conversion(
    people: pl.DataFrame,
    accounts: dict[str, str],
    accepted: list[str],
    leads: Mapping[str, LeadLike],
) -> tuple[str, str | None]:
    """The first accepted lead whose person works at an account of the org (``accounts``:
    name -> id) and that account's id; else the first accepted lead and no account."""
    employers: dict[str | None, str] = dict(
        people.drop_nulls(["_email", "_account"]).select("_email", "_account").iter_rows()
    )
    for lead_id in accepted:
        account_id = accounts.get(employers.get(leads[lead_id].email, ""))
        if account_id is not None:
            return lead_id, account_id
    return accepted[0], None


def pick_deletion(people: pl.DataFrame, spare: Sequence[LeadLike], week: _Week) -> list[str]:
    """One lead of ``spare`` to delete (a competitor's when there is one), or none."""
    competitors = set(people.filter("is_competitor")["_email"].drop_nulls())
    doomed = [lead.id for lead in spare if lead.email in competitors] or [x.id for x in spare]
    return week.pick(doomed, 1)


class LeadLike(Protocol):
    """A lead as the week sees it: its id, normalized email and creation stamp."""

    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def created(self) -> str: ...


def pick_duplicates(leads: Sequence[LeadLike], week: _Week) -> tuple[str, str, str] | None:
    """(oldest id, newest id, email) of two or more leads sharing an email, picked at random."""
    by_email: dict[str, list[LeadLike]] = {}
    for lead in leads:
        if lead.email:
            by_email.setdefault(lead.email, []).append(lead)
    emails = week.pick([e for e, group in by_email.items() if len(group) > 1], 1)
    if not emails:
        return None
    group = sorted(by_email[emails[0]], key=lambda lead: (lead.created, lead.id))
    return group[0].id, group[-1].id, emails[0]
