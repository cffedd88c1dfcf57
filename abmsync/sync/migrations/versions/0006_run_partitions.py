"""Which partitions of a worker run are read: one row per (run, connector/object).

A read task writes its row in the transaction that commits the partition's
last cursor, with what it read and the API calls it made; the run's pass
starts only when every partition has its row, and takes the counts from
here, so a read delivered twice counts once (``abmsync.workers.partitions``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_TEXT = sa.Text().with_variant(postgresql.JSON(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_partitions",
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_partitions_run_id_runs"),
            primary_key=True,
        ),
        sa.Column("source", sa.String(300), primary_key=True),
        sa.Column("stats", JSON_TEXT, nullable=False),
        sa.Column("api_calls", JSON_TEXT, nullable=False),
        sa.Column("done_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_partitions")
