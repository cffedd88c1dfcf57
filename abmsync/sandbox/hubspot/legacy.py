"""HubSpot's legacy (v1/v2) shapes of records, properties and pipelines, from the store.

The companies v2, deals v1 and contacts v1 APIs answer with one object per
property instead of a plain string: ``{"value", "timestamp", "source",
"sourceId", "versions"}``, dates and datetimes as epoch-millisecond strings,
record ids as integers (``companyId``, ``dealId``, ``vid``) next to
``portalId`` and ``isDeleted``. References, for the shapes and defaults:

- companies: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/v2/get-companies-v2-companies-paged
  (``has-more``/``offset``, versions in every property) and
  https://developers.hubspot.com/docs/api-reference/legacy/crm-companies-v2/post-companies-v2-domains-domain-companies
  (``hs_lastmodifieddate`` is ``CALCULATED``, ``createdate`` ``API``)
- deals: https://legacydocs.hubspot.com/docs/methods/deals/get-all-deals (``hasMore``/``offset``,
  ``associations.associatedVids``/``associatedCompanyIds``)
- contacts: https://legacydocs.hubspot.com/docs/methods/lists/get_list_contacts
  (``has-more``/``vid-offset``, ``count`` at most 100, ``property``, ``propertyMode``)
- properties: https://developers.hubspot.com/docs/methods/contacts/contact-properties-overview
- pipelines: https://legacydocs.hubspot.com/docs/methods/deal-pipelines/overview

The store keeps no history per property, so a value's ``timestamp`` is the
record's last modification (``createdate``'s is its creation) and its one
version is the current value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from abmsync.sandbox.hubspot.properties import PropertyDef
from abmsync.sandbox.hubspot.records import JSON, Record, to_ms
from abmsync.sandbox.hubspot.store import HubSpotStore

PORTAL_ID = 9_100_001  # the emulated portal's id (``portalId``, ``p{portalId}_`` names)
CALCULATED = frozenset({"hs_lastmodifieddate", "lastmodifieddate", "hs_object_id"})
# The legacy all-contacts example response carries these when no ``property`` is asked for.
CONTACT_V1_DEFAULTS = ("firstname", "lastmodifieddate", "company", "lastname")
# Probabilities of HubSpot's default deal stages, as the deal pipelines overview lists them.
STAGE_PROBABILITY = {
    "appointmentscheduled": 0.2,
    "qualifiedtobuy": 0.4,
    "presentationscheduled": 0.6,
    "decisionmakerboughtin": 0.8,
    "contractsent": 0.9,
    "closedwon": 1.0,
    "closedlost": 0.0,
}

Value = tuple[str, int, str]  # (value, timestamp in ms, source)


def legacy_value(prop: PropertyDef | None, text: str) -> str:
    """A stored value as the legacy APIs show it: dates and datetimes in epoch ms."""
    if prop is not None and prop.type in ("datetime", "date"):
        ms = to_ms(text)
        return text if ms is None else str(ms)
    return text


def property_values(
    store: HubSpotStore, obj: str, record: Record, names: Iterable[str] | None
) -> dict[str, Value]:
    """The record's set properties among ``names`` (all of them when None)."""
    props = store.props[obj]
    chosen = list(props) if names is None else [n for n in names if n in props]
    found: dict[str, Value] = {}
    for name in chosen:
        raw = store.value(record, name)
        if raw is None:
            continue
        stamp = record.created_ms if name == "createdate" else record.updated_ms
        source = "CALCULATED" if name in CALCULATED else "API"
        found[name] = (legacy_value(props[name], raw), stamp, source)
    return found


def versioned(name: str, value: Value) -> JSON:
    """One property of a v2 company or v1 deal, with its (single) version."""
    text, stamp, source = value
    version = {"name": name, "value": text, "timestamp": stamp, "source": source, "sourceVid": []}
    return {
        "value": text,
        "timestamp": stamp,
        "source": source,
        "sourceId": None,
        "versions": [version],
    }


def company_v2(
    store: HubSpotStore, record: Record, names: Iterable[str] | None, *, detail: bool
) -> JSON:
    """A company as ``/companies/v2``: the paged list, or one company (``detail``)."""
    values = property_values(store, "companies", record, names)
    company: JSON = {
        "portalId": PORTAL_ID,
        "companyId": record.id,
        "isDeleted": record.archived_ms is not None,
        "properties": {name: versioned(name, v) for name, v in values.items()},
        "additionalDomains": [],
    }
    if detail:
        company["stateChanges"] = []
        company["mergeAudits"] = []
    return company


def deal_v1(
    store: HubSpotStore, record: Record, names: Iterable[str] | None, *, associations: bool
) -> JSON:
    """A deal as ``/deals/v1``; ``associations`` adds the linked contact and company ids."""
    values = property_values(store, "deals", record, names)
    deal: JSON = {
        "portalId": PORTAL_ID,
        "dealId": record.id,
        "isDeleted": record.archived_ms is not None,
        "properties": {name: versioned(name, v) for name, v in values.items()},
        "imports": [],
        "stateChanges": [],
    }
    if associations:
        deal["associations"] = {
            "associatedVids": _linked(store, "deals", record.id, "contacts"),
            "associatedCompanyIds": _linked(store, "deals", record.id, "companies"),
            "associatedDealIds": [],
            "associatedTicketIds": [],
        }
    return deal


def _linked(store: HubSpotStore, obj: str, record_id: int, to_obj: str) -> list[int]:
    return [int(link["toObjectId"]) for link in store.associations_of(obj, str(record_id), to_obj)]


def contact_v1(
    store: HubSpotStore,
    record: Record,
    names: Iterable[str] | None,
    *,
    history: bool,
    memberships: bool,
) -> JSON:
    """A contact as ``/contacts/v1``: ``{"value"}`` per property (and ``versions`` with
    ``propertyMode=value_and_history``), identities, and list memberships on request."""
    values = property_values(store, "contacts", record, names or CONTACT_V1_DEFAULTS)
    properties: JSON = {}
    for name, value in values.items():
        item: JSON = {"value": value[0]}
        if history:
            item["versions"] = versioned(name, value)["versions"]
        properties[name] = item
    identities: list[JSON] = []
    email = record.properties.get("email")
    if email:
        identities.append(
            {"type": "EMAIL", "value": email, "timestamp": record.created_ms, "is-primary": True}
        )
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"hubspot-sandbox:{PORTAL_ID}:{record.id}")
    identities.append({"type": "LEAD_GUID", "value": str(guid), "timestamp": record.created_ms})
    contact: JSON = {
        "addedAt": record.created_ms,
        "vid": record.id,
        "canonical-vid": record.id,
        "merged-vids": [],
        "portal-id": PORTAL_ID,
        "is-contact": True,
        "properties": properties,
        "form-submissions": [],
        "identity-profiles": [
            {
                "vid": record.id,
                "saved-at-timestamp": record.updated_ms,
                "deleted-changed-timestamp": 0,
                "identities": identities,
            }
        ],
        "merge-audits": [],
    }
    if memberships:
        contact["list-memberships"] = []
    return contact


def property_v1(prop: PropertyDef) -> JSON:
    """A property definition as ``/properties/v1`` and ``/companies/v2/properties`` show it."""
    return {
        "name": prop.name,
        "label": prop.label,
        "description": prop.description,
        "groupName": prop.group_name,
        "type": prop.type,
        "fieldType": prop.field_type,
        "options": [
            {**option, "description": "", "readOnly": False, "doubleData": None}
            for option in prop.options
        ],
        "displayOrder": prop.display_order,
        "formField": not prop.read_only,
        "readOnlyValue": prop.read_only,
        "readOnlyDefinition": prop.hubspot_defined,
        "hidden": False,
        "mutableDefinitionNotDeletable": prop.hubspot_defined,
        "favorited": False,
        "favoritedOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "displayMode": "current_value",
        "deleted": False,
        "hubspotDefined": prop.hubspot_defined,
        "createdAt": prop.created_ms,
        "updatedAt": prop.created_ms,
        "createdUserId": None,
        "updatedUserId": None,
    }


def pipelines_v1(store: HubSpotStore) -> list[JSON]:
    """``/deals/v1/pipelines``: the default pipeline, one stage per ``dealstage`` option."""
    stage_prop = store.props["deals"].get("dealstage")
    options = stage_prop.options if stage_prop is not None else []
    stages = [
        {
            "stageId": str(option["value"]),
            "label": str(option["label"]),
            "probability": STAGE_PROBABILITY.get(str(option["value"]), 0.5),
            "active": not option.get("hidden", False),
            "displayOrder": int(option.get("displayOrder", i)),
            "closedWon": option["value"] == "closedwon",
        }
        for i, option in enumerate(options)
    ]
    return [
        {
            "pipelineId": "default",
            "stages": stages,
            "label": "Sales Pipeline",
            "active": True,
            "displayOrder": 0,
            "staticDefault": True,
        }
    ]
