"""The property catalog of the HubSpot emulator: default properties and groups, custom ones.

Default properties and groups are the HubSpot-defined ones a portal's properties
API lists for each object (``GET /crm/v3/properties/{objectType}`` and
``.../groups``). The portal is one abmsync reads marketing activity from:
besides HubSpot's own properties, notes have the custom ``abm_activity_type``
(form_submit, page_view, ...) and ``abm_activity_url``, which
``examples/mappings/hubspot-notes.yaml`` turns into touchpoints (HubSpot's form,
analytics and email-event APIs are not emulated). Values written to a property
are checked against its type here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abmsync.sandbox.hubspot.errors import ApiError, RecordRejectedError, invalid_value
from abmsync.sandbox.hubspot.records import JSON, as_text, iso, normalize, to_ms
from abmsync.schema import TouchpointType

PROPERTY_TYPES = frozenset({"string", "number", "enumeration", "datetime", "date", "bool"})
# HubSpot's own property groups per object, the first one the home of the object's
# main properties ("contactinformation", "companyinformation", "dealinformation"),
# as a portal's properties API lists them.
DEFAULT_GROUPS: dict[str, list[tuple[str, str]]] = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
    ],
    "companies": [
        ("companyinformation", "Company information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
    ],
    "deals": [
        ("dealinformation", "Deal information"),
        ("deal_activity", "Deal activity"),
        ("analyticsinformation", "Web analytics history"),
    ],
    "notes": [("engagement", "Engagement")],
}
# Default properties that live outside their object's first group.
GROUP_OF: dict[tuple[str, str], str] = {
    ("contacts", "hs_email_optout"): "emailinformation",
    ("contacts", "hubspot_owner_id"): "sales_properties",
    ("companies", "hubspot_owner_id"): "sales_properties",
}
ACTIVITY_TYPE, ACTIVITY_URL = "abm_activity_type", "abm_activity_url"  # custom note properties
SYSTEM_PROPERTIES = ("createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_object_id")
# What a read returns when it names no properties.
DEFAULT_RETURNED = {
    "contacts": ["email", "firstname", "lastname"],
    "companies": ["domain", "name"],
    "deals": ["amount", "closedate", "dealname", "dealstage", "pipeline"],
    "notes": ["hs_note_body", "hs_timestamp"],
}


@dataclass
class PropertyDef:
    """One property definition, as the properties API describes it."""

    name: str
    label: str
    type: str  # string | number | enumeration | datetime | date | bool
    field_type: str
    group_name: str
    options: list[JSON] = field(default_factory=list)
    description: str = ""
    read_only: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    created_ms: int = 0
    display_order: int = -1

    def render(self) -> JSON:
        """The definition as the properties API renders it (``Property``)."""
        stamp = iso(self.created_ms)
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }


def _prop(name: str, label: str, kind: str, field_type: str, **extra: Any) -> PropertyDef:
    return PropertyDef(name, label, kind, field_type, "", **extra)  # group set by the caller


def _options(*values: str) -> list[JSON]:
    return [
        {"label": v.title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


def default_properties(obj: str) -> list[PropertyDef]:
    """The HubSpot-defined properties the emulator starts with for ``obj``."""
    system = [
        _prop("createdate", "Create Date", "datetime", "date", read_only=True),
        _prop("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", read_only=True),
        _prop("hubspot_owner_id", "Owner", "string", "text"),
    ]
    own: dict[str, list[PropertyDef]] = {
        "contacts": [
            _prop("email", "Email", "string", "text", has_unique_value=True),
            _prop("firstname", "First Name", "string", "text"),
            _prop("lastname", "Last Name", "string", "text"),
            _prop("jobtitle", "Job Title", "string", "text"),
            _prop("company", "Company Name", "string", "text"),
            _prop("country", "Country", "string", "text"),
            _prop(
                "lifecyclestage",
                "Lifecycle Stage",
                "enumeration",
                "radio",
                options=_options(
                    "subscriber",
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "customer",
                    "evangelist",
                    "other",
                ),
            ),
            _prop(
                "hs_email_optout",
                "Unsubscribed from all email",
                "bool",
                "booleancheckbox",
                options=_options("true", "false"),
            ),
        ],
        "companies": [
            _prop("name", "Company name", "string", "text"),
            _prop("domain", "Company Domain Name", "string", "text"),
            _prop("industry", "Industry", "string", "text"),
            _prop("numberofemployees", "Number of Employees", "number", "number"),
            _prop("annualrevenue", "Annual Revenue", "number", "number"),
            _prop("country", "Country/Region", "string", "text"),
        ],
        "deals": [
            _prop("dealname", "Deal Name", "string", "text"),
            _prop("amount", "Amount", "number", "number"),
            _prop("pipeline", "Pipeline", "string", "text"),
            _prop(
                "dealstage",
                "Deal Stage",
                "enumeration",
                "radio",
                options=_options(
                    "appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"
                ),
            ),
            _prop("closedate", "Close Date", "datetime", "date"),
        ],
        "notes": [
            _prop("hs_note_body", "Note body", "string", "textarea"),
            _prop("hs_timestamp", "Activity date", "datetime", "date"),
            _prop(
                ACTIVITY_TYPE,
                "ABM activity type",
                "enumeration",
                "select",
                options=[
                    {
                        "label": kind.value.replace("_", " ").capitalize(),
                        "value": kind.value,
                        "displayOrder": i,
                        "hidden": False,
                    }
                    for i, kind in enumerate(TouchpointType)
                ],
                description="What the person did: form_submit, page_view, email_open, ...",
                hubspot_defined=False,
            ),
            _prop(
                ACTIVITY_URL,
                "ABM activity URL",
                "string",
                "text",
                description="The page, form or file of the activity",
                hubspot_defined=False,
            ),
        ],
    }
    defs = system + own[obj]
    for prop in defs:
        prop.group_name = GROUP_OF.get((obj, prop.name), DEFAULT_GROUPS[obj][0][0])
    return defs


def default_groups(obj: str) -> dict[str, JSON]:
    """HubSpot's own property groups of ``obj`` by name, as the groups API renders them."""
    return {
        name: {"name": name, "label": label, "displayOrder": i, "archived": False}
        for i, (name, label) in enumerate(DEFAULT_GROUPS[obj])
    }


def custom_property(
    body: Mapping[str, Any], *, name: str, label: str, kind: str, group: str, now: int
) -> PropertyDef:
    """A portal-defined property from a create body (``PropertyCreate``) whose name, label,
    type and group the caller has checked; options, field type and the rest come from ``body``."""
    options = [
        {
            "label": str(o.get("label", o.get("value"))),
            "value": str(o["value"]),
            "displayOrder": int(o.get("displayOrder", i)),
            "hidden": bool(o.get("hidden", False)),
        }
        for i, o in enumerate(body.get("options") or [])
    ]
    return PropertyDef(
        name=name,
        label=label,
        type=kind,
        field_type=str(body.get("fieldType") or "text"),
        group_name=group,
        options=options,
        description=str(body.get("description") or ""),
        hubspot_defined=False,
        has_unique_value=bool(body.get("hasUniqueValue", False)),
        created_ms=now,
    )


def new_property(
    body: Mapping[str, Any],
    props: Mapping[str, PropertyDef],
    groups: Mapping[str, JSON],
    now: int,
) -> PropertyDef:
    """``POST /crm/v3/properties/{type}``: the new property, or 409 if it exists and 400 for
    an unknown group, a bad type or an enumeration without options."""
    name = str(body.get("name", ""))
    if name in props:
        raise ApiError(
            409,
            "OBJECT_ALREADY_EXISTS",
            f"Property named '{name}' already exists.",
            subCategory="PropertyValidationError.PROPERTY_EXISTS",
        )
    kind = str(body.get("type", ""))
    if kind not in PROPERTY_TYPES:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid property type: {kind}")
    group = str(body.get("groupName", ""))
    if group not in groups:
        raise ApiError(400, "VALIDATION_ERROR", f"Property group '{group}' does not exist.")
    label = str(body.get("label", name))
    prop = custom_property(body, name=name, label=label, kind=kind, group=group, now=now)
    if kind in {"enumeration", "bool"} and not prop.options:
        raise ApiError(400, "VALIDATION_ERROR", f"{kind} properties need options")
    return prop


def new_group(body: Mapping[str, Any], groups: Mapping[str, JSON]) -> JSON:
    """``POST /crm/v3/properties/{type}/groups``: the new group, or 409 if it exists."""
    name = str(body.get("name", ""))
    if name in groups:
        raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"Property group '{name}' already exists.")
    return {
        "name": name,
        "label": str(body.get("label", name)),
        "displayOrder": int(body.get("displayOrder", -1)),
        "archived": False,
    }


def checked_value(prop: PropertyDef, text: str) -> str:
    """A non-empty value written to ``prop`` as HubSpot stores it (dates normalized), or
    :class:`RecordRejectedError` with HubSpot's code for a value of the wrong type."""
    if prop.type in ("enumeration", "bool"):
        allowed = [o["value"] for o in prop.options]
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        for value in chosen:
            if value not in allowed:
                message = f"{value} was not one of the allowed options: {allowed}"
                raise RecordRejectedError(invalid_value(prop.name, "INVALID_OPTION", message))
    elif prop.type == "number":
        try:
            float(text)
        except ValueError:
            message = f"{text} was not a valid number."
            raise RecordRejectedError(invalid_value(prop.name, "INVALID_FLOAT", message)) from None
    elif prop.type in ("datetime", "date"):
        ms = to_ms(text)
        if ms is None:
            message = f"{text} was not a valid long or date."
            raise RecordRejectedError(invalid_value(prop.name, "INVALID_DATE", message))
        return iso(ms) if prop.type == "datetime" else iso(ms)[:10]
    return text


def checked_values(props: Mapping[str, PropertyDef], values: Mapping[str, Any]) -> dict[str, str]:
    """Written values as HubSpot stores them (strings; "" clears), or RecordRejectedError
    for a property the object lacks, a read-only one or a value of the wrong type."""
    clean: dict[str, str] = {}
    for name, raw in values.items():
        prop = props.get(name)
        if prop is None:
            message = f'Property "{name}" does not exist'
            raise RecordRejectedError(invalid_value(name, "PROPERTY_DOESNT_EXIST", message))
        if prop.read_only:
            message = f'"{name}" is a read only property; its value cannot be set.'
            raise RecordRejectedError(invalid_value(name, "READ_ONLY_VALUE", message))
        text = as_text(raw)
        if text:
            text = checked_value(prop, text)
        clean[name] = normalize(name, text)
    return clean
