"""Table definitions of the state database, as the store's queries see them.

The schema itself is created and changed only by the Alembic migrations in
``abmsync/sync/migrations/versions``; these definitions must describe the
same tables (a test compares them with the migrated database). Two column
types smooth over the differences between SQLite and PostgreSQL:

- ``UtcDateTime`` stores aware UTC datetimes and always returns them aware in
  UTC (SQLite keeps no time zone, PostgreSQL returns the session's zone).
- ``JsonText`` holds a JSON document that Python handles as text: ``json`` on
  PostgreSQL (so operators can query it with ``->>``), ``TEXT`` on SQLite. Bulk
  writers encode rows once in polars instead of round-tripping through Python
  objects, and the text comes back exactly as written (``jsonb`` would reorder
  the keys, and with them a loaded frame's columns).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from abmsync.schema import utc


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend; naive input is taken as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = utc(value)
        # SQLite stores the text form without an offset: keep it UTC and naive
        # so that text comparisons in SQL (lock expiry, as-of) stay correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


class _JsonAsText(UserDefinedType[str]):
    """PostgreSQL ``json`` read and written as text (the server validates it)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSON"

    def column_expression(self, colexpr: Any) -> Any:
        return sa.cast(colexpr, sa.Text)


class JsonText(TypeDecorator[str]):
    """A JSON document passed as text: ``json`` on PostgreSQL, ``TEXT`` elsewhere."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return _JsonAsText()
        return dialect.type_descriptor(sa.Text())


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
LedgerId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("counts", JsonText),
    sa.Column("api_calls", JsonText),
    sa.Column("error", sa.Text),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("obj", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column(
        "run_id",
        sa.Integer,
        sa.ForeignKey("runs.id", ondelete="SET NULL", name="fk_cursors_run_id_runs"),
    ),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

xrefs = sa.Table(
    "xrefs",
    metadata,
    sa.Column("system", sa.String(100), primary_key=True),
    sa.Column("obj", sa.String(200), primary_key=True),
    sa.Column("vendor_id", sa.String(255), primary_key=True),
    sa.Column("entity", sa.String(100), nullable=False),
    sa.Column("local_id", sa.String(255), nullable=False),
    sa.Column("linked_at", UtcDateTime, nullable=False),
    sa.Index("ix_xrefs_entity_local_id", "entity", "local_id"),
)

snapshot = sa.Table(
    "snapshot",
    metadata,
    sa.Column("entity", sa.String(100), primary_key=True),
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("data", JsonText, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_snapshot_entity_updated_at", "entity", "updated_at"),
)

score_ledger = sa.Table(
    "score_ledger",
    metadata,
    sa.Column("id", LedgerId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("fit", sa.Double, nullable=False),
    sa.Column("engagement", sa.Double, nullable=False),
    sa.Column("total", sa.Double, nullable=False),
    sa.Column("grade", sa.String(16), nullable=False),
    sa.Column("band", sa.Integer, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("rules_version", sa.String(100), nullable=False),
    sa.Column("as_of", UtcDateTime, nullable=False),
    sa.Index("ix_score_ledger_person_id_as_of", "person_id", "as_of"),
)

stage_changes = sa.Table(
    "stage_changes",
    metadata,
    sa.Column("id", LedgerId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("from_stage", sa.String(100)),
    sa.Column("to_stage", sa.String(100), nullable=False),
    sa.Column("rule", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("rules_version", sa.String(100), nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),  # when the evidence says it happened
    sa.Column("recorded_at", UtcDateTime),  # as-of time of the pass that recorded it
    sa.Index("ix_stage_changes_person_id_changed_at", "person_id", "changed_at"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", LedgerId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("owner_id", sa.String(255), nullable=False),
    sa.Column("rule", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rules_version", sa.String(100), nullable=False),
    sa.Column("assigned_at", UtcDateTime, nullable=False),
    sa.Column("queue", sa.String(100)),
    sa.Index("ix_assignments_person_id_assigned_at", "person_id", "assigned_at"),
)

sla_events = sa.Table(
    "sla_events",
    metadata,
    sa.Column("id", LedgerId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("stage", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(100)),
    sa.Column("owner_id", sa.String(255)),
    sa.Column("escalate_to", sa.String(255)),
    sa.Index("ix_sla_events_person_id_occurred_at", "person_id", "occurred_at"),
)

lifecycle_state = sa.Table(
    "lifecycle_state",
    metadata,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("stage", sa.String(100), nullable=False),
    sa.Column("stage_entered_at", UtcDateTime, nullable=False),
    sa.Column("previous_stage", sa.String(100)),
    sa.Column("owner_id", sa.String(255)),
    sa.Column("queue", sa.String(100)),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

sla_timers = sa.Table(
    "sla_timers",
    metadata,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("stage", sa.String(100), primary_key=True),
    sa.Column("owner_id", sa.String(255)),
    sa.Column("queue", sa.String(100)),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
)

written_values = sa.Table(
    "written_values",
    metadata,
    sa.Column("system", sa.String(100), primary_key=True),
    sa.Column("obj", sa.String(200), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("field", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("written_at", UtcDateTime, nullable=False),
)

person_emails = sa.Table(
    "person_emails",
    metadata,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_person_emails_email", "email"),
)

routing_pointers = sa.Table(
    "routing_pointers",
    metadata,
    sa.Column("queue", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(100), nullable=False),
    sa.Column("obj", sa.String(200), nullable=False),
    sa.Column("record_id", sa.String(255), nullable=False),
    sa.Column("payload", JsonText, nullable=False),
    sa.Column("error_code", sa.String(100)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_tried", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.UniqueConstraint(
        "connector", "obj", "record_id", name="uq_dead_letters_connector_obj_record_id"
    ),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# A worker run's partitions that are read (abmsync.workers.partitions).
run_partitions = sa.Table(
    "run_partitions",
    metadata,
    sa.Column(
        "run_id",
        sa.Integer,
        sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_partitions_run_id_runs"),
        primary_key=True,
    ),
    sa.Column("source", sa.String(300), primary_key=True),
    sa.Column("stats", JsonText, nullable=False),
    sa.Column("api_calls", JsonText, nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=False),
)

TABLE_NAMES: tuple[str, ...] = tuple(metadata.tables)
