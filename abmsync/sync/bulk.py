"""Writing a polars frame into a table fast, on SQLite and on PostgreSQL; reading one back.

Each backend gets the bulk path that is fast for it, measured on 100,000 rows:

- SQLite: ``executemany`` of one INSERT compiled once, the rows handed to the
  driver as tuples that polars builds (timestamps already in the text SQLAlchemy
  stores); SQLAlchemy's per-row parameter building cost more than SQLite itself.
  Values repeated in every row (the run's timestamp) are converted once.
- PostgreSQL: one ``INSERT ... SELECT ... FROM json_to_recordset(:rows)`` per
  chunk, the chunk sent as one JSON array that polars writes, ~0.3 s.
  psycopg's pipelined ``executemany`` still costs one statement per row (~2.5 s).

Both accept an ``ON CONFLICT`` clause, so upserts take the same path.

:func:`read_frame` reads a query's rows into a frame ``READ_CHUNK_ROWS`` at a
time: the driver's rows are Python tuples (some 250 bytes a row of three
short strings), so a million-person table read whole would hold gigabytes of
them for a frame a tenth the size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.types import TypeEngine

from abmsync.schema import utc
from abmsync.sync.tables import JsonText, UtcDateTime

CHUNK_ROWS = 10_000  # rows per statement or executemany: bounded memory, few round trips
READ_CHUNK_ROWS = 50_000  # rows fetched and turned into a frame at a time

Insert = sqlite.Insert | postgresql.Insert
OnConflict = Callable[[Insert], sa.Executable]


def dialect_insert(connection: sa.Connection, table: sa.Table) -> Insert:
    """An INSERT for ``table`` that supports ``ON CONFLICT`` on the connection's backend."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_frame(
    connection: sa.Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    *,
    shared: Mapping[str, Any] | None = None,
    on_conflict: OnConflict | None = None,
) -> None:
    """Insert every row of ``frame`` into ``table``, in chunks of ``CHUNK_ROWS`` rows.

    ``frame``'s columns are named after ``table``'s; ``shared`` gives columns
    whose value is the same in every row. ``on_conflict`` turns the INSERT
    into an upsert, e.g. ``lambda insert: insert.on_conflict_do_nothing()``.
    """
    shared = dict(shared or {})
    if frame.is_empty():
        return
    write = _insert_recordset if connection.dialect.name == "postgresql" else _insert_many
    for chunk in frame.iter_slices(CHUNK_ROWS):
        write(connection, table, chunk, shared, on_conflict)


def read_frame(
    connection: sa.Connection,
    query: sa.Executable,
    schema: Mapping[str, pl.DataType],
    *,
    chunk: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """The rows of ``query`` as a frame with ``schema`` (its columns in the query's order).

    Rows are fetched and converted ``READ_CHUNK_ROWS`` at a time; ``chunk``,
    if given, reshapes each chunk's frame (e.g. a pivot) before the chunks
    are put together, so the long form is never held whole.
    """
    frames = []
    result = connection.execute(query.execution_options(yield_per=READ_CHUNK_ROWS))
    for rows in result.partitions():
        frame = pl.DataFrame(rows, schema=dict(schema), orient="row")
        frames.append(frame if chunk is None else chunk(frame))
    if not frames:
        empty = pl.DataFrame(schema=dict(schema))
        return empty if chunk is None else chunk(empty)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _insert_many(
    connection: sa.Connection,
    table: sa.Table,
    chunk: pl.DataFrame,
    shared: dict[str, Any],
    on_conflict: OnConflict | None,
) -> None:
    values: dict[str, Any] = {name: sa.bindparam(name) for name in chunk.columns}
    for name, value in shared.items():
        values[name] = _shared_sqlite_param(f"shared_{name}", table.c[name].type, value)
    insert = dialect_insert(connection, table).values(values)
    statement = on_conflict(insert) if on_conflict else insert
    assert isinstance(statement, sa.ClauseElement)
    compiled = statement.compile(dialect=connection.dialect)
    order = list(getattr(compiled, "positiontup", None) or [])
    constants = {
        param.key: param.value
        for name, param in values.items()
        if name not in chunk.columns and isinstance(param.value, str | int | float | None)
    }
    rows = _driver_rows(chunk)
    if rows is None or any(n not in chunk.columns and n not in constants for n in order):
        connection.execute(statement, chunk.to_dicts())
        return
    columns = {name: index for index, name in enumerate(chunk.columns)}
    picks = [(columns.get(n), constants.get(n)) for n in order]
    connection.exec_driver_sql(
        compiled.string,
        [tuple(c if i is None else row[i] for i, c in picks) for row in rows],
    )


def _driver_rows(chunk: pl.DataFrame) -> list[tuple[Any, ...]] | None:
    """``chunk``'s rows as the SQLite driver takes them, or None for a column type it
    cannot take as is (sent through SQLAlchemy's type processing instead)."""
    columns: list[pl.Expr] = []
    for name, dtype in chunk.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            # What SQLAlchemy stores for a DATETIME on SQLite (UtcDateTime: UTC, naive).
            column = column.dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        elif dtype == pl.Date:
            column = column.dt.strftime("%Y-%m-%d")
        elif not (dtype.is_numeric() or dtype in (pl.String, pl.Boolean, pl.Null)):
            return None
        columns.append(column)
    return chunk.select(columns).rows()


def _shared_sqlite_param(name: str, type_: TypeEngine[Any], value: Any) -> sa.BindParameter[Any]:
    if isinstance(type_, UtcDateTime) and isinstance(value, datetime):
        # The exact text SQLAlchemy stores for a DATETIME on SQLite, made once.
        text = utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return sa.bindparam(name, text, type_=sa.String())
    return sa.bindparam(name, value, type_=type_)


def _insert_recordset(
    connection: sa.Connection,
    table: sa.Table,
    chunk: pl.DataFrame,
    shared: dict[str, Any],
    on_conflict: OnConflict | None,
) -> None:
    # The chunk travels as one JSON array that the server expands into typed
    # rows (json_to_recordset): polars encodes it in milliseconds, while
    # psycopg's text dumping of large string arrays takes a third of a second.
    rows_json = sa.cast(sa.bindparam("rows_json", chunk.write_json(), type_=sa.Text), JSON)
    record_columns = [sa.column(name, _record_type(table.c[name])) for name in chunk.columns]
    rows = (
        sa.func.json_to_recordset(rows_json)
        .table_valued(*record_columns)
        .render_derived(with_types=True)
    )
    selected: list[sa.ColumnElement[Any]] = []
    for name in chunk.columns:
        column = rows.c[name]
        is_json = isinstance(table.c[name].type, JsonText)
        selected.append(sa.cast(column, JSON) if is_json else column)
    selected += [sa.literal(value, table.c[name].type) for name, value in shared.items()]
    insert = postgresql.insert(table).from_select([*chunk.columns, *shared], sa.select(*selected))
    connection.execute(on_conflict(insert) if on_conflict else insert)


def _record_type(column: sa.Column[Any]) -> TypeEngine[Any]:
    if isinstance(column.type, UtcDateTime):
        return sa.DateTime(timezone=True)  # ISO text with offset, parsed by the server
    if isinstance(column.type, JsonText):
        return sa.Text()
    return column.type
