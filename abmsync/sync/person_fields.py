"""Values for the person fields sales works from, beside the score.

:func:`abmsync.sync.writeback.person_results` joins these onto each person's
scores, so a write-back key can name them:

- ``mql_date``: when the person last entered the MQL stage (the stage routing
  starts at, else ``mql``), from the stage-change ledger and this pass;
- ``sla_due``: when the open SLA timer of the person's stage falls due;
- ``assignment_reason``: the latest routing decision, ``"<rule>: <reason>"``;
- ``hubspot_stage``: the stage as a value of HubSpot's ``lifecyclestage``
  (``HUBSPOT_STAGES``, with the rules' ``writeback.hubspot_stages`` on top);
- ``crm_score``: the total on the admins' ``score_scale`` (raw points if none).

``mql_date`` and ``sla_due`` are UTC datetimes: the planner writes them as ISO
text to the second (``2026-11-29T12:00:00Z``) and reads the CRM's own
rendering back into the same form (:mod:`abmsync.sync.canonical`), so an
unchanged time is never written again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

import polars as pl

from abmsync.rules.model import HubSpotStage, ScoreScale
from abmsync.schema import TIMESTAMP
from abmsync.sync.lifecycle_job import EvaluatedPass
from abmsync.sync.plan import Changes
from abmsync.sync.store import Store

REASON_LENGTH = 255
# HubSpot's default lifecyclestage values, earliest first: HubSpot refuses to move a
# record back along this order unless the value is cleared first.
HUBSPOT_ORDER: tuple[str, ...] = get_args(HubSpotStage)
# abmsync stage -> HubSpot lifecyclestage by default; a stage not named here is "other".
# The rules file's ``writeback.hubspot_stages`` overrides it stage by stage.
HUBSPOT_STAGES = {
    "subscriber": "subscriber",
    "lead": "lead",
    "recycled": "lead",
    "mql": "marketingqualifiedlead",
    "sal": "salesqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "disqualified": "other",
}


def scaled_score(total: pl.Expr, scale: ScoreScale | None) -> pl.Expr:
    """``total`` on ``scale`` (see :class:`~abmsync.rules.model.ScoreScale`); raw if none."""
    if scale is None:
        return total
    lo, hi = scale.min, scale.max
    if scale.mapping == "clamp":
        return total.clip(lo, hi)
    if scale.mapping == "linear":
        assert scale.reference is not None  # the model requires it
        return lo + (hi - lo) * (total / scale.reference).clip(0.0, 1.0)
    assert scale.midpoint is not None and scale.spread is not None
    return lo + (hi - lo) / (1.0 + (-(total - scale.midpoint) / scale.spread).exp())


def hubspot_stage(stage: pl.Expr, chosen: Mapping[str, str] | None = None) -> pl.Expr:
    """An abmsync stage as HubSpot's lifecyclestage value (null stays null).

    ``chosen`` (the rules' ``writeback.hubspot_stages``) overrides ``HUBSPOT_STAGES``.
    """
    table = {**HUBSPOT_STAGES, **(chosen or {})}
    mapped = stage.replace_strict(table, default="other", return_dtype=pl.String)
    return pl.when(stage.is_not_null()).then(mapped)


def hubspot_rank(value: pl.Expr) -> pl.Expr:
    """Where a lifecyclestage value sits in HubSpot's order (null for unknown or empty)."""
    ranks = {name: i for i, name in enumerate(HUBSPOT_ORDER)}
    return value.cast(pl.String).replace_strict(ranks, default=None, return_dtype=pl.Int64)


def backward_clears(
    obj: str,
    name: str,
    patches: pl.DataFrame,
    crm: pl.DataFrame | None,
    last: pl.DataFrame,
) -> Changes:
    """``name`` to clear on records whose lifecyclestage moves back.

    ``patches`` has ``record_id`` and the planned values (null: not written).
    The value held now is the CRM's (as last read), else the one last written.
    """
    none = Changes.empty(obj)
    if name not in patches.columns:
        return none
    back = patches.filter(pl.col(name).is_not_null()).select(
        "record_id", pl.col(name).cast(pl.String).alias("wanted")
    )
    if back.is_empty():
        return none
    held = []
    for side, frame in (("last", last), ("crm", crm)):
        if frame is not None and name in frame.columns:
            values = frame.filter(pl.col(name).is_not_null()).select(
                "record_id", pl.col(name).cast(pl.String).alias(side)
            )
            back = back.join(values.unique("record_id", keep="last"), on="record_id", how="left")
            held.append(side)
    if not held:
        return none
    back = back.filter(  # the CRM's value first, as read last
        hubspot_rank(pl.col("wanted")) < hubspot_rank(pl.coalesce(held[::-1]))
    ).sort("record_id")
    return Changes(obj, back.select("record_id", pl.lit(True).alias(name)), clear=True)


def mql_stage(evaluated: EvaluatedPass) -> str | None:
    """The stage whose entry ``mql_date`` records: routing's first entry stage, else mql."""
    ruleset = evaluated.rules.ruleset
    if ruleset.lifecycle is None:
        return None
    stage = ruleset.routing.entry_stages[0] if ruleset.routing else "mql"
    return stage if stage in ruleset.lifecycle.stages else None


def person_fields(evaluated: EvaluatedPass, store: Store | None) -> pl.DataFrame:
    """person_id, mql_date, sla_due, assignment_reason, hubspot_stage for every person.

    ``store`` holds the ledger of earlier passes (none: this pass only); this
    pass's own changes and assignments are not recorded yet when it plans.
    """
    people = evaluated.state.select("person_id", "stage")
    chosen = evaluated.rules.ruleset.writeback.hubspot_stages
    return (
        people.join(_mql_dates(evaluated, store), on="person_id", how="left")
        .join(_sla_due(evaluated), on="person_id", how="left")
        .join(_assignment_reasons(evaluated, store), on="person_id", how="left")
        .with_columns(hubspot_stage(pl.col("stage"), chosen).alias("hubspot_stage"))
        .drop("stage")
    )


def _mql_dates(evaluated: EvaluatedPass, store: Store | None) -> pl.DataFrame:
    stage = mql_stage(evaluated)
    schema = {"person_id": pl.String(), "mql_date": TIMESTAMP}
    if stage is None:
        return pl.DataFrame(schema=schema)
    frames = [evaluated.outcome.changes.select("person_id", "to_stage", "changed_at")]
    if store is not None:
        frames.insert(0, store.stage_changes().select("person_id", "to_stage", "changed_at"))
    changes = pl.concat([f.cast({"changed_at": TIMESTAMP}) for f in frames])
    return (
        changes.filter(pl.col("to_stage") == stage)
        .group_by("person_id")
        .agg(pl.col("changed_at").max())
        .select("person_id", pl.col("changed_at").alias("mql_date"))
    )


def _sla_due(evaluated: EvaluatedPass) -> pl.DataFrame:
    """The due time of the timer running on each person's current stage."""
    timers = evaluated.sla.timers.filter(pl.col("status") == "open")
    return (
        timers.join(evaluated.state.select("person_id", "stage"), on=["person_id", "stage"])
        .group_by("person_id")
        .agg(pl.col("due_at").min())
        .select("person_id", pl.col("due_at").alias("sla_due"))
    )


def _assignment_reasons(evaluated: EvaluatedPass, store: Store | None) -> pl.DataFrame:
    columns = ["person_id", "rule", "reason"]
    frames = []
    if store is not None:
        frames.append(store.assignments().select(columns))
    frames.append(evaluated.assignments.select(columns))  # this pass's: the latest
    latest = pl.concat(frames).unique("person_id", keep="last", maintain_order=True)
    text = pl.concat_str(
        [
            pl.col("rule"),
            pl.when(pl.col("reason").is_not_null()).then(pl.lit(": ") + pl.col("reason")),
        ],
        ignore_nulls=True,
    )
    return latest.select("person_id", text.str.slice(0, REASON_LENGTH).alias("assignment_reason"))


def hubspot_owner_ids(
    refs: list[str], user_emails: dict[str, str], owners_by_email: dict[str, str]
) -> dict[str, str]:
    """Rules owner name -> HubSpot owner id, matched by email.

    A rules name is matched through the CRM user it names (``user_emails``:
    rules name -> that user's email) or as an email itself; emails compare
    case-insensitively. Names with no HubSpot owner are left out.
    """
    owners = {email.lower(): owner for email, owner in owners_by_email.items()}
    found: dict[str, str] = {}
    for ref in refs:
        email = user_emails.get(ref, ref).lower()
        if email in owners:
            found[ref] = owners[email]
    return found
