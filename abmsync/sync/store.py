"""The state store: everything abmsync remembers between runs.

One ``Store`` wraps the state database (a SQLite file by default, PostgreSQL
when workers share it) and holds:

- cursors per (connector, object): where the next incremental read starts;
- cross-references between local records and vendor records;
- the normalized snapshot (``abmsync.sync.snapshot``);
- the append-only score, stage, assignment and SLA ledgers (``abmsync.sync.ledger``);
- runs, dead letters and locks (``abmsync.sync.runlog``);
- current lifecycle state, SLA timers and routing pointers (``abmsync.sync.state``);
- each scored person's email (``abmsync.sync.emails``).

The schema is created and upgraded only by the Alembic migrations, which
``Store.open`` applies. A cursor must move only once the data it covers is
committed, so every method that writes accepts ``tx=``::

    with store.transaction() as tx:
        store.save_snapshot("people", people, tx=tx)
        store.set_cursor("hubspot", "contacts", next_cursor, tx=tx)
    # both committed, or (on an exception) neither
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from abmsync.closing import Closing
from abmsync.schema import SchemaError, SourceRef
from abmsync.sync.bulk import Insert, dialect_insert, insert_frame
from abmsync.sync.database import StoreError, Transaction, open_engine
from abmsync.sync.emails import PersonEmailStore
from abmsync.sync.ledger import LedgerStore
from abmsync.sync.namespace import create_namespace, namespaced_url
from abmsync.sync.runlog import RunLogStore
from abmsync.sync.snapshot import SnapshotStore
from abmsync.sync.state import StateStore
from abmsync.sync.tables import cursors, xrefs

XREF_COLUMNS = ("entity", "local_id", "system", "obj", "vendor_id")


class Store(Closing, SnapshotStore, LedgerStore, RunLogStore, StateStore, PersonEmailStore):
    """The state database of one abmsync deployment. Open it with ``Store.open(url)``."""

    @classmethod
    def open(cls, url: str, *, namespace: str | None = None) -> Store:
        """Open the state database at ``url`` and migrate it to the newest schema.

        ``url`` is e.g. ``sqlite:///abmsync.db`` (the file is created) or
        ``postgresql+psycopg://user:password@host/dbname``. With ``namespace``
        (a tenant's), a PostgreSQL store lives in that schema, created and
        migrated on first use (:mod:`abmsync.sync.namespace`). Raises
        ``StoreError`` with a one-line message (never showing the password)
        when it cannot.
        """
        if namespace is not None:
            confined = namespaced_url(url, namespace)  # checks the name first
            create_namespace(url, namespace)
            url = confined
        return cls(open_engine(url))

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __repr__(self) -> str:
        return f"Store({self._shown_url!r})"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A unit of work: pass the yielded ``tx`` to store methods as ``tx=tx``.

        Everything written through it commits when the block ends, or is rolled
        back, all of it, when the block raises.
        """
        with self._begin(write=True) as tx:
            yield tx

    # Cursors -----------------------------------------------------------------

    def get_cursor(self, connector: str, obj: str, *, tx: Transaction | None = None) -> str | None:
        """Where the next incremental read of ``connector``/``obj`` starts, if known."""
        query = sa.select(cursors.c.value).where(
            cursors.c.connector == connector, cursors.c.obj == obj
        )
        with self._connect(tx, write=False) as connection:
            return connection.execute(query).scalar_one_or_none()

    def all_cursors(self, *, tx: Transaction | None = None) -> pl.DataFrame:
        """Every cursor: connector, obj, value, run_id and when it last moved."""
        query = sa.select(
            cursors.c.connector,
            cursors.c.obj,
            cursors.c.value,
            cursors.c.run_id,
            cursors.c.updated_at,
        ).order_by(cursors.c.connector, cursors.c.obj)
        with self._connect(tx, write=False) as connection:
            rows = connection.execute(query).all()
        schema = {
            "connector": pl.String(),
            "obj": pl.String(),
            "value": pl.String(),
            "run_id": pl.Int64(),
            "updated_at": pl.Datetime("us", "UTC"),
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def set_cursor(
        self,
        connector: str,
        obj: str,
        value: str,
        *,
        run_id: int | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Move the cursor of ``connector``/``obj`` to ``value``.

        Pass the ``tx`` that also writes the data the cursor covers: the cursor
        then moves only if that data commits.
        """
        with self._connect(tx, write=True) as connection:
            insert = dialect_insert(connection, cursors).values(
                connector=connector,
                obj=obj,
                value=value,
                run_id=run_id,
                updated_at=datetime.now(UTC),
            )
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[cursors.c.connector, cursors.c.obj],
                    set_={
                        "value": insert.excluded.value,
                        "run_id": insert.excluded.run_id,
                        "updated_at": insert.excluded.updated_at,
                    },
                )
            )

    # Cross-references ----------------------------------------------------------

    def link(
        self,
        entity: str,
        local_id: str,
        system: str,
        obj: str,
        vendor_id: str,
        *,
        tx: Transaction | None = None,
    ) -> None:
        """Record that vendor record ``system``/``obj``/``vendor_id`` is ``entity`` ``local_id``.

        Idempotent. A vendor record belongs to one local record: linking it to
        another (e.g. after two people were merged) moves the link.
        """
        frame = pl.DataFrame(
            [(entity, local_id, system, obj, vendor_id)], schema=list(XREF_COLUMNS), orient="row"
        )
        self.link_many(frame, tx=tx)

    def link_many(self, links: pl.DataFrame, *, tx: Transaction | None = None) -> None:
        """``link`` for every row of a frame with the columns of ``XREF_COLUMNS``."""
        missing = [name for name in XREF_COLUMNS if name not in links.columns]
        if missing:
            raise SchemaError(f"links: missing column(s) {', '.join(missing)}")
        frame = links.select(pl.col(name).cast(pl.String) for name in XREF_COLUMNS)
        if any(frame[name].null_count() for name in XREF_COLUMNS):
            raise SchemaError("links: null values are not allowed")
        frame = frame.unique(
            subset=["system", "obj", "vendor_id"], keep="last", maintain_order=True
        )
        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection,
                xrefs,
                frame,
                shared={"linked_at": datetime.now(UTC)},
                on_conflict=_move_link_if_changed,
            )

    def find_local(
        self, system: str, obj: str, vendor_id: str, *, tx: Transaction | None = None
    ) -> str | None:
        """The local id linked to vendor record ``system``/``obj``/``vendor_id``, if any."""
        query = sa.select(xrefs.c.local_id).where(
            xrefs.c.system == system, xrefs.c.obj == obj, xrefs.c.vendor_id == vendor_id
        )
        with self._connect(tx, write=False) as connection:
            return connection.execute(query).scalar_one_or_none()

    def links_of_vendor_id(
        self, entity: str, vendor_id: str, *, tx: Transaction | None = None
    ) -> list[tuple[SourceRef, str]]:
        """Every vendor record with id ``vendor_id`` (in any system) and its local ``entity`` id."""
        query = sa.select(xrefs.c.system, xrefs.c.obj, xrefs.c.local_id).where(
            xrefs.c.entity == entity, xrefs.c.vendor_id == vendor_id
        )
        with self._connect(tx, write=False) as connection:
            found = sorted((s, o, local) for s, o, local in connection.execute(query))
        return [(SourceRef(system=s, object=o, id=vendor_id), local) for s, o, local in found]

    def refs_of(
        self, entity: str, local_id: str, *, tx: Transaction | None = None
    ) -> list[SourceRef]:
        """Every vendor record linked to local ``entity`` ``local_id``, sorted."""
        query = sa.select(xrefs.c.system, xrefs.c.obj, xrefs.c.vendor_id).where(
            xrefs.c.entity == entity, xrefs.c.local_id == local_id
        )
        with self._connect(tx, write=False) as connection:
            # Sorted here, not in SQL, so the order is the same on every backend.
            found = sorted((s, o, v) for s, o, v in connection.execute(query))
        return [SourceRef(system=s, object=o, id=v) for s, o, v in found]


def _move_link_if_changed(insert: Insert) -> sa.Executable:
    return insert.on_conflict_do_update(
        index_elements=[xrefs.c.system, xrefs.c.obj, xrefs.c.vendor_id],
        set_={
            "entity": insert.excluded.entity,
            "local_id": insert.excluded.local_id,
            "linked_at": insert.excluded.linked_at,
        },
        where=sa.or_(
            xrefs.c.entity != insert.excluded.entity,
            xrefs.c.local_id != insert.excluded.local_id,
        ),
    )


__all__ = ["Store", "StoreError", "Transaction"]
