"""Initial state schema: runs, cursors, cross-references, snapshot, ledgers, dead letters, locks.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types: a migration must not change when
# abmsync.sync.tables does.
TIMESTAMP = sa.DateTime(timezone=True)
JSON_TEXT = sa.Text().with_variant(postgresql.JSON(), "postgresql")
LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("counts", JSON_TEXT),
        sa.Column("api_calls", JSON_TEXT),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "cursors",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("obj", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("runs.id", ondelete="SET NULL", name="fk_cursors_run_id_runs"),
        ),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "xrefs",
        sa.Column("system", sa.String(100), primary_key=True),
        sa.Column("obj", sa.String(200), primary_key=True),
        sa.Column("vendor_id", sa.String(255), primary_key=True),
        sa.Column("entity", sa.String(100), nullable=False),
        sa.Column("local_id", sa.String(255), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_xrefs_entity_local_id", "xrefs", ["entity", "local_id"])
    op.create_table(
        "snapshot",
        sa.Column("entity", sa.String(100), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("data", JSON_TEXT, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_snapshot_entity_updated_at", "snapshot", ["entity", "updated_at"])
    op.create_table(
        "score_ledger",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(255), nullable=False),
        sa.Column("fit", sa.Double, nullable=False),
        sa.Column("engagement", sa.Double, nullable=False),
        sa.Column("total", sa.Double, nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("band", sa.Integer, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("rules_version", sa.String(100), nullable=False),
        sa.Column("as_of", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_score_ledger_person_id_as_of", "score_ledger", ["person_id", "as_of"])
    op.create_table(
        "stage_changes",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(255), nullable=False),
        sa.Column("from_stage", sa.String(100)),
        sa.Column("to_stage", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("rules_version", sa.String(100), nullable=False),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
    )
    op.create_index(
        "ix_stage_changes_person_id_changed_at", "stage_changes", ["person_id", "changed_at"]
    )
    op.create_table(
        "assignments",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rules_version", sa.String(100), nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
    )
    op.create_index(
        "ix_assignments_person_id_assigned_at", "assignments", ["person_id", "assigned_at"]
    )
    op.create_table(
        "sla_events",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(255), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("action", sa.String(100)),
        sa.Column("owner_id", sa.String(255)),
    )
    op.create_index(
        "ix_sla_events_person_id_occurred_at", "sla_events", ["person_id", "occurred_at"]
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("obj", sa.String(200), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("payload", JSON_TEXT, nullable=False),
        sa.Column("error_code", sa.String(100)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_tried", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.UniqueConstraint(
            "connector", "obj", "record_id", name="uq_dead_letters_connector_obj_record_id"
        ),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "locks",
        "dead_letters",
        "sla_events",
        "assignments",
        "stage_changes",
        "score_ledger",
        "snapshot",
        "xrefs",
        "cursors",
        "runs",
    ):
        op.drop_table(table)
