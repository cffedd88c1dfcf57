"""The email each scored person was last seen with, for ``abmsync history EMAIL``.

People scored only from files have no snapshot to find them by email in;
each recorded pass keeps their normalized email here (``abmsync.sync.emails``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "person_emails",
        sa.Column("person_id", sa.String(255), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_person_emails_email", "person_emails", ["email"])


def downgrade() -> None:
    op.drop_index("ix_person_emails_email", table_name="person_emails")
    op.drop_table("person_emails")
