"""Many tenants on Celery workers beside the same tenants one after another in one process.

    python benchmarks/bench_workers.py --database postgresql://postgres@127.0.0.1/abmsync \\
        --tenants 10 --people 2000 --workers 4

Each tenant gets its own generated data set (its own seed) in its own pair of
Salesforce and HubSpot emulators, served by a process of its own
(``bench_sync.py``'s server), and its own namespace in the PostgreSQL database.
The two runs each start from fresh emulators and fresh namespaces:

* ``one process``: ``Tenant.sync`` for every tenant, one after another;
* ``workers``: ``--workers`` ``abmsync worker`` processes (started and ready
  before the clock starts) on a throwaway ``redis-server``; ``abmsync schedule
  --once`` queues every tenant's run; timed until every run has ended.

Both score as of one fixed moment. It prints the seconds of each, the ratio
one process / workers (above 1: the workers were faster), the API calls per
tenant as the emulators counted them, and checks that every tenant's CRMs end
in the same state both ways (scores, grades, stages of every lead, contact and
HubSpot contact, and the touchpoints written), read back over the vendor APIs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import MAPPINGS, RULES, TOKEN, Server, plain_salesforce, server

from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset, write_dataset

SCORE_FIELDS = "Id, ABM_Score__c, ABM_Grade__c, ABM_Stage__c"
HUBSPOT_FIELDS = ["email", "abm_score", "abm_grade", "abm_stage"]


def tenant_file(folder: Path, name: str, info: Any) -> str:
    """Write tenant ``name``'s file for the emulators of ``info``; its namespace."""
    namespace = f"bench_{name}_{uuid.uuid4().hex[:6]}"
    (folder / f"{name}.toml").write_text(
        f'name = "{name}"\nnamespace = "{namespace}"\nrules = "{RULES}"\n'
        f'mappings = "{MAPPINGS}"\n\n[salesforce]\ninstance_url = "{info.salesforce_url}"\n'
        f'client_id = "{info.client_id}"\nclient_secret = "{info.client_secret}"\n'
        f'verify = "{info.ca_file}"\n\n[hubspot]\nhost = "{info.hubspot_url}"\n'
        f'access_token = "{TOKEN}"\n',
        encoding="utf-8",
    )
    return namespace


def end_state(info: Any) -> dict[str, Any]:
    """What abmsync wrote to one tenant's CRMs, read back over their APIs."""
    import hubspot

    sf = plain_salesforce(info)
    state: dict[str, Any] = {}
    for obj in ("Lead", "Contact"):
        rows = sf.query_all(f"SELECT {SCORE_FIELDS} FROM {obj} ORDER BY Id")["records"]
        state[obj] = [tuple(r[f.strip()] for f in SCORE_FIELDS.split(",")) for r in rows]
    state["touchpoints"] = sf.query("SELECT COUNT() FROM ABM_Touchpoint__c")["totalSize"]
    client = hubspot.Client.create(access_token=TOKEN, host=info.hubspot_url)
    pages = client.crm.contacts.get_all(properties=HUBSPOT_FIELDS)
    state["hubspot"] = sorted(tuple(p.properties.get(f) for f in HUBSPOT_FIELDS) for p in pages)
    return state


@contextmanager
def tenants(datasets: list[Path], folder: Path) -> Iterator[tuple[list[Server], dict[str, str]]]:
    """Fresh emulator servers for every data set, and tenant files for them (name: namespace)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ExitStack() as stack:
        servers = [stack.enter_context(server(data)) for data in datasets]
        names = {
            f"t{i:02d}": tenant_file(folder, f"t{i:02d}", s.info) for i, s in enumerate(servers)
        }
        yield servers, names


def one_process(folder: Path, database: str) -> float:
    """Every tenant synced one after another here; seconds."""
    from abmsync.settings import Settings
    from abmsync.sync.engine import SyncOptions
    from abmsync.tenants import load_tenants

    deployment = Settings(database_url=database)  # type: ignore[arg-type]
    started = time.perf_counter()
    for tenant in load_tenants(folder, deployment=deployment):
        summary = tenant.sync(options=SyncOptions(as_of=DEFAULT_AS_OF))
        assert summary.status == "succeeded", (tenant.name, summary.message)
    return time.perf_counter() - started


def on_workers(folder: Path, database: str, namespaces: dict[str, str], workers: int) -> float:
    """Every tenant's run queued at once and run by ``workers`` worker processes; seconds."""
    import sqlalchemy as sa

    from abmsync.sync.database import parse_url

    port = _free_port()
    env = {
        **os.environ,
        "ABMSYNC_TENANTS": str(folder),
        "ABMSYNC_DATABASE_URL": database,
        "ABMSYNC_WORKERS__BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "ABMSYNC_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "abmsync.cli"]
    engine = sa.create_engine(parse_url(database))
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--dir", scratch],
            stdout=subprocess.DEVNULL,
        )
        stack.callback(redis.kill)
        logs = Path(scratch)
        for i in range(workers):
            worker = subprocess.Popen(
                [*cli, "worker", "--concurrency", "1", "--name", f"bench{i}@%h"],
                env=env,
                stdout=(logs / f"w{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            stack.callback(worker.wait)
            stack.callback(worker.terminate)
        _wait_for_workers(env, workers)
        started = time.perf_counter()
        subprocess.run(
            [*cli, "schedule", "--once", "--as-of", DEFAULT_AS_OF.isoformat()],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        while not all(_ended(engine, ns) for ns in namespaces.values()):
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    for namespace in namespaces.values():
        assert _ended(engine, namespace) == "succeeded", namespace
    engine.dispose()
    return seconds


def _ended(engine: Any, namespace: str) -> str | None:
    """The status of the namespace's run once it has ended, else ``None``."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        try:
            status = connection.execute(
                sa.text(f'SELECT status FROM "{namespace}".runs ORDER BY id DESC LIMIT 1')
            ).scalar_one_or_none()
        except sa.exc.ProgrammingError:
            return None
    return None if status in (None, "running") else str(status)


def _wait_for_workers(env: dict[str, str], count: int) -> None:
    from abmsync.workers.app import create_app
    from abmsync.workers.config import WorkerSettings

    app = create_app(WorkerSettings(broker_url=env["ABMSYNC_WORKERS__BROKER_URL"]))  # type: ignore[arg-type]
    while len(app.control.ping(timeout=1.0) or []) < count:
        time.sleep(0.5)
    app.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def calls(servers: list[Server], before: list[Any]) -> list[int]:
    """API calls each tenant's emulators counted since ``before``."""
    out = []
    for s, b in zip(servers, before, strict=True):
        spent = s.counters().since(b)
        out.append(spent.salesforce + sum(spent.hubspot.values()))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL (namespaces made in it)")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        datasets = []
        for i in range(args.tenants):
            data = root / f"data{i}"
            write_dataset(
                generate_dataset(args.people, seed=100 + i, touchpoints_per_person=2), data
            )
            datasets.append(data)
        results: dict[str, Any] = {}
        for mode in ("one process", "workers"):
            with tenants(datasets, root / mode.replace(" ", "-")) as (servers, namespaces):
                before = [s.counters() for s in servers]
                if mode == "one process":
                    seconds = one_process(root / "one-process", args.database)
                else:
                    seconds = on_workers(root / "workers", args.database, namespaces, args.workers)
                results[mode] = {
                    "seconds": seconds,
                    "calls": calls(servers, before),
                    "states": [end_state(s.info) for s in servers],
                }
    single, multi = results["one process"], results["workers"]
    print(f"{args.tenants} tenants x {args.people:,} people, {args.workers} workers")
    print(f"one process, one tenant after another: {single['seconds']:8.1f} s")
    print(f"{args.workers} workers, all tenants queued:     {multi['seconds']:8.1f} s")
    print(f"ratio one process / workers: {single['seconds'] / multi['seconds']:.2f}x")
    for i, (a, b) in enumerate(zip(single["calls"], multi["calls"], strict=True)):
        print(f"  t{i:02d}: API calls {a:,} one process, {b:,} on workers")
    same = [a == b for a, b in zip(single["states"], multi["states"], strict=True)]
    print(f"CRM end state equal both ways: {sum(same)}/{len(same)} tenants")
    if not all(same):
        sys.exit(1)


if __name__ == "__main__":
    main()
