"""The shared model every connector maps into and every rule reads from.

Pydantic models describe one record at the edges (connectors, the store, the
CLI); the scoring core works on polars frames whose columns are the same
fields, declared once here in ``*_COLUMNS``. Nothing in this module is
specific to one CRM or marketing platform: vendor objects are mapped onto it
by ``abmsync.connectors.mapping``.

All timestamps are timezone-aware UTC. Emails are normalized (trimmed,
lower-cased) before they are stored, so one person seen in two systems has
one identity key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from abmsync.errors import ConfigError


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalize_email(value: str | None) -> str | None:
    """Trim and lower-case an email address; blank becomes ``None``."""
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None


UtcDatetime = Annotated[datetime, AfterValidator(utc)]
Email = Annotated[str | None, AfterValidator(normalize_email)]


class Tier(StrEnum):
    """Account-based marketing programme an account belongs to."""

    STRATEGIC = "strategic"  # 1:1
    LITE = "lite"  # 1:few
    PROGRAMMATIC = "programmatic"  # 1:many
    NONE = "none"


class BuyingRole(StrEnum):
    """Roles in a buying centre; one person can hold several."""

    DECIDER = "decider"
    BUYER = "buyer"
    INFLUENCER = "influencer"
    USER = "user"
    GATEKEEPER = "gatekeeper"


class PersonKind(StrEnum):
    LEAD = "lead"
    CONTACT = "contact"


class TouchpointType(StrEnum):
    """The interaction types abmsync knows by name; connectors may emit others."""

    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    FORM_SUBMIT = "form_submit"
    PAGE_VIEW = "page_view"
    WEBINAR = "webinar"
    DOWNLOAD = "download"
    EVENT = "event"
    MEETING = "meeting"
    CALL = "call"
    UNSUBSCRIBE = "unsubscribe"
    EMAIL_BOUNCE = "email_bounce"
    EMAIL_SEND = "email_send"
    WEB_VISIT = "web_visit"
    SUBSCRIBE = "subscribe"


class SourceRef(BaseModel):
    """Where a record came from: one cross-reference per system that holds it."""

    model_config = ConfigDict(frozen=True)

    system: str = Field(description="connector name, e.g. 'salesforce' or 'hubspot'")
    object: str = Field(description="vendor object, e.g. 'Lead' or 'contacts'")
    id: str = Field(description="the vendor's record id")


class Record(BaseModel):
    """Base of every shared record: an id, its source refs and free custom fields."""

    model_config = ConfigDict(extra="forbid")

    id: str
    sources: list[SourceRef] = Field(default_factory=list)
    custom: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class Account(Record):
    name: str | None = None
    domains: list[str] = Field(default_factory=list, description="web domains, lower-case")
    industry: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None
    country: str | None = None
    owner_id: str | None = None
    tier: Tier = Tier.NONE


class Person(Record):
    """A lead or a contact."""

    kind: PersonKind = PersonKind.LEAD
    email: Email = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    persona: str | None = None
    buying_roles: list[BuyingRole] = Field(default_factory=list)
    company: str | None = None
    account_id: str | None = None
    owner_id: str | None = None
    country: str | None = None
    state: str | None = Field(default=None, description="state or region, e.g. CA")
    postal_code: str | None = None
    lead_source: str | None = None
    consent: bool | None = Field(default=None, description="explicit marketing opt-in")
    unsubscribed: bool = False
    stage: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class Touchpoint(Record):
    """One marketing or sales interaction; ``id`` is stable so writes are idempotent."""

    person_id: str | None = None
    account_id: str | None = None
    type: str
    occurred_at: UtcDatetime
    campaign: str | None = None
    url: str | None = None
    source_system: str | None = None


class Opportunity(Record):
    account_id: str | None = None
    name: str | None = None
    amount: float | None = None
    stage: str | None = None
    is_closed: bool = False
    is_won: bool = False
    created_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    primary_person_id: str | None = None
    campaign: str | None = None


class Campaign(Record):
    name: str
    type: str | None = None
    started_at: UtcDatetime | None = None


class Owner(Record):
    """A CRM user or queue member who can be assigned people."""

    name: str | None = None
    email: Email = None
    queue: str | None = None
    max_open: int | None = None
    available: bool = True


class Reason(BaseModel):
    """One rule that contributed to a score."""

    model_config = ConfigDict(frozen=True)

    rule: str
    kind: str = Field(description="'fit' or 'engagement'")
    points: float
    count: int = Field(default=1, description="touchpoints that matched (engagement)")
    age_days: float | None = Field(default=None, description="age of the newest match")


class Score(BaseModel):
    person_id: str
    fit: float
    engagement: float
    total: float
    grade: str
    band: int
    priority: str
    reasons: list[Reason]
    scored_at: UtcDatetime
    rules_version: str


class StageChange(BaseModel):
    person_id: str
    from_stage: str | None
    to_stage: str
    rule: str
    reason: str | None = None
    changed_at: UtcDatetime
    rules_version: str


class Assignment(BaseModel):
    person_id: str
    owner_id: str
    rule: str
    reason: str
    assigned_at: UtcDatetime
    rules_version: str


class SlaEvent(BaseModel):
    person_id: str
    stage: str
    kind: str = Field(description="'started', 'met' or 'breached'")
    due_at: UtcDatetime
    occurred_at: UtcDatetime
    action: str | None = None
    owner_id: str | None = None


# Frame schemas: the columns the scoring core reads. Extra columns are kept and
# may be referenced by rules (custom fields); missing optional ones are added
# as nulls by ``conform``.
TIMESTAMP = pl.Datetime("us", "UTC")

PEOPLE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "kind": pl.String(),
    "email": pl.String(),
    "first_name": pl.String(),
    "last_name": pl.String(),
    "title": pl.String(),
    "seniority": pl.String(),
    "persona": pl.String(),
    "company": pl.String(),
    "account_id": pl.String(),
    "owner_id": pl.String(),
    "country": pl.String(),
    "state": pl.String(),
    "postal_code": pl.String(),
    "lead_source": pl.String(),
    "consent": pl.Boolean(),
    "unsubscribed": pl.Boolean(),
    "stage": pl.String(),
    "created_at": TIMESTAMP,
}

ACCOUNT_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "name": pl.String(),
    "domain": pl.String(),
    "industry": pl.String(),
    "employees": pl.Int64(),
    "annual_revenue": pl.Float64(),
    "country": pl.String(),
    "owner_id": pl.String(),
}

TOUCHPOINT_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "person_id": pl.String(),
    "account_id": pl.String(),
    "type": pl.String(),
    "occurred_at": TIMESTAMP,
    "campaign": pl.String(),
    "url": pl.String(),
    "source_system": pl.String(),
}

OPPORTUNITY_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "account_id": pl.String(),
    "name": pl.String(),
    "amount": pl.Float64(),
    "stage": pl.String(),
    "is_closed": pl.Boolean(),
    "is_won": pl.Boolean(),
    "created_at": TIMESTAMP,
    "closed_at": TIMESTAMP,
    "primary_person_id": pl.String(),
    "campaign": pl.String(),
}

# The people an opportunity names and what they do in the deal (Salesforce
# OpportunityContactRole: Role, IsPrimary); ``person_id`` is the vendor's person id.
OPPORTUNITY_ROLE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "opportunity_id": pl.String(),
    "person_id": pl.String(),
    "role": pl.String(),
    "is_primary": pl.Boolean(),
}

FRAME_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "people": PEOPLE_COLUMNS,
    "accounts": ACCOUNT_COLUMNS,
    "touchpoints": TOUCHPOINT_COLUMNS,
    "opportunities": OPPORTUNITY_COLUMNS,
    "opportunity_roles": OPPORTUNITY_ROLE_COLUMNS,
}


class SchemaError(ConfigError, ValueError):
    """A frame lacks a required column or holds one of the wrong type (the input is wrong)."""


REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "people": ("id",),
    "accounts": ("id",),
    "touchpoints": ("person_id", "type", "occurred_at"),
    "opportunities": ("id",),
    "opportunity_roles": ("id", "opportunity_id", "person_id"),
}


def conform(frame: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Cast known columns of ``frame`` to the shared schema and add missing ones as nulls.

    Columns the schema does not know are kept as they are: they are custom
    fields that rules may reference. Raises ``SchemaError`` naming the column
    when a required one is absent or a value cannot be cast.
    """
    columns = FRAME_COLUMNS[entity]
    missing = [c for c in REQUIRED_COLUMNS[entity] if c not in frame.columns]
    if missing:
        raise SchemaError(f"{entity}: missing required column(s) {', '.join(missing)}")
    casts: list[pl.Expr] = []
    for name, dtype in columns.items():
        if name not in frame.columns:
            casts.append(pl.lit(None, dtype=dtype).alias(name))
        elif frame.schema[name] != dtype:
            casts.append(cast_column(frame.schema[name], name, dtype))
    try:
        frame = frame.with_columns(casts) if casts else frame
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(f"{entity}: {_first_line(str(exc))}") from exc
    if "email" in columns:
        # One identity key per person across systems: trimmed, lower-case, blank as null.
        email = pl.col("email").str.strip_chars().str.to_lowercase()
        frame = frame.with_columns(pl.when(email != "").then(email).alias("email"))
    return frame


def cast_column(
    current: pl.DataType, name: str, dtype: pl.DataType, *, strict: bool = True
) -> pl.Expr:
    """An expression casting column ``name`` from ``current`` to ``dtype``.

    Text timestamps are parsed as UTC, naive ones taken as UTC; text booleans
    accept true/false, yes/no, 1/0 (anything else is null).
    """
    column = pl.col(name)
    if dtype == TIMESTAMP:
        if current == pl.String():
            return column.str.to_datetime(time_zone="UTC", time_unit="us").alias(name)
        if isinstance(current, pl.Datetime) and current.time_zone is None:
            return column.dt.replace_time_zone("UTC").cast(dtype).alias(name)
        if isinstance(current, pl.Datetime):
            return column.dt.convert_time_zone("UTC").cast(dtype).alias(name)
    if dtype == pl.Boolean() and current == pl.String():
        lowered = column.str.strip_chars().str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "t", "yes", "y", "1"]))
            .then(True)
            .when(lowered.is_in(["false", "f", "no", "n", "0"]))
            .then(False)
            .otherwise(None)
            .alias(name)
        )
    return column.cast(dtype, strict=strict).alias(name)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def model_fields_of(entity: str) -> list[str]:
    """Column names of ``entity`` in declaration order (for docs and validation)."""
    return list(FRAME_COLUMNS[entity])


def as_row(model: BaseModel) -> dict[str, Any]:
    """A model as a flat row for a frame (sources and custom fields flattened)."""
    row = model.model_dump(exclude={"sources", "custom"})
    custom = getattr(model, "custom", {})
    row.update(custom)
    return row
