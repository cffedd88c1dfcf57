"""The standard objects abmsync reads and writes, with realistic fields.

Field names, types and lengths follow the Salesforce Object Reference
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/);
person objects carry the compound ``Name`` (``FirstName``/``LastName`` name it as
their ``compoundFieldName``) and the address objects their compound address
fields (``Address``, ``MailingAddress``, ``BillingAddress``, ``ShippingAddress``).
"""

from __future__ import annotations

from typing import Any

from abmsync.sandbox.salesforce.schema import ChildRelationship, FieldDef, ObjectDef, Traits


def make_field(name: str, kind: str = "string", length: int = 0, **options: Any) -> FieldDef:
    """A field; ids and references are always 18 characters long."""
    if kind in ("id", "reference"):
        length = 18
    return FieldDef(name=name, type=kind, length=length, **options)


def read_only(name: str, kind: str, **options: Any) -> FieldDef:
    """A field the API can read but never write."""
    return make_field(name, kind, updateable=False, createable=False, **options)


def picklist(name: str, values: str, *, restricted: bool = False, **options: Any) -> FieldDef:
    """A picklist of ``|``-separated values."""
    choices = tuple(values.split("|"))
    return make_field(name, "picklist", 255, picklist=choices, restricted=restricted, **options)


def system_fields(owner: bool = True) -> list[FieldDef]:
    """Id, IsDeleted, the audit fields and SystemModstamp (and OwnerId)."""
    fields = [
        read_only("Id", "id", nillable=False),
        read_only("IsDeleted", "boolean", nillable=False, default=False),
        read_only("CreatedDate", "datetime", nillable=False),
        read_only("CreatedById", "reference", reference_to=("User",), nillable=False),
        read_only("LastModifiedDate", "datetime", nillable=False),
        read_only("LastModifiedById", "reference", reference_to=("User",), nillable=False),
        read_only("SystemModstamp", "datetime", nillable=False),
    ]
    if owner:
        fields.append(
            make_field("OwnerId", "reference", reference_to=("User", "Group"), nillable=False)
        )
    return fields


def person_name(last_length: int = 80) -> list[FieldDef]:
    """FirstName, LastName and the compound Name they make up."""
    return [
        make_field("FirstName", length=40, compound="Name"),
        make_field("LastName", length=last_length, nillable=False, compound="Name"),
        read_only("Name", "string", length=121, nillable=False, name_field=True, label="Full Name"),
    ]


def address(prefix: str) -> list[FieldDef]:
    """The components of a compound address and the address itself (``{prefix}Address``)."""
    whole = f"{prefix}Address"
    return [
        make_field(f"{prefix}Street", "textarea", 255, compound=whole),
        make_field(f"{prefix}City", length=40, compound=whole),
        make_field(f"{prefix}State", length=80, compound=whole),
        make_field(f"{prefix}PostalCode", length=20, compound=whole),
        make_field(f"{prefix}Country", length=80, compound=whole),
        make_field(f"{prefix}Latitude", "double", precision=18, scale=15, compound=whole),
        make_field(f"{prefix}Longitude", "double", precision=18, scale=15, compound=whole),
        picklist(
            f"{prefix}GeocodeAccuracy", "Address|NearAddress|Block|Street|City", compound=whole
        ),
        read_only(whole, "address"),
    ]


_INDUSTRIES = (
    "Agriculture|Banking|Biotechnology|Chemicals|Communications|Construction|Consulting|"
    "Education|Electronics|Energy|Engineering|Finance|Healthcare|Insurance|Manufacturing|"
    "Media|Retail|Software|Technology|Telecommunications|Transportation|Other"
)
_LEAD_SOURCES = "Web|Phone Inquiry|Partner Referral|Purchased List|Other"
_STAGES = (
    "Prospecting|Qualification|Needs Analysis|Value Proposition|Proposal/Price Quote|"
    "Negotiation/Review|Closed Won|Closed Lost"
)
_LONG_TEXT = 32000
# OpportunityContactRole.Role's standard values (Object Reference, OpportunityContactRole).
_CONTACT_ROLES = (
    "Business User|Decision Maker|Economic Buyer|Economic Decision Maker|Evaluator|"
    "Executive Sponsor|Influencer|Technical Buyer|Other"
)


def _lead() -> list[FieldDef]:
    return [
        *system_fields(),
        read_only("MasterRecordId", "reference", reference_to=("Lead",)),
        *person_name(),
        make_field("Company", length=255, nillable=False),
        make_field("Title", length=128),
        make_field("Email", "email", 80),
        make_field("Phone", "phone", 40),
        make_field("Website", "url", 255),
        picklist(
            "Status",
            "Open - Not Contacted|Working - Contacted|Closed - Converted|Closed - Not Converted",
            restricted=True,
            nillable=False,
            default="Open - Not Contacted",
        ),
        picklist("LeadSource", _LEAD_SOURCES),
        picklist("Industry", _INDUSTRIES),
        picklist("Rating", "Hot|Warm|Cold"),
        make_field("AnnualRevenue", "currency", precision=18, scale=0),
        make_field("NumberOfEmployees", "int", precision=8),
        *address(""),
        make_field("Description", "textarea", _LONG_TEXT),
        make_field("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        read_only("IsConverted", "boolean", nillable=False, default=False),
        read_only("ConvertedDate", "date"),
        read_only("ConvertedAccountId", "reference", reference_to=("Account",)),
        read_only("ConvertedContactId", "reference", reference_to=("Contact",)),
        read_only("ConvertedOpportunityId", "reference", reference_to=("Opportunity",)),
    ]


def _contact() -> list[FieldDef]:
    return [
        *system_fields(),
        read_only("MasterRecordId", "reference", reference_to=("Contact",)),
        make_field("AccountId", "reference", reference_to=("Account",)),
        *person_name(),
        make_field("Title", length=128),
        make_field("Email", "email", 80),
        make_field("Phone", "phone", 40),
        make_field("Department", length=80),
        picklist("LeadSource", _LEAD_SOURCES),
        *address("Mailing"),
        make_field("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        make_field("Description", "textarea", _LONG_TEXT),
    ]


def _account() -> list[FieldDef]:
    return [
        *system_fields(),
        read_only("MasterRecordId", "reference", reference_to=("Account",)),
        make_field("Name", length=255, nillable=False, name_field=True, label="Account Name"),
        make_field("Website", "url", 255),
        picklist("Industry", _INDUSTRIES),
        picklist("Type", "Prospect|Customer - Direct|Customer - Channel|Partner|Other"),
        make_field("AnnualRevenue", "currency", precision=18, scale=0),
        make_field("NumberOfEmployees", "int", precision=8),
        *address("Billing"),
        *address("Shipping"),
        make_field("ParentId", "reference", reference_to=("Account",)),
        make_field("Description", "textarea", _LONG_TEXT),
    ]


def _opportunity() -> list[FieldDef]:
    return [
        *system_fields(),
        make_field("Name", length=120, nillable=False, name_field=True),
        make_field("AccountId", "reference", reference_to=("Account",)),
        picklist("StageName", _STAGES, restricted=True, nillable=False),
        make_field("CloseDate", "date", nillable=False),
        make_field("Amount", "currency", precision=18, scale=2),
        make_field("Probability", "percent", precision=3, scale=0),
        read_only("IsClosed", "boolean", nillable=False, default=False),
        read_only("IsWon", "boolean", nillable=False, default=False),
        picklist("LeadSource", _LEAD_SOURCES),
        picklist("Type", "New Business|Existing Business"),
        make_field("CampaignId", "reference", reference_to=("Campaign",)),
    ]


def _campaign() -> list[FieldDef]:
    return [
        *system_fields(),
        make_field("Name", length=80, nillable=False, name_field=True),
        picklist("Type", "Conference|Webinar|Trade Show|Email|Advertisement|Other"),
        picklist("Status", "Planned|In Progress|Completed|Aborted"),
        make_field("StartDate", "date"),
        make_field("EndDate", "date"),
        make_field("IsActive", "boolean", nillable=False, default=False),
        make_field("ParentId", "reference", reference_to=("Campaign",)),
    ]


def _campaign_member() -> list[FieldDef]:
    return [
        *system_fields(owner=False),
        make_field(
            "CampaignId",
            "reference",
            reference_to=("Campaign",),
            nillable=False,
            cascade_delete=True,
        ),
        make_field("LeadId", "reference", reference_to=("Lead",)),
        make_field("ContactId", "reference", reference_to=("Contact",)),
        make_field("Status", length=40, default="Sent"),
        make_field("HasResponded", "boolean", nillable=False, default=False),
        make_field("FirstRespondedDate", "date"),
    ]


def _opportunity_contact_role() -> list[FieldDef]:
    """A contact's part in a deal; the opportunity is fixed once the role exists."""
    return [
        *system_fields(owner=False),
        make_field(
            "OpportunityId",
            "reference",
            reference_to=("Opportunity",),
            nillable=False,
            updateable=False,
            cascade_delete=True,
        ),
        make_field("ContactId", "reference", reference_to=("Contact",), nillable=False),
        picklist("Role", _CONTACT_ROLES),
        make_field("IsPrimary", "boolean", nillable=False, default=False),
    ]


def _task() -> list[FieldDef]:
    return [
        *system_fields(),
        make_field("Subject", length=255),
        make_field("WhoId", "reference", reference_to=("Lead", "Contact")),
        make_field("WhatId", "reference", reference_to=("Account", "Opportunity", "Campaign")),
        make_field("ActivityDate", "date"),
        picklist(
            "Status",
            "Not Started|In Progress|Completed|Waiting on someone else|Deferred",
            restricted=True,
            nillable=False,
            default="Not Started",
        ),
        picklist("Priority", "High|Normal|Low", restricted=True, nillable=False, default="Normal"),
        picklist("Type", "Call|Email|Meeting|Other"),
        make_field("TaskSubtype", length=40),
        make_field("Description", "textarea", _LONG_TEXT),
    ]


def _user() -> list[FieldDef]:
    return [
        *system_fields(owner=False),
        make_field("Username", length=80, nillable=False, unique=True),
        *person_name(),
        make_field("Email", "email", 128, nillable=False),
        make_field("Alias", length=8),
        make_field("Title", length=80),
        make_field("Department", length=80),
        make_field("IsActive", "boolean", nillable=False, default=True),
    ]


def _group() -> list[FieldDef]:
    return [
        *system_fields(owner=False),
        make_field("Name", length=40, nillable=False, name_field=True),
        make_field("DeveloperName", length=80),
        picklist("Type", "Regular|Role|Queue|Organization"),
        make_field("Email", "email", 255),
    ]


# Relationship names of the standard children (Object Reference, each object's
# "Child Relationships"); system lookups such as CreatedById have none.
CHILD_NAMES = {
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("Opportunity", "CampaignId"): "Opportunities",
    ("Account", "ParentId"): "ChildAccounts",
    ("Campaign", "ParentId"): "ChildCampaigns",
    ("CampaignMember", "CampaignId"): "CampaignMembers",
    ("CampaignMember", "LeadId"): "CampaignMembers",
    ("CampaignMember", "ContactId"): "CampaignMembers",
    ("OpportunityContactRole", "OpportunityId"): "OpportunityContactRoles",
    ("OpportunityContactRole", "ContactId"): "OpportunityContactRoles",
    ("Task", "WhoId"): "Tasks",
    ("Task", "WhatId"): "Tasks",
}
_UNNAMED = frozenset(
    {"CreatedById", "LastModifiedById", "OwnerId", "MasterRecordId", "UserOrGroupId"}
)


def child_name(child: ObjectDef, spec: FieldDef) -> str | None:
    """The relationship name a parent uses for ``child`` records pointing to it via ``spec``."""
    known = CHILD_NAMES.get((child.name, spec.name))
    if known is not None:
        return known
    if spec.name in _UNNAMED or spec.name.startswith("Converted"):
        return None
    kind = child.traits.associate_type
    if kind in ("History", "Share", "Feed"):
        return {"History": "Histories", "Share": "Shares", "Feed": "Feeds"}[kind]
    if child.custom or spec.custom:
        return child.plural.replace(" ", "_").removesuffix("__cs") + "__r"
    return child.plural.replace(" ", "")


def link_children(objects: dict[str, ObjectDef]) -> None:
    """Fill every object's ``children`` from the reference fields pointing to it."""
    for child in objects.values():
        for spec in child.fields.values():
            add_child(objects, child, spec)


def add_child(objects: dict[str, ObjectDef], child: ObjectDef, spec: FieldDef) -> None:
    """Record ``child.spec`` as a child relationship of each object it references."""
    for target in spec.reference_to:
        parent = objects.get(target)
        if parent is not None:
            relation = ChildRelationship(
                child.name, spec.name, child_name(child, spec), spec.cascade_delete
            )
            parent.children.append(relation)


def standard_objects() -> dict[str, ObjectDef]:
    """The detailed standard objects (prefix, fields, plural labels)."""
    objects = {
        "Lead": ("00Q", _lead(), "Leads"),
        "Contact": ("003", _contact(), "Contacts"),
        "Account": ("001", _account(), "Accounts"),
        "Opportunity": ("006", _opportunity(), "Opportunities"),
        "Campaign": ("701", _campaign(), "Campaigns"),
        "CampaignMember": ("00v", _campaign_member(), "Campaign Members"),
        "OpportunityContactRole": ("00K", _opportunity_contact_role(), "Opportunity Contact Roles"),
        "Task": ("00T", _task(), "Tasks"),
        "User": ("005", _user(), "Users"),
        "Group": ("00G", _group(), "Groups"),
    }
    out: dict[str, ObjectDef] = {}
    for name, (prefix, fields, plural) in objects.items():
        traits = Traits(
            mergeable=name in ("Lead", "Contact", "Account"),
            feed_enabled=name in ("Lead", "Contact", "Account", "Opportunity", "Campaign"),
            label_plural=plural,
        )
        label = {
            "CampaignMember": "Campaign Member",
            "OpportunityContactRole": "Opportunity Contact Role",
        }.get(name, name)
        out[name] = ObjectDef(name, prefix, label, {f.name: f for f in fields}, traits)
    return out
