"""The read half of a sync: vendor changes into the snapshot, cursor last.

Every mapping file names one source (a system and object) and the schema
entity it produces. For each source, :func:`read_source` asks the connector
for the changes after the stored cursor and, per batch, in one transaction:
stores the mapped rows in the snapshot, the raw values of the fields
abmsync owns (to notice hand edits), tombstones for deleted and merged
records, and only then the batch's cursor. A crash loses at most the batch in
flight, which the next run reads again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import polars as pl

from abmsync.connectors.base import Batch, Connector, Cursor, SelectsFields
from abmsync.connectors.mapping import Mapping, apply_mapping, load_mapping
from abmsync.errors import ConfigError
from abmsync.schema import FRAME_COLUMNS, conform
from abmsync.sync.database import Transaction
from abmsync.sync.events import Kind, Progress, ProgressEvent, ignore
from abmsync.sync.prefetch import Prefetched
from abmsync.sync.snapshot import as_stored
from abmsync.sync.store import Store

log = logging.getLogger(__name__)

# Entities are read in this order: people link to accounts, touchpoints to people.
ENTITY_ORDER = ("accounts", "people", "opportunities", "opportunity_roles", "touchpoints")
# People are preferred from CRMs over marketing platforms, in this order.
SYSTEM_RANK = ("salesforce", "dynamics", "hubspot", "eloqua")
MASTER_COLUMN = "master_record_id"
TOMBSTONE_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "master_id": pl.String(),
    "deleted_at": pl.String(),  # ISO 8601, when abmsync learnt of the deletion
}


@dataclass(frozen=True)
class Source:
    """One mapping file: where records come from and what they become."""

    mapping: Mapping

    @property
    def system(self) -> str:
        return self.mapping.source.system

    @property
    def obj(self) -> str:
        return self.mapping.source.object

    @property
    def entity(self) -> str:
        return self.mapping.entity

    @property
    def name(self) -> str:
        return f"{self.system}/{self.obj}"

    @property
    def key(self) -> str:
        """The snapshot entity holding this source's mapped records."""
        return f"{self.entity}@{self.name}"

    @property
    def crm_key(self) -> str:
        """The snapshot entity holding the CRM's values of the fields abmsync owns."""
        return f"crm@{self.name}"

    @property
    def listing_key(self) -> str:
        """The snapshot entity holding the ids a full listing in progress has yielded."""
        return f"listed@{self.name}"

    @property
    def tombstone_key(self) -> str:
        """The snapshot entity holding records deleted (or merged away) at the source."""
        return f"deleted@{self.name}"

    @property
    def id_field(self) -> str | None:
        """The vendor field that holds the record id."""
        rule = self.mapping.fields.get("id")
        return rule.field if rule is not None else None

    @property
    def master_field(self) -> str:
        """The vendor field naming the record a merged-away record was merged into.

        The field mapped to the ``master_record_id`` column (Salesforce's
        ``MasterRecordId``, Dataverse's ``masterid``), else Salesforce's name.
        """
        for column, rule in self.mapping.fields.items():
            if column == MASTER_COLUMN and rule.field is not None:
                return rule.field
        for name, custom in self.mapping.custom.items():
            if custom.column == MASTER_COLUMN:
                return name
        return "MasterRecordId"

    def load(
        self, store: Store, *, ids: Sequence[str] | None = None, tx: Transaction | None = None
    ) -> pl.DataFrame:
        """This source's snapshot (only the rows with ``ids``, if given), conformed to its
        entity's schema."""
        frame = store.load_snapshot(self.key, ids=ids, tx=tx)
        if frame.is_empty():
            return pl.DataFrame(schema=FRAME_COLUMNS[self.entity])
        return conform(frame, self.entity)

    def tombstones(self, store: Store) -> pl.DataFrame:
        frame = store.load_snapshot(self.tombstone_key)
        if frame.is_empty():
            return pl.DataFrame(schema=TOMBSTONE_COLUMNS)
        return frame.select(
            pl.col(n).cast(t) if n in frame.columns else pl.lit(None, dtype=t).alias(n)
            for n, t in TOMBSTONE_COLUMNS.items()
        )


def load_sources(paths: Sequence[Path], systems: Sequence[str]) -> list[Source]:
    """Sources from mapping files (directories are searched for ``*.yaml``).

    Mappings of systems not in ``systems`` (not configured) are left out;
    the rest are ordered accounts, people, opportunities, touchpoints, and
    within an entity CRM first.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such mapping file or directory")
    sources: list[Source] = []
    seen: dict[str, Path] = {}
    for file in files:
        source = Source(load_mapping(file))
        if source.system not in systems:
            continue
        if source.key in seen:
            raise ConfigError(
                f"{file}: {source.name} is already mapped to {source.entity} in {seen[source.key]}"
            )
        seen[source.key] = file
        sources.append(source)
    if not sources:
        raise ConfigError(
            f"no mapping in {', '.join(map(str, paths))} reads from {', '.join(systems)}"
        )
    return sorted(sources, key=lambda s: (ENTITY_ORDER.index(s.entity), rank(s.system), s.obj))


def rank(system: str) -> int:
    """How strongly a system's people records are preferred (lower first)."""
    return SYSTEM_RANK.index(system) if system in SYSTEM_RANK else len(SYSTEM_RANK)


@dataclass
class ReadStats:
    """What reading one source brought in."""

    records: int = 0
    deleted: int = 0
    batches: int = 0
    skipped_echoes: int = 0
    # Records whose only change is in fields abmsync owns: its own writes, read back
    # by the run after the one that wrote them (see read_source). Not changes.
    read_back: int = 0

    def add(self, other: ReadStats) -> None:
        """Count ``other``'s read (a later read of the same source) in with this one."""
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def read_source(
    store: Store,
    connector: Connector,
    source: Source,
    *,
    owned: Sequence[str] = (),
    echo: str | None = None,
    run_id: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress = ignore,
) -> ReadStats:
    """Read ``source``'s changes after its cursor into the snapshot; see the module doc.

    ``owned`` are vendor fields abmsync writes (kept raw to detect hand
    edits); ``echo`` is a field marking records abmsync created itself, which
    are skipped. A record read again whose mapped content equals the
    snapshot's but for the owned fields is abmsync's own write coming back
    (the write moved its modification stamp past the cursor): it is stored
    (the owned fields as the vendor now holds them) but counted as
    ``read_back``, not as a change. The test is the content, not the stamp:
    an edit someone made between this run's read and its write is hidden
    behind the write's stamp, yet differs from the snapshot, so it is kept.
    Stops after the current batch once ``stop()`` is true. ``progress`` hears
    the records read so far (changes and read-back writes) after each batch.
    """
    started = time.perf_counter()
    stats = ReadStats()
    kind: Kind = "read"
    text = f"reading {source.name}"

    def report(*, final: bool = False) -> None:
        done = stats.records + stats.read_back
        progress(ProgressEvent(kind, text, source.system, source.obj, done, final=final))

    report()
    if isinstance(connector, SelectsFields):
        wanted = [*source.mapping.vendor_fields, *owned, *([echo] if echo else [])]
        connector.select_fields(source.obj, wanted)
    value = store.get_cursor(source.system, source.obj)
    cursor = Cursor(value=value) if value is not None else None
    # Deletions already recorded: the vendor's deletion window overlaps runs, so
    # the same deletions come back; they are neither counted again nor allowed
    # to overwrite the record they were merged into with nothing.
    known = {
        str(row[0]): row[1] for row in source.tombstones(store).select("id", "master_id").rows()
    }
    stored = _BatchStore(
        store, source, owned, source.mapping.columns_from(owned), echo, run_id, known
    )
    # The next batch is fetched while this one is stored (abmsync.sync.prefetch).
    with Prefetched(partial(connector.read_changes, source.obj, cursor)) as batches:
        for batch in batches:
            stored.store_batch(batch, now(), stats)
            log.debug(
                "%s: batch %d",
                text,
                stats.batches,
                extra={
                    "run_id": run_id,
                    "step": kind,
                    "system": source.system,
                    "object": source.obj,
                    "batch": stats.batches,
                    "batch_records": batch.records.height,
                    "batch_deleted": len(batch.deleted_ids),
                    "records": stats.records,
                    "read_back": stats.read_back,
                },
            )
            report()
            if stop():
                break
    report(final=True)
    log.info(
        "%s: %d records",
        text,
        stats.records + stats.read_back,
        extra={
            "run_id": run_id,
            "step": kind,
            "system": source.system,
            "object": source.obj,
            "records": stats.records,
            "deleted": stats.deleted,
            "batches": stats.batches,
            "read_back": stats.read_back,
            "skipped_echoes": stats.skipped_echoes,
            "duration_s": round(time.perf_counter() - started, 3),
        },
    )
    return stats


@dataclass
class _BatchStore:
    """Stores one source's batches: records, owned fields, deletions and the cursor at once."""

    store: Store
    source: Source
    owned: Sequence[str]  # vendor fields abmsync writes
    owned_columns: Sequence[str]  # the columns they map to
    echo: str | None
    run_id: int | None
    known: dict[str, str | None]  # deletions recorded -> the record merged into, if any

    def store_batch(self, batch: Batch, at: datetime, stats: ReadStats) -> None:
        """Store ``batch`` in one transaction, its cursor with it, and count it in ``stats``."""
        store, source, owned, echo = self.store, self.source, self.owned, self.echo
        id_field = source.id_field or "Id"
        raw = batch.records
        if echo is not None and echo in raw.columns and raw.height:
            mine = raw[echo].is_not_null()
            stats.skipped_echoes += int(mine.sum())
            raw = raw.filter(~mine)
        if raw.height and id_field not in raw.columns:
            where = source.mapping.where("fields", "id") or f"{source.name}: "
            raise ConfigError(
                f"{where}the id field {id_field!r} is not among the fields {source.system} "
                f"returned for {source.obj}"
            )
        masters = _masters(raw, id_field, source.master_field)
        live = raw.filter(~pl.col(id_field).cast(pl.String).is_in(batch.deleted_ids))
        mapped = apply_mapping(source.mapping, live) if live.height else None
        with store.transaction() as tx:
            changed = live.height
            if mapped is not None:
                changed, differing = _compare(store, source, mapped, self.owned_columns, tx)
                stats.read_back += live.height - changed
                store.save_snapshot(source.key, differing, now=at, tx=tx)
                present = [f for f in owned if f in live.columns]
                if present:
                    crm = live.select(pl.col(id_field).cast(pl.String).alias("id"), *present)
                    store.save_snapshot(source.crm_key, crm, now=at, tx=tx)
            deleted = list(batch.deleted_ids)
            if batch.full_listing:
                seen = live.select(pl.col(id_field).cast(pl.String).alias("id"))
                deleted += _listed(store, source, seen, complete=batch.listing_complete, tx=tx)
            tombstones = _new_tombstones(deleted, masters, self.known)
            if tombstones.height:
                store.save_snapshot(
                    source.tombstone_key,
                    tombstones.with_columns(pl.lit(at.isoformat()).alias("deleted_at")),
                    now=at,
                    tx=tx,
                )
            if deleted:
                store.delete_snapshot(source.key, deleted, tx=tx)
            store.set_cursor(
                source.system, source.obj, batch.cursor.value, run_id=self.run_id, tx=tx
            )
        stats.records += changed
        stats.deleted += sum(1 for i in tombstones["id"] if i not in self.known)
        self.known.update(zip(tombstones["id"], tombstones["master_id"], strict=True))
        stats.batches += 1


def _listed(
    store: Store, source: Source, seen: pl.DataFrame, *, complete: bool, tx: Transaction
) -> list[str]:
    """Note ids a full listing yielded; once it is complete, the stored ids it never yielded.

    The ids are kept in the state database, batch by batch with the records,
    so a listing interrupted by a crash or a stop resumes where its cursor
    was and still knows what it saw before.
    """
    if seen.height:
        store.save_snapshot(source.listing_key, seen, tx=tx)
    if not complete:
        return []
    listed = store.load_snapshot(source.listing_key, tx=tx)
    stored = store.load_snapshot(source.key, tx=tx)
    store.delete_snapshot(
        source.listing_key, listed["id"].to_list() if listed.height else [], tx=tx
    )
    if stored.is_empty():
        return []
    gone = stored.select(pl.col("id").cast(pl.String))
    if listed.height:
        gone = gone.join(listed.select(pl.col("id").cast(pl.String)), on="id", how="anti")
    if gone.height:
        log.info(
            "%s: %d records no longer listed, recorded as deleted",
            source.name,
            gone.height,
            extra={"system": source.system, "object": source.obj, "deleted": gone.height},
        )
    return gone["id"].to_list()


def _compare(
    store: Store, source: Source, mapped: pl.DataFrame, skip: Sequence[str], tx: Transaction
) -> tuple[int, pl.DataFrame]:
    """How many rows of ``mapped`` differ from the snapshot in a column not in ``skip``
    (the others are abmsync's own writes coming back), and the rows that differ at all
    (the only ones worth saving). Only the snapshot rows with the batch's ids are read.
    """
    ids = mapped["id"].cast(pl.String).unique().to_list() if "id" in mapped.columns else []
    before = source.load(store, ids=ids, tx=tx) if ids else None
    if before is None or before.is_empty():
        return mapped.height, mapped
    # Compared as stored and loaded again, so both sides have the types JSON gives back.
    now = as_stored(mapped)
    now = conform(now, source.entity) if source.entity in FRAME_COLUMNS else now
    changed = _differing(now, before, skip)
    if changed is None:
        return mapped.height, mapped
    if any(c not in before.columns for c in now.columns):
        return changed.height, mapped  # a column the snapshot lacks: save every row
    differing = _differing(now, before, ())
    if differing is None:
        return changed.height, mapped
    return changed.height, mapped.filter(pl.col("id").cast(pl.String).is_in(differing["id"]))


def _differing(now: pl.DataFrame, before: pl.DataFrame, skip: Sequence[str]) -> pl.DataFrame | None:
    """Rows of ``now`` that differ from ``before`` in a shared column not in ``skip``;
    ``None`` when the two cannot be compared."""
    columns = [c for c in now.columns if c not in skip and c in before.columns]
    if "id" not in columns:
        return None
    now = now.select(columns).with_columns(pl.col("id").cast(pl.String))
    was = before.select(columns).with_columns(pl.col("id").cast(pl.String))
    try:
        was = was.cast(dict(now.schema))  # type: ignore[arg-type]
    except pl.exceptions.PolarsError:
        return None
    return now.join(was, on=columns, how="anti", nulls_equal=True)


def _new_tombstones(
    deleted_ids: Sequence[str], masters: pl.DataFrame, known: dict[str, str | None]
) -> pl.DataFrame:
    """Deletions not recorded yet, or now known to be merges (with their master)."""
    frame = pl.DataFrame({"id": list(deleted_ids)}, schema={"id": pl.String()}).join(
        masters, on="id", how="left"
    )
    if not known:
        return frame
    fresh = [
        i not in known or (known[i] is None and m is not None)
        for i, m in zip(frame["id"], frame["master_id"], strict=True)
    ]
    return frame.filter(pl.Series(fresh, dtype=pl.Boolean))


def _masters(raw: pl.DataFrame, id_field: str, master_field: str) -> pl.DataFrame:
    """Merge losers and the record each was merged into (``master_field``)."""
    schema = {"id": pl.String(), "master_id": pl.String()}
    if master_field not in raw.columns or id_field not in raw.columns:
        return pl.DataFrame(schema=schema)
    return raw.filter(pl.col(master_field).is_not_null()).select(
        pl.col(id_field).cast(pl.String).alias("id"),
        pl.col(master_field).cast(pl.String).alias("master_id"),
    )
