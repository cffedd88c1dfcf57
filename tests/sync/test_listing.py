"""A full listing started over (an expired change token) records what it never yielded as deleted.

The read half is driven here by a scripted source: each run is the list of
batches a connector would yield. The store is a real state database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import polars as pl

from abmsync.connectors.base import (
    Batch,
    CheckReport,
    Cursor,
    FieldSpec,
    ObjectMeta,
    Patch,
    WriteResult,
)
from abmsync.connectors.mapping import Mapping
from abmsync.sync.sources import Source, read_source
from abmsync.sync.store import Store

MAPPING = Mapping.model_validate(
    {
        "entity": "people",
        "source": {"system": "dynamics", "object": "lead"},
        "fields": {"id": "leadid", "email": {"field": "emailaddress1", "transform": "email"}},
        "custom": {"masterid": "master_record_id"},
    }
)


class Scripted:
    """Yields the batches of one run, then of the next: a source whose answers are known."""

    name = "dynamics"

    def __init__(self, runs: Sequence[Sequence[Batch]]) -> None:
        self.runs = list(runs)

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        yield from self.runs.pop(0)

    def check(self) -> CheckReport:
        return CheckReport(connector=self.name)

    def describe(self, obj: str) -> ObjectMeta:
        return ObjectMeta(name=obj)

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        return []

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        return []


def batch(
    ids: list[str],
    step: int,
    *,
    full: bool = False,
    complete: bool = False,
    deleted: list[str] | None = None,
    masters: dict[str, str] | None = None,
) -> Batch:
    frame = pl.DataFrame(
        {
            "leadid": ids,
            "emailaddress1": [f"{i}@example.com" for i in ids],
            "masterid": [(masters or {}).get(i) for i in ids],
        },
        schema={"leadid": pl.String, "emailaddress1": pl.String, "masterid": pl.String},
    )
    return Batch(
        obj="lead",
        records=frame,
        cursor=Cursor(value=f"c{step}"),
        deleted_ids=deleted or [],
        full_listing=full,
        listing_complete=complete,
    )


def stored(store: Store, source: Source) -> list[str]:
    return sorted(source.load(store)["id"].to_list())


def test_a_full_listing_tombstones_what_it_did_not_yield(store: Store) -> None:
    source = Source(MAPPING)
    first = Scripted([[batch(["a", "b", "c", "d"], 1)]])
    read_source(store, first, source)
    assert stored(store, source) == ["a", "b", "c", "d"]
    # The change token expired: the connector lists every live record again, in two pages.
    again = Scripted([[batch(["a", "c"], 2, full=True), batch(["e"], 3, full=True, complete=True)]])
    stats = read_source(store, again, source)
    assert stored(store, source) == ["a", "c", "e"]
    assert stats.deleted == 2
    assert sorted(source.tombstones(store)["id"].to_list()) == ["b", "d"]
    assert store.get_cursor("dynamics", "lead") == "c3"


def test_a_listing_interrupted_between_runs_remembers_what_it_saw(store: Store) -> None:
    source = Source(MAPPING)
    read_source(store, Scripted([[batch(["a", "b", "c"], 1)]]), source)
    # The run stops after the listing's first page; the next run resumes at its cursor.
    read_source(store, Scripted([[batch(["a"], 2, full=True)]]), source)
    assert stored(store, source) == ["a", "b", "c"]  # nothing decided before the listing ends
    read_source(store, Scripted([[batch(["c"], 3, full=True, complete=True)]]), source)
    assert stored(store, source) == ["a", "c"]
    assert source.tombstones(store)["id"].to_list() == ["b"]
    # The listing's ids are gone once it is reconciled: a later listing starts afresh.
    read_source(store, Scripted([[batch(["c"], 4, full=True, complete=True)]]), source)
    assert stored(store, source) == ["c"]


def test_an_ordinary_read_never_reconciles(store: Store) -> None:
    source = Source(MAPPING)
    read_source(store, Scripted([[batch(["a", "b"], 1)]]), source)
    read_source(store, Scripted([[batch(["a"], 2)]]), source)
    assert stored(store, source) == ["a", "b"]


def test_a_merge_keeps_its_master_from_the_mapped_master_field(store: Store) -> None:
    source = Source(MAPPING)
    read_source(store, Scripted([[batch(["a", "b"], 1)]]), source)
    merged = batch(["b"], 2, deleted=["b"], masters={"b": "a"})
    read_source(store, Scripted([[merged]]), source)
    tombstones = source.tombstones(store)
    assert tombstones.select("id", "master_id").rows() == [("b", "a")]
