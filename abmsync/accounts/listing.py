"""The accounts as ``abmsync accounts`` lists them: one row per company, best first.

Reads what the report reads (:func:`abmsync.report.inputs.load_inputs`: the
state database's snapshot, scored as of the last run, with the same briefs a
sync writes to the CRM, :func:`abmsync.sync.account_writeback.brief_accounts`),
so the table, the report's ABM section and the CRM fields agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from abmsync.report.inputs import load_inputs
from abmsync.rules.loader import LoadedRules
from abmsync.sync.store import Store


class AccountRow(BaseModel):
    """One company's brief as the table shows it."""

    id: str
    name: str | None
    tier: str
    account_score: float
    mqa: bool
    people: int
    engaged_people: int
    engaged_roles: list[str]
    expected_roles: int
    coverage: float  # engaged roles over expected roles, 0..1
    last_touch: date | None


def list_accounts(
    store: Store,
    rules: LoadedRules,
    mappings: Sequence[Path],
    *,
    tier: str | None = None,
    mqa_only: bool = False,
) -> list[AccountRow]:
    """Every company's brief as of the last run, by account score (highest first).

    ``tier`` keeps that tier only; ``mqa_only`` keeps marketing-qualified accounts.
    """
    briefs = load_inputs(store, rules, mappings).companies
    if tier is not None:
        briefs = briefs.filter(pl.col("tier") == tier)
    if mqa_only:
        briefs = briefs.filter(pl.col("mqa"))
    ordered = briefs.sort(["account_score", "name", "account_id"], descending=[True, False, False])
    return [
        AccountRow(
            id=row["account_id"],
            name=row["name"],
            tier=row["tier"],
            account_score=round(float(row["account_score"]), 1),
            mqa=bool(row["mqa"]),
            people=int(row["people"]),
            engaged_people=int(row["engaged_people"]),
            engaged_roles=list(row["engaged_role_names"]),
            expected_roles=int(row["expected_roles"]),
            coverage=round(float(row["coverage"]), 4),
            last_touch=row["last_touch"],
        )
        for row in ordered.iter_rows(named=True)
    ]
