"""A week of sales activity in the Dynamics 365 emulator, as Dataverse records it.

The Dataverse half of :func:`abmsync.sandbox.week.simulate_week`, the same
story as the Salesforce half: sales accept up to six and reject up to four
MQL leads (a Status Reason of ``Accepted``; ``Rejected`` disqualifies the lead,
with a reason four times in five), calling each accepted one (a completed
phone call regarding the lead); one accepted lead is qualified into a contact
(at its account when the org has one, else a new account from its company);
the newest of two leads sharing an email is merged into the oldest; and one
lead is deleted (a competitor's when there is one).

Dataverse records these its own way, which is what the connector and the
mappings must read: a qualified lead stays a lead in state Qualified and the
new contact names it in ``originatingleadid``; a merged lead is not deleted
but deactivated with ``merged = true`` and ``masterid`` pointing at the
survivor; only the deletion is a delete.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from abmsync.sandbox.generate import REJECTION_REASONS
from abmsync.sandbox.seed_dynamics import (
    ACCEPTED,
    LEAD_DISQUALIFIED,
    LEAD_OPEN,
    NEW_STATUS,
    REASON_COLUMN,
    REJECTED,
)
from abmsync.schema import normalize_email

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.store import DataverseStore
    from abmsync.sandbox.week import ActivitySummary, _Week


@dataclass(frozen=True)
class _Lead:
    id: str
    email: str | None
    created: str
    status: int | None
    owner: str | None


def dynamics_week(
    people: pl.DataFrame, store: DataverseStore, week: _Week, summary: ActivitySummary
) -> ActivitySummary:
    """Play the week's sales activity on ``store``; see the module doc."""
    from abmsync.sandbox.week import (
        Conversion,
        LeadFeedback,
        Merge,
        pick_deletion,
        pick_duplicates,
    )

    leads = [
        _Lead(
            str(row["leadid"]),
            normalize_email(row.get("emailaddress1")),
            str(row.get("createdon") or ""),
            row.get("statuscode"),
            row.get("ownerid"),
        )
        for row in sorted(store.rows("lead"), key=lambda r: str(r["leadid"]))
        if row.get("statecode") == LEAD_OPEN and not row.get("merged")
    ]
    accepted_value = store.option_value("lead", "statuscode", ACCEPTED)
    rejected_value = store.option_value("lead", "statuscode", REJECTED)
    reasons = {r: store.option_value("lead", REASON_COLUMN, r) for r in REJECTION_REASONS}
    mql = (pl.col("stage") == "mql") & (pl.col("kind") == "lead")
    mqls = set(people.filter(mql)["_email"].drop_nulls())
    waiting = [lead.id for lead in leads if lead.status == NEW_STATUS and lead.email in mqls]
    picked = week.pick(waiting, 10)
    accepted, rejected = picked[:6], picked[6:]
    by_id = {lead.id: lead for lead in leads}
    feedback = []
    for lead_id in accepted:
        at = week.moment().strftime("%Y-%m-%dT%H:%M:%SZ")
        call: dict[str, Any] = {
            "subject": "Call",
            "regardingobjectid": ("lead", lead_id),
            "statecode": 1,
            "actualend": at,
            "createdon": at,
        }
        if by_id[lead_id].owner:
            call["ownerid"] = by_id[lead_id].owner
        call_id = store.create("phonecall", call)
        store.update("lead", lead_id, {"statuscode": accepted_value})
        feedback.append(LeadFeedback(lead_id, ACCEPTED, None, call_id))
    for lead_id in rejected:
        reason = week.rng.choice(REJECTION_REASONS) if week.rng.random() < 0.8 else None
        store.update(
            "lead",
            lead_id,
            {
                "statecode": LEAD_DISQUALIFIED,
                "statuscode": rejected_value,
                REASON_COLUMN: reasons[reason] if reason else None,
            },
        )
        feedback.append(LeadFeedback(lead_id, REJECTED, reason, None))
    used = set(picked)
    conversion = None
    if accepted:
        lead_id, account_id = _to_qualify(people, store, accepted, by_id)
        done = store.qualify_lead(
            lead_id,
            create_account=account_id is None,
            create_opportunity=False,
            existing_account=account_id,
        )
        conversion = Conversion(lead_id, done["contact"], account_id or done["account"])
    merge = None
    pair = pick_duplicates([lead for lead in leads if lead.id not in used], week)
    if pair is not None:
        master, duplicate, email = pair
        store.merge("lead", master, duplicate)
        merge = Merge(master, duplicate, email)
        used |= {master, duplicate}
    deleted = pick_deletion(people, [lead for lead in leads if lead.id not in used], week)
    for lead_id in deleted:
        store.delete("lead", lead_id)
    return replace(
        summary,
        feedback=tuple(feedback),
        conversion=conversion,
        merge=merge,
        deleted_lead_id=deleted[0] if deleted else None,
    )


def _to_qualify(
    people: pl.DataFrame, store: DataverseStore, accepted: list[str], leads: dict[str, _Lead]
) -> tuple[str, str | None]:
    """The lead to qualify and the org's account to qualify it at (None: qualifying
    creates one); the oldest account of a name wins."""
    from abmsync.sandbox.week import pick_conversion

    accounts: dict[str, str] = {}
    for row in sorted(store.rows("account"), key=lambda r: str(r.get("createdon") or "")):
        accounts.setdefault(str(row.get("name")), str(row["accountid"]))
    return pick_conversion(people, accounts, accepted, leads)
