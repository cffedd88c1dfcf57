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

Values are compared in the canonical form of their kind
(:mod:`abmsync.sync.canonical`): a CRM's ``"12.0"``, ``"true"`` or
``2026-03-01T10:00:00.000+0000`` equals abmsync's 12, True or
``2026-03-01T10:00:00Z``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import polars as pl

from abmsync.connectors.base import Patch
from abmsync.sync.canonical import ValueKind, canonical, kind_of

ConflictPolicy = Literal["crm_wins", "abmsync_wins"]
ELLIPSIS = "…"
KNOWN = "__known"
SIDES = ("__want", "__was", "__now")  # a field's canonical desired, last written and CRM values
ITER_CHUNK = 1000  # patches built at a time when iterating over changes


@dataclass(frozen=True)
class OwnedField:
    """One CRM field abmsync owns: which result column fills it, and how."""

    name: str  # vendor field, e.g. ABM_Score__c
    column: str  # result column, e.g. total
    digits: int | None = None  # round numbers to this many decimals before comparing
    length: int | None = None  # truncate text to the field's length
    kind: ValueKind | None = None  # how values compare; None: the result column's type


@dataclass(frozen=True, eq=False)
class Changes(Sequence[Patch]):
    """Values for many records of one object, held as a frame until they are sent.

    ``frame`` has ``record_id`` and one column per field; a null is "not in
    this record's patch" (abmsync never clears a field this way). A
    :class:`~abmsync.connectors.base.Patch` is built only for the records
    read out (``changes[first:last]``, iteration), a write chunk at a time.
    With ``external_id``, records are upserted on that field, which
    ``record_id`` holds the value of. With ``clear``, a field with a value is
    one to empty (sent as null).
    """

    obj: str
    frame: pl.DataFrame
    external_id: str | None = None
    clear: bool = False

    @classmethod
    def empty(cls, obj: str) -> Changes:
        """No changes to ``obj``."""
        return cls(obj, pl.DataFrame(schema={"record_id": pl.String()}))

    def __len__(self) -> int:
        return self.frame.height

    @overload
    def __getitem__(self, index: int) -> Patch: ...

    @overload
    def __getitem__(self, index: slice) -> list[Patch]: ...

    def __getitem__(self, index: int | slice) -> Patch | list[Patch]:
        if isinstance(index, slice):
            return self._patches(self.frame[index])
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._patches(self.frame.slice(index % len(self), 1))[0]

    def __iter__(self) -> Iterator[Patch]:
        for first in range(0, len(self), ITER_CHUNK):
            yield from self[first : first + ITER_CHUNK]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Changes | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def head(self, count: int) -> Changes:
        """The first ``count`` records' changes."""
        return Changes(self.obj, self.frame.head(count), self.external_id, self.clear)

    def chunks(self, size: int) -> Iterator[Changes]:
        """These changes ``size`` records at a time."""
        for first in range(0, len(self), size):
            yield Changes(self.obj, self.frame.slice(first, size), self.external_id, self.clear)

    def values(self) -> dict[str, dict[str, object]]:
        """``{record_id: {field: value}}`` for the fields each record's patch holds."""
        names = self.frame.columns[1:]
        return {
            row[0]: {n: v for n, v in zip(names, row[1:], strict=True) if v is not None}
            for row in self.frame.select("record_id", *names).iter_rows()
        }

    def _patches(self, frame: pl.DataFrame) -> list[Patch]:
        names = [c for c in frame.columns if c != "record_id"]
        patches = []
        for row in frame.select("record_id", *names).iter_rows():
            record = row[0]
            values = {
                n: None if self.clear else v
                for n, v in zip(names, row[1:], strict=True)
                if v is not None
            }
            if self.external_id is None:
                patches.append(Patch(obj=self.obj, record_id=record, values=values))
            else:
                patches.append(
                    Patch(
                        obj=self.obj,
                        external_id=(self.external_id, str(record)),
                        values={**values, self.external_id: record},
                    )
                )
        return patches


def merge_changes(obj: str, parts: Sequence[Changes]) -> Changes:
    """One record's changes from several parts (each with other fields) in one row."""
    frames = [p.frame for p in parts]
    if not frames:
        return Changes.empty(obj)
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.join(frame, on="record_id", how="full", coalesce=True)
    return Changes(obj, merged.sort("record_id"))


@dataclass(frozen=True)
class WritePlan:
    """Patches to send, and what the planner noticed."""

    patches: Changes
    changed_fields: dict[str, int]  # field -> records whose value changes
    conflicts: pl.DataFrame  # record_id, field, crm_value, last_written, desired, winner
    unchanged: int
    # Values the CRM already holds that abmsync has not recorded as written (a
    # first run over filled fields, or a crash between a write and its record):
    # stored as written without a call, so later runs diff against them.
    confirmed: Changes = field(default_factory=lambda: Changes.empty(""))


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
    kinds = {f.name: f.kind or kind_of(desired.schema[f.column]) for f in fields}
    values = desired.select(
        "record_id",
        *[_desired_value(f, kinds[f.name], desired.schema[f.column]).alias(f.name) for f in fields],
    )
    names = [f.name for f in fields]
    written = _side(last_written, names, "__written")
    current = _side(crm_values, names, "__crm", mark_known=True)
    joined = _canonical_sides(
        values.join(written, on="record_id", how="left").join(current, on="record_id", how="left"),
        kinds,
    )
    conflicts: list[pl.DataFrame] = []
    sends: list[pl.Expr] = []
    confirms: list[pl.Expr] = []
    for name in names:
        sent = pl.col(name)
        desired_col, written_col, crm_col = (pl.col(f"{name}{side}") for side in SIDES)
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
        # abmsync never clears a field: no value wanted means no opinion. A value that
        # cannot be read as its kind is sent as it is, for the vendor to judge.
        needs = sent.is_not_null() & (desired_col.is_null() | desired_col.ne_missing(baseline))
        if policy == "crm_wins":
            needs = needs & ~edited
        sends.append(pl.when(needs).then(sent).alias(name))
        held = desired_col.is_not_null() & crm_col.eq_missing(desired_col)
        confirms.append(pl.when(held & written_col.ne_missing(desired_col)).then(sent).alias(name))
    patches = _changes(obj, joined, sends)
    confirmed = _changes(obj, joined, confirms)
    del joined
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
        changed_fields={n: patches.frame[n].count() for n in names},
        conflicts=pl.concat(
            [c.select(pl.col(n).cast(t) for n, t in schema.items()) for c in conflicts]
        )
        if conflicts
        else pl.DataFrame(schema=schema),
        unchanged=values.height - len(patches),
        confirmed=confirmed,
    )


def _changes(obj: str, joined: pl.DataFrame, columns: list[pl.Expr]) -> Changes:
    """The records of ``joined`` with a value in one of ``columns``, one row each, by id."""
    if not columns:
        return Changes.empty(obj)
    frame = joined.select("record_id", *columns)
    names = frame.columns[1:]
    frame = frame.filter(pl.any_horizontal(pl.col(names).is_not_null()))
    if frame["record_id"].is_duplicated().any():
        # The same record twice (a duplicate in a snapshot): its last value per field wins.
        frame = frame.group_by("record_id").agg(pl.col(names).drop_nulls().last())
    return Changes(obj, frame.sort("record_id"))


def truncate(text: pl.Expr, length: int) -> pl.Expr:
    """Text cut to ``length`` characters, ending in an ellipsis when it was cut."""
    return (
        pl.when(text.str.len_chars() > length)
        .then(text.str.slice(0, length - 1) + pl.lit(ELLIPSIS))
        .otherwise(text)
    )


def _desired_value(owned: OwnedField, kind: ValueKind, dtype: pl.DataType) -> pl.Expr:
    """The value sent: rounded, cut to length, a time or date in the form abmsync writes."""
    value = pl.col(owned.column)
    if kind in ("time", "date"):
        return canonical(value, kind, dtype)
    if owned.digits is not None:
        return value.round(owned.digits)
    if owned.length is not None:
        return truncate(value.cast(pl.String), owned.length)
    return value


def _canonical_sides(joined: pl.DataFrame, kinds: dict[str, ValueKind]) -> pl.DataFrame:
    """``joined`` with each field's three values in canonical form, computed once.

    Vendors hand values back their own way ("42.0", "true", ``+0000``), so the
    CRM's are read as their kind; what abmsync wants and what it last wrote
    are in the form it writes already (a time or date as its text).
    """
    columns = []
    for name, kind in kinds.items():
        for column, side in ((name, SIDES[0]), (f"{name}__written", SIDES[1])):
            if kind in ("time", "date"):  # abmsync writes these as text in canonical form
                ours = pl.col(column).cast(pl.String)
            else:
                ours = canonical(pl.col(column), kind, joined.schema[column])
            columns.append(ours.alias(f"{name}{side}"))
        crm, crm_type = pl.col(f"{name}__crm"), joined.schema[f"{name}__crm"]
        if crm_type == pl.String:
            # An empty text is how some vendors say "cleared" (HubSpot): the same as null.
            crm = pl.when(crm.str.len_chars() > 0).then(crm)
        columns.append(canonical(crm, kind, crm_type).alias(f"{name}{SIDES[2]}"))
    return joined.with_columns(columns)


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
