"""The contacts a generated opportunity names, as a sales rep records them in the CRM.

Salesforce keeps them as OpportunityContactRole records (``Role``,
``IsPrimary``); a deal's buying committee is the people at its account who
buy, decide or influence. :func:`contact_roles` derives them from a data set
the way reps fill them in: the opportunity's primary person (when a contact)
is the primary role, and the other contacts of its account with a buying role
follow, up to ``MAX_ROLES`` per opportunity, deciders first. Leads cannot hold
contact roles. Every third opportunity has none at all, as in orgs that do not
require them, so a report meets both cases.
"""

from __future__ import annotations

import polars as pl

from abmsync.sandbox.generate import Dataset

MAX_ROLES = 4
WITHOUT_ROLES_EVERY = 3  # opportunity number % this == 0: no contact roles recorded
# The data set's buying role -> OpportunityContactRole.Role (its standard values).
ROLE_NAMES = {
    "decider": "Decision Maker",
    "buyer": "Economic Buyer",
    "influencer": "Influencer",
    "user": "Business User",
    "gatekeeper": "Evaluator",
}
ROLE_COLUMNS: dict[str, pl.DataType] = {
    "opportunity_id": pl.String(),
    "person_id": pl.String(),
    "role": pl.String(),
    "is_primary": pl.Boolean(),
    "created_at": pl.Datetime("us", "UTC"),
}
_RANK = {name: rank for rank, name in enumerate(ROLE_NAMES)}


def contact_roles(data: Dataset) -> pl.DataFrame:
    """One row per (opportunity, contact) the CRM names (``ROLE_COLUMNS``; data-set ids).

    ``created_at`` is the opportunity's creation: reps add the roles as they open the deal.
    """
    number = pl.col("id").str.extract(r"(\d+)$").cast(pl.Int64, strict=False)
    deals = data.opportunities.filter(number % WITHOUT_ROLES_EVERY != 0).select(
        opportunity_id="id", account_id="account_id", primary="primary_person_id", at="created_at"
    )
    contacts = data.people.filter(pl.col("kind") == "contact").select(
        person_id="id", account_id="account_id", buying_role="true_buying_role"
    )
    named = (
        deals.join(contacts, on="account_id")
        .with_columns(is_primary=pl.col("person_id") == pl.col("primary"))
        .filter(
            pl.col("is_primary") | pl.col("buying_role").is_in(["decider", "buyer", "influencer"])
        )
        .with_columns(rank=pl.col("buying_role").replace_strict(_RANK, default=len(_RANK)))
        .sort(
            "opportunity_id",
            "is_primary",
            "rank",
            "person_id",
            descending=[False, True, False, False],
        )
        .group_by("opportunity_id", maintain_order=True)
        .head(MAX_ROLES)
    )
    return named.select(
        "opportunity_id",
        "person_id",
        role=pl.col("buying_role").replace_strict(ROLE_NAMES, default="Other"),
        is_primary="is_primary",
        created_at="at",
    ).cast(ROLE_COLUMNS)  # type: ignore[arg-type]
