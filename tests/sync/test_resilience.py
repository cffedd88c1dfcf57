"""The sync survives what production throws at it: vendor faults, kill -9, two schedulers.

Each test compares against a reference: the same generated data set, loaded
into fresh emulators and synced once with no faults. Ids are the same in
every fresh emulator seeded with the same data, so end states compare
record for record.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset, generate_dataset
from abmsync.sync.store import Store
from tests.sync.crm_env import MAPPINGS, CrmEnv, Servers, crm_env

AS_OF = DEFAULT_AS_OF.isoformat()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_dataset(240, seed=5, touchpoints_per_person=4)


@pytest.fixture(scope="module")
def reference(
    servers: Servers, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The end state of one fault-free sync of the data set."""
    with crm_env(tmp_path_factory.mktemp("reference"), servers, dataset=dataset) as env:
        run = env.sync(as_of=DEFAULT_AS_OF)
        assert run.status == "succeeded", run.message
        state = env.end_state()
    assert state["touchpoints"] and state["notes"]  # history crossed over both ways
    assert any(row["ABM_Score__c"] is not None for row in state["leads"])
    return state


def assert_no_duplicate_history(state: dict[str, Any]) -> None:
    keys = [row[0] for row in state["touchpoints"]]
    assert len(keys) == len(set(keys))
    notes = [row[0] for row in state["notes"]]
    assert len(notes) == len(set(notes))


def test_with_faults_switched_on_the_end_state_equals_a_fault_free_run(
    servers: Servers, dataset: Dataset, reference: dict[str, Any], tmp_path: Path
) -> None:
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        for faults in (env.sf_faults, env.hs_faults):
            faults.rate_limit = 0.08
            faults.server_error = 0.08
            faults.drop = 0.03
            faults.token_expiry = 0.03
            faults.partial_failure = 0.05
            faults.retry_after = 0.01
        statuses = []
        for _ in range(6):
            run = env.sync(as_of=DEFAULT_AS_OF)
            statuses.append(run.status)
            if run.status == "succeeded":
                break
        assert statuses[-1] == "succeeded", statuses
        injected = sum(env.sf_faults.counts.values()) + sum(env.hs_faults.counts.values())
        assert injected > 10  # the faults really happened
        for faults in (env.sf_faults, env.hs_faults):
            faults.rate_limit = faults.server_error = faults.drop = 0.0
            faults.token_expiry = faults.partial_failure = 0.0
        # Dead letters from records that failed every retry go out with the next run.
        final = env.sync(as_of=DEFAULT_AS_OF)
        assert final.status == "succeeded"
        state = env.end_state()
    assert_no_duplicate_history(state)
    assert state == reference


def cli(env: CrmEnv, *args: str) -> subprocess.Popen[str]:
    """``abmsync sync`` in its own process, configured for ``env`` through the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "abmsync.cli", "sync", "--as-of", AS_OF, *args],
        env={**os.environ, **env.env(), "ABMSYNC_MAPPINGS": str(MAPPINGS)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_a_cursor(database: str, process: subprocess.Popen[str]) -> None:
    """Return once the state database holds a cursor or ``process`` has ended."""
    # A plain read: opening the Store would run migrations beside the sync's own.
    engine = sa.create_engine(database)
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            # No table yet, or the database locked for a moment: look again.
            with contextlib.suppress(sa.exc.OperationalError), engine.connect() as connection:
                if connection.execute(sa.text("SELECT count(*) FROM cursors")).scalar():
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()


def test_kill_9_at_random_points_then_resume_gives_the_same_end_state(
    servers: Servers, dataset: Dataset, reference: dict[str, Any], tmp_path: Path
) -> None:
    chance = random.Random(20261129)
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        for attempt in range(3):
            process = cli(env)
            time.sleep(chance.uniform(1.5, 5.0))  # imports take ~1.5 s, a sync a few more
            if attempt == 2:
                # The last kill lands after some data was stored, however slow the
                # machine: it waits for the first cursor (or the run's end).
                wait_for_a_cursor(env.database, process)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        with Store.open(env.database) as store:
            cursors = store.all_cursors().height
        finished = cli(env)
        out, err = finished.communicate(timeout=300)
        assert finished.returncode == 0, err
        assert "succeeded" in out
        state = env.end_state()
        with Store.open(env.database) as store:
            runs = store.recent_runs()
    assert_no_duplicate_history(state)
    assert state == reference
    # The killed runs show as interrupted, not as running forever.
    assert runs[0].status == "succeeded"
    assert all(run.status != "running" for run in runs)
    assert cursors > 0  # at least one kill landed after some data was stored


def test_two_schedulers_at_once_never_overlap_and_sigterm_stops_them_cleanly(
    servers: Servers, dataset: Dataset, tmp_path: Path
) -> None:
    with crm_env(tmp_path, servers, dataset=dataset) as env:
        first, second = cli(env, "--every", "1s"), cli(env, "--every", "1s")
        time.sleep(14)
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=120) for p in (first, second)]
        for number, (out, err) in enumerate(outputs):
            (tmp_path / f"scheduler-{number}.log").write_text(out + err)
        assert [p.returncode for p in (first, second)] == [0, 0], tmp_path
        with Store.open(env.database) as store:
            runs = sorted(store.recent_runs(100), key=lambda r: r.started_at)
            assert store.lock_holder("sync") is None  # released on the way out
    finished = [r for r in runs if r.finished_at is not None]
    assert len(finished) == len(runs) >= 2
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None
        assert earlier.finished_at <= later.started_at, (earlier, later)
    skipped = sum(out.count("skipped") for out, _ in outputs)
    assert skipped >= 1  # they did run at the same time, and one stood aside
