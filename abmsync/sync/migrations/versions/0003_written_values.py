"""Last values abmsync wrote to each owned CRM field, for diff-based write plans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "written_values",
        sa.Column("system", sa.String(100), primary_key=True),
        sa.Column("obj", sa.String(200), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("field", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("written_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("written_values")
