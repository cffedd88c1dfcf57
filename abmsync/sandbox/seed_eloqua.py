"""Load a generated data set into the Oracle Eloqua emulator.

The Eloqua counterpart of the HubSpot half of
:func:`abmsync.sandbox.seed.seed_sandbox`: accounts (companies), one contact
per email linked to its account, campaigns, and the marketing touchpoints as
Eloqua activities, with the activity an Eloqua instance records around them:

- every email open, clickthrough and bounceback comes from an ``EmailSend``
  a little earlier, and about as many sends again went unanswered, as in any
  newsletter programme (roughly one in three sends is opened);
- ``email_open`` becomes ``EmailOpen``, ``email_click`` ``EmailClickthrough``
  (the link in ``EmailClickedThruLink``), ``email_bounce`` ``Bounceback``
  (with an SMTP 5.1.1 hard bounce), ``unsubscribe`` ``Unsubscribe``;
- ``page_view`` becomes ``PageView`` and each person's page views of one day
  one ``WebVisit``; a ``download`` is a ``PageView`` of the file, which is how
  Eloqua's tracking sees a download from the website;
- ``form_submit`` becomes ``FormSubmit`` of a form named after its page; the
  page's URL travels in the submission's ``RawData`` as the hidden
  ``elqPageURL`` field, as Eloqua forms on a website commonly carry it;
- a ``Subscribe`` records each contact that signed up through the newsletter.

Contacts carry Eloqua's own lead score (model 1): a profile letter from
seniority and a rating digit from the year's activity, e.g. ``B2``.
Accounts get two custom fields the standard set lacks: ``Website``
(``M_Website1``) and ``Employees`` (``M_Employees1``), and the fields of the
account brief ``examples/rules.yaml`` writes (``M_ABM_Tier1`` ...), which an
admin creates under Settings > Fields & Views: Eloqua's API creates contact
fields only (``POST /api/REST/1.0/assets/contact/field``).

Times: ``C_DateCreated`` / ``M_DateCreated`` and activity dates come from the
data set; ``C_DateModified`` / ``M_DateModified`` are the emulator's clock at
loading, as after an import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import polars as pl

from abmsync.sandbox import vocab
from abmsync.sandbox.generate import Dataset
from abmsync.sandbox.seed import SALES_TYPES, _lookup, _rows, email_key

if TYPE_CHECKING:
    from abmsync.sandbox.eloqua.store import EloquaStore
    from abmsync.sandbox.seed import _Ledger

SYSTEM = "eloqua"
WEBSITE, EMPLOYEES = "M_Website1", "M_Employees1"
# label -> data type; internal names are M_<label with underscores>1
BRIEF_FIELDS = {
    "ABM Account Score": "numeric",
    "ABM Tier": "text",
    "ABM MQA": "text",  # Eloqua has no checkbox: "true" / "false"
    "ABM Coverage": "numeric",
    "ABM Engaged Roles": "text",
    "ABM Buying Committee": "largeText",
    "ABM Recent Touchpoints": "largeText",
    "ABM Last Touch": "date",
}
NEWSLETTER = "Newsletter"
EMAIL_ASSET = "Email"
# touchpoint type -> Eloqua activity type (webinars and events live in the CRM's campaigns)
ACTIVITY_TYPES = {
    "email_open": "EmailOpen",
    "email_click": "EmailClickthrough",
    "email_bounce": "Bounceback",
    "unsubscribe": "Unsubscribe",
    "page_view": "PageView",
    "download": "PageView",
    "form_submit": "FormSubmit",
}
EMAIL_TYPES = ("email_open", "email_click", "email_bounce", "unsubscribe")
EMAIL_ACTIVITIES = ("EmailOpen", "EmailClickthrough", "Bounceback", "Unsubscribe")  # after a send
PROFILE = {"C-Level": "A", "VP": "A", "Director": "B", "Manager": "B", "Intern/Student": "D"}
UNANSWERED_SENDS = 1.0  # unanswered sends per answered one
SEND_LEAD = timedelta(hours=2)  # a send goes out this long before its open or click


def seed_eloqua(data: Dataset, store: EloquaStore, created: pl.DataFrame, ledger: _Ledger) -> None:
    """Accounts, contacts, campaigns and activities into ``store``; see the module doc.

    ``created`` has a creation time per account id (``id``, ``created``).
    """
    now = store.now()
    store.add_account_field("Website", "text")
    store.add_account_field("Employees", "numeric")
    for label, data_type in BRIEF_FIELDS.items():
        store.add_account_field(label, data_type)
    accounts = data.accounts.join(created, on="id", how="left", maintain_order="left")
    account_rows = accounts.select(
        M_CompanyName="name",
        M_Country="country",
        M_Industry="industry",
        M_Revenue=pl.col("annual_revenue").round(),
        **{WEBSITE: pl.col("domain"), EMPLOYEES: pl.col("employees")},
        M_DateCreated="created",
        M_DateModified=pl.lit(now),
    )
    account_ids = [str(i) for i in store.add_accounts(_rows(account_rows))]
    ledger.note(SYSTEM, "accounts", len(account_ids), accounts["id"], account_ids)
    companies = dict(zip(accounts["id"].to_list(), account_ids, strict=True))

    people = data.people.filter(pl.col("email").is_not_null()).with_columns(_email=email_key())
    ledger.skip("people without an email (no Eloqua contact)", data.people.height - people.height)
    first = people.unique("_email", keep="first", maintain_order=True)
    contact_rows = first.select(
        C_EmailAddress="email",
        C_FirstName="first_name",
        C_LastName="last_name",
        C_Title="title",
        C_Company="company",
        C_Country="country",
        C_State_Prov="state",
        C_DateCreated="created_at",
        C_DateModified=pl.lit(now),
    )
    new = store.add_contacts(_rows(contact_rows))
    by_email = dict(zip(first["_email"].to_list(), (str(i) for i in new), strict=True))
    people = people.with_columns(_contact=_lookup(pl.col("_email"), by_email))
    ledger.note(SYSTEM, "contacts", len(new), people["id"], people["_contact"].to_list())
    linked = first.with_columns(
        _contact=_lookup(pl.col("_email"), by_email),
        _company=_lookup(pl.col("account_id"), companies),
    ).drop_nulls("_company")
    with store.locked():
        for contact, company in zip(linked["_contact"], linked["_company"], strict=True):
            store.link_contact_to_account(int(contact), int(company))
            store.contacts[int(contact)].values["C_DateModified"] = now
        for contact in first.filter("unsubscribed")["_email"]:
            store.contacts[int(by_email[contact])].subscribed = False
    _lead_scores(data, first, by_email, store)
    _activities(data, people, store, ledger)


def _lead_scores(
    data: Dataset, first: pl.DataFrame, by_email: Mapping[str, str], store: EloquaStore
) -> None:
    """Eloqua's own A-D x 1-4 rating: profile from seniority, engagement from touches."""
    touches = data.touchpoints.group_by("person_id").len("touches")
    scored = first.join(touches, left_on="id", right_on="person_id", how="left").select(
        "_email",
        profile=_lookup(pl.col("seniority"), PROFILE, "C"),
        engagement=pl.when(pl.col("touches").fill_null(0) > 30)
        .then(pl.lit("1"))
        .when(pl.col("touches") > 12)
        .then(pl.lit("2"))
        .when(pl.col("touches") > 4)
        .then(pl.lit("3"))
        .otherwise(pl.lit("4")),
    )
    for email, profile, engagement in scored.iter_rows():
        store.set_lead_score(
            int(by_email[email]),
            model_id=1,
            rating=f"{profile}{engagement}",
            profile=profile,
            engagement=engagement,
        )


def _activities(data: Dataset, people: pl.DataFrame, store: EloquaStore, ledger: _Ledger) -> None:
    """The marketing touchpoints of people with a contact, as Eloqua activities."""
    marketing = data.touchpoints.filter(pl.col("type").is_in(list(ACTIVITY_TYPES)))
    touches = marketing.join(
        people.select(person_id="id", contact="_contact", email="email"),
        on="person_id",
        maintain_order="left",
    ).sort("occurred_at", "id")
    ledger.skip(
        "marketing touchpoints of people without an email", marketing.height - touches.height
    )
    ledger.skip(
        "sales touchpoints (the CRM's)",
        data.touchpoints.filter(pl.col("type").is_in(list(SALES_TYPES))).height,
    )
    names = sorted(set(touches["campaign"].drop_nulls().to_list()) | {NEWSLETTER})
    campaigns = {name: store.add_campaign(name) for name in names}
    assets = {name: 1000 + i for i, name in enumerate(names)}
    rows = [{k: v for k, v in r.items() if v is not None} for r in touches.to_dicts()]
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        kind = ACTIVITY_TYPES[row["type"]]
        by_type.setdefault(kind, []).append((row["id"], _activity(kind, row, campaigns, assets)))
    sends = _sends([r for r in rows if r["type"] in EMAIL_TYPES], people, campaigns, assets)
    by_type["EmailSend"] = [("", send) for send in sends]
    by_type["WebVisit"] = [("", visit) for visit in _visits(by_type.get("PageView", []))]
    signups = [r for r in rows if r["type"] == "form_submit" and "/newsletter" in r.get("url", "")]
    by_type["Subscribe"] = [("", _email_activity(r, campaigns, assets)) for r in signups]
    for kind, items in by_type.items():
        ids = store.add_activities(kind, [values for _, values in items])
        keyed = [(key, f"{kind}:{i}") for (key, _), i in zip(items, ids, strict=True) if key]
        ledger.note(
            SYSTEM,
            "activities",
            len(ids),
            pl.Series([k for k, _ in keyed], dtype=pl.String),
            [v for _, v in keyed],
        )


def _email_activity(
    row: Mapping[str, Any], campaigns: Mapping[str, int], assets: Mapping[str, int]
) -> dict[str, Any]:
    """The columns every email activity has: who, when, which email of which campaign."""
    campaign = row.get("campaign") or NEWSLETTER
    return {
        "ContactId": int(row["contact"]),
        "EmailAddress": row["email"],
        "ActivityDate": row["occurred_at"],
        "AssetType": EMAIL_ASSET,
        "AssetName": campaign,
        "AssetId": assets[campaign],
        "CampaignId": campaigns[campaign],
    }


def _activity(
    kind: str, row: Mapping[str, Any], campaigns: Mapping[str, int], assets: Mapping[str, int]
) -> dict[str, Any]:
    """One touchpoint as an activity of ``kind`` with that type's documented columns."""
    contact, at, url = int(row["contact"]), row["occurred_at"], row.get("url")
    if kind in EMAIL_ACTIVITIES:
        values = _email_activity(row, campaigns, assets)
        if kind == "EmailClickthrough":
            values["EmailClickedThruLink"] = url or vocab.VENDOR_SITE + "/"
        if kind == "Bounceback":
            values.update(
                CampaignName=values["AssetName"],
                SmtpErrorCode="5.1.1",
                SmtpStatusCode="550",
                SmtpMessage="550 5.1.1 The email account that you tried to reach does not exist",
            )
        if kind in ("EmailOpen", "EmailClickthrough"):
            values["SubjectLine"] = f"{values['AssetName']}: what's new"
        return values
    if kind == "PageView":
        return {
            "ContactId": contact,
            "ActivityDate": at,
            "Url": url or vocab.VENDOR_SITE + "/",
            "IsWebTrackingOptedIn": "1",
            "VisitorId": 500_000 + contact,
        }
    page = url or vocab.VENDOR_SITE + "/contact-us"
    form = page.rsplit("/", 1)[-1].replace("-", " ").title() or "Contact Us"
    return {
        "ContactId": contact,
        "ActivityDate": at,
        "AssetType": "Form",
        "AssetName": form,
        "AssetId": 2000 + sum(map(ord, form)) % 1000,
        "VisitorId": 500_000 + contact,
        "RawData": f"elqFormName={quote(form)}&elqSiteID=1&emailAddress={quote(row['email'])}"
        f"&elqPageURL={quote(page, safe='')}",
    }


def _sends(
    emails: Sequence[Mapping[str, Any]],
    people: pl.DataFrame,
    campaigns: Mapping[str, int],
    assets: Mapping[str, int],
) -> list[dict[str, Any]]:
    """The sends behind the email activities (one per contact, email and day), and as many
    unanswered ones again, to random contacts at the same moments."""
    seen: set[tuple[int, str, str]] = set()
    sends: list[dict[str, Any]] = []
    for row in emails:
        values = _email_activity(row, campaigns, assets)
        at = row["occurred_at"] - SEND_LEAD
        key = (values["ContactId"], values["AssetName"], at.date().isoformat())
        if key in seen:
            continue
        seen.add(key)
        sends.append({**values, "ActivityDate": at, "SubjectLine": f"{values['AssetName']}"})
    contacts = people.select("_contact", "email").unique("_contact").sort("_contact")
    if not contacts.height or not sends:
        return sends
    rng = np.random.default_rng(17)
    extra = rng.integers(0, contacts.height, int(len(sends) * UNANSWERED_SENDS))
    pool = contacts.rows()
    for n, pick in enumerate(extra.tolist()):
        base = sends[n % len(sends)]
        contact, email = pool[pick]
        sends.append({**base, "ContactId": int(contact), "EmailAddress": email})
    return sends


def _visits(page_views: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One web visit per contact and day of page views: first page, pages, duration."""
    days: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for _, view in page_views:
        days.setdefault((view["ContactId"], view["ActivityDate"].date().isoformat()), []).append(
            view
        )
    visits = []
    for (contact, _), views in days.items():
        start = min(v["ActivityDate"] for v in views)
        visits.append(
            {
                "ContactId": contact,
                "ActivityDate": start,
                "FirstPageViewUrl": min(views, key=lambda v: v["ActivityDate"])["Url"],
                "NumberOfPages": len(views),
                "Duration": 45 * len(views),
                "VisitorId": 500_000 + contact,
            }
        )
    return visits
