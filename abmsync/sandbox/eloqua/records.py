"""The records the emulated site keeps: contacts and accounts, activities, custom
objects and their instances, lead scoring models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Record:
    """A contact or an account."""

    id: int
    values: dict[str, Any]
    account_id: int | None = None  # contacts: the linked account (Contact.Account)
    subscribed: bool = True
    bounced: bool = False


@dataclass
class Activity:
    """One activity, keyed by its documented column names (ActivityId, ActivityDate...)."""

    id: int
    type: str
    values: dict[str, Any]


@dataclass
class CustomObjectField:
    """One field of a custom object; Bulk statement ``{{CustomObject[p].Field[id]}}``."""

    id: int
    name: str
    internal_name: str
    data_type: str  # REST data type: text | largeText | numeric | date
    display_type: str = "text"

    @property
    def bulk_type(self) -> str:
        """The Bulk API's data type."""
        return {"numeric": "number", "date": "date"}.get(self.data_type, "string")


@dataclass
class Instance:
    """One custom object record (a "data card")."""

    id: int
    values: dict[int, Any]  # field id -> value
    contact_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass
class CustomObject:
    """A custom object definition and its instances."""

    id: int
    name: str
    fields: dict[int, CustomObjectField]
    created_at: datetime
    instances: dict[int, Instance] = field(default_factory=dict)

    def field_named(self, name: str) -> CustomObjectField | None:
        """The field with this internal name (or display name), any case."""
        for candidate in self.fields.values():
            if name.lower() in (candidate.internal_name.lower(), candidate.name.lower()):
                return candidate
        return None


@dataclass
class ScoringModel:
    """A lead scoring model; its scores are read-only contact data."""

    id: int
    name: str
    status: str
    created_at: datetime
