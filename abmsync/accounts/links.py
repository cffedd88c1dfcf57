"""One company held in several systems: which account record speaks for it.

A company usually lives in the CRM (Salesforce Account) and in the marketing
platform (HubSpot company) under different ids. People are placed on one of
them (their CRM account, or the account their email domain matches), so the
other would look empty. :func:`canonical_accounts` links each account to the
account of the same company in the highest-ranked system (``SYSTEM_RANK``:
Salesforce, Dynamics, HubSpot, Eloqua): accounts of different systems sharing
a web domain are one company, and the highest-ranked system's account with
the lowest id speaks for it. Accounts of the *same* system are never linked
to each other (two Salesforce accounts with one website may be two
subsidiaries), and an account without a domain speaks for itself.
"""

from __future__ import annotations

import polars as pl

from abmsync.rules.domains import account_domains
from abmsync.sync.sources import SYSTEM_RANK

RANKS = {system: i for i, system in enumerate(SYSTEM_RANK)}
LINK_COLUMNS: dict[str, pl.DataType] = {"account_id": pl.String(), "canonical_id": pl.String()}


def canonical_accounts(accounts: pl.DataFrame, systems: pl.DataFrame | None) -> pl.DataFrame:
    """``account_id`` -> ``canonical_id`` for every account in ``accounts``.

    ``accounts`` has ``id`` and the domain columns :func:`account_domains`
    reads; ``systems`` has ``id`` and ``system`` (where each account was
    read). Without ``systems`` every account speaks for itself.
    """
    ids = accounts.select(pl.col("id").cast(pl.String).alias("account_id")).unique(
        maintain_order=True
    )
    if systems is None or systems.is_empty() or accounts.is_empty():
        return ids.with_columns(pl.col("account_id").alias("canonical_id")).cast(LINK_COLUMNS)  # type: ignore[arg-type]
    ranks = systems.select(
        pl.col("id").cast(pl.String).alias("account_id"),
        pl.col("system")
        .replace_strict(RANKS, default=len(SYSTEM_RANK), return_dtype=pl.Int64)
        .alias("rank"),
    ).unique("account_id", keep="first")
    domains = account_domains(accounts).join(ranks, on="account_id", how="inner")
    others = domains.select(
        "domain", pl.col("account_id").alias("other_id"), pl.col("rank").alias("other_rank")
    )
    best = (
        domains.join(others, on="domain", how="inner")
        .filter(pl.col("other_rank") < pl.col("rank"))
        .sort("other_rank", "other_id")
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("other_id").first().alias("canonical_id"))
    )
    return (
        ids.join(best, on="account_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("canonical_id", "account_id").alias("canonical_id"))
        .cast(LINK_COLUMNS)  # type: ignore[arg-type]
    )
