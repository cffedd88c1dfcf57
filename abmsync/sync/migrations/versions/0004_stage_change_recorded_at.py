"""Stage changes: when the pass that recorded a change ran, beside when it happened.

``changed_at`` is the time of the evidence for a move (a touchpoint, the CRM's
status change, an opportunity), ``recorded_at`` the as-of time of the pass
that recorded it. Rows from before this revision have no ``recorded_at``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("stage_changes") as batch:
        batch.add_column(sa.Column("recorded_at", TIMESTAMP))


def downgrade() -> None:
    with op.batch_alter_table("stage_changes") as batch:
        batch.drop_column("recorded_at")
