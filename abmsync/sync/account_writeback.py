"""The account brief written to the CRM's account records (Salesforce Account, HubSpot companies).

An object of the ``writeback:`` section is an *account target* when a mapping
reads it as accounts (``entity: accounts``); its keys are account keys
(:data:`abmsync.rules.model.ACCOUNT_WRITEBACK_COLUMNS`). Every account record
of that object gets the brief of its company (:mod:`abmsync.accounts.brief`),
planned with the same change detection and conflict policy as person fields
(:func:`abmsync.sync.plan.plan_writes`): only changed values are written, a
hand edit is settled by the policy, a rejected record becomes a dead letter
when the plan is sent (:func:`abmsync.sync.writeback.send_plan`).
Long texts (the buying committee, recent touchpoints) are bounded to the
field's length line by line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from abmsync.accounts.brief import account_briefs, bounded_text
from abmsync.accounts.links import canonical_accounts
from abmsync.connectors.base import FieldType, ObjectMeta
from abmsync.errors import ConfigError
from abmsync.rules.compiled import CompiledRules
from abmsync.rules.model import (
    ACCOUNT_KEYS,
    ACCOUNT_WRITEBACK_COLUMNS,
    WRITEBACK_COLUMNS,
    Policy,
    WriteBack,
)
from abmsync.rules.scoring import ScoreResult
from abmsync.sync.plan import OwnedField, WritePlan, plan_writes
from abmsync.sync.sources import Source
from abmsync.sync.store import Store
from abmsync.sync.writeback import ObjectPlan, _logged, _merge

NUMERIC_KEYS = frozenset({"account_score", "account_fit", "account_engagement"})
LINE_KEYS = {"buying_committee": "committee", "recent_touchpoints": "touches"}
RECORD_COLUMNS: dict[str, pl.DataType] = {
    "system": pl.String(),
    "object": pl.String(),
    "id": pl.String(),
}
_TEXT = frozenset({FieldType.STRING, FieldType.TEXT, FieldType.PICKLIST})


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
        .with_columns(
            pl.col("last_touch").dt.strftime("%Y-%m-%d"),
            pl.col("coverage_percent").round(0),
            pl.col("engaged_people").cast(pl.Float64),  # vendors hand numbers back as 3.0
        )
    )
    groups: dict[Policy, list[OwnedField]] = {}
    for key, name in keys.items():
        spec = meta.fields.get(name)
        length = spec.length if spec is not None and spec.type in _TEXT else None
        column = ACCOUNT_WRITEBACK_COLUMNS[key]
        if key in LINE_KEYS:
            column = f"__{key}"
            desired = desired.with_columns(
                pl.Series(
                    column,
                    [bounded_text(lines, length) for lines in desired[LINE_KEYS[key]].to_list()],
                    dtype=pl.String(),
                )
            )
        digits = writeback.score_digits if key in NUMERIC_KEYS else None
        owned = OwnedField(name=name, column=column, digits=digits, length=length)
        groups.setdefault(writeback.policy(key), []).append(owned)
    booleans = [name for key, name in keys.items() if key == "mqa"]
    last = _as_booleans(store.load_written_values(system, obj), booleans)
    stored = store.load_snapshot(f"crm@{system}/{obj}")
    crm = (
        _as_booleans(stored.rename({"id": "record_id"}), booleans)
        if "id" in stored.columns
        else None
    )
    plans: list[WritePlan] = [
        plan_writes(obj, desired, fields, last_written=last, crm_values=crm, policy=policy)
        for policy, fields in groups.items()
    ]
    plan = _merge(obj, plans, desired.height)
    return _logged(ObjectPlan(system, obj, plan, plan.patches))


def _as_booleans(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Checkbox values as booleans: vendors and the written-values table hand them back as text."""
    text = {n: pl.col(n).cast(pl.String).str.to_lowercase() for n in names if n in frame.columns}
    return frame.with_columns(
        pl.when(t.is_in(["true", "1"]))
        .then(True)
        .when(t.is_in(["false", "0"]))
        .then(False)
        .otherwise(None)
        .alias(n)
        for n, t in text.items()
    )


_ACCOUNT_ONLY = ACCOUNT_KEYS - set(WRITEBACK_COLUMNS)
