"""Relationship fields: a mapping reads a parent record's field, e.g. ``Campaign.Name``.

SOQL reads a field of the record a lookup points to through the lookup's
relationship name (``SELECT Campaign.Name FROM CampaignMember``; "Understanding
Relationship Names", SOQL and SOSL Reference), at most five steps away.
The REST ``query`` resource answers a nested record per step
(``"Campaign": {"attributes": {...}, "Name": "Q4 Webinar"}``, ``null`` when
the lookup is empty); a Bulk API 2.0 query job answers a ``Campaign.Name``
CSV column. Both become one frame column named by the path.

A path is checked against ``describe`` before it is queried, so a typo is one
clear line instead of a ``400 INVALID_FIELD`` mid-run: each step must be the
relationship name of a reference field of the object before it, and the last
name a field of the last parent. A polymorphic lookup (``Who``, ``What``,
``Owner``) is followed to the first object it may point to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from abmsync.connectors.base import FieldMeta, ObjectMeta
from abmsync.connectors.transforms import did_you_mean
from abmsync.errors import ConfigError

MAX_STEPS = 5  # relationships one SOQL field path may cross


def is_related(name: str) -> bool:
    """Whether ``name`` is a relationship path (``Campaign.Name``) rather than a field."""
    return "." in name


def related_field(describe: Callable[[str], ObjectMeta], obj: str, path: str) -> FieldMeta:
    """The parent's field ``path`` ends on, found through ``describe``; ``ConfigError`` if none.

    ``describe(name)`` returns an object's metadata (the connector's cached describe).
    """
    *steps, last = path.split(".")
    if not steps or not last or not all(steps):
        raise ConfigError(f"Salesforce field path {path!r} is not Relationship.Field")
    if len(steps) > MAX_STEPS:
        raise ConfigError(
            f"Salesforce field path {path!r} crosses {len(steps)} relationships; "
            f"SOQL allows {MAX_STEPS}"
        )
    meta = describe(obj)
    for step in steps:
        lookups = {f.relationship: f for f in meta.fields.values() if f.relationship}
        lookup = lookups.get(step)
        if lookup is None or lookup.reference_to is None:
            raise ConfigError(
                f"Salesforce field path {path!r}: {meta.name} has no relationship "
                f"{step!r}{did_you_mean(step, lookups)}"
            )
        meta = describe(lookup.reference_to)
    field = meta.fields.get(last)
    if field is None:
        raise ConfigError(
            f"Salesforce field path {path!r}: {meta.name} has no field "
            f"{last!r}{did_you_mean(last, meta.fields)}"
        )
    return field


def path_value(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` of a REST query record (nested parents); None past an empty lookup."""
    value: Any = record
    for name in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value
