"""The write half of a sync: plan the minimal patches, send them, record what stuck.

For every object the rules' ``writeback:`` section names, :func:`plan_object`
(people) or :func:`abmsync.sync.account_writeback.plan_account_object`
(accounts) says what abmsync wants each owned field to hold, and
:func:`plan_owned` compares it with what abmsync last wrote and what the CRM
holds now (:func:`abmsync.sync.plan.plan_writes`), each value in the canonical
form of its kind, so an unchanged record costs nothing. :func:`send_plan`
writes the patches in chunks; per chunk, in one transaction, it stores the
values the vendor confirmed as "last written", files rejected records as dead
letters with the vendor's code and message, and resolves dead letters that
now went through.
A rejected record never blocks the rest of its batch, nor the cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import polars as pl

from abmsync.connectors.base import Connector, FieldType, ObjectMeta, Patch, WriteResult
from abmsync.rules.model import WRITEBACK_COLUMNS, Policy, TouchpointTarget, WriteBack
from abmsync.sync.canonical import kind_of, sent_as_text
from abmsync.sync.events import Progress, ProgressEvent, ignore
from abmsync.sync.lifecycle_job import EvaluatedPass
from abmsync.sync.person_fields import backward_clears, person_fields, scaled_score
from abmsync.sync.plan import Changes, OwnedField, WritePlan, merge_changes, plan_writes
from abmsync.sync.runlog import DeadLetter
from abmsync.sync.store import Store
from abmsync.sync.touchpoints import desired_touchpoints

CHUNK = 1000  # patches per write call group and per transaction
CONFIRM_CHUNK = 10_000  # values already held, stored as written this many records at a time
# Records one write call carries: sObject Collections, HubSpot batches, a Dataverse $batch.
WRITE_CALL_SIZE = {"salesforce": 200, "hubspot": 100, "dynamics": 1000}
SAMPLE = 5  # patches a released plan keeps to show
log = logging.getLogger(__name__)
NUMERIC_KEYS = frozenset({"score", "fit", "engagement"})  # rounded to score_digits


@dataclass(frozen=True)
class ObjectPlan:
    """The patches for one object of one system, and what planning found.

    ``patches`` are held as a frame; :func:`send_plan` builds each write
    chunk's :class:`~abmsync.connectors.base.Patch` objects as it sends it.
    """

    system: str
    obj: str
    plan: WritePlan
    patches: Changes
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (object, id)
    unresolved_owners: int = 0
    # Sent before ``patches``, in calls of their own: HubSpot moves a lifecyclestage
    # back only once it is cleared, so a backward move first clears it.
    clears: Changes = field(default_factory=lambda: Changes.empty(""))
    # Set on a released plan (its changes let go): how many records and calls it had.
    released_counts: tuple[int, int] | None = None

    @property
    def records(self) -> int:
        """Records the plan writes."""
        return len(self.patches) if self.released_counts is None else self.released_counts[0]

    @property
    def calls(self) -> int:
        """API calls writing the plan takes (``WRITE_CALL_SIZE`` records a call)."""
        if self.released_counts is not None:
            return self.released_counts[1]
        size = WRITE_CALL_SIZE.get(self.system, 100)
        calls = -(-len(self.patches) // size)
        if self.system == "hubspot" and self.links:
            calls += -(-len(self.patches) // 1000)  # batch associations
        return calls

    def released(self) -> ObjectPlan:
        """This plan once sent: its counts, conflicts and a sample of its patches, not the
        changes themselves, which a million-person run cannot keep for every object."""
        sample = self.patches.head(SAMPLE)
        return replace(
            self,
            plan=replace(self.plan, patches=sample, confirmed=Changes.empty(self.obj)),
            patches=sample,
            links={},
            clears=self.clears.head(SAMPLE),
            released_counts=(self.records, self.calls),
        )


@dataclass
class SendStats:
    """What writing one plan did."""

    sent: int = 0
    written: int = 0
    created: int = 0
    rejected: int = 0
    confirmed: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # vendor code -> records


def person_results(evaluated: EvaluatedPass, store: Store | None = None) -> pl.DataFrame:
    """One row per person with every value a write-back key can name.

    Numbers stay exact here: the plan rounds them once, to ``score_digits``.
    ``crm_score`` is the total on the rules' ``score_scale`` (the ledger keeps
    raw points); ``store`` gives the ledger behind ``mql_date`` and
    ``assignment_reason`` (see :mod:`abmsync.sync.person_fields`).
    """
    scale = evaluated.rules.ruleset.writeback.score_scale
    scores = evaluated.result.public_people(digits=None).select(
        "person_id",
        "fit",
        "engagement",
        "total",
        "grade",
        "band",
        "priority",
        "reasons",
        "account_tier",
    )
    state = evaluated.state.select("person_id", "stage", "owner_id")
    return (
        scores.join(state, on="person_id", how="left")
        .join(person_fields(evaluated, store), on="person_id", how="left")
        .with_columns(scaled_score(pl.col("total"), scale).alias("crm_score"))
    )


def plan_object(
    store: Store,
    system: str,
    obj: str,
    keys: dict[str, str],
    meta: ObjectMeta,
    results: pl.DataFrame,
    records: pl.DataFrame,
    writeback: WriteBack,
    *,
    owner_ids: dict[str, str],
) -> ObjectPlan:
    """Plan the owned fields ``keys`` (write-back key -> vendor field) of ``system``/``obj``.

    ``records`` maps people to their records (``Assembled.records``);
    ``owner_ids`` maps the rules' owner names to ``system``'s owner ids.
    """
    records = records.filter(
        (pl.col("system") == system) & (pl.col("object") == obj) & pl.col("writable")
    ).select("person_id", pl.col("vendor_id").alias("record_id"))
    desired = records.join(results, on="person_id", how="inner")
    unresolved = 0
    if "owner" in keys:
        # The rules name owners their way (own-001, an email); the CRM wants its user id.
        translate = {**{u: u for u in set(owner_ids.values())}, **owner_ids}
        named = int(desired["owner_id"].is_not_null().sum())
        desired = desired.with_columns(
            pl.col("owner_id").replace_strict(translate, default=None).alias("owner_id")
        )
        unresolved = named - int(desired["owner_id"].is_not_null().sum())
    columns = {key: WRITEBACK_COLUMNS[key] for key in keys}
    return plan_owned(
        store,
        system,
        obj,
        keys,
        desired,
        columns,
        meta,
        writeback,
        rounded=NUMERIC_KEYS,
        unresolved_owners=unresolved,
    )


def plan_owned(
    store: Store,
    system: str,
    obj: str,
    keys: dict[str, str],
    desired: pl.DataFrame,
    columns: Mapping[str, str],
    meta: ObjectMeta,
    writeback: WriteBack,
    *,
    rounded: frozenset[str] = frozenset(),
    unresolved_owners: int = 0,
) -> ObjectPlan:
    """Plan the owned fields ``keys`` (write-back key -> vendor field) of ``system``/``obj``.

    ``desired`` has ``record_id`` and, per key, the column ``columns[key]``
    with the value abmsync wants. Each field is compared in the canonical
    form of its value's kind (:func:`abmsync.sync.canonical.kind_of`: the
    column's type, or for text the vendor field's type), keys in ``rounded``
    after rounding to the rules' ``score_digits``, and text cut to the field's
    length; each key's conflict policy settles hand edits. A HubSpot
    lifecyclestage moving back is cleared first (``ObjectPlan.clears``).
    """
    groups: dict[Policy, list[OwnedField]] = {}
    for key, name in keys.items():
        spec = meta.fields.get(name)
        field_type = spec.type if spec is not None else None
        column = columns[key]
        kind = kind_of(desired.schema[column], field_type)
        if sent_as_text(desired.schema[column], field_type):
            desired = desired.with_columns(pl.col(column).cast(pl.String).alias(f"{column}__text"))
            column = f"{column}__text"
        owned = OwnedField(
            name=name,
            column=column,
            digits=writeback.score_digits if key in rounded else None,
            length=field_length(meta, name),
            kind=kind,
        )
        groups.setdefault(writeback.policy(key), []).append(owned)
    last = store.load_written_values(system, obj)
    stored = store.load_snapshot(f"crm@{system}/{obj}")
    crm = stored.rename({"id": "record_id"}) if "id" in stored.columns else None
    plans = [
        plan_writes(obj, desired, fields, last_written=last, crm_values=crm, policy=policy)
        for policy, fields in groups.items()
    ]
    plan = _merge(obj, plans, desired.height)
    clears = Changes.empty(obj)
    if "hubspot_stage" in keys:
        clears = backward_clears(obj, keys["hubspot_stage"], plan.patches.frame, crm, last)
    return _logged(
        ObjectPlan(
            system, obj, plan, plan.patches, unresolved_owners=unresolved_owners, clears=clears
        )
    )


def field_length(meta: ObjectMeta, name: str) -> int | None:
    """The length a text field ``name`` of ``meta`` holds (None: not text, or no limit)."""
    spec = meta.fields.get(name)
    return spec.length if spec is not None and spec.type in _TEXT else None


def plan_touchpoints(
    store: Store,
    system: str,
    target: TouchpointTarget,
    records: pl.DataFrame,
    touchpoints: pl.DataFrame,
    writeback: WriteBack,
    as_of: datetime,
) -> ObjectPlan:
    """Plan the touchpoint records ``system`` should hold (upserts by touchpoint key).

    ``records`` and ``touchpoints`` are the run's (``Assembled``).
    """
    records = records.filter((pl.col("system") == system) & pl.col("writable"))
    wanted = desired_touchpoints(
        system,
        touchpoints,
        records,
        as_of=as_of,
        days=writeback.touchpoint_days,
        exclude=target.exclude_types,
    )
    values = wanted.values
    fields = [OwnedField(name=c, column=c) for c in values.columns if c != "record_id"]
    last = store.load_written_values(system, target.object)
    plan = plan_writes(target.object, values, fields, last_written=last)
    patches = Changes(target.object, plan.patches.frame, external_id=target.external_id)
    links = {key: (obj, vendor_id) for key, obj, vendor_id in wanted.links.iter_rows()}
    return _logged(ObjectPlan(system, target.object, plan, patches, links=links))


def _logged(plan: ObjectPlan) -> ObjectPlan:
    log.info(
        "planned %s/%s: %d records",
        plan.system,
        plan.obj,
        len(plan.patches),
        extra={
            "step": "plan",
            "system": plan.system,
            "object": plan.obj,
            "planned": len(plan.patches),
            "unchanged": plan.plan.unchanged,
            "conflicts": plan.plan.conflicts.height,
            "unresolved_owners": plan.unresolved_owners,
        },
    )
    return plan


def send_plan(
    store: Store,
    connector: Connector,
    plan: ObjectPlan,
    *,
    associate_with: Callable[[list[tuple[str, str]]], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    chunk: int = CHUNK,
    progress: Progress = ignore,
) -> SendStats:
    """Write ``plan``'s patches in chunks and record each chunk's outcome; see the module doc.

    ``associate_with`` links created/updated touchpoint records to their
    person record (HubSpot notes to contacts) before the chunk is recorded.
    ``progress`` hears the records sent so far, of those planned, after each chunk.
    """
    started = time.perf_counter()
    stats = SendStats()
    text = f"writing {plan.system}/{plan.obj}"
    planned = len(plan.patches)

    def report(*, final: bool = False) -> None:
        progress(
            ProgressEvent("write", text, plan.system, plan.obj, stats.sent, planned, final=final)
        )

    report()
    if plan.plan.confirmed:
        with store.transaction() as tx:
            for part in plan.plan.confirmed.chunks(CONFIRM_CHUNK):
                store.save_written_values(plan.system, plan.obj, part.values(), tx=tx)
        stats.confirmed = len(plan.plan.confirmed)
    open_letters = {
        d.record_id for d in store.list_dead_letters(plan.system, plan.obj, limit=1_000_000)
    }
    for first in range(0, len(plan.clears), chunk):
        # A failed clear needs no record: the move after it is refused and dead-lettered.
        connector.write(plan.obj, plan.clears[first : first + chunk])
    for first in range(0, len(plan.patches), chunk):
        patches = plan.patches[first : first + chunk]
        results = connector.write(plan.obj, patches)
        stats.sent += len(patches)
        if associate_with is not None:
            pairs = [
                (str(r.record_id), plan.links[_key(p)][1])
                for p, r in zip(patches, results, strict=True)
                if r.ok and r.record_id and _key(p) in plan.links
            ]
            if pairs:
                associate_with(pairs)
        record_results(
            store, plan.system, plan.obj, patches, results, open_letters, stats, links=plan.links
        )
        log.debug(
            "%s: %d of %d sent",
            text,
            stats.sent,
            planned,
            extra={
                "step": "write",
                "system": plan.system,
                "object": plan.obj,
                "chunk_records": len(patches),
                "sent": stats.sent,
                "written": stats.written,
                "rejected": stats.rejected,
                "planned": planned,
            },
        )
        report()
        if stop():
            break
    report(final=True)
    log.info(
        "wrote %s/%s: %d of %d",
        plan.system,
        plan.obj,
        stats.written,
        planned,
        extra={
            "step": "write",
            "system": plan.system,
            "object": plan.obj,
            "planned": planned,
            "written": stats.written,
            "records_created": stats.created,  # ``created`` is taken by every LogRecord
            "rejected": stats.rejected,
            "errors": stats.errors,
            "duration_s": round(time.perf_counter() - started, 3),
        },
    )
    return stats


def record_results(
    store: Store,
    system: str,
    obj: str,
    patches: Sequence[Patch],
    results: Sequence[WriteResult],
    open_letters: set[str],
    stats: SendStats,
    *,
    links: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Store what the vendor confirmed and file what it rejected, in one transaction.

    ``links`` (touchpoint key -> person record) is kept with a rejected
    touchpoint so a retry can link it once it goes through.
    """
    written: dict[str, dict[str, object]] = {}
    with store.transaction() as tx:
        for patch, result in zip(patches, results, strict=True):
            key = _key(patch)
            if result.ok:
                written[key] = dict(patch.values)
                stats.written += 1
                stats.created += int(result.created)
                if key in open_letters:
                    store.resolve_dead_letter(system, obj, key, tx=tx)
                    open_letters.discard(key)
                continue
            stats.rejected += 1
            code = result.error_code or "UNKNOWN"
            stats.errors[code] = stats.errors.get(code, 0) + 1
            store.add_dead_letter(
                system,
                obj,
                key,
                _payload(patch, (links or {}).get(key)),
                result.error_code,
                result.message or "rejected without a message",
                tx=tx,
            )
        if written:
            store.save_written_values(system, obj, written, tx=tx)


def retry_dead_letters(
    store: Store, connectors: dict[str, Connector], *, connector: str | None = None
) -> dict[tuple[str, str], SendStats]:
    """Send every open dead letter (of ``connector``) again, per system and object.

    What goes through is resolved and remembered as written; what is
    rejected again stays open with one more attempt counted.
    """
    letters = store.list_dead_letters(connector, limit=1_000_000)
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for letter in letters:
        if letter.connector in connectors:
            groups.setdefault((letter.connector, letter.obj), []).append(letter)
    outcome: dict[tuple[str, str], SendStats] = {}
    for (system, obj), group in sorted(groups.items()):
        vendor = connectors[system]
        patches = [_patch_from_letter(obj, d.record_id, d.payload) for d in group]
        links = {
            d.record_id: (str(d.payload["link"][0]), str(d.payload["link"][1]))
            for d in group
            if isinstance(d.payload.get("link"), list)
        }
        stats = SendStats()
        open_letters = {d.record_id for d in group}
        for first in range(0, len(patches), CHUNK):
            chunk = patches[first : first + CHUNK]
            results = vendor.write(obj, chunk)
            stats.sent += len(chunk)
            pairs = [
                (str(r.record_id), links[_key(p)][1])
                for p, r in zip(chunk, results, strict=True)
                if r.ok and r.record_id and _key(p) in links
            ]
            associate = getattr(vendor, "associate_many", None)
            if pairs and associate is not None:
                associate(obj, "contacts", pairs)
            record_results(store, system, obj, chunk, results, open_letters, stats, links=links)
        outcome[(system, obj)] = stats
    return outcome


def _patch_from_letter(obj: str, record_id: str, payload: dict[str, Any]) -> Patch:
    """Rebuild the patch a dead letter keeps."""
    values = dict(payload.get("values") or {})
    external = payload.get("external_id")
    if isinstance(external, list) and len(external) == 2:
        return Patch(obj=obj, external_id=(str(external[0]), str(external[1])), values=values)
    return Patch(obj=obj, record_id=record_id, values=values)


def _payload(patch: Patch, link: tuple[str, str] | None = None) -> dict[str, object]:
    payload: dict[str, object] = {"values": dict(patch.values)}
    if patch.external_id is not None:
        payload["external_id"] = list(patch.external_id)
    if link is not None:
        payload["link"] = list(link)
    return payload


def _key(patch: Patch) -> str:
    """The record a patch is about: its id, or its external key."""
    if patch.record_id is not None:
        return patch.record_id
    if patch.external_id is not None:
        return patch.external_id[1]
    return ""


def _merge(obj: str, plans: list[WritePlan], records: int) -> WritePlan:
    """One plan from the plans of fields under different conflict policies."""
    if len(plans) == 1:
        return plans[0]
    patches = merge_changes(obj, [p.patches for p in plans])
    changed: dict[str, int] = {}
    for plan in plans:
        changed.update(plan.changed_fields)
    return WritePlan(
        patches=patches,
        changed_fields=changed,
        conflicts=pl.concat([p.conflicts for p in plans]),
        unchanged=records - len(patches),
        confirmed=merge_changes(obj, [p.confirmed for p in plans]),
    )


_TEXT = frozenset({FieldType.STRING, FieldType.TEXT, FieldType.PICKLIST})
