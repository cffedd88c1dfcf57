"""Which partitions of a worker run are read, kept in the state database.

A read task, once its partition is read to the end, writes the partition's
row (what it read, the API calls it made) in the same transaction as the
partition's last cursor: the row exists exactly when the cursor covering
the whole partition is committed. A read delivered again finds its row and
does nothing; the pass starts only when every partition has its row
(:func:`unread`) and takes the run's counts and calls from these rows, one
per partition whatever the queue delivered twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from abmsync.sync.bulk import dialect_insert
from abmsync.sync.engine import StoppedEarlyError, SyncRun
from abmsync.sync.sources import ReadStats
from abmsync.sync.store import Store
from abmsync.sync.tables import run_partitions


@dataclass(frozen=True)
class PartitionRead:
    """One partition's finished read: its counts and the API calls it took."""

    stats: ReadStats
    api_calls: dict[str, int]


def read_partitions(store: Store, run_id: int) -> dict[str, PartitionRead]:
    """The partitions of run ``run_id`` read to the end, by source name."""
    query = sa.select(run_partitions).where(run_partitions.c.run_id == run_id)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        row.source: PartitionRead(ReadStats(**json.loads(row.stats)), json.loads(row.api_calls))
        for row in rows
    }


def unread(store: Store, run_id: int, partitions: Iterable[str]) -> list[str]:
    """The partitions among ``partitions`` that run ``run_id`` has not read to the end yet."""
    done = read_partitions(store, run_id)
    return [name for name in partitions if name not in done]


def mark_read(
    store: Store, run_id: int, run: SyncRun, source_name: str, read: PartitionRead
) -> bool:
    """Commit the partition's last cursor again with its row; ``False`` if the row was there."""
    source = next(s for s in run.sources if s.name == source_name)
    with store.transaction() as tx:
        cursor = store.get_cursor(source.system, source.obj, tx=tx)
        if cursor is not None:
            store.set_cursor(source.system, source.obj, cursor, run_id=run_id, tx=tx)
        insert = dialect_insert(tx.connection, run_partitions).values(
            run_id=run_id,
            source=source_name,
            stats=json.dumps(vars(read.stats), sort_keys=True),
            api_calls=json.dumps(read.api_calls, sort_keys=True),
            done_at=datetime.now(UTC),
        )
        done = tx.connection.execute(
            insert.on_conflict_do_nothing().returning(insert.table.c.run_id)
        )
        return done.first() is not None


def read_once(run: SyncRun, run_id: int, source_name: str, lost: Callable[[], bool]) -> bool:
    """Read partition ``source_name`` of run ``run_id`` unless it is read; ``True`` if read now.

    A read stopped because the run lock was ``lost`` raises ``StoppedEarlyError``
    and leaves no row: its cursors are committed, the rest is for the next run.
    """
    if source_name in read_partitions(run.store, run_id):
        return False
    stats = run.read_object(source_name, run_id)
    if lost():
        raise StoppedEarlyError(f"{source_name}: lost the run lock; stopped after a batch")
    return mark_read(run.store, run_id, run, source_name, PartitionRead(stats, run.api_calls()))


def total_calls(calls: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """API calls per system, summed."""
    total: dict[str, int] = {}
    for answer in calls:
        for system, count in answer.items():
            total[system] = total.get(system, 0) + count
    return total
