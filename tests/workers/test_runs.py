"""Which run a scheduler taking the lead queues again: one no task has taken up yet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abmsync.sync.engine import LOCK
from abmsync.sync.store import Store
from abmsync.workers.runs import begin_run, held_run, new_token

TTL = timedelta(seconds=60)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


def test_a_recorded_run_no_task_took_up_is_held_with_its_token_and_start(store: Store) -> None:
    token = new_token()
    run_id = begin_run(store, token, TTL, START)
    held = held_run(store, TTL)
    assert held is not None
    assert (held.run_id, held.token, held.started_at) == (run_id, token, START)


def test_a_run_whose_lock_a_task_renewed_is_not_queued_again(store: Store) -> None:
    token = new_token()
    begin_run(store, token, TTL, START)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.try_lock(LOCK, token, TTL, now=later)  # a task's heartbeat
    assert held_run(store, TTL) is None


def test_no_held_run_when_finished_expired_or_held_by_a_sync_process(store: Store) -> None:
    assert held_run(store, TTL) is None  # nothing ever ran
    token = new_token()
    run_id = begin_run(store, token, TTL, START)
    assert run_id is not None
    store.finish_run(run_id, "succeeded", {})
    assert held_run(store, TTL) is None  # finished, its lock not yet released
    store.release_lock(LOCK, token)

    expired = new_token()
    begin_run(store, expired, timedelta(microseconds=1), START)
    assert held_run(store, timedelta(microseconds=1)) is None  # expired: the next run starts

    store.interrupt_running_runs("test")
    assert store.try_lock(LOCK, "host:1234", TTL)  # `abmsync sync` holds it
    store.start_run()
    assert held_run(store, TTL) is None


def test_begin_run_refuses_while_the_lock_is_held(store: Store) -> None:
    assert begin_run(store, new_token(), TTL, START) is not None
    assert begin_run(store, new_token(), TTL, START) is None
