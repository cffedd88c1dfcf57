"""The email each scored person was last seen with, so ``abmsync history EMAIL`` finds anyone.

People read from a CRM or a marketing platform are found by email in the
snapshot of the records the syncs read. People scored only from files
(``abmsync run``, ``abmsync score --database``) leave no snapshot: every
recorded pass keeps each person's normalized email here instead, writing
only the pairs that are new or changed since the last pass, so a daily
pass over unchanged people adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from abmsync.schema import utc
from abmsync.sync.bulk import Insert, insert_frame, read_frame
from abmsync.sync.database import StoreBase, Transaction
from abmsync.sync.tables import person_emails

EMAIL_COLUMNS: dict[str, pl.DataType] = {"person_id": pl.String(), "email": pl.String()}


def normalized_email(email: pl.Expr) -> pl.Expr:
    """An email as people are matched by it: trimmed and lower-cased."""
    return email.str.strip_chars().str.to_lowercase()


class PersonEmailStore(StoreBase):
    """Record and look up people's emails (mixed into ``Store``)."""

    def save_person_emails(
        self, people: pl.DataFrame, *, now: datetime | None = None, tx: Transaction | None = None
    ) -> int:
        """Keep the email of everyone in ``people`` (person_id, email); returns the rows written.

        People without an email are left as they are; a changed email replaces the old one.
        """
        if "email" not in people.columns:
            return 0
        seen = (
            people.select(
                pl.col("person_id").cast(pl.String),
                normalized_email(pl.col("email").cast(pl.String)),
            )
            .filter(pl.col("email").str.len_chars() > 0)
            .unique("person_id", keep="last", maintain_order=True)
        )
        if seen.is_empty():
            return 0
        changed = seen.join(self._held_emails(tx), on=["person_id", "email"], how="anti")
        at = utc(now) if now is not None else datetime.now(UTC)

        def upsert(insert: Insert) -> sa.Executable:
            return insert.on_conflict_do_update(
                index_elements=[person_emails.c.person_id],
                set_={"email": insert.excluded.email, "updated_at": insert.excluded.updated_at},
            )

        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection, person_emails, changed, shared={"updated_at": at}, on_conflict=upsert
            )
        return changed.height

    def people_with_email(self, email: str, *, tx: Transaction | None = None) -> list[str]:
        """The person ids last seen with ``email`` (ignoring case and surrounding spaces)."""
        wanted = email.strip().lower()
        query = (
            sa.select(person_emails.c.person_id)
            .where(person_emails.c.email == wanted)
            .order_by(person_emails.c.person_id)
        )
        with self._connect(tx, write=False) as connection:
            return [str(row[0]) for row in connection.execute(query)]

    def _held_emails(self, tx: Transaction | None) -> pl.DataFrame:
        query = sa.select(person_emails.c.person_id, person_emails.c.email)
        with self._connect(tx, write=False) as connection:
            return read_frame(connection, query, EMAIL_COLUMNS)
