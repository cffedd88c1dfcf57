"""Which run a scheduler taking the lead queues again: one no task has taken up yet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abmsync.sync.engine import LOCK
from abmsync.sync.store import Store
from abmsync.workers.runs import HeldRun, begin_run, held_run, new_token

TTL = timedelta(seconds=60)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


def test_a_recorded_run_no_task_took_up_is_held_with_its_token_and_start(store: Store) -> None:
    token = new_token()
    begun = begin_run(store, token, TTL, START)
    held = held_run(store, TTL)
    assert held is not None
    assert held == begun == HeldRun(held.run_id, token, START)


def test_a_run_whose_lock_a_task_renewed_is_not_queued_again(store: Store) -> None:
    token = new_token()
    begin_run(store, token, TTL, START)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.try_lock(LOCK, token, TTL, now=later)  # a task's heartbeat
    assert held_run(store, TTL) is None


def test_no_held_run_when_finished_expired_or_held_by_a_sync_process(store: Store) -> None:
    assert held_run(store, TTL) is None  # nothing ever ran
    token = new_token()
    begun = begin_run(store, token, TTL, START)
    assert begun is not None
    store.finish_run(begun.run_id, "succeeded", {})
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


def test_a_run_begun_without_a_time_starts_when_it_takes_the_lock_after_the_last_run_ended(
    store: Store,
) -> None:
    first = new_token()
    before = datetime.now(UTC)
    begun = begin_run(store, first, TTL)
    assert begun is not None and begun.started_at >= before
    store.finish_run(begun.run_id, "succeeded", {})
    store.release_lock(LOCK, first)
    following = begin_run(store, new_token(), TTL)
    assert following is not None
    last, previous = store.recent_runs(2)
    assert (last.id, last.started_at) == (following.run_id, following.started_at)
    assert previous.finished_at is not None and previous.finished_at <= last.started_at
