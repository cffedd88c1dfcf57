"""Loading a snapshot larger than one decoding chunk gives the frame one decode would."""

from __future__ import annotations

import polars as pl

from abmsync.sync.bulk import CHUNK_ROWS
from abmsync.sync.store import Store


def test_a_snapshot_spanning_several_chunks_loads_whole_with_common_types(store: Store) -> None:
    early = CHUNK_ROWS * 2
    # Saved in two goes: whole numbers and no ``late`` column first, then rows with a
    # fraction and a ``late`` value, so no single chunk sees every column and kind.
    store.save_snapshot(
        "custom",
        pl.DataFrame({"id": [f"r{i:06d}" for i in range(early)], "amount": [1] * early}),
    )
    store.save_snapshot(
        "custom",
        pl.DataFrame(
            {"id": [f"r{i:06d}" for i in range(early, early + 7)], "amount": [2.5] * 7}
        ).with_columns(pl.lit("late").alias("late")),
    )
    loaded = store.load_snapshot("custom")
    assert loaded.height == early + 7
    assert loaded["id"].to_list() == [f"r{i:06d}" for i in range(early + 7)]
    assert loaded.schema["amount"] == pl.Float64()
    assert loaded["amount"].sum() == early + 2.5 * 7
    assert loaded.schema["late"] == pl.String()
    assert loaded["late"].drop_nulls().to_list() == ["late"] * 7
