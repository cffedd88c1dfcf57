"""One person's history from the ledgers: scores, stages, owners and SLA events, and as of T.

The service behind ``abmsync history EMAIL|ID [--as-of T]``. The ledgers are
append-only and record changes, so the state at any moment is each ledger's
latest row at or before it, with the reasons and rules version recorded then:
a score explained in March stays explained the way it was in March, whatever
the rules say today.

A person is found by email (in the snapshot of people the syncs read, or,
for people scored only from files, by the email each pass recorded:
:mod:`abmsync.sync.emails`), by abmsync's own person id, or by a vendor record
id (a Salesforce Lead or Contact id, a HubSpot contact id ...) through the
cross-references. Nothing found, or more than one person, is a
:class:`HistoryError` saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from abmsync.errors import AbmsyncError
from abmsync.schema import Assignment, SlaEvent, SourceRef, StageChange, UtcDatetime, utc
from abmsync.sync.identity import identity_basis, person_ids
from abmsync.sync.ledger import LedgerScore
from abmsync.sync.store import Store

PEOPLE_ENTITIES = "people@"  # snapshot entities of people sources: people@salesforce/Lead ...
PERSON = "person"  # the cross-references' entity of people
Kind = Literal["score", "stage", "owner", "sla"]
# Within one pass, in the order the pass decides them.
KIND_ORDER: dict[Kind, int] = {"score": 0, "stage": 1, "owner": 2, "sla": 3}


class HistoryError(AbmsyncError):
    """No person, or more than one, answers to what was asked for."""


class OwnerAssignment(Assignment):
    """An owner assignment as the ledger keeps it, with the queue it came from."""

    model_config = ConfigDict(frozen=True)

    queue: str | None = None


class SlaLedgerEvent(SlaEvent):
    """An SLA event as the ledger keeps it (started, breached, met, escalated ...)."""

    model_config = ConfigDict(frozen=True)

    escalate_to: str | None = None


LedgerRow = LedgerScore | StageChange | OwnerAssignment | SlaLedgerEvent


class TimelineEvent(BaseModel):
    """One ledger row in time order: what kind of change, when, and the row itself."""

    model_config = ConfigDict(frozen=True)

    at: UtcDatetime
    kind: Kind
    row: LedgerRow


class StateAsOf(BaseModel):
    """Each ledger's latest row at or before a moment; ``None`` where there was none yet."""

    model_config = ConfigDict(frozen=True)

    score: LedgerScore | None = None
    stage: StageChange | None = None
    owner: OwnerAssignment | None = None
    sla: SlaLedgerEvent | None = None


class PersonHistory(BaseModel):
    """Everything the ledgers hold about one person, and their state as of ``as_of``."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    asked: str
    refs: list[SourceRef]
    as_of: UtcDatetime
    timeline: list[TimelineEvent]
    state: StateAsOf

    @property
    def empty(self) -> bool:
        """Whether the ledgers hold nothing about this person."""
        return not self.timeline

    @property
    def later(self) -> int:
        """Rows recorded for times after ``as_of`` (not part of its state)."""
        return sum(1 for event in self.timeline if event.at > self.as_of)


def person_history(store: Store, who: str, *, as_of: datetime) -> PersonHistory:
    """The history of the person ``who`` names (email, person id or vendor id) and their
    state as of ``as_of``; see the module docstring. Raises :class:`HistoryError`."""
    person_id = find_person(store, who)
    timeline = _timeline(store, person_id)
    at = utc(as_of)
    return PersonHistory(
        person_id=person_id,
        asked=who,
        refs=store.refs_of(PERSON, person_id),
        as_of=at,
        timeline=timeline,
        state=state_as_of(timeline, at),
    )


def find_person(store: Store, who: str) -> str:
    """abmsync's person id for an email, a person id or a vendor record id."""
    wanted = who.strip()
    if not wanted:
        raise HistoryError("give an email, a person id or a vendor record id")
    found: dict[str, list[str]] = {}  # person id -> how it was found
    if "@" in wanted:
        for entity, vendor_id in store.find_in_snapshot(PEOPLE_ENTITIES, "email", wanted):
            system, _, obj = entity.removeprefix(PEOPLE_ENTITIES).partition("/")
            local = store.find_local(system, obj, vendor_id)
            if local is not None:
                found.setdefault(local, []).append(f"{system} {obj} {vendor_id}")
        for person_id in store.people_with_email(wanted):
            found.setdefault(person_id, []).append("email")
        if not found:
            # Recorded before passes kept emails, and no record holds it any more: the
            # person id identity resolution gives that email still finds the ledgers.
            digest = _email_person_id(wanted)
            if _has_rows(store, digest):
                found[digest] = ["email"]
    else:
        if _has_rows(store, wanted) or store.refs_of(PERSON, wanted):
            found[wanted] = ["person id"]
        for ref, local in store.links_of_vendor_id(PERSON, wanted):
            found.setdefault(local, []).append(f"{ref.system} {ref.object} {ref.id}")
    if not found:
        what = "email" if "@" in wanted else "person id or vendor record id"
        raise HistoryError(f"no person with {what} {wanted!r} in the state database")
    if len(found) > 1:
        listed = "; ".join(f"{pid} ({', '.join(how)})" for pid, how in sorted(found.items()))
        raise HistoryError(f"{wanted!r} names {len(found)} people: {listed}; give a person id")
    return next(iter(found))


def state_as_of(timeline: list[TimelineEvent], as_of: datetime) -> StateAsOf:
    """Each kind's latest row at or before ``as_of`` in a time-ordered ``timeline``."""
    score: LedgerScore | None = None
    stage: StageChange | None = None
    owner: OwnerAssignment | None = None
    sla: SlaLedgerEvent | None = None
    for event in timeline:
        if event.at > as_of:
            break
        row = event.row
        if isinstance(row, LedgerScore):
            score = row
        elif isinstance(row, StageChange):
            stage = row
        elif isinstance(row, OwnerAssignment):
            owner = row
        else:
            sla = row
    return StateAsOf(score=score, stage=stage, owner=owner, sla=sla)


def _timeline(store: Store, person_id: str) -> list[TimelineEvent]:
    events = [
        TimelineEvent(at=score.as_of, kind="score", row=score)
        for score in store.score_history(person_id)
    ]
    for row in _rows(store.stage_changes(person_id)):
        events.append(TimelineEvent(at=row["changed_at"], kind="stage", row=StageChange(**row)))
    for row in _rows(store.assignments(person_id)):
        owner = OwnerAssignment(**row)
        events.append(TimelineEvent(at=owner.assigned_at, kind="owner", row=owner))
    for row in _rows(store.sla_events(person_id)):
        sla = SlaLedgerEvent(**row)
        events.append(TimelineEvent(at=sla.occurred_at, kind="sla", row=sla))
    # Stable: rows of one kind keep the ledger's order (time, then insertion).
    return sorted(events, key=lambda event: (event.at, KIND_ORDER[event.kind]))


def _rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    return list(frame.iter_rows(named=True))


def _has_rows(store: Store, person_id: str) -> bool:
    return bool(
        store.score_history(person_id)
        or store.stage_changes(person_id).height
        or store.assignments(person_id).height
    )


def _email_person_id(email: str) -> str:
    """The person id identity resolution gives everyone with this email."""
    frame = pl.DataFrame({"email": [email]})
    basis = frame.select(
        identity_basis(pl.col("email"), pl.lit(""), pl.lit(""), pl.lit(""))
    ).to_series()
    return str(person_ids(basis)[0])
