"""Which fields each kind of condition may reference, and their types.

A fit rule sees the person and the account they belong to; an engagement
event sees one touchpoint; a tier rule sees an account; the MQA condition
sees the account with its roll-up (engagement, coverage); lifecycle and
routing conditions see the person with their current score. Custom fields
declared under ``fields:`` in the rules file are added to every person and
account scope.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from abmsync.rules.model import FieldType
from abmsync.schema import ACCOUNT_COLUMNS, PEOPLE_COLUMNS, TOUCHPOINT_COLUMNS

Scope = dict[str, FieldType]


def field_type(dtype: pl.DataType) -> FieldType:
    """The rules type of a polars column type."""
    if dtype == pl.Boolean():
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_numeric():
        return "number"
    if isinstance(dtype, pl.Datetime | pl.Date):
        return "datetime"
    return "text"


def _scope(columns: Mapping[str, pl.DataType]) -> Scope:
    return {name: field_type(dtype) for name, dtype in columns.items()}


# Account attributes a person inherits from their account (or carries
# themselves, e.g. a lead's own industry). ``account_*`` names avoid clashes.
INHERITED_FROM_ACCOUNT: Scope = {
    "industry": "text",
    "employees": "integer",
    "annual_revenue": "number",
    "account_name": "text",
    "account_domain": "text",
    "account_country": "text",
    "account_owner_id": "text",
    "account_tier": "text",
}

ACCOUNT: Scope = _scope(ACCOUNT_COLUMNS)
PERSON: Scope = {**_scope(PEOPLE_COLUMNS), **INHERITED_FROM_ACCOUNT}
TOUCHPOINT: Scope = {**_scope(TOUCHPOINT_COLUMNS), "age_days": "number"}

SCORE_FIELDS: Scope = {
    "fit": "number",
    "engagement": "number",
    "total": "number",
    "grade": "text",
    "band": "integer",
    "priority": "text",
    "mqa": "boolean",
}

ROLLUP_FIELDS: Scope = {
    "tier": "text",
    "account_fit": "number",
    "account_engagement": "number",
    "people": "integer",
    "engaged_people": "integer",
    "engaged_roles": "integer",
    "coverage": "number",
}

LIFECYCLE_FIELDS: Scope = {
    "previous_stage": "text",
    "days_in_stage": "number",
    "crm_status": "text",
    "crm_status_at": "datetime",  # when sales set crm_status, as the CRM recorded it
    "rejection_reason": "text",
    "open_opportunities": "integer",  # open opportunities at the person's account
    "won_opportunities": "integer",
    "opportunity_opened_at": "datetime",  # the newest open opportunity's creation
    "won_at": "datetime",  # the newest won opportunity's close
}


def person_scope(custom: Mapping[str, FieldType]) -> Scope:
    """Fields a fit rule or a buying-role rule may use."""
    return {**PERSON, **custom}


def touchpoint_scope() -> Scope:
    """Fields an engagement event's condition may use."""
    return dict(TOUCHPOINT)


def account_scope(custom: Mapping[str, FieldType]) -> Scope:
    """Fields an account tier or account fit rule may use."""
    return {**ACCOUNT, **custom}


def rollup_scope(custom: Mapping[str, FieldType]) -> Scope:
    """Fields the MQA condition may use: the account and its roll-up."""
    return {**ACCOUNT, **ROLLUP_FIELDS, **custom}


def lifecycle_scope(custom: Mapping[str, FieldType]) -> Scope:
    """Fields a lifecycle transition or routing rule may use."""
    return {**PERSON, **SCORE_FIELDS, **LIFECYCLE_FIELDS, **custom}
