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


def test_moves_are_stamped_with_their_evidence_between_two_passes(
    data_dir: Path, state_db_url: str
) -> None:
    loaded = load_rules(RULES)
    inputs = Inputs.from_directory(data_dir)
    run_pass(loaded, inputs, database_url=state_db_url, as_of=FIRST)
    run_pass(loaded, inputs, database_url=state_db_url, as_of=DEFAULT_AS_OF)
    with Store.open(state_db_url) as store:
        changes = store.stage_changes()
        state = store.load_lifecycle_state()
    assert set(changes["recorded_at"]) == {FIRST, DEFAULT_AS_OF}
    assert (changes["changed_at"] <= changes["recorded_at"]).all()
    # The first pass dates what it can by its evidence (people in the initial stage since
    # their creation, their moves by touchpoints); stages from the source date from the pass.
    first = changes.filter(pl.col("recorded_at") == FIRST)
    assert first.filter(pl.col("changed_at") < FIRST).height > 100
    from_source = first.filter(pl.col("rule") == "placed: stage from source system")
    assert from_source.height > 0 and (from_source["changed_at"] == FIRST).all()
    # Nothing the second pass moved is dated before the first pass.
    second = changes.filter(pl.col("recorded_at") == DEFAULT_AS_OF)
    assert second.height > 0 and (second["changed_at"] >= FIRST).all()
    # The state's stage entry is the ledger's time of the latest change.
    latest = changes.sort("changed_at").group_by("person_id").last()
    entered = state.join(latest, on="person_id").select("stage_entered_at", "changed_at")
    assert (entered["stage_entered_at"] == entered["changed_at"]).all()


def test_opportunities_at_the_account_move_people_down_the_funnel(
    data_dir: Path, state_db_url: str
) -> None:
    loaded = load_rules(RULES)
    inputs = Inputs.from_directory(data_dir)
    run_pass(loaded, inputs, database_url=state_db_url, as_of=FIRST)
    second = run_pass(loaded, inputs, database_url=state_db_url, as_of=DEFAULT_AS_OF)
    moved = set(second.stage_changes["rule"])
    assert {"open opportunity", "closed won"} <= moved
    deals = pl.read_parquet(data_dir / "opportunities.parquet")
    with Store.open(state_db_url) as store:
        changes = store.stage_changes()
    won = changes.filter(pl.col("rule") == "closed won")
    # Stamped with the newest win at the account, never before the previous pass.
    latest_win = deals.filter("is_won")["closed_at"].max()
    assert (won["changed_at"] >= FIRST).all()
    assert (won["changed_at"] <= max(FIRST, latest_win)).all()  # type: ignore[type-var]


def test_sla_clocks_of_people_handed_to_sales_start_at_the_hand_over(
    data_dir: Path, state_db_url: str
) -> None:
    loaded = load_rules(RULES)
    first = run_pass(
        loaded, Inputs.from_directory(data_dir), database_url=state_db_url, as_of=FIRST
    )
    with Store.open(state_db_url) as store:
        changes = store.stage_changes()
        timers = store.load_sla_timers()
    qualified = changes.filter((pl.col("to_stage") == "mql") & pl.col("from_stage").is_not_null())
    assert (qualified["changed_at"] < FIRST).any()  # the evidence is older than the pass
    started = timers.join(qualified.select("person_id"), on="person_id")
    assert started.height == qualified.height
    assert (started["started_at"] == FIRST).all()
    assert not first.sla_events.filter(pl.col("kind") == "breached").height
