"""Lifecycle state: each person's current stage and owner, SLA timers, routing pointers.

The append-only ledgers stay the source of truth; these tables are the
current state a pass starts from, so it need not replay every ledger row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifecycle_state",
        sa.Column("person_id", sa.String(255), primary_key=True),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("stage_entered_at", TIMESTAMP, nullable=False),
        sa.Column("previous_stage", sa.String(100)),
        sa.Column("owner_id", sa.String(255)),
        sa.Column("queue", sa.String(100)),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "sla_timers",
        sa.Column("person_id", sa.String(255), primary_key=True),
        sa.Column("stage", sa.String(100), primary_key=True),
        sa.Column("owner_id", sa.String(255)),
        sa.Column("queue", sa.String(100)),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_table(
        "routing_pointers",
        sa.Column("queue", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    with op.batch_alter_table("sla_events") as batch:
        batch.add_column(sa.Column("escalate_to", sa.String(255)))
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("queue", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("queue")
    with op.batch_alter_table("sla_events") as batch:
        batch.drop_column("escalate_to")
    op.drop_table("routing_pointers")
    op.drop_table("sla_timers")
    op.drop_table("lifecycle_state")
