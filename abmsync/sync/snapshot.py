"""The normalized snapshot: the latest known version of every record, by entity and id.

Rows are kept as JSON documents encoded by polars in one pass, so saving a
100,000-row frame is one bulk upsert rather than a Python loop over fields.
``updated_at`` moves only when a row's content changes, which lets a run ask
for just the records that changed since the previous one.

Frames of the shared entities (``people``, ``accounts``, ``touchpoints``,
``opportunities``) are conformed to ``abmsync.schema`` on the way in and on the
way out, so their column types survive the JSON round trip (timestamps come
back as aware UTC). Other entities come back with the types JSON can carry.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from abmsync.schema import FRAME_COLUMNS, SchemaError, conform, utc
from abmsync.sync.bulk import CHUNK_ROWS, Insert, insert_frame
from abmsync.sync.database import StoreBase, Transaction
from abmsync.sync.memory import trim_memory
from abmsync.sync.tables import snapshot


class SnapshotStore(StoreBase):
    """Save and load the normalized snapshot (mixed into ``Store``)."""

    def save_snapshot(
        self,
        entity: str,
        frame: pl.DataFrame,
        *,
        now: datetime | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Upsert ``frame``'s rows into the snapshot of ``entity``, keyed by its ``id`` column.

        A row whose content is unchanged keeps its ``updated_at``; a changed or
        new row gets ``now`` (default: the current time). When an id occurs
        more than once in ``frame`` the last occurrence wins. Raises
        ``SchemaError`` when ``id`` is missing or null, or when a shared entity's
        columns cannot be conformed to ``abmsync.schema``.
        """
        frame = _conform(entity, frame, loading=False)
        if "id" not in frame.columns:
            raise SchemaError(f"{entity}: a snapshot needs an 'id' column")
        frame = frame.with_columns(pl.col("id").cast(pl.String))
        if frame["id"].null_count():
            raise SchemaError(f"{entity}: 'id' is null in {frame['id'].null_count()} row(s)")
        frame = frame.unique(subset="id", keep="last", maintain_order=True)
        at = utc(now) if now is not None else datetime.now(UTC)
        documents = frame.select(pl.col("id"), _documents(frame).alias("data"))
        with self._connect(tx, write=True) as connection:
            insert_frame(
                connection,
                snapshot,
                documents,
                shared={"entity": entity, "updated_at": at},
                on_conflict=_replace_if_changed,
            )

    def load_snapshot(
        self,
        entity: str,
        *,
        changed_since: datetime | None = None,
        ids: Sequence[str] | None = None,
        tx: Transaction | None = None,
    ) -> pl.DataFrame:
        """The snapshot of ``entity`` as a frame sorted by ``id``.

        With ``changed_since``, only rows whose content changed at or after that
        time; with ``ids``, only the rows with these ids (looked up by key, not
        a load of the whole entity). An entity never saved gives an empty frame
        (with the shared schema's columns for the shared entities).
        """
        query = sa.select(snapshot.c.data).where(snapshot.c.entity == entity)
        if changed_since is not None:
            query = query.where(snapshot.c.updated_at >= utc(changed_since))
        frames: list[pl.DataFrame] = []
        with self._connect(tx, write=False) as connection:
            if ids is None:
                # Decoded a chunk at a time: never all the documents as text at once.
                # The option goes on the statement: on the connection it would stay
                # set for the rest of the transaction (a server-side cursor on
                # PostgreSQL for every later statement, DELETEs included).
                result = connection.execute(query.execution_options(yield_per=CHUNK_ROWS))
                frames.extend(_read_documents(chunk) for chunk in result.scalars().partitions())
            else:
                for start in range(0, len(ids), CHUNK_ROWS):
                    chunk = list(ids[start : start + CHUNK_ROWS])
                    documents = connection.execute(query.where(snapshot.c.id.in_(chunk)))
                    frames.append(_read_documents(documents.scalars().all()))
        frames = [frame for frame in frames if frame.height]
        if not frames:
            return _empty(entity)
        frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        del frames
        if ids is None:
            trim_memory()  # the decoded documents of a whole entity
        return _conform(entity, frame, loading=True).sort("id")

    def find_in_snapshot(
        self,
        entity_prefix: str,
        column: str,
        value: str,
        *,
        tx: Transaction | None = None,
    ) -> list[tuple[str, str]]:
        """``(entity, id)`` of the rows of entities named ``entity_prefix...`` whose
        ``column`` equals ``value`` ignoring case and surrounding spaces.

        The database narrows the rows by text, then each candidate's document
        is parsed and compared exactly: a lookup, not a load of the snapshot.
        """
        wanted = value.strip().lower()
        if not wanted:
            return []
        text = sa.func.lower(sa.cast(snapshot.c.data, sa.Text))
        query = sa.select(snapshot.c.entity, snapshot.c.id, snapshot.c.data).where(
            snapshot.c.entity.startswith(entity_prefix, autoescape=True),
            text.contains(wanted, autoescape=True),
        )
        with self._connect(tx, write=False) as connection:
            rows = connection.execute(query).all()
        found = []
        for entity, row_id, data in rows:
            held = json.loads(data).get(column)
            if isinstance(held, str) and held.strip().lower() == wanted:
                found.append((str(entity), str(row_id)))
        return sorted(found)

    def delete_snapshot(
        self, entity: str, ids: Sequence[str], *, tx: Transaction | None = None
    ) -> int:
        """Remove the rows of ``entity`` with these ids (records deleted at the source).

        Returns how many rows were removed.
        """
        removed = 0
        with self._connect(tx, write=True) as connection:
            for start in range(0, len(ids), CHUNK_ROWS):
                chunk = list(ids[start : start + CHUNK_ROWS])
                result = connection.execute(
                    sa.delete(snapshot).where(snapshot.c.entity == entity, snapshot.c.id.in_(chunk))
                )
                removed += result.rowcount
        return removed


def as_stored(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as the snapshot gives it back: through its JSON documents (datetimes of
    custom columns come back as text, for one), to compare with what is stored."""
    if frame.is_empty():
        return frame
    return _read_documents(frame.select(_documents(frame))[:, 0].to_list())


def _documents(frame: pl.DataFrame) -> pl.Expr:
    return pl.struct(pl.all()).struct.json_encode()


def _read_documents(documents: Sequence[str]) -> pl.DataFrame:
    if not documents:
        return pl.DataFrame()
    return pl.read_ndjson(io.StringIO("\n".join(documents)), infer_schema_length=None)


def _replace_if_changed(insert: Insert) -> sa.Executable:
    return insert.on_conflict_do_update(
        index_elements=[snapshot.c.entity, snapshot.c.id],
        set_={"data": insert.excluded.data, "updated_at": insert.excluded.updated_at},
        # Compared as text: PostgreSQL's json type has no equality operator.
        where=sa.cast(snapshot.c.data, sa.Text) != sa.cast(insert.excluded.data, sa.Text),
    )


def _conform(entity: str, frame: pl.DataFrame, *, loading: bool) -> pl.DataFrame:
    if entity not in FRAME_COLUMNS:
        return frame
    try:
        return conform(frame, entity)
    except SchemaError as exc:
        if loading:  # the stored rows no longer fit the schema: say where they came from
            raise SchemaError(f"stored snapshot of {exc}") from exc
        raise


def _empty(entity: str) -> pl.DataFrame:
    if entity in FRAME_COLUMNS:
        return pl.DataFrame(schema=FRAME_COLUMNS[entity])
    return pl.DataFrame(schema={"id": pl.String()})
