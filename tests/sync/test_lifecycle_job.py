"""Two lifecycle passes a week apart on generated data, recorded in the state database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from abmsync.rules.loader import load_rules
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset, write_dataset
from abmsync.sync.lifecycle_job import run_pass
from abmsync.sync.scoring import Inputs
from abmsync.sync.store import Store

RULES = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"
FIRST = DEFAULT_AS_OF - timedelta(days=7)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    write_dataset(generate_dataset(2500, seed=11), directory)
    return directory


def ledger_sizes(url: str) -> tuple[int, int, int, int]:
    with Store.open(url) as store:
        return (
            store.stage_changes().height,
            store.assignments().height,
            store.sla_events().height,
            store.load_lifecycle_state().height,
        )


def test_a_week_of_passes_moves_routes_and_times_people(data_dir: Path, state_db_url: str) -> None:
    loaded = load_rules(RULES)
    inputs = Inputs.from_directory(data_dir)
    first = run_pass(loaded, inputs, database_url=state_db_url, as_of=FIRST)
    assert first.people == 2500
    assert first.score_rows == 2500
    assert first.assignments.height > 0
    assert first.assignments["reason"].str.len_chars().min() > 10  # type: ignore[operator]
    with Store.open(state_db_url) as store:
        state = store.load_lifecycle_state()
        timers = store.load_sla_timers()
    assert state.height == 2500
    in_mql = state.filter(pl.col("stage") == "mql")
    assert set(timers.filter(pl.col("stage") == "mql")["person_id"]) == set(in_mql["person_id"])

    second = run_pass(loaded, inputs, database_url=state_db_url, as_of=DEFAULT_AS_OF)
    breaches = second.sla_events.filter(pl.col("kind") == "breached")
    assert breaches.height > 0
    assert (breaches["due_at"] <= DEFAULT_AS_OF).all()
    reassigned = second.assignments.filter(pl.col("rule").str.starts_with("SLA breach"))
    assert reassigned.height > 0
    old_owner = dict(breaches.select("person_id", "owner_id").iter_rows())
    for person, owner in reassigned.select("person_id", "owner_id").iter_rows():
        assert owner != old_owner[person]
    assert second.score_rows < 2500  # only changed scores are recorded


def test_rerunning_a_pass_records_nothing_new(data_dir: Path, state_db_url: str) -> None:
    loaded = load_rules(RULES)
    inputs = Inputs.from_directory(data_dir)
    run_pass(loaded, inputs, database_url=state_db_url, as_of=FIRST)
    run_pass(loaded, inputs, database_url=state_db_url, as_of=DEFAULT_AS_OF)
    before = ledger_sizes(state_db_url)
    again = run_pass(loaded, inputs, database_url=state_db_url, as_of=DEFAULT_AS_OF)
    assert ledger_sizes(state_db_url) == before
    assert again.score_rows == 0
    assert again.assignments.is_empty()
    assert again.sla_events.is_empty()


def test_nobody_is_assigned_to_an_unavailable_owner(data_dir: Path, state_db_url: str) -> None:
    loaded = load_rules(RULES)
    inputs = Inputs.from_directory(data_dir)
    summary = run_pass(loaded, inputs, database_url=state_db_url, as_of=FIRST)
    owners = pl.read_parquet(data_dir / "owners.parquet")
    away = set(owners.filter(~pl.col("available"))["id"])
    assert away
    assert not set(summary.assignments["owner_id"]) & away
