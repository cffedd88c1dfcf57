"""The append-only ledgers: scores, stage changes, assignments and SLA events.

The score ledger records changes, not evaluations. ``record_scores`` compares
each person's new score with the one valid at the same time in the ledger and
appends a row only when the total (to 2 decimals), grade, priority, reasons or
rules version differ, so a daily run over a million unchanged people adds
nothing, while "what was this person's score on 1 March, and why" remains one
query (``scores_as_of``).

The comparison happens in polars (one query for the current rows, one
anti-join); inserts go in bulk (``abmsync.sync.bulk``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from abmsync.rules.progress import CHANGE_COLUMNS
from abmsync.schema import TIMESTAMP, SchemaError, UtcDatetime, utc
from abmsync.sync.bulk import insert_frame, read_frame
from abmsync.sync.database import StoreBase, Transaction
from abmsync.sync.tables import assignments, score_ledger, sla_events, stage_changes

# Columns a caller passes to record_scores; the ledger adds rules_version and as_of.
SCORE_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "fit": pl.Float64(),
    "engagement": pl.Float64(),
    "total": pl.Float64(),
    "grade": pl.String(),
    "band": pl.Int64(),
    "priority": pl.String(),
    "reasons": pl.String(),
}
SCORE_LEDGER_COLUMNS: dict[str, pl.DataType] = {
    **SCORE_COLUMNS,
    "rules_version": pl.String(),
    "as_of": TIMESTAMP,
}
STAGE_CHANGE_COLUMNS = CHANGE_COLUMNS  # as the lifecycle pass produces them
ASSIGNMENT_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "owner_id": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
    "rules_version": pl.String(),
    "assigned_at": TIMESTAMP,
    "queue": pl.String(),
}
SLA_EVENT_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "stage": pl.String(),
    "kind": pl.String(),
    "due_at": TIMESTAMP,
    "occurred_at": TIMESTAMP,
    "action": pl.String(),
    "owner_id": pl.String(),
    "escalate_to": pl.String(),
}
# Columns that may be absent or null in a frame passed to the record_* methods.
_NULLABLE: dict[str, frozenset[str]] = {
    "scores": frozenset(),
    "stage_changes": frozenset({"from_stage", "reason", "recorded_at"}),
    "assignments": frozenset({"queue"}),
    "sla_events": frozenset({"action", "owner_id", "escalate_to"}),
}
_CHANGE_KEY = ["person_id", "_total_2dp", "grade", "priority", "reasons", "rules_version"]
# Above this many ids, reading every person's row and filtering in polars beats
# a giant IN list (and stays under SQLite's limit on bound parameters).
_MAX_IN_LIST = 5_000


class LedgerScore(BaseModel):
    """One row of the score ledger: a person's score from ``as_of`` until the next row."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    fit: float
    engagement: float
    total: float
    grade: str
    band: int
    priority: str
    reasons: str
    rules_version: str
    as_of: UtcDatetime


class LedgerStore(StoreBase):
    """Append to and read the ledgers (mixed into ``Store``)."""

    def record_scores(
        self,
        scores: pl.DataFrame,
        *,
        rules_version: str,
        as_of: datetime,
        tx: Transaction | None = None,
    ) -> int:
        """Append the scores that changed since each person's row valid at ``as_of``.

        ``scores`` has one row per person with the columns of ``SCORE_COLUMNS``
        (``reasons`` as text, e.g. a JSON array). Returns the number of rows
        inserted: 0 when the same frame is recorded again. Raises
        ``SchemaError`` for a missing column, a null value or a person listed twice.
        """
        frame = _conform_frame(scores, SCORE_COLUMNS, "scores", _NULLABLE["scores"])
        duplicated = frame.filter(pl.col("person_id").is_duplicated())["person_id"]
        if len(duplicated):
            raise SchemaError(f"scores: person_id {duplicated[0]!r} appears more than once")
        at = utc(as_of)
        frame = frame.with_columns(pl.lit(rules_version, dtype=pl.String()).alias("rules_version"))
        with self._connect(tx, write=True) as connection:
            current = _latest_scores(connection, at, frame["person_id"])
            changed = frame
            if not current.is_empty():  # on a first pass everyone is new: no copy to compare
                changed = _with_change_key(frame).join(
                    _with_change_key(current), on=_CHANGE_KEY, how="anti", nulls_equal=True
                )
            changed = changed.select(list(SCORE_COLUMNS))
            insert_frame(
                connection,
                score_ledger,
                changed,
                shared={"rules_version": rules_version, "as_of": at},
            )
        return changed.height

    def scores_as_of(
        self,
        as_of: datetime,
        person_ids: Sequence[str] | None = None,
        *,
        tx: Transaction | None = None,
    ) -> pl.DataFrame:
        """Each person's score valid at ``as_of``: their latest ledger row at or before it.

        Limited to ``person_ids`` when given; people with no row by then are
        absent. Columns are ``SCORE_LEDGER_COLUMNS``, sorted by ``person_id``.
        """
        with self._connect(tx, write=False) as connection:
            ids = None if person_ids is None else pl.Series(list(person_ids), dtype=pl.String())
            return _latest_scores(connection, utc(as_of), ids)

    def score_history(self, person_id: str, *, tx: Transaction | None = None) -> list[LedgerScore]:
        """Every recorded change of one person's score, oldest first."""
        query = (
            sa.select(*_columns(score_ledger, SCORE_LEDGER_COLUMNS))
            .where(score_ledger.c.person_id == person_id)
            .order_by(score_ledger.c.as_of, score_ledger.c.id)
        )
        with self._connect(tx, write=False) as connection:
            return [LedgerScore.model_validate(row._mapping) for row in connection.execute(query)]

    def record_stage_changes(self, frame: pl.DataFrame, *, tx: Transaction | None = None) -> int:
        """Append stage changes (columns of ``STAGE_CHANGE_COLUMNS``); returns rows added."""
        return self._append(stage_changes, frame, STAGE_CHANGE_COLUMNS, tx)

    def last_recorded_stage_change(self, *, tx: Transaction | None = None) -> datetime | None:
        """The as-of time of the latest pass that recorded a stage change (None before any)."""
        query = sa.select(sa.func.max(stage_changes.c.recorded_at))
        with self._connect(tx, write=False) as connection:
            value = connection.execute(query).scalar()
        return utc(value) if value is not None else None

    def stage_changes(
        self, person_id: str | None = None, *, tx: Transaction | None = None
    ) -> pl.DataFrame:
        """Stage changes, of one person or of everyone, oldest first."""
        return self._history(stage_changes, STAGE_CHANGE_COLUMNS, "changed_at", person_id, tx)

    def record_assignments(self, frame: pl.DataFrame, *, tx: Transaction | None = None) -> int:
        """Append owner assignments (columns of ``ASSIGNMENT_COLUMNS``); returns rows added."""
        return self._append(assignments, frame, ASSIGNMENT_COLUMNS, tx)

    def assignments(
        self, person_id: str | None = None, *, tx: Transaction | None = None
    ) -> pl.DataFrame:
        """Owner assignments, of one person or of everyone, oldest first."""
        return self._history(assignments, ASSIGNMENT_COLUMNS, "assigned_at", person_id, tx)

    def record_sla_events(self, frame: pl.DataFrame, *, tx: Transaction | None = None) -> int:
        """Append SLA events (columns of ``SLA_EVENT_COLUMNS``); returns rows added."""
        return self._append(sla_events, frame, SLA_EVENT_COLUMNS, tx)

    def sla_events(
        self, person_id: str | None = None, *, tx: Transaction | None = None
    ) -> pl.DataFrame:
        """SLA events, of one person or of everyone, oldest first."""
        return self._history(sla_events, SLA_EVENT_COLUMNS, "occurred_at", person_id, tx)

    def _append(
        self,
        table: sa.Table,
        frame: pl.DataFrame,
        columns: Mapping[str, pl.DataType],
        tx: Transaction | None,
    ) -> int:
        rows = _conform_frame(frame, columns, table.name, _NULLABLE[table.name])
        with self._connect(tx, write=True) as connection:
            insert_frame(connection, table, rows)
        return rows.height

    def _history(
        self,
        table: sa.Table,
        columns: Mapping[str, pl.DataType],
        time_column: str,
        person_id: str | None,
        tx: Transaction | None,
    ) -> pl.DataFrame:
        query = sa.select(*_columns(table, columns)).order_by(table.c[time_column], table.c.id)
        if person_id is not None:
            query = query.where(table.c.person_id == person_id)
        with self._connect(tx, write=False) as connection:
            return read_frame(connection, query, columns)


def _latest_scores(
    connection: sa.Connection, as_of: datetime, person_ids: pl.Series | None
) -> pl.DataFrame:
    """One query: each person's newest row with ``as_of`` at or before the given time.

    A long ``person_ids`` is applied to the rows read, not sent in the query
    (nor made a list of Python strings: a run records a million people).
    """
    newest_first = sa.func.row_number().over(
        partition_by=score_ledger.c.person_id,
        order_by=(score_ledger.c.as_of.desc(), score_ledger.c.id.desc()),
    )
    ranked = sa.select(
        *_columns(score_ledger, SCORE_LEDGER_COLUMNS), newest_first.label("rank")
    ).where(score_ledger.c.as_of <= as_of)
    if person_ids is not None and len(person_ids) <= _MAX_IN_LIST:
        ranked = ranked.where(score_ledger.c.person_id.in_(person_ids.to_list()))
    latest = ranked.subquery()
    query = sa.select(*(latest.c[name] for name in SCORE_LEDGER_COLUMNS)).where(latest.c.rank == 1)
    frame = read_frame(connection, query, SCORE_LEDGER_COLUMNS)
    if person_ids is not None and len(person_ids) > _MAX_IN_LIST:
        frame = frame.filter(pl.col("person_id").is_in(person_ids.implode()))
    return frame.sort("person_id")


def _with_change_key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("total").round(2).alias("_total_2dp"))


def _columns(table: sa.Table, columns: Mapping[str, pl.DataType]) -> list[sa.Column[object]]:
    return [table.c[name] for name in columns]


def _conform_frame(
    frame: pl.DataFrame,
    columns: Mapping[str, pl.DataType],
    what: str,
    nullable: frozenset[str],
) -> pl.DataFrame:
    """``frame`` reduced to ``columns``, cast to their types, with required values present.

    Timestamps may be given as aware or naive (taken as UTC) datetimes or ISO text.
    """
    missing = [name for name in columns if name not in frame.columns and name not in nullable]
    if missing:
        raise SchemaError(f"{what}: missing column(s) {', '.join(missing)}")
    casts: list[pl.Expr] = []
    for name, dtype in columns.items():
        current = frame.schema.get(name)
        column = pl.col(name)
        if current is None:
            casts.append(pl.lit(None, dtype=dtype).alias(name))
        elif dtype == TIMESTAMP and isinstance(current, pl.Datetime):
            if current.time_zone is None:
                column = column.dt.replace_time_zone("UTC")
            casts.append(column.dt.convert_time_zone("UTC").cast(dtype))
        elif dtype == TIMESTAMP and current == pl.String():
            casts.append(column.str.to_datetime(time_zone="UTC", time_unit="us"))
        else:
            casts.append(column.cast(dtype, strict=True))
    try:
        result = frame.select(casts)
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(f"{what}: {str(exc).strip().splitlines()[0]}") from exc
    nulls = [name for name in columns if name not in nullable and result[name].null_count()]
    if nulls:
        raise SchemaError(f"{what}: null values in required column(s) {', '.join(nulls)}")
    return result
