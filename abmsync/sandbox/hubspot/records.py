"""Records of the HubSpot emulator and their property values, kept as HubSpot keeps them.

Every property value is a string; ``createdate``, ``lastmodifieddate``,
``hs_lastmodifieddate`` and ``hs_object_id`` are derived from the record's own
clock fields rather than stored. Emails are stored in lower case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

JSON = dict[str, Any]

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "notes": "0-46"}


@dataclass
class Record:
    """One CRM object; ``properties`` holds only values set by writes."""

    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot renders them: ``2024-05-21T10:15:30.123Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO datetime or an ISO date; None if neither."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def property_value(record: Record, name: str) -> str | None:
    """One property value as HubSpot returns it (system fields derived)."""
    if name == "createdate":
        return iso(record.created_ms)
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return iso(record.updated_ms)
    if name == "hs_object_id":
        return str(record.id)
    return record.properties.get(name)


def as_text(raw: Any) -> str:
    """A written JSON value as the string HubSpot stores (booleans as ``true``/``false``)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def normalize(name: str, value: str) -> str:
    """HubSpot stores emails in lower case, so upserts by email ignore case."""
    return value.strip().lower() if name == "email" else value


def apply_values(record: Record, values: Mapping[str, str]) -> None:
    """Write checked values into ``record``; an empty string clears a property."""
    for name, value in values.items():
        if value == "":
            record.properties.pop(name, None)
        else:
            record.properties[name] = value
