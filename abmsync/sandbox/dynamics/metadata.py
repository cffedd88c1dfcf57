"""Table and column definitions of the Dataverse emulator, and how EntityDefinitions shows them.

The standard tables abmsync touches (lead, contact, account, opportunity,
campaign, campaignresponse, phonecall, appointment, activityparty,
systemuser) are declared here with their real logical names, types, lengths
and option sets (a subset of each table's columns). Custom tables, columns,
lookups and alternate keys are added through the metadata Web API
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api).

Guesses:
- Navigation property names of multi-table lookups follow ``<attribute>_<target>``
  (``parentcustomerid_account``) and of ``regardingobjectid``
  ``regardingobjectid_<target>_<activity>`` (``regardingobjectid_lead_phonecall``).
- Alternate keys are Active as soon as they are created (Dataverse builds the
  index asynchronously: Pending, then Active).
- MetadataIds are derived from the logical name (stable across runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_NS = uuid.UUID("5b0e8f33-6d3c-4a53-9d3c-0d2f4c1e8a71")

# AttributeType -> the metadata type's @odata.type suffix
ODATA_TYPES = {
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Double": "DoubleAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
}
TYPE_BY_METADATA = {v: k for k, v in ODATA_TYPES.items() if k not in ("Customer", "Owner")}
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
OPTION_TYPES = frozenset({"Picklist", "State", "Status"})
FIRST_CUSTOM_OPTION = 100_000_000


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for a table, column or key."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def label(text: str) -> dict[str, Any]:
    """A Label complex value with one en-US localized label."""
    localized = {
        "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel",
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": False,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def label_text(value: Any) -> str:
    """The text of a Label complex value sent by a client ("" when absent)."""
    if isinstance(value, dict):
        user = value.get("UserLocalizedLabel")
        if isinstance(user, dict) and user.get("Label"):
            return str(user["Label"])
        for item in value.get("LocalizedLabels") or []:
            if isinstance(item, dict) and item.get("Label"):
                return str(item["Label"])
    return ""


@dataclass
class Option:
    """One choice of an option set; ``state`` only for Status Reason options."""

    value: int
    label: str
    state: int | None = None


@dataclass
class AttributeDef:
    """One column of a table."""

    name: str
    type: str = "String"
    max_length: int = 100
    display: str = ""
    targets: tuple[str, ...] = ()
    options: list[Option] = field(default_factory=list)
    date_only: bool = False
    custom: bool = False
    required: str = "None"
    valid_for_create: bool = True
    valid_for_update: bool = True
    precision: int = 2
    nav: dict[str, str] = field(default_factory=dict)  # target -> navigation property
    schema: str = ""  # SchemaName (custom columns keep the case they were created with)
    description: str = ""

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def has_options(self) -> bool:
        return self.type in OPTION_TYPES

    def option(self, value: int) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def as_json(self, entity: str) -> dict[str, Any]:
        """The attribute as ``EntityDefinitions(...)/Attributes`` lists it."""
        schema = self.schema or self.name
        body: dict[str, Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{ODATA_TYPES[self.type]}",
            "MetadataId": metadata_id(entity, self.name),
            "LogicalName": self.name,
            "SchemaName": schema,
            "EntityLogicalName": entity,
            "AttributeType": self.type,
            "AttributeTypeName": {"Value": f"{self.type}Type"},
            "DisplayName": label(self.display or self.name),
            "Description": label(self.description),
            "IsCustomAttribute": self.custom,
            "IsPrimaryId": self.type == "Uniqueidentifier",
            "IsValidForCreate": self.valid_for_create,
            "IsValidForUpdate": self.valid_for_update,
            "IsValidForRead": True,
            "RequiredLevel": {
                "Value": self.required,
                "CanBeChanged": True,
                "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
            },
        }
        if self.type in ("String", "Memo"):
            body["MaxLength"] = self.max_length
        if self.type == "String":
            # StringAttributeMetadata.FormatName: Email, Url, Phone or Text
            # (Dataverse Web API reference: StringFormatName)
            body["FormatName"] = {"Value": _string_format(self.name)}
        if self.is_lookup:
            body["Targets"] = list(self.targets)
        if self.type == "DateTime":
            body["Format"] = "DateOnly" if self.date_only else "DateAndTime"
            behavior = "DateOnly" if self.date_only else "UserLocal"
            body["DateTimeBehavior"] = {"Value": behavior}
        if self.type in ("Decimal", "Double", "Money"):
            body["Precision"] = self.precision
        return body

    def option_set_json(self, entity: str) -> dict[str, Any]:
        """The OptionSet expanded on a Picklist/State/Status attribute."""
        kind = {"Picklist": "Picklist", "State": "State", "Status": "Status"}[self.type]
        options = []
        for option in self.options:
            item: dict[str, Any] = {"Value": option.value, "Label": label(option.label)}
            if self.type == "Status":
                item["@odata.type"] = "#Microsoft.Dynamics.CRM.StatusOptionMetadata"
                item["State"] = option.state
            elif self.type == "State":
                item["@odata.type"] = "#Microsoft.Dynamics.CRM.StateOptionMetadata"
            options.append(item)
        return {
            "MetadataId": metadata_id(entity, self.name, "optionset"),
            "Name": f"{entity}_{self.name}",
            "IsGlobal": False,
            "OptionSetType": kind,
            "Options": options,
        }


@dataclass
class KeyDef:
    """An alternate key: a name and the columns whose values identify a record."""

    name: str
    attributes: tuple[str, ...]
    display: str = ""

    def as_json(self, entity: str) -> dict[str, Any]:
        return {
            "MetadataId": metadata_id(entity, "key", self.name),
            "LogicalName": self.name,
            "SchemaName": self.name,
            "EntityLogicalName": entity,
            "KeyAttributes": list(self.attributes),
            "DisplayName": label(self.display or self.name),
            "EntityKeyIndexStatus": "Active",
            "IsCustomizable": {"Value": True, "CanBeChanged": True},
        }


@dataclass
class EntityDef:
    """One table: names, columns, keys and whether change tracking is on."""

    name: str
    entity_set: str
    primary_id: str
    primary_name: str
    attributes: dict[str, AttributeDef]
    display: str = ""
    custom: bool = False
    change_tracking: bool = True
    is_activity: bool = False
    keys: list[KeyDef] = field(default_factory=list)
    schema: str = ""

    @property
    def metadata_id(self) -> str:
        return metadata_id(self.name)

    def as_json(self) -> dict[str, Any]:
        """The table as ``EntityDefinitions`` lists it (without Attributes)."""
        return {
            "@odata.type": "#Microsoft.Dynamics.CRM.EntityMetadata",
            "MetadataId": self.metadata_id,
            "LogicalName": self.name,
            "SchemaName": self.schema or self.name.capitalize(),
            "EntitySetName": self.entity_set,
            "LogicalCollectionName": self.entity_set,
            "CollectionSchemaName": self.entity_set,
            "PrimaryIdAttribute": self.primary_id,
            "PrimaryNameAttribute": self.primary_name,
            "ObjectTypeCode": 10_000 + sum(map(ord, self.name)) if self.custom else 0,
            "DisplayName": label(self.display or self.name),
            "DisplayCollectionName": label((self.display or self.name) + "s"),
            "IsCustomEntity": self.custom,
            "IsActivity": self.is_activity,
            "IsPrivate": False,
            "IsIntersect": False,
            "ChangeTrackingEnabled": self.change_tracking,
            "CanChangeTrackingBeEnabled": {"Value": True, "CanBeChanged": True},
            "OwnershipType": "UserOwned",
            "TableType": "Standard",
        }


def _s(name: str, length: int = 100, display: str = "") -> AttributeDef:
    return AttributeDef(name, "String", length, display)


def _lookup(name: str, *targets: str, kind: str = "Lookup") -> AttributeDef:
    return AttributeDef(name, kind, targets=targets)


def _options(name: str, pairs: Iterable[tuple[int, str]], kind: str = "Picklist") -> AttributeDef:
    return AttributeDef(name, kind, options=[Option(v, t) for v, t in pairs])


def _status(pairs: Iterable[tuple[int, str, int]]) -> AttributeDef:
    return AttributeDef("statuscode", "Status", options=[Option(v, t, s) for v, t, s in pairs])


def _common(entity: str) -> list[AttributeDef]:
    """Columns every user-owned table has."""
    return [
        AttributeDef(f"{entity}id", "Uniqueidentifier", valid_for_update=False),
        AttributeDef("createdon", "DateTime", valid_for_create=False, valid_for_update=False),
        AttributeDef("modifiedon", "DateTime", valid_for_create=False, valid_for_update=False),
        AttributeDef("versionnumber", "BigInt", valid_for_create=False, valid_for_update=False),
        _lookup("ownerid", "systemuser", "team", kind="Owner"),
        _lookup("createdby", "systemuser"),
        _lookup("modifiedby", "systemuser"),
    ]


_INDUSTRY = [(1, "Accounting"), (2, "Agriculture and Non-petrol Natural Resource Extraction")]
_INDUSTRY += [
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (5, "Building Supply Retail"),
]
_LEAD_SOURCE = [(1, "Advertisement"), (2, "Employee Referral"), (3, "External Referral")]
_LEAD_SOURCE += [(4, "Partner"), (5, "Public Relations"), (6, "Seminar"), (7, "Trade Show")]
_LEAD_SOURCE += [(8, "Web"), (9, "Word of Mouth"), (10, "Other")]
_ACTIVITY_STATE = [(0, "Open"), (1, "Completed"), (2, "Canceled")]


def _activity(entity: str, extra: list[AttributeDef], regarding: tuple[str, ...]) -> EntityDef:
    attrs = [
        AttributeDef("activityid", "Uniqueidentifier", valid_for_update=False),
        *_common(entity)[1:],
        _s("subject", 400),
        AttributeDef("description", "Memo", 2000),
        _lookup("regardingobjectid", *regarding),
        AttributeDef("actualstart", "DateTime"),
        AttributeDef("actualend", "DateTime"),
        AttributeDef("scheduledstart", "DateTime"),
        AttributeDef("scheduledend", "DateTime"),
        _options("statecode", _ACTIVITY_STATE, "State"),
        _status([(1, "Open", 0), (2, "Made", 1), (3, "Canceled", 2), (4, "Received", 1)]),
        *extra,
    ]
    table = EntityDef(entity, f"{entity}s", "activityid", "subject", {a.name: a for a in attrs})
    table.is_activity = True
    return table


def standard_tables() -> dict[str, EntityDef]:
    """The standard tables of a fresh Dynamics 365 Sales org (the columns abmsync uses)."""
    people = [
        _s("firstname", 50),
        _s("lastname", 50),
        _s("fullname", 160),
        _s("jobtitle", 100),
        _s("emailaddress1", 100),
        _s("telephone1", 50),
        _s("address1_country", 80),
        _s("address1_stateorprovince", 50),
        _s("address1_city", 80),
        AttributeDef("donotemail", "Boolean"),
        AttributeDef("merged", "Boolean", valid_for_create=False, valid_for_update=False),
    ]
    lead = [
        *_common("lead"),
        *people,
        _s("companyname", 100),
        _s("subject", 300),
        _s("websiteurl", 200),
        _options("industrycode", _INDUSTRY),
        AttributeDef("numberofemployees", "Integer"),
        AttributeDef("revenue", "Money"),
        _options("leadsourcecode", _LEAD_SOURCE),
        _options("statecode", [(0, "Open"), (1, "Qualified"), (2, "Disqualified")], "State"),
        _status(
            [
                (1, "New", 0),
                (2, "Contacted", 0),
                (3, "Qualified", 1),
                (4, "Lost", 2),
                (5, "Cannot Contact", 2),
                (6, "No Longer Interested", 2),
                (7, "Canceled", 2),
            ]
        ),
        _lookup("parentaccountid", "account"),
        _lookup("parentcontactid", "contact"),
        _lookup("qualifyingopportunityid", "opportunity"),
        _lookup("campaignid", "campaign"),
        _lookup("masterid", "lead"),
        _lookup("customerid", "account", "contact", kind="Customer"),
    ]
    contact = [
        *_common("contact"),
        *people,
        _lookup("parentcustomerid", "account", "contact", kind="Customer"),
        _s("department", 100),
        _lookup("originatingleadid", "lead"),
        _lookup("masterid", "contact"),
        _options("leadsourcecode", [(1, "Default Value")]),
        _options("statecode", [(0, "Active"), (1, "Inactive")], "State"),
        _status([(1, "Active", 0), (2, "Inactive", 1)]),
    ]
    account = [
        *_common("account"),
        _s("name", 160),
        _s("accountnumber", 20),
        _s("emailaddress1", 100),
        AttributeDef("donotemail", "Boolean"),
        _s("websiteurl", 200),
        _s("telephone1", 50),
        _s("address1_country", 80),
        _s("address1_stateorprovince", 50),
        _options("industrycode", _INDUSTRY),
        AttributeDef("numberofemployees", "Integer"),
        AttributeDef("revenue", "Money"),
        _options(
            "customertypecode",
            [
                (1, "Competitor"),
                (2, "Consultant"),
                (3, "Customer"),
                (4, "Investor"),
                (5, "Partner"),
                (6, "Influencer"),
                (7, "Press"),
                (8, "Prospect"),
                (9, "Reseller"),
                (10, "Supplier"),
                (11, "Vendor"),
                (12, "Other"),
            ],
        ),
        _lookup("parentaccountid", "account"),
        _lookup("primarycontactid", "contact"),
        _lookup("originatingleadid", "lead"),
        _lookup("masterid", "account"),
        AttributeDef("merged", "Boolean", valid_for_create=False, valid_for_update=False),
        _options("statecode", [(0, "Active"), (1, "Inactive")], "State"),
        _status([(1, "Active", 0), (2, "Inactive", 1)]),
    ]
    opportunity = [
        *_common("opportunity"),
        _s("name", 300),
        AttributeDef("estimatedvalue", "Money"),
        AttributeDef("actualvalue", "Money"),
        AttributeDef("estimatedclosedate", "DateTime", date_only=True),
        AttributeDef("actualclosedate", "DateTime", date_only=True),
        _lookup("parentaccountid", "account"),
        _lookup("parentcontactid", "contact"),
        _lookup("customerid", "account", "contact", kind="Customer"),
        _lookup("campaignid", "campaign"),
        _lookup("originatingleadid", "lead"),
        _options("statecode", [(0, "Open"), (1, "Won"), (2, "Lost")], "State"),
        _status(
            [
                (1, "In Progress", 0),
                (2, "On Hold", 0),
                (3, "Won", 1),
                (4, "Canceled", 2),
                (5, "Out-Sold", 2),
            ]
        ),
    ]
    campaign = [
        *_common("campaign"),
        _s("name", 128),
        _s("codename", 32),
        AttributeDef("actualstart", "DateTime", date_only=True),
        AttributeDef("actualend", "DateTime", date_only=True),
        _options(
            "typecode",
            [
                (1, "Advertisement"),
                (2, "Direct Marketing"),
                (3, "Event"),
                (4, "Co-branding"),
                (5, "Other"),
            ],
        ),
        _options("statecode", [(0, "Active"), (1, "Inactive")], "State"),
        _status(
            [
                (0, "Proposed", 0),
                (1, "Ready To Launch", 0),
                (2, "Launched", 0),
                (3, "Completed", 0),
                (4, "Canceled", 0),
                (5, "Suspended", 0),
                (6, "Inactive", 1),
            ]
        ),
    ]
    systemuser = [
        AttributeDef("systemuserid", "Uniqueidentifier", valid_for_update=False),
        AttributeDef("createdon", "DateTime", valid_for_update=False),
        AttributeDef("modifiedon", "DateTime", valid_for_create=False, valid_for_update=False),
        AttributeDef("versionnumber", "BigInt", valid_for_create=False, valid_for_update=False),
        _s("fullname", 200),
        _s("firstname", 64),
        _s("lastname", 64),
        _s("domainname", 1024),
        _s("internalemailaddress", 100),
        _s("nickname", 50),
        _s("title", 128),
        _s("applicationid", 100),
        AttributeDef("isdisabled", "Boolean"),
    ]
    regarding = ("account", "contact", "lead", "opportunity", "campaign")
    response_extra = [
        _options(
            "channeltypecode",
            [
                (1, "Phone"),
                (2, "Fax"),
                (3, "Email"),
                (4, "Letter"),
                (5, "Appointment"),
                (6, "Others"),
            ],
        ),
        _options(
            "responsecode",
            [
                (1, "Interested"),
                (2, "Not Interested"),
                (3, "Do Not Send Marketing Materials"),
                (4, "Error"),
            ],
        ),
        AttributeDef("receivedon", "DateTime"),
        _s("emailaddress", 100),
        _s("firstname", 50),
        _s("lastname", 50),
        _s("companyname", 100),
        _s("telephone", 50),
    ]
    party_targets = ("account", "contact", "lead", "systemuser")
    activityparty = [
        AttributeDef("activitypartyid", "Uniqueidentifier", valid_for_update=False),
        AttributeDef("versionnumber", "BigInt", valid_for_create=False, valid_for_update=False),
        _lookup("activityid", "phonecall", "appointment", "campaignresponse"),
        _lookup("partyid", *party_targets),
        _options(
            "participationtypemask",
            [
                (1, "Sender"),
                (2, "To Recipient"),
                (3, "CC Recipient"),
                (5, "Required attendee"),
                (6, "Optional attendee"),
                (7, "Organizer"),
                (8, "Regarding"),
                (9, "Owner"),
                (11, "Customer"),
            ],
        ),
        _s("addressused", 200),
    ]
    tables = [
        EntityDef("lead", "leads", "leadid", "fullname", {a.name: a for a in lead}),
        EntityDef("contact", "contacts", "contactid", "fullname", {a.name: a for a in contact}),
        EntityDef("account", "accounts", "accountid", "name", {a.name: a for a in account}),
        EntityDef(
            "opportunity",
            "opportunities",
            "opportunityid",
            "name",
            {a.name: a for a in opportunity},
        ),
        EntityDef("campaign", "campaigns", "campaignid", "name", {a.name: a for a in campaign}),
        EntityDef(
            "systemuser",
            "systemusers",
            "systemuserid",
            "fullname",
            {a.name: a for a in systemuser},
        ),
        _activity("phonecall", [_s("phonenumber", 200)], regarding),
        _activity("appointment", [_s("location", 200)], regarding),
        _activity("campaignresponse", response_extra, ("campaign",)),
        EntityDef(
            "activityparty",
            "activityparties",
            "activitypartyid",
            "addressused",
            {a.name: a for a in activityparty},
            change_tracking=False,
        ),
    ]
    for table in tables:
        for attribute in table.attributes.values():
            name_navigation(table.name, attribute)
    return {t.name: t for t in tables}


def name_navigation(entity: str, attribute: AttributeDef) -> None:
    """Fill ``attribute.nav``: the single-valued navigation property per target table."""
    if not attribute.is_lookup:
        return
    targets = [t for t in attribute.targets if t != "team"] or list(attribute.targets)
    for target in attribute.targets:
        if attribute.custom and attribute.schema:
            attribute.nav[target] = attribute.schema  # custom lookups: the SchemaName, as cased
        elif attribute.name == "regardingobjectid":
            attribute.nav[target] = f"regardingobjectid_{target}_{entity}"
        elif len(targets) == 1 or attribute.type == "Owner":
            attribute.nav[target] = attribute.name
        else:
            attribute.nav[target] = f"{attribute.name}_{target}"


def _string_format(name: str) -> str:
    """The format of a standard text column, from its name (custom ones are Text)."""
    if name.startswith("emailaddress") or name == "internalemailaddress":
        return "Email"
    if name == "websiteurl":
        return "Url"
    if name.startswith("telephone") or name.startswith("mobilephone"):
        return "Phone"
    return "Text"
