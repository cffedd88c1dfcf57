"""Eloqua activities as one frame schema: which statements each activity type exports.

An activity export names exactly one type in its filter
(``'{{Activity.Type}}' = 'EmailOpen'``) and only the fields that type has
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/activity-fields.htm).
Every type reads into the same columns (:data:`COLUMNS`), null where the type
lacks the field. ``ActivityKey`` is ``<ActivityType>:<ActivityId>``, unique
across types (Eloqua numbers each type's activities on their own), and
``CampaignName`` is documented for bouncebacks only. ``Url`` is the documented
address of each type that has one:
``Field(Url)`` of a page view, ``Field(FirstPageViewUrl)`` of a web visit,
``Field(EmailClickedThruLink)`` of an email clickthrough, and of a form
submission the page named in its ``RawData`` (its submitted values as a
query string; :func:`form_page`). ``AssetName`` is the form's name.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import polars as pl

from abmsync.connectors.base import FieldMeta, FieldType, ObjectMeta
from abmsync.connectors.eloqua.catalog import ACTIVITIES, Described

TYPES = (
    "EmailSend",
    "EmailOpen",
    "EmailClickthrough",
    "Bounceback",
    "FormSubmit",
    "PageView",
    "WebVisit",
    "Subscribe",
    "Unsubscribe",
)
BOUNCEBACK = "Bounceback"
PAGE_FIELDS = ("elqPageURL", "pageURL", "elqFormPageURL")  # hidden fields naming a form's page

# Column -> type; every frame has these columns in this order.
COLUMNS: dict[str, FieldType] = {
    "ActivityKey": FieldType.ID,
    "ActivityId": FieldType.ID,
    "ActivityType": FieldType.STRING,
    "ActivityDate": FieldType.DATETIME,
    "ContactId": FieldType.REFERENCE,
    "EmailAddress": FieldType.EMAIL,
    "AssetType": FieldType.STRING,
    "AssetName": FieldType.STRING,
    "AssetId": FieldType.ID,
    "CampaignId": FieldType.ID,
    "CampaignName": FieldType.STRING,
    "Url": FieldType.URL,
    "ReferrerUrl": FieldType.URL,
    "SubjectLine": FieldType.STRING,
    "RawData": FieldType.TEXT,
}

_BASE = {
    "ActivityId": "{{Activity.Id}}",
    "ActivityType": "{{Activity.Type}}",
    "ActivityDate": "{{Activity.CreatedAt}}",
    "ContactId": "{{Activity.Contact.Id}}",
}
_EMAIL = {"EmailAddress": "{{Activity.Field(EmailAddress)}}"}
_ASSET = {
    "AssetType": "{{Activity.Asset.Type}}",
    "AssetName": "{{Activity.Asset.Name}}",
    "AssetId": "{{Activity.Asset.Id}}",
}
_CAMPAIGN = {"CampaignId": "{{Activity.Campaign.Id}}"}
_SUBJECT = {"SubjectLine": "{{Activity.Field(SubjectLine)}}"}

# Activity type -> column -> statement (the documented fields of each type).
STATEMENTS: dict[str, dict[str, str]] = {
    "EmailSend": {**_BASE, **_EMAIL, **_ASSET, **_CAMPAIGN, **_SUBJECT},
    "EmailOpen": {**_BASE, **_EMAIL, **_ASSET, **_CAMPAIGN, **_SUBJECT},
    "EmailClickthrough": {
        **_BASE,
        **_EMAIL,
        **_ASSET,
        **_CAMPAIGN,
        **_SUBJECT,
        "Url": "{{Activity.Field(EmailClickedThruLink)}}",
    },
    "Bounceback": {
        **_BASE,
        **_EMAIL,
        **_ASSET,
        **_CAMPAIGN,
        "CampaignName": "{{Activity.Campaign.Field(CampaignName)}}",
    },
    "FormSubmit": {**_BASE, **_ASSET, **_CAMPAIGN, "RawData": "{{Activity.Field(RawData)}}"},
    "PageView": {
        **_BASE,
        **_CAMPAIGN,
        "Url": "{{Activity.Field(Url)}}",
        "ReferrerUrl": "{{Activity.Field(ReferrerUrl)}}",
    },
    "WebVisit": {
        **_BASE,
        "Url": "{{Activity.Field(FirstPageViewUrl)}}",
        "ReferrerUrl": "{{Activity.Field(ReferrerUrl)}}",
    },
    "Subscribe": {**_BASE, **_EMAIL, **_ASSET, **_CAMPAIGN},
    "Unsubscribe": {**_BASE, **_EMAIL, **_ASSET, **_CAMPAIGN},
}


def activity_key(records: pl.DataFrame) -> pl.DataFrame:
    """Activities with their ``ActivityKey`` (``EmailOpen:123``), and a form
    submission's page as its ``Url`` (see :func:`form_page`)."""
    key = pl.concat_str([pl.col("ActivityType"), pl.col("ActivityId")], separator=":")
    done = records.with_columns(key.alias("ActivityKey"))
    forms = (done["ActivityType"] == "FormSubmit") & done["Url"].is_null()
    rows = forms.arg_true()
    if rows.len():
        pages = [form_page(done["RawData"][i]) for i in rows.to_list()]
        done = done.with_columns(done["Url"].scatter(rows, pl.Series(pages, dtype=pl.String())))
    return done


def form_page(raw_data: object) -> str | None:
    """The page a form was filled in on, from the submission's ``RawData``, if it says.

    Eloqua records a submission's fields as a query string and nothing of the
    page; forms on a website carry the page in a hidden field for exactly this
    (``elqPageURL`` by convention; ``pageURL`` and ``elqFormPageURL`` are read too),
    so rules can tell a contact-sales form from a newsletter sign-up by URL.
    A guess at the common convention, not an Eloqua API.
    """
    if not isinstance(raw_data, str) or not raw_data:
        return None
    values = parse_qs(raw_data, keep_blank_values=False)
    for name in PAGE_FIELDS:
        for key, found in values.items():
            if key.lower() == name.lower() and found and found[0].strip():
                return found[0].strip()
    return None


def described_activities() -> Described:
    """``describe("activities")``: the frame's columns, all read-only."""
    fields = {
        name: FieldMeta(
            name=name,
            label=name,
            type=kind,
            writable=False,
            reference_to="contacts" if name == "ContactId" else None,
        )
        for name, kind in COLUMNS.items()
    }
    meta = ObjectMeta(name=ACTIVITIES, label="Activities", fields=fields)
    return Described(meta, ACTIVITIES, ACTIVITIES, "ActivityKey", {}, "ActivityDate")
