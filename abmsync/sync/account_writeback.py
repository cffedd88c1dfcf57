"""The account brief written to the CRM's account records (Salesforce Account, HubSpot companies).

An object of the ``writeback:`` section is an *account target* when a mapping
reads it as accounts (``entity: accounts``); its keys are account keys
(:data:`abmsync.rules.model.ACCOUNT_WRITEBACK_COLUMNS`). Every account record
of that object gets the brief of its company (:mod:`abmsync.accounts.brief`),
planned by the same planner as person fields
(:func:`abmsync.sync.writeback.plan_owned`): only changed values are written
(the MQA checkbox compares as a boolean, the last touch as a date), a hand
edit is settled by the policy, a rejected record becomes a dead letter when
the plan is sent (:func:`abmsync.sync.writeback.send_plan`).
Long texts (the buying committee, recent touchpoints) are bounded to the
field's length line by line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from abmsync.accounts.brief import account_briefs, bounded_text
from abmsync.accounts.links import canonical_accounts
from abmsync.connectors.base import ObjectMeta
from abmsync.errors import ConfigError
from abmsync.rules.compiled import CompiledRules
from abmsync.rules.model import (
    ACCOUNT_KEYS,
    ACCOUNT_WRITEBACK_COLUMNS,
    WRITEBACK_COLUMNS,
    WriteBack,
)
from abmsync.rules.scoring import ScoreResult
from abmsync.sync.sources import Source
from abmsync.sync.store import Store
from abmsync.sync.writeback import ObjectPlan, field_length, plan_owned

NUMERIC_KEYS = frozenset({"account_score", "account_fit", "account_engagement"})
LINE_KEYS = {"buying_committee": "committee", "recent_touchpoints": "touches"}
RECORD_COLUMNS: dict[str, pl.DataType] = {
    "system": pl.String(),
    "object": pl.String(),
    "id": pl.String(),
}


@dataclass(frozen=True)
class AccountBriefs:
    """The briefs of one pass and the account records they go to."""

    briefs: pl.DataFrame  # abmsync.accounts.brief.BRIEF_COLUMNS
    links: pl.DataFrame  # account_id -> canonical_id
    records: pl.DataFrame  # RECORD_COLUMNS: every account record read, by system and object


def account_records(store: Store, sources: Sequence[Source]) -> pl.DataFrame:
    """The account records the snapshot holds, with the system and object they were read from."""
    frames = [
        source.load(store).select(
            pl.lit(source.system).alias("system"),
            pl.lit(source.obj).alias("object"),
            pl.col("id").cast(pl.String),
        )
        for source in sources
        if source.entity == "accounts"
    ]
    if not frames:
        return pl.DataFrame(schema=RECORD_COLUMNS)
    return pl.concat(frames, how="vertical").cast(RECORD_COLUMNS)  # type: ignore[arg-type]


def brief_accounts(
    rules: CompiledRules,
    result: ScoreResult,
    touchpoints: pl.DataFrame,
    records: pl.DataFrame,
    *,
    recent_days: int = 90,
) -> AccountBriefs:
    """Every company's brief as of ``rules.as_of``, from one scoring result."""
    links = canonical_accounts(result.accounts, records)
    briefs = account_briefs(
        rules, result.people, result.accounts, touchpoints, links, recent_days=recent_days
    )
    return AccountBriefs(briefs=briefs, links=links, records=records)


def is_account_target(sources: Sequence[Source], system: str, obj: str) -> bool:
    """Whether a mapping reads ``system``/``obj`` as accounts."""
    return any(s.system == system and s.obj == obj and s.entity == "accounts" for s in sources)


def check_keys(system: str, obj: str, keys: dict[str, str], *, accounts: bool) -> None:
    """Refuse account keys on a person object and person keys on an account object."""
    wrong = sorted(set(keys) - ACCOUNT_KEYS) if accounts else sorted(set(keys) & _ACCOUNT_ONLY)
    if wrong:
        kind = "account" if accounts else "person (lead, contact)"
        raise ConfigError(
            f"writeback: {system}.{obj} is a {kind} object; {wrong[0]!r} cannot be written there"
        )


def plan_account_object(
    store: Store,
    system: str,
    obj: str,
    keys: dict[str, str],
    meta: ObjectMeta,
    briefs: AccountBriefs,
    writeback: WriteBack,
) -> ObjectPlan:
    """Plan the owned brief fields ``keys`` (key -> vendor field) on ``system``/``obj``."""
    check_keys(system, obj, keys, accounts=True)
    records = briefs.records.filter(
        (pl.col("system") == system) & (pl.col("object") == obj)
    ).select(pl.col("id").alias("record_id"))
    desired = (
        records.join(briefs.links, left_on="record_id", right_on="account_id", how="inner")
        .join(briefs.briefs, left_on="canonical_id", right_on="account_id", how="inner")
        .with_columns(pl.col("coverage_percent").round(0))
    )
    columns = {key: ACCOUNT_WRITEBACK_COLUMNS[key] for key in keys}
    for key in keys.keys() & LINE_KEYS.keys():
        # Lines are dropped whole, not cut mid-line, to fit the field.
        length = field_length(meta, keys[key])
        columns[key] = f"__{key}"
        lines = desired[LINE_KEYS[key]].to_list()
        desired = desired.with_columns(
            pl.Series(columns[key], [bounded_text(x, length) for x in lines], dtype=pl.String())
        )
    return plan_owned(
        store, system, obj, keys, desired, columns, meta, writeback, rounded=NUMERIC_KEYS
    )


_ACCOUNT_ONLY = ACCOUNT_KEYS - set(WRITEBACK_COLUMNS)
