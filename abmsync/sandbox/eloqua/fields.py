"""Field catalogues of the emulated Eloqua site: contact, account and activity fields.

Contact and account fields have a REST shape (``ContactField``: ``dataType``
text | largeText | numeric | date, ``isReadOnly`` ... as strings,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-1.0-assets-contact-fields-get.html)
and a Bulk shape (``{name, internalName, dataType, hasReadOnlyConstraint,
hasNotNullConstraint, hasUniquenessConstraint, statement, uri}`` with
``dataType`` number | string | boolean | date | emailAddress,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/FieldsMetadata.htm).
Standard internal names are Eloqua's: ``C_EmailAddress`` (field 100001, as in
the fields tutorial), ``C_DateCreated``/``C_DateModified`` and
``M_DateCreated``/``M_DateModified`` (the system timestamps of
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/system-timestamps.htm).

Internal names of new fields: Eloqua derives them from the display name,
``"C_"`` + the name with every character other than a letter, digit or
underscore replaced by ``_`` + ``"1"``. Real answers show it: a field named
``SPC_CARD_REGI_DATE`` got ``C_SPC_CARD_REGI_DATE1`` and ``Payroll Hub Report 1
PDF`` got ``C_Payroll_Hub_Report_1_PDF1``. Custom object fields follow the
same rule without the prefix.

Activity fields are those listed per type in
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/activity-fields.htm.

Guesses:
- Standard field ids other than 100001-100003 and 100085/100088 are invented.
- When the derived internal name is taken, the trailing number counts up (``2``, ``3``...).
- Text fields hold 100 characters, large text 32,000.
- largeText fields are ``string`` in the Bulk API (the documented enum has no largeText).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from abmsync.sandbox.eloqua.formats import parse_datetime, parse_number, unix_seconds

FIELD_EPOCH = datetime(1900, 1, 1, 5, 0, tzinfo=UTC)  # createdAt of standard fields in the docs
TEXT_MAX = 100
LARGE_TEXT_MAX = 32_000
REST_TYPES = ("text", "largeText", "numeric", "date")
BULK_TYPES = {"text": "string", "largeText": "string", "numeric": "number", "date": "date"}
EMAIL = re.compile(
    r"^[^@\s'\"<>(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


@dataclass
class FieldDef:
    """One contact or account field."""

    id: int
    name: str
    internal_name: str
    data_type: str  # REST data type: text | largeText | numeric | date
    display_type: str = "text"
    is_standard: bool = True
    is_read_only: bool = False
    is_required: bool = False
    is_email: bool = False
    is_unique: bool = False
    not_null: bool = False
    system: bool = False  # a system timestamp: exported in UTC when asked
    update_type: str = "always"
    created_at: datetime = FIELD_EPOCH
    updated_at: datetime = FIELD_EPOCH
    created_by: str | None = None

    @property
    def bulk_type(self) -> str:
        """The Bulk API's data type for this field."""
        return "emailAddress" if self.is_email else BULK_TYPES[self.data_type]

    @property
    def max_length(self) -> int | None:
        """Longest value a text field holds."""
        return {"text": TEXT_MAX, "largeText": LARGE_TEXT_MAX}.get(self.data_type)


def _standard(rows: list[tuple[int, str, str, str, dict[str, Any]]]) -> dict[str, FieldDef]:
    fields = {}
    for field_id, name, internal, data_type, flags in rows:
        fields[internal] = FieldDef(field_id, name, internal, data_type, **flags)
        if data_type == "date":
            fields[internal].display_type = "date"
    return fields


def standard_contact_fields() -> dict[str, FieldDef]:
    """The standard contact fields every site has (internal name -> field)."""
    ro = {"is_read_only": True}
    system = {"is_read_only": True, "system": True}
    return _standard(
        [
            (
                100001,
                "Email Address",
                "C_EmailAddress",
                "text",
                {"is_email": True, "is_unique": True},
            ),
            (100002, "First Name", "C_FirstName", "text", {}),
            (100003, "Last Name", "C_LastName", "text", {}),
            (100004, "Company", "C_Company", "text", {}),
            (100005, "Email Display Name", "C_EmailDisplayName", "text", {}),
            (100006, "Address 1", "C_Address1", "text", {}),
            (100007, "Address 2", "C_Address2", "text", {}),
            (100008, "City", "C_City", "text", {}),
            (100009, "State or Province", "C_State_Prov", "text", {}),
            (100010, "Zip or Postal Code", "C_Zip_Postal", "text", {}),
            (100011, "Country", "C_Country", "text", {}),
            (100012, "Business Phone", "C_BusPhone", "text", {}),
            (100013, "Mobile Phone", "C_MobilePhone", "text", {}),
            (100014, "Fax", "C_Fax", "text", {}),
            (100015, "Title", "C_Title", "text", {}),
            (100016, "Salesperson", "C_Salesperson", "text", {}),
            (100017, "Industry", "C_Industry1", "text", {}),
            (100018, "SFDC Contact ID", "C_SFDCContactID", "text", {}),
            (100019, "SFDC Lead ID", "C_SFDCLeadID", "text", {}),
            (100020, "Email Address Domain", "C_EmailAddressDomain", "text", ro),
            (100021, "Date Created", "C_DateCreated", "date", system),
            (100022, "Date Modified", "C_DateModified", "date", system),
            (
                100023,
                "Last Modified by CRM System",
                "C_LastModifiedByExtIntegrateSystem",
                "date",
                system,
            ),
        ],
    )


def standard_account_fields() -> dict[str, FieldDef]:
    """The standard account (company) fields every site has."""
    system = {"is_read_only": True, "system": True}
    return _standard(
        [
            (100085, "Company Name", "M_CompanyName", "text", {"not_null": True}),
            (100086, "Address 1", "M_Address1", "text", {}),
            (100087, "City", "M_City", "text", {}),
            (100088, "Country", "M_Country", "text", {}),
            (100089, "State or Province", "M_State_Prov", "text", {}),
            (100090, "Zip or Postal Code", "M_Zip_Postal", "text", {}),
            (100091, "Business Phone", "M_BusPhone", "text", {}),
            (100092, "Industry", "M_Industry", "text", {}),
            (100093, "Annual Revenue", "M_Revenue", "numeric", {}),
            (100094, "SFDC Account ID", "M_SFDCAccountID", "text", {}),
            (100095, "Date Created", "M_DateCreated", "date", system),
            (100096, "Date Modified", "M_DateModified", "date", system),
            (
                100097,
                "Last Modified by CRM System",
                "M_LastModifiedByExtIntegrateSystem",
                "date",
                system,
            ),
        ],
    )


def derive_internal_name(name: str, prefix: str, taken: set[str]) -> str:
    """Eloqua's internal name for a new field called ``name`` (see module doc)."""
    base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
    number = 1
    while f"{base}{number}".lower() in {t.lower() for t in taken}:
        number += 1
    return f"{base}{number}"


def value_problem(data_type: str, value: str, *, is_email: bool = False) -> str | None:
    """Why an imported text value cannot go into a field of ``data_type``, or None."""
    if value == "":
        return None
    if is_email and not EMAIL.match(value):
        return "Invalid email address."
    limit = {"text": TEXT_MAX, "largeText": LARGE_TEXT_MAX}.get(data_type)
    if limit is not None and len(value) > limit:
        return f"Value exceeds the maximum length of {limit} characters."
    try:
        if data_type == "numeric":
            parse_number(value)
        elif data_type == "date":
            parse_datetime(value, UTC)
    except ValueError:
        kind = "number" if data_type == "numeric" else "date"
        return f"Value is not a valid {kind}."
    return None


# -- activities ------------------------------------------------------------------

ACTIVITY_TYPES = (
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

# Column name -> statement, in the docs' order, shared by the types listed below.
_COMMON = {
    "ActivityId": "{{Activity.Id}}",
    "ActivityType": "{{Activity.Type}}",
    "ActivityDate": "{{Activity.CreatedAt}}",
}
_EMAIL = {
    "EmailAddress": "{{Activity.Field(EmailAddress)}}",
    "ContactId": "{{Activity.Contact.Id}}",
}
_ASSET = {
    "AssetType": "{{Activity.Asset.Type}}",
    "AssetName": "{{Activity.Asset.Name}}",
    "AssetId": "{{Activity.Asset.Id}}",
}
_VISITOR = {
    "VisitorId": "{{Activity.Visitor.Id}}",
    "VisitorExternalId": "{{Activity.Visitor.ExternalId}}",
}
_CAMPAIGN = {"CampaignId": "{{Activity.Campaign.Id}}", "ExternalId": "{{Activity.ExternalId}}"}
_RESPONSE = {
    "CampaignResponseDate": "{{Activity.CampaignResponse.CreatedAt}}",
    "CampaignResponseMemberStatus": "{{Activity.CampaignResponse.Field(MemberStatus)}}",
}
_EMAIL_MESSAGE = {
    "EmailRecipientId": "{{Activity.Field(EmailRecipientId)}}",
    "SubjectLine": "{{Activity.Field(SubjectLine)}}",
    "EmailWebLink": "{{Activity.Field(EmailWebLink)}}",
}
_DEPLOYMENT = {
    "DeploymentId": "{{Activity.Field(EmailDeploymentId)}}",
    "EmailSendType": "{{Activity.Field(EmailSendType)}}",
}

ACTIVITY_FIELDS: dict[str, dict[str, str]] = {
    "EmailSend": {
        **_COMMON,
        **_EMAIL,
        **_ASSET,
        **_EMAIL_MESSAGE,
        **_CAMPAIGN,
        **_DEPLOYMENT,
        **_RESPONSE,
    },
    "EmailOpen": {
        **_COMMON,
        **_EMAIL,
        "IpAddress": "{{Activity.Field(IpAddress)}}",
        **_VISITOR,
        **_ASSET,
        **_EMAIL_MESSAGE,
        **_CAMPAIGN,
        **_DEPLOYMENT,
        **_RESPONSE,
    },
    "EmailClickthrough": {
        **_COMMON,
        **_EMAIL,
        "IpAddress": "{{Activity.Field(IpAddress)}}",
        **_VISITOR,
        **_ASSET,
        **_EMAIL_MESSAGE,
        "EmailClickedThruLink": "{{Activity.Field(EmailClickedThruLink)}}",
        **_CAMPAIGN,
        **_DEPLOYMENT,
        **_RESPONSE,
    },
    "Bounceback": {
        **_COMMON,
        **_EMAIL,
        **_ASSET,
        "CampaignId": "{{Activity.Campaign.Id}}",
        "CRMCampaignId": "{{Activity.Campaign.Field(CRMCampaignId)}}",
        "CampaignName": "{{Activity.Campaign.Field(CampaignName)}}",
        "ExternalId": "{{Activity.ExternalId}}",
        "EmailRecipientId": "{{Activity.Field(EmailRecipientId)}}",
        "DeploymentId": "{{Activity.Field(EmailDeploymentId)}}",
        "SmtpErrorCode": "{{Activity.Field(SmtpErrorCode)}}",
        "SmtpStatusCode": "{{Activity.Field(SmtpStatusCode)}}",
        "SmtpMessage": "{{Activity.Field(SmtpMessage)}}",
    },
    "FormSubmit": {
        **_COMMON,
        "ContactId": "{{Activity.Contact.Id}}",
        **_VISITOR,
        **_ASSET,
        "RawData": "{{Activity.Field(RawData)}}",
        **_CAMPAIGN,
        **_RESPONSE,
    },
    "PageView": {
        **_COMMON,
        "ContactId": "{{Activity.Contact.Id}}",
        "CampaignId": "{{Activity.Campaign.Id}}",
        **_VISITOR,
        "WebVisitId": "{{Activity.Field(WebVisitId)}}",
        "Url": "{{Activity.Field(Url)}}",
        "ReferrerUrl": "{{Activity.Field(ReferrerUrl)}}",
        "IpAddress": "{{Activity.Field(IpAddress)}}",
        "IsWebTrackingOptedIn": "{{Activity.Field(IsWebTrackingOptedIn)}}",
        "ExternalId": "{{Activity.ExternalId}}",
        "LinkedToContactDate": "{{Activity.Field(LinkedToContactDate)}}",
        **_RESPONSE,
    },
    "WebVisit": {
        **_COMMON,
        "ContactId": "{{Activity.Contact.Id}}",
        **_VISITOR,
        "ReferrerUrl": "{{Activity.Field(ReferrerUrl)}}",
        "IpAddress": "{{Activity.Field(IpAddress)}}",
        "NumberOfPages": "{{Activity.Field(NumberOfPages)}}",
        "FirstPageViewUrl": "{{Activity.Field(FirstPageViewUrl)}}",
        "Duration": "{{Activity.Field(Duration)}}",
        "ExternalId": "{{Activity.ExternalId}}",
        "LinkedToContactDate": "{{Activity.Field(LinkedToContactDate)}}",
    },
    "Subscribe": {
        **_COMMON,
        "AssetId": "{{Activity.Asset.Id}}",
        **_EMAIL,
        "EmailRecipientId": "{{Activity.Field(EmailRecipientId)}}",
        "AssetType": "{{Activity.Asset.Type}}",
        "AssetName": "{{Activity.Asset.Name}}",
        **_CAMPAIGN,
    },
    "Unsubscribe": {
        **_COMMON,
        "AssetId": "{{Activity.Asset.Id}}",
        **_EMAIL,
        "EmailRecipientId": "{{Activity.Field(EmailRecipientId)}}",
        "AssetType": "{{Activity.Asset.Type}}",
        "AssetName": "{{Activity.Asset.Name}}",
        **_CAMPAIGN,
    },
}

ACTIVITY_DATES = {"ActivityDate", "LinkedToContactDate", "CampaignResponseDate"}
ACTIVITY_NUMBERS = {
    "ActivityId",
    "ContactId",
    "AssetId",
    "CampaignId",
    "VisitorId",
    "NumberOfPages",
    "Duration",
    "WebVisitId",
}


@dataclass(frozen=True)
class ActivityField:
    """One activity field as ``/activities/fields`` lists it."""

    id: int
    name: str
    statement: str
    activity_types: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bulk_type(self) -> str:
        """Date, number, email or string, by the column's meaning."""
        kind = activity_kind(self.name)
        if kind == "text":
            return "emailAddress" if self.name == "EmailAddress" else "string"
        return kind


def activity_kind(column: str) -> str:
    """How an activity column's values compare and render: date, number or text."""
    if column in ACTIVITY_DATES:
        return "date"
    return "number" if column in ACTIVITY_NUMBERS else "text"


def activity_field_catalogue() -> list[ActivityField]:
    """Every activity field once, with the types that have it (ids are invented)."""
    types_by_name: dict[tuple[str, str], list[str]] = {}
    for activity_type, columns in ACTIVITY_FIELDS.items():
        for name, statement in columns.items():
            types_by_name.setdefault((name, statement), []).append(activity_type)
    return [
        ActivityField(500 + index, name, statement, tuple(types))
        for index, ((name, statement), types) in enumerate(types_by_name.items())
    ]


def activity_column(activity_type: str, statement: str) -> str | None:
    """The documented column an activity statement reads, for one activity type."""
    for name, known in ACTIVITY_FIELDS[activity_type].items():
        if known.replace(" ", "").lower() == statement.replace(" ", "").lower():
            return name
    return None


def render_contact_field(definition: FieldDef, depth: str = "complete") -> dict[str, Any]:
    """A ``ContactField`` as the application API writes it: every value a string."""
    body: dict[str, Any] = {
        "type": "ContactField",
        "id": str(definition.id),
        "createdAt": unix_seconds(definition.created_at),
        "depth": depth,
        "name": definition.name,
        "updatedAt": unix_seconds(definition.updated_at),
    }
    if definition.created_by:
        body["createdBy"] = definition.created_by
        body["updatedBy"] = definition.created_by
    if depth == "minimal":
        return body
    body.update(
        {
            "dataType": definition.data_type,
            "displayType": definition.display_type,
            "internalName": definition.internal_name,
            "isReadOnly": str(definition.is_read_only).lower(),
            "isRequired": str(definition.is_required).lower(),
            "isStandard": str(definition.is_standard).lower(),
            "isAccountLinkageField": "false",
            "updateType": definition.update_type,
        }
    )
    return body
