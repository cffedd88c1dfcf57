"""A run's tasks delivered twice or out of order: each partition counts once, the pass runs once.

The tasks run here in this process, as a worker would run them, over the
emulators and a real PostgreSQL: the queue is left out so that the test
decides the order of deliveries (a read twice, the pass before the reads,
the pass beside another delivery of itself, the pass twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sync.database import StoreError
from abmsync.tenants import Tenant, find_tenant
from abmsync.workers import tasks
from abmsync.workers.advisory import AdvisoryLock, advisory_key
from abmsync.workers.partitions import read_partitions
from abmsync.workers.runs import begin_run, new_token
from tests.sync.crm_env import CrmEnv, Servers, crm_env
from tests.workers.conftest import Reference
from tests.workers.harness import LOCK_TTL, write_tenant

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
AS_OF = DEFAULT_AS_OF.isoformat()


@pytest.fixture
def worker_process(
    tmp_path: Path, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """This process set up as a worker process is: its environment, an empty tenant cache."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABMSYNC_TENANTS", str(folder))
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", postgres_database_url)
    monkeypatch.setenv("ABMSYNC_WORKERS__LOCK_TTL", str(LOCK_TTL))
    tasks.tenants.cache_clear()
    tasks.worker_settings.cache_clear()
    yield folder
    tasks.close_tenants()
    tasks.tenants.cache_clear()
    tasks.worker_settings.cache_clear()


@dataclass
class Begun:
    """A tenant written to the worker's folder, and a run begun as the scheduler begins one."""

    tenant: Tenant
    namespace: str
    partitions: list[str]  # the run's read partitions, by source name
    run_id: int
    run: tuple[str, str, int, str]  # what every task of the run is given first


def begin(folder: Path, env: CrmEnv) -> Begun:
    namespace = write_tenant(folder, "acme", env)
    tenant = find_tenant(folder, "acme")
    partitions = [source.name for source in tenant.sources(tenant.settings.systems())]
    token = new_token()
    with tenant.open_store() as store:
        begun = begin_run(store, token, tasks.worker_settings().lock_time)
    assert begun is not None
    run_id = begun.run_id
    return Begun(tenant, namespace, partitions, run_id, ("acme", token, run_id, AS_OF))


def test_a_read_twice_counts_once_and_an_early_or_repeated_pass_does_not_run(
    servers: Servers,
    dataset: Dataset,
    reference_run: Reference,
    worker_process: Path,
    tmp_path: Path,
) -> None:
    with crm_env(tmp_path / "crm", servers, dataset=dataset) as env:
        begun = begin(worker_process, env)
        tenant, partitions, run_id, run = begun.tenant, begun.partitions, begun.run_id, begun.run
        untouched = env.end_state()

        early = tasks.pass_when_read([], *run, partitions)
        assert early["status"] == "waiting"
        assert early["message"] == f"unread: {', '.join(partitions)}"

        answers = [tasks.read_partition(*run, source) for source in partitions]
        again = tasks.read_partition(*run, partitions[0])  # redelivered after it was read
        assert [a.get("read") for a in answers] == [True] * len(partitions), answers
        assert again == {"source": partitions[0], "read": False}

        key = advisory_key(f"abmsync-pass:{begun.namespace}:{run_id}")
        with AdvisoryLock(tenant.database_url, key) as running:  # another delivery's pass
            assert running.acquire()
            beside = tasks.pass_when_read([*answers, again], *run, partitions)
        assert beside["status"] == "waiting"
        assert beside["message"] == "another delivery of this pass is running"
        assert env.end_state() == untouched  # no pass ran, early or beside

        passed = tasks.pass_when_read([*answers, again], *run, partitions)
        repeated = tasks.pass_when_read([*answers, again], *run, partitions)
        state = env.end_state()
        with tenant.open_store() as store:
            runs = store.recent_runs()
            done = read_partitions(store, run_id)

    assert passed["status"] == "succeeded", passed
    assert repeated["status"] == "skipped"
    assert [r.status for r in runs] == ["succeeded"]
    assert state == reference_run.state
    # Each partition once: the reads' counts and the run's calls are those of one run.
    assert sorted(done) == sorted(partitions)
    assert passed["counts"] == reference_run.counts
    assert runs[0].counts == reference_run.counts
    assert runs[0].api_calls == passed["api_calls"]
    systems = ("salesforce", "hubspot")
    reads = {s: sum(d.api_calls.get(s, 0) for d in done.values()) for s in systems}
    assert all(reads.values()), reads
    assert all(passed["api_calls"][s] > reads[s] for s in reads)  # the pass's writes too


def test_a_pass_whose_reads_never_finish_gives_the_run_up_in_one_line(
    servers: Servers, worker_process: Path, tmp_path: Path
) -> None:
    with crm_env(tmp_path / "crm", servers) as env:
        begun = begin(worker_process, env)
        tenant, partitions, run_id, run = begun.tenant, begun.partitions, begun.run_id, begun.run
        tasks.read_partition(*run, partitions[0])
        answer = tasks.pass_when_read([], *run, partitions, last_try=True)
        with tenant.open_store() as store:
            (recorded,) = store.recent_runs()
            free = store.lock_holder("sync") is None

    message = f"partitions never finished reading: {', '.join(partitions[1:])}"
    assert answer == {"tenant": "acme", "run_id": run_id, "status": "failed", "message": message}
    assert (recorded.status, recorded.error) == ("failed", message)
    assert recorded.api_calls[partitions[0].partition("/")[0]] > 0  # the read's calls count
    assert free


def test_a_worker_process_reloads_a_tenant_only_when_its_files_change(
    worker_process: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((Path(__file__).parents[2] / "examples/rules.yaml").read_text())
    file = worker_process / "acme.toml"
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")

    def write(namespace: str) -> None:
        file.write_text(
            f'name = "acme"\nnamespace = "{namespace}"\nrules = "{rules}"\n'
            f'mappings = "{Path(__file__).parents[2] / "examples/mappings"}"\n'
            '[hubspot]\nhost = "http://127.0.0.1:9"\naccess_token = "t"\n'
            f'[salesforce]\ninstance_url = "https://127.0.0.1:9"\nclient_id = "c"\n'
            f'client_secret = "{SandboxConfig().client_secret}"\n',
            encoding="utf-8",
        )

    write("acme")
    cache = tasks.tenants()
    first = cache.get("acme")
    assert cache.get("acme") is first  # nothing changed: nothing reloaded
    rules.write_text(rules.read_text().replace("points: 15", "points: 16"))
    edited = cache.get("acme")
    assert edited is not first and edited.store is first.store  # new rules, same store
    assert edited.loaded.version != first.loaded.version
    write("acme_two")  # another namespace (on SQLite the same file, but a new store)
    moved = cache.get("acme")
    assert moved.tenant.namespace == "acme_two" and moved.store is not first.store
    with pytest.raises(StoreError, match="closed"):
        first.store.recent_runs()
    tasks.close_tenants()
    with pytest.raises(StoreError, match="closed"):
        moved.store.recent_runs()
