"""Current lifecycle state: where each person stands, open SLA timers, routing pointers.

A lifecycle pass starts from this state and ends by writing it back in the
same transaction as the ledger rows it appended, so state and ledgers never
disagree. Frames use the column sets declared here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from abmsync.rules import progress, sla
from abmsync.schema import utc
from abmsync.sync.bulk import Insert, insert_frame, read_frame
from abmsync.sync.database import StoreBase, Transaction
from abmsync.sync.tables import lifecycle_state, routing_pointers, sla_timers, written_values

# The lifecycle pass and the SLA timers define these frames; the store keeps them.
STATE_COLUMNS = progress.STATE_COLUMNS
TIMER_COLUMNS = sla.TIMER_SCHEMA


class StateStore(StoreBase):
    """Load and save lifecycle state (mixed into ``Store``)."""

    def load_lifecycle_state(self, *, tx: Transaction | None = None) -> pl.DataFrame:
        """Every person's current stage, when they entered it, and their owner."""
        return self._load(lifecycle_state, STATE_COLUMNS, tx)

    def save_lifecycle_state(
        self, frame: pl.DataFrame, *, now: datetime | None = None, tx: Transaction | None = None
    ) -> int:
        """Upsert the state rows in ``frame`` (people not in it are left as they are)."""
        rows = frame.select(list(STATE_COLUMNS)).cast(STATE_COLUMNS)  # type: ignore[arg-type]
        at = utc(now) if now is not None else datetime.now(UTC)

        def upsert(insert: Insert) -> sa.Executable:
            changed = {name: insert.excluded[name] for name in (*STATE_COLUMNS, "updated_at")}
            changed.pop("person_id")
            return insert.on_conflict_do_update(
                index_elements=[lifecycle_state.c.person_id], set_=changed
            )

        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection, lifecycle_state, rows, shared={"updated_at": at}, on_conflict=upsert
            )
        return rows.height

    def load_sla_timers(self, *, tx: Transaction | None = None) -> pl.DataFrame:
        """Open and breached SLA timers of people still in a timed stage."""
        return self._load(sla_timers, TIMER_COLUMNS, tx)

    def replace_sla_timers(self, frame: pl.DataFrame, *, tx: Transaction | None = None) -> int:
        """Replace every SLA timer with those in ``frame``."""
        rows = frame.select(list(TIMER_COLUMNS)).cast(TIMER_COLUMNS)  # type: ignore[arg-type]
        with self._connect(tx, write=True) as connection:
            connection.execute(sa.delete(sla_timers))
            insert_frame(connection, sla_timers, rows)
        return rows.height

    def load_routing_pointers(self, *, tx: Transaction | None = None) -> dict[str, int]:
        """Each round-robin queue's position in its weighted cycle."""
        query = sa.select(routing_pointers.c.queue, routing_pointers.c.position)
        with self._connect(tx, write=False) as connection:
            return {queue: int(position) for queue, position in connection.execute(query)}

    def save_routing_pointers(
        self,
        pointers: Mapping[str, int],
        *,
        now: datetime | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Store queue positions so round robin stays fair across runs and restarts."""
        frame = pl.DataFrame(
            {"queue": list(pointers), "position": list(pointers.values())},
            schema={"queue": pl.String(), "position": pl.Int64()},
        )
        at = utc(now) if now is not None else datetime.now(UTC)

        def upsert(insert: Insert) -> sa.Executable:
            return insert.on_conflict_do_update(
                index_elements=[routing_pointers.c.queue],
                set_={
                    "position": insert.excluded.position,
                    "updated_at": insert.excluded.updated_at,
                },
            )

        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection, routing_pointers, frame, shared={"updated_at": at}, on_conflict=upsert
            )

    def load_written_values(
        self, system: str, obj: str, *, tx: Transaction | None = None
    ) -> pl.DataFrame:
        """What abmsync last wrote to ``obj`` in ``system``: one row per record, a column per
        field (values as text, the way vendors return them), ready for ``plan_writes``."""
        query = (
            sa.select(written_values.c.record_id, written_values.c.field, written_values.c.value)
            .where(written_values.c.system == system, written_values.c.obj == obj)
            .order_by(written_values.c.record_id, written_values.c.field)  # the key's order
        )
        with self._connect(tx, write=False) as connection:
            wide = read_frame(connection, query, WRITTEN_LONG, chunk=_wide)
        # A record whose fields straddle two chunks has a row in each: one row per record.
        split = wide["record_id"].is_duplicated()
        if split.any():
            joined = (
                wide.filter(split)
                .group_by("record_id")
                .agg(pl.all().exclude("record_id").drop_nulls().first())
            )
            wide = pl.concat([wide.filter(~split), joined], how="diagonal_relaxed")
        return wide.sort("record_id")

    def save_written_values(
        self,
        system: str,
        obj: str,
        values: Mapping[str, Mapping[str, object]],
        *,
        now: datetime | None = None,
        tx: Transaction | None = None,
    ) -> int:
        """Remember values the vendor confirmed: ``{record_id: {field: value}}``.

        Call this only for records whose write succeeded, in the same
        transaction that moves the cursor.
        """
        rows = [
            {"record_id": record, "field": field, "value": None if v is None else str(v)}
            for record, fields in values.items()
            for field, v in fields.items()
        ]
        frame = pl.DataFrame(
            rows, schema={"record_id": pl.String(), "field": pl.String(), "value": pl.String()}
        )
        at = utc(now) if now is not None else datetime.now(UTC)

        def upsert(insert: Insert) -> sa.Executable:
            return insert.on_conflict_do_update(
                index_elements=[
                    written_values.c.system,
                    written_values.c.obj,
                    written_values.c.record_id,
                    written_values.c.field,
                ],
                set_={"value": insert.excluded.value, "written_at": insert.excluded.written_at},
            )

        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection,
                written_values,
                frame,
                shared={"system": system, "obj": obj, "written_at": at},
                on_conflict=upsert,
            )
        return frame.height

    def _load(
        self, table: sa.Table, columns: Mapping[str, pl.DataType], tx: Transaction | None
    ) -> pl.DataFrame:
        query = sa.select(*(table.c[name] for name in columns)).order_by(
            *(column for column in table.primary_key.columns)
        )
        with self._connect(tx, write=False) as connection:
            return read_frame(connection, query, columns)


WRITTEN_LONG = {"record_id": pl.String(), "field": pl.String(), "value": pl.String()}


def _wide(long: pl.DataFrame) -> pl.DataFrame:
    """Written values, one row per (record, field), as one row per record, a column per field."""
    if long.is_empty():
        return pl.DataFrame(schema={"record_id": pl.String()})
    return long.pivot(on="field", index="record_id", values="value")
