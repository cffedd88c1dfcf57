"""Plan the write-back: only records whose owned fields would change, nothing else.

A pure function of (what abmsync wants each owned field to hold, what it last
wrote, what the CRM holds now). The sync engine writes the resulting patches
and, once the vendor confirms them, stores the written values as the new
"last written". This is what makes a run with no changes make zero write
calls, keeps score decay from churning every record every day (numbers are
compared after rounding), and detects a person editing an owned field in the
CRM by hand, which the conflict policy then settles.

Emptying an owned field is an edit like any other (a sandbox refresh, a restore
from backup, someone clearing the score): with ``abmsync_wins`` the value is
written again, with ``crm_wins`` it stays empty (a cleared owner stays
unassigned) and is reported. A record or field the CRM snapshot does not hold
is compared with what abmsync last wrote instead: unknown is not empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from abmsync.connectors.base import Patch

ConflictPolicy = Literal["crm_wins", "abmsync_wins"]
ELLIPSIS = "…"
KNOWN = "__known"


@dataclass(frozen=True)
class OwnedField:
    """One CRM field abmsync owns: which result column fills it, and how."""

    name: str  # vendor field, e.g. ABM_Score__c
    column: str  # result column, e.g. total
    digits: int | None = None  # round numbers to this many decimals before comparing
    length: int | None = None  # truncate text to the field's length


@dataclass(frozen=True)
class WritePlan:
    """Patches to send, and what the planner noticed."""

    patches: list[Patch]
    changed_fields: dict[str, int]  # field -> records whose value changes
    conflicts: pl.DataFrame  # record_id, field, crm_value, last_written, desired, winner
    unchanged: int
    # Values the CRM already holds that abmsync has not recorded as written (a
    # first run over filled fields, or a crash between a write and its record):
    # stored as written without a call, so later runs diff against them.
    confirmed: dict[str, dict[str, object]] = field(default_factory=dict)


def plan_writes(
    obj: str,
    desired: pl.DataFrame,
    fields: list[OwnedField],
    *,
    last_written: pl.DataFrame | None = None,
    crm_values: pl.DataFrame | None = None,
    policy: ConflictPolicy = "abmsync_wins",
) -> WritePlan:
    """Plan minimal patches for ``obj``.

    ``desired`` has ``record_id`` and the result columns; ``last_written`` and
    ``crm_values`` have ``record_id`` and one column per vendor field name.
    A field whose CRM value differs from what abmsync last wrote (emptied
    included) was edited by someone else: with ``crm_wins`` it is left alone
    (and reported), with ``abmsync_wins`` it is overwritten (and reported).
    """
    values = desired.select("record_id", *[_desired_value(f).alias(f.name) for f in fields])
    names = [f.name for f in fields]
    written = _side(last_written, names, "__written")
    current = _side(crm_values, names, "__crm", mark_known=True)
    joined = values.join(written, on="record_id", how="left").join(
        current, on="record_id", how="left"
    )
    conflicts: list[pl.DataFrame] = []
    patches_values: dict[str, dict[str, object]] = {}
    confirmed: dict[str, dict[str, object]] = {}
    changed_fields: dict[str, int] = {}
    for name in names:
        # Vendors hand values back as text ("42.0"): compare in the desired value's type.
        dtype = values.schema[name]
        desired_col = pl.col(name)
        written_col = pl.col(f"{name}__written").cast(dtype, strict=False)
        crm_raw = pl.col(f"{name}__crm")
        # An empty text is how some vendors say "cleared" (HubSpot): the same as null.
        filled = crm_raw.cast(pl.String).str.len_chars() > 0
        crm_col = pl.when(filled).then(crm_raw).otherwise(None).cast(dtype, strict=False)
        # The CRM's value is known (possibly empty) when the snapshot holds the record.
        crm_known = pl.col(f"{name}__crm{KNOWN}").fill_null(False)
        edited = crm_known & written_col.is_not_null() & crm_col.ne_missing(written_col)
        conflicts.append(
            joined.filter(edited & crm_col.ne_missing(desired_col)).select(
                "record_id",
                pl.lit(name).alias("field"),
                crm_col.cast(pl.String).alias("crm_value"),
                written_col.cast(pl.String).alias("last_written"),
                desired_col.cast(pl.String).alias("desired"),
                pl.lit(policy).alias("winner"),
            )
        )
        # Compare with what the CRM holds if known, else with what abmsync last wrote.
        baseline = pl.when(crm_known).then(crm_col).otherwise(written_col)
        # abmsync never clears a field: no value wanted means no opinion.
        needs = desired_col.is_not_null() & desired_col.ne_missing(baseline)
        if policy == "crm_wins":
            needs = needs & ~edited
        rows = joined.filter(needs).select("record_id", desired_col)
        changed_fields[name] = rows.height
        for record_id, value in rows.iter_rows():
            patches_values.setdefault(record_id, {})[name] = value
        held = desired_col.is_not_null() & crm_col.eq_missing(desired_col)
        known = joined.filter(held & written_col.ne_missing(desired_col))
        for record_id, value in known.select("record_id", desired_col).iter_rows():
            confirmed.setdefault(record_id, {})[name] = value
    patches = [
        Patch(obj=obj, record_id=record_id, values=fields_)
        for record_id, fields_ in sorted(patches_values.items())
    ]
    schema: dict[str, pl.DataType] = {
        "record_id": pl.String(),
        "field": pl.String(),
        "crm_value": pl.String(),
        "last_written": pl.String(),
        "desired": pl.String(),
        "winner": pl.String(),
    }
    return WritePlan(
        patches=patches,
        changed_fields=changed_fields,
        conflicts=pl.concat(
            [c.select(pl.col(n).cast(t) for n, t in schema.items()) for c in conflicts]
        )
        if conflicts
        else pl.DataFrame(schema=schema),
        unchanged=values.height - len(patches),
        confirmed=confirmed,
    )


def truncate(text: pl.Expr, length: int) -> pl.Expr:
    """Text cut to ``length`` characters, ending in an ellipsis when it was cut."""
    return (
        pl.when(text.str.len_chars() > length)
        .then(text.str.slice(0, length - 1) + pl.lit(ELLIPSIS))
        .otherwise(text)
    )


def _desired_value(owned: OwnedField) -> pl.Expr:
    value = pl.col(owned.column)
    if owned.digits is not None:
        return value.round(owned.digits)
    if owned.length is not None:
        return truncate(value.cast(pl.String), owned.length)
    return value


def _side(
    frame: pl.DataFrame | None, names: list[str], suffix: str, *, mark_known: bool = False
) -> pl.DataFrame:
    """``frame``'s columns ``names`` renamed with ``suffix`` (null where it lacks one).

    With ``mark_known``, a ``<name><suffix>__known`` column is true for the
    fields ``frame`` has (a left join makes it null for records it lacks).
    """
    if frame is None:
        frame = pl.DataFrame(schema={"record_id": pl.String()})
    present = [n for n in names if n in frame.columns]
    known = [pl.lit(n in present).alias(f"{n}{suffix}{KNOWN}") for n in names] if mark_known else []
    return frame.select(
        "record_id",
        *[pl.col(n).alias(f"{n}{suffix}") for n in present],
        *[pl.lit(None).alias(f"{n}{suffix}") for n in names if n not in present],
        *known,
    )
