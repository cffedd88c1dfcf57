"""Touchpoint history as CRM records, so sales sees what a person did where they work.

Each system that keeps history (``writeback: <system>: touchpoints:``) gets the
touchpoints it does not hold itself: Salesforce gets the marketing platform's
form fills and email clicks as ``ABM_Touchpoint__c`` records on the lead or
contact, Dynamics 365 the same as rows of an ``abm_touchpoint`` table; HubSpot
gets the CRM's meetings and campaign responses as notes on the contact, and
Eloqua the same as records of a custom object linked to the contact. Every
record carries abmsync's touchpoint key in a unique field and is *upserted* by
it, so a re-run, a retry after a lost answer or a crash half way never creates
a duplicate. Records abmsync wrote are never read
back as touchpoints of their own (see :func:`echo_field`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType
from abmsync.errors import ConfigError
from abmsync.settings import SYSTEMS
from abmsync.sync.plan import truncate
from abmsync.sync.touchpoint_names import touchpoint_description, touchpoint_title

# The touchpoint object's fields in the CRMs (besides the key field named in the rules):
# Salesforce's custom object and Dataverse's custom table, under each one's names.
# role -> (Salesforce field, Dataverse column)
CRM_NAMES = {
    "name": ("Name", "abm_name"),
    "type": ("ABM_Type__c", "abm_type"),
    "occurred_at": ("ABM_Occurred_At__c", "abm_occurredat"),
    "source": ("ABM_Source__c", "abm_source"),
    "detail": ("ABM_Detail__c", "abm_detail"),
    "description": ("ABM_Description__c", "abm_description"),
    "lead": ("ABM_Lead__c", "abm_lead"),
    "contact": ("ABM_Contact__c", "abm_contact"),
}
CRM_SYSTEMS = ("salesforce", "dynamics")
PERSON_OBJECTS = {"salesforce": ("Lead", "Contact"), "dynamics": ("lead", "contact")}
# Eloqua's touchpoint custom object: its fields by role; ``contact`` is the record's
# linked contact (a custom object record belongs to one contact, not a lookup field).
ELOQUA_NAMES = {
    "type": "ABM_Type1",
    "occurred_at": "ABM_Occurred_At1",
    "source": "ABM_Source1",
    "detail": "ABM_Detail1",
    "contact": "ContactId",
}


def _crm_fields(system: str) -> list[FieldMeta]:
    """The fields a CRM's touchpoint object needs (the name field exists with the object)."""
    at = CRM_SYSTEMS.index(system)
    lead, contact = PERSON_OBJECTS[system]

    def name(role: str) -> str:
        return CRM_NAMES[role][at]

    return [
        FieldMeta(name=name("type"), label="Type", type=FieldType.STRING, length=40),
        FieldMeta(name=name("occurred_at"), label="Occurred at", type=FieldType.DATETIME),
        FieldMeta(name=name("source"), label="Source", type=FieldType.STRING, length=40),
        FieldMeta(name=name("detail"), label="Detail", type=FieldType.STRING, length=255),
        FieldMeta(name=name("description"), label="Description", type=FieldType.TEXT, length=2000),
        FieldMeta(name=name("lead"), label="Lead", type=FieldType.REFERENCE, reference_to=lead),
        FieldMeta(
            name=name("contact"), label="Contact", type=FieldType.REFERENCE, reference_to=contact
        ),
    ]


def _eloqua_fields() -> list[FieldMeta]:
    """The fields Eloqua's touchpoint custom object needs besides its key."""
    names = ELOQUA_NAMES
    return [
        FieldMeta(name=names["type"], label="Type", type=FieldType.STRING, length=40),
        FieldMeta(name=names["occurred_at"], label="Occurred at", type=FieldType.DATETIME),
        FieldMeta(name=names["source"], label="Source", type=FieldType.STRING, length=40),
        FieldMeta(name=names["detail"], label="Detail", type=FieldType.STRING, length=100),
    ]


def touchpoint_spec(system: str, obj: str, key_field: str) -> FieldSpec:
    """The fields ``system`` needs on ``obj`` to hold touchpoint history."""
    key = FieldMeta(
        name=key_field,
        label="abmsync touchpoint key",
        type=FieldType.STRING,
        length=80,
        external_id=True,
    )
    if system in CRM_SYSTEMS:
        return FieldSpec(obj=obj, fields=[key, *_crm_fields(system)])
    if system == "hubspot":
        return FieldSpec(obj=obj, fields=[key])
    if system == "eloqua":
        return FieldSpec(obj=obj, fields=[key, *_eloqua_fields()])
    raise ConfigError(
        f"writeback: {system} cannot hold touchpoint history yet (use one of {', '.join(SYSTEMS)})"
    )


def echo_field(system: str, obj: str, targets: dict[str, tuple[str, str]]) -> str | None:
    """The key field that marks ``system``/``obj`` records abmsync wrote itself, if any.

    ``targets`` maps each system to its (touchpoint object, key field).
    """
    target = targets.get(system)
    return target[1] if target is not None and target[0] == obj else None


@dataclass(frozen=True)
class TouchpointPlan:
    """Touchpoint records one system should hold: vendor values keyed by touchpoint key."""

    values: pl.DataFrame  # record_id (the key), one column per vendor field
    links: pl.DataFrame  # record_id (the key), object, vendor_id: the person record to link to


def desired_touchpoints(
    system: str,
    touchpoints: pl.DataFrame,
    records: pl.DataFrame,
    *,
    as_of: datetime,
    days: int,
    exclude: Sequence[str] = (),
) -> TouchpointPlan:
    """What ``system`` should hold: other systems' recent touchpoints of people it knows.

    ``touchpoints`` has person_id (abmsync's), id, type, occurred_at,
    source_system, source_object and optionally url, campaign; ``records``
    has person_id, object, vendor_id, kind: the live person records of
    ``system`` (a contact is preferred to a lead of the same person).
    Touchpoints of the types in ``exclude`` are left out.
    """
    since = as_of - timedelta(days=days)
    target = (
        records.sort(
            pl.col("kind") == "contact", "object", "vendor_id", descending=[True, False, False]
        )
        .unique("person_id", keep="first", maintain_order=True)
        .select("person_id", "object", "vendor_id")
    )
    detail = [c for c in ("url", "campaign", "subject") if c in touchpoints.columns]
    columns = touchpoints.columns
    wanted = (
        touchpoints.filter(
            (pl.col("source_system") != system)
            & (pl.col("occurred_at") >= since)
            & (pl.col("occurred_at") <= as_of)
            & ~pl.col("type").is_in(list(exclude))
        )
        .join(target, on="person_id", how="inner")
        .with_columns(
            pl.concat_str(
                ["source_system", "source_object", pl.col("id").cast(pl.String)], separator=":"
            ).alias("record_id"),
            (pl.coalesce([pl.col(c).cast(pl.String) for c in detail]) if detail else pl.lit(None))
            .cast(pl.String)
            .alias("__detail"),
            touchpoint_title(columns).alias("__title"),
            touchpoint_description(columns).alias("__description"),
        )
        .unique("record_id", keep="first")
        .sort("record_id")
    )
    stamp = pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if system in CRM_SYSTEMS:
        at = CRM_SYSTEMS.index(system)
        lead, contact = PERSON_OBJECTS[system]

        def name(role: str) -> str:
            return CRM_NAMES[role][at]

        values = wanted.select(
            "record_id",
            truncate(pl.col("__title"), 80).alias(name("name")),
            pl.col("type").str.slice(0, 40).alias(name("type")),
            stamp.alias(name("occurred_at")),
            pl.col("source_system").alias(name("source")),
            truncate(pl.col("__detail"), 255).alias(name("detail")),
            truncate(pl.col("__description"), 2000).alias(name("description")),
            pl.when(pl.col("object") == lead).then(pl.col("vendor_id")).alias(name("lead")),
            pl.when(pl.col("object") == contact).then(pl.col("vendor_id")).alias(name("contact")),
        )
    elif system == "hubspot":
        body = pl.concat_str(
            [
                pl.col("__title"),
                pl.lit(" (from ") + pl.col("source_system") + pl.lit(")"),
                pl.when(pl.col("__description").is_not_null()).then(
                    pl.lit("\n") + pl.col("__description")
                ),
            ],
            ignore_nulls=True,
        )
        values = wanted.select("record_id", stamp.alias("hs_timestamp"), body.alias("hs_note_body"))
    elif system == "eloqua":
        names = ELOQUA_NAMES
        values = wanted.select(
            "record_id",
            pl.col("type").str.slice(0, 40).alias(names["type"]),
            stamp.alias(names["occurred_at"]),
            pl.col("source_system").alias(names["source"]),
            truncate(pl.col("__detail"), 100).alias(names["detail"]),
            pl.col("vendor_id").alias(names["contact"]),
        )
    else:
        raise ConfigError(f"writeback: {system} cannot hold touchpoint history yet")
    return TouchpointPlan(values, wanted.select("record_id", "object", "vendor_id"))
