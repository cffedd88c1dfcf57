"""Sync throughput: an initial sync of N people beside a raw read-only paging loop (the limit).

    python benchmarks/bench_sync.py --people 100000

Generates N people (``abmsync sandbox generate``'s generator) and loads them
into the Salesforce and HubSpot emulators. Each emulator runs in a server
process of its own, as each vendor is a service of its own, so they do not
compete for the GIL with each other or with the client being measured, and
every measured job runs in a child process of its own, so its peak RSS is the
client's alone:

* ``raw read``: a plain loop that only reads, with the same client libraries,
  every record of every object the sync reads (simple-salesforce
  ``query_all_iter`` over Account, Contact, Lead, Opportunity,
  OpportunityContactRole, CampaignMember and Task; hubspot-api-client's list
  endpoint ``crm.objects.basic_api.get_page``, 100 a page, over companies,
  contacts, deals and notes), asking for the same fields the connectors ask
  for and doing nothing with them: the limit;
* ``initial sync``: ``SyncRun`` with ``examples/rules.yaml`` and
  ``examples/mappings`` from an empty state database: read, score, plan, write;
* ``raw incremental read``: the plain loop again, after the initial sync, over
  the window the next sync reads (from each source's stored cursor, an overlap
  before its newest change): SOQL on ``SystemModstamp >=`` the window's start,
  HubSpot's search on ``hs_lastmodifieddate >=`` it, 200 a page, paced at the
  four searches a second the connector keeps under HubSpot's limit of five, and
  started again from the newest change seen at the search's 10,000-result cap;
* ``no-change sync``: a second ``SyncRun`` on the same state database and
  emulators with nothing changed in between (target: zero writes, within 1.2x
  the raw incremental read). It pages through that window too, as any
  change-based reader must, and hands none of it on as a change.

The raw read and the syncs each get a freshly seeded server, so both see the
same data (the abmsync fields already created); the benchmark asserts that the
initial sync read exactly the records the raw loop read. It prints records read
per object, seconds for each job, the ratio initial sync / raw read (target
within 2x, reported as met or not, not asserted), API calls per system as the
emulators counted them, records written per object, the sync's time per step
and each job's peak RSS. It also splits each job's time: the CPU seconds the
measured process used, and those the emulators used meanwhile (time neither
used is spent waiting, e.g. on SQLite commits).

``--touchpoints-per-person`` defaults to 2, not the generator's 20: HubSpot
keeps marketing touchpoints as notes, which every client (the raw loop too)
reads page by page, 100 records a page (the sync adds one association read per
page), and the sync copies those of people in Salesforce there as touchpoint
records. At 20 a person, 100,000 people are some 1.9 million notes: the run
would be mostly note paging and touchpoint writes; at 2 (about 190,000 notes)
people stay the bulk of the work. ``--profile DIR`` writes cProfiles of the
two syncs there (``initial-sync.prof``, ``no-change-sync.prof``; read them with
``python -m pstats``), best taken at a smaller size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abmsync.sync.events import ProgressEvent

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules.yaml"
MAPPINGS = ROOT / "examples" / "mappings"
SYSTEMS = ["salesforce", "hubspot"]
TOKEN = "sandbox-token"
TARGET_RATIO = 2.0
TARGET_NO_CHANGE_RATIO = 1.2
JOBS = ("raw read", "initial sync", "raw incremental read", "no-change sync")
SEARCH_PER_SECOND = 4.0  # the connector's pace under HubSpot's five searches a second


@dataclass(frozen=True)
class ServerInfo:
    """How to reach the seeded emulators, and the fields each source is read with."""

    salesforce_url: str
    ca_file: str
    hubspot_url: str
    client_id: str
    client_secret: str
    seeded: dict[str, int]  # "system/object" -> records loaded
    fields: dict[str, list[str]]  # "system/object" -> fields read, in the sync's source order


# --- the server processes ------------------------------------------------------------


def serve(data: Path, system: str) -> None:
    """Seed and serve ``system``'s emulator; answer ``counts`` on stdin until stdin closes.

    Each emulator has a process of its own, as each vendor is a service of its
    own: a sync reads and writes both at once, and emulators sharing one
    process would share one interpreter lock, each slowing the other's answers.
    """
    from pydantic import SecretStr

    from abmsync.connectors.base import Connector, FieldType
    from abmsync.connectors.hubspot.connector import HubSpotConnector
    from abmsync.connectors.salesforce.connector import SalesforceConnector
    from abmsync.rules.loader import load_rules
    from abmsync.sandbox.faults import Faults
    from abmsync.sandbox.generate import read_dataset
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.app import create_app as salesforce_app
    from abmsync.sandbox.seed import seed_sandbox
    from abmsync.sandbox.server import SandboxServer
    from abmsync.sync.crm import field_specs
    from abmsync.sync.sources import load_sources
    from abmsync.sync.touchpoints import echo_field

    config = SandboxConfig(daily_api_limit=10_000_000)
    dataset = read_dataset(data)
    if system == "salesforce":
        app = salesforce_app(Faults(), config=config)
        seeded = seed_sandbox(dataset, app.state.sandbox, None)
    else:
        app = hubspot_app(Faults(), token=TOKEN, burst_limit=1_000_000)
        seeded = seed_sandbox(dataset, None, app.state.store)
    del dataset
    with SandboxServer(app, tls=system == "salesforce") as served:
        connector: Connector
        if system == "salesforce":
            connector = SalesforceConnector(
                served.url,
                config.client_id,
                SecretStr(config.client_secret),
                verify=str(served.ca_file),
            )
            info: dict[str, Any] = {
                "salesforce_url": served.url,
                "ca_file": str(served.ca_file),
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            }
        else:
            connector = HubSpotConnector(SecretStr(TOKEN), host=served.url)
            info = {"hubspot_url": served.url}
        ruleset = load_rules(RULES).ruleset
        for spec in field_specs(ruleset, system):
            connector.ensure_fields(spec)
        # The fields a sync reads: every typed Salesforce field; of HubSpot's, those
        # read_source selects (the mapping's, the owned ones and the echo key).
        writeback = ruleset.writeback
        targets = {
            name: (t.object, t.external_id)
            for name in writeback.systems
            if (t := writeback.touchpoints(name)) is not None
        }
        fields: dict[str, list[str]] = {}
        for source in load_sources([MAPPINGS], [system]):
            if isinstance(connector, SalesforceConnector):
                meta = connector.describe(source.obj)
                names = [n for n, f in meta.fields.items() if f.type is not FieldType.OTHER]
            else:
                assert isinstance(connector, HubSpotConnector)
                owned = list(writeback.objects(system).get(source.obj, {}).values())
                echo = echo_field(system, source.obj, targets)
                wanted = [*source.mapping.vendor_fields, *owned, *([echo] if echo else [])]
                connector.select_fields(source.obj, wanted)
                names = connector.properties[source.obj]
            fields[source.name] = names
        # An open keep-alive TLS connection would hold up the Salesforce server's stop.
        connector.close()
        info["seeded"] = {f"{s}/{obj}": n for s, obj, n in seeded.rows() if s == system}
        info["fields"] = fields
        _say(info)
        for line in sys.stdin:
            if line.strip() == "counts":
                if system == "salesforce":
                    calls: Any = app.state.sandbox.api_used
                else:
                    calls = dict(app.state.gate.requests)
                _say({system: calls, "cpu": _cpu_seconds()})


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


@dataclass
class Counters:
    """What the server counted: API calls (HubSpot's per endpoint) and its CPU seconds."""

    salesforce: int
    hubspot: dict[str, int]
    cpu: float

    def since(self, before: Counters) -> Counters:
        return Counters(
            self.salesforce - before.salesforce,
            {
                path: n - before.hubspot.get(path, 0)
                for path, n in self.hubspot.items()
                if n != before.hubspot.get(path, 0)
            },
            self.cpu - before.cpu,
        )


class Server:
    """The running emulator processes; :meth:`counters` asks them what they counted."""

    def __init__(self, processes: dict[str, subprocess.Popen[str]], info: ServerInfo) -> None:
        self.processes = processes
        self.info = info

    def counters(self) -> Counters:
        answers = {}
        for system, process in self.processes.items():
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("counts\n")
            process.stdin.flush()
            answers[system] = _answer(process.stdout)
        return Counters(
            int(answers["salesforce"]["salesforce"]),
            dict(answers["hubspot"]["hubspot"]),
            sum(float(answer["cpu"]) for answer in answers.values()),
        )


@contextmanager
def server(data: Path) -> Iterator[Server]:
    """Fresh emulator processes seeded with ``data`` (at once), stopped (stdin closed) on exit."""
    from abmsync.sync.sources import load_sources

    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for system in SYSTEMS:
            command = [sys.executable, __file__, "--serve", system, "--data", str(data)]
            processes[system] = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        answers: dict[str, Any] = {"seeded": {}, "fields": {}}
        for process in processes.values():
            assert process.stdout is not None
            answer = _answer(process.stdout)
            answers["seeded"].update(answer.pop("seeded"))
            answers["fields"].update(answer.pop("fields"))
            answers.update(answer)
        order = [source.name for source in load_sources([MAPPINGS], SYSTEMS)]
        answers["fields"] = {n: answers["fields"][n] for n in order if n in answers["fields"]}
        yield Server(processes, ServerInfo(**answers))
    finally:
        for process in processes.values():
            if process.stdin is not None:
                process.stdin.close()
        for process in processes.values():
            process.wait(timeout=120)
            if process.stdout is not None:
                process.stdout.close()


def _answer(stream: IO[str]) -> dict[str, Any]:
    """The next JSON line the server writes (other output is skipped)."""
    for line in stream:
        if line.startswith("{"):
            answer: dict[str, Any] = json.loads(line)
            return answer
    raise RuntimeError("the sandbox server process exited; see its output above")


# --- the measured jobs (each in a child process) ---------------------------------


def plain_salesforce(info: Any) -> Any:
    """simple-salesforce logged in to the sandbox by client credentials; no abmsync code."""
    import requests
    from simple_salesforce.api import Salesforce

    session = requests.Session()
    session.verify, session.trust_env = info.ca_file, False
    token = session.post(
        f"{info.salesforce_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info.client_id,
            "client_secret": info.client_secret,
        },
        timeout=30,
    ).json()
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version="62.0",
    )


def read_raw(info: ServerInfo) -> dict[str, Any]:
    """Read every record of every source with the plain client libraries; nothing else."""
    from hubspot import Client

    started, cpu = time.perf_counter(), _cpu_seconds()
    sf = plain_salesforce(info)
    hs = Client.create(access_token=TOKEN, host=info.hubspot_url)
    records: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for name, fields in info.fields.items():
        system, obj = name.split("/")
        begun = time.perf_counter()
        count = 0
        if system == "salesforce":
            soql = f"SELECT {', '.join(fields)} FROM {obj}"
            for _ in sf.query_all_iter(soql, include_deleted=True):
                count += 1
        else:
            after = None
            while True:
                page = hs.crm.objects.basic_api.get_page(
                    obj, limit=100, after=after, properties=fields
                )
                count += len(page.results)
                if page.paging is None or page.paging.next is None:
                    break
                after = page.paging.next.after
        records[name] = count
        seconds[name] = time.perf_counter() - begun
    return {
        "seconds": time.perf_counter() - started,
        "cpu": _cpu_seconds() - cpu,
        "read": records,
        "read_seconds": seconds,
        "peak_mib": _peak_mib(),
    }


def read_raw_window(info: ServerInfo, database: str) -> dict[str, Any]:
    """Read, with the plain client libraries, what changed since each stored cursor's window."""
    from hubspot import Client

    from abmsync.connectors.base import Cursor
    from abmsync.connectors.hubspot.reading import ChangeCursor
    from abmsync.connectors.salesforce.connector import DEFAULT_OVERLAP, ChangeWindow
    from abmsync.sync.store import Store

    with Store.open(database) as store:
        stored = {name: store.get_cursor(*name.split("/")) for name in info.fields}
    started, cpu = time.perf_counter(), _cpu_seconds()
    sf = plain_salesforce(info)
    hs = Client.create(access_token=TOKEN, host=info.hubspot_url)
    records: dict[str, int] = {}
    seconds: dict[str, float] = {}
    next_search = 0.0
    for name, fields in info.fields.items():
        system, obj = name.split("/")
        value = stored[name]
        begun = time.perf_counter()
        count = 0
        if system == "salesforce":
            window = ChangeWindow.load(Cursor(value=value) if value else None, DEFAULT_OVERLAP)
            soql = f"SELECT {', '.join(fields)} FROM {obj}"
            if window.start is not None:
                soql += f" WHERE SystemModstamp >= {window.start.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            for _ in sf.query_all_iter(soql, include_deleted=True):
                count += 1
        else:
            lo = ChangeCursor.parse(Cursor(value=value) if value else None).start(30_000)
            after: str | None = None
            while True:
                next_search = max(next_search, time.monotonic())
                time.sleep(max(0.0, next_search - time.monotonic()))
                next_search += 1 / SEARCH_PER_SECOND
                body = {
                    "filterGroups": [
                        {
                            "filters": [
                                {
                                    "propertyName": "hs_lastmodifieddate",
                                    "operator": "GTE",
                                    "value": str(lo),
                                }
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": fields,
                    "limit": 200,
                    **({"after": after} if after else {}),
                }
                page = hs.crm.objects.search_api.do_search(obj, body)
                count += len(page.results)
                following = page.paging.next.after if page.paging and page.paging.next else None
                if following is None:
                    break
                if int(following) + 200 > 10_000:  # the search cap: start again from here
                    newest = page.results[-1].properties["hs_lastmodifieddate"]
                    lo = round(
                        datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp() * 1000
                    )
                    after = None
                else:
                    after = following
        records[name] = count
        seconds[name] = time.perf_counter() - begun
    return {
        "seconds": time.perf_counter() - started,
        "cpu": _cpu_seconds() - cpu,
        "read": records,
        "read_seconds": seconds,
        "peak_mib": _peak_mib(),
    }


def run_sync(info: ServerInfo, database: str, profile: Path | None) -> dict[str, Any]:
    """One ``SyncRun`` against the server; its counts, step times and API calls."""
    from pydantic import SecretStr

    from abmsync.connectors.base import Connector
    from abmsync.connectors.hubspot.connector import HubSpotConnector
    from abmsync.connectors.salesforce.connector import SalesforceConnector
    from abmsync.rules.loader import load_rules
    from abmsync.sandbox.generate import DEFAULT_AS_OF
    from abmsync.sync.engine import SyncOptions, SyncRun
    from abmsync.sync.sources import load_sources
    from abmsync.sync.store import Store

    loaded = load_rules(RULES)
    sources = load_sources([MAPPINGS], SYSTEMS)
    hubspot = HubSpotConnector(SecretStr(TOKEN), host=info.hubspot_url)
    connectors: dict[str, Connector] = {
        "salesforce": SalesforceConnector(
            info.salesforce_url,
            info.client_id,
            SecretStr(info.client_secret),
            verify=info.ca_file,
        ),
        "hubspot": hubspot,
    }
    # [name, start, end] per step: a named step lasts until the next step begins; a read
    # or write of one object from its first event to its last (the systems' lanes overlap).
    steps: list[list[Any]] = []
    index: dict[tuple[str, str], int] = {}
    memory = StepMemory()

    def progress(event: ProgressEvent) -> None:
        now = time.perf_counter()
        key = (event.kind, event.source)
        if event.kind == "step" or key not in index:
            if steps and steps[-1][0] == "step":
                steps[-1][3] = now
            index[key] = len(steps)
            steps.append([event.kind, _step_name(event), now, now])
            memory.step = len(steps) - 1
        else:
            steps[index[key]][3] = now

    with Store.open(database) as store:
        run = SyncRun(
            loaded,
            sources,
            connectors,
            store,
            options=SyncOptions(as_of=DEFAULT_AS_OF),
            progress=progress,
        )
        started, cpu = time.perf_counter(), _cpu_seconds()
        with memory:
            if profile is not None:
                import cProfile

                with cProfile.Profile() as profiler:
                    summary = run.run()
                profiler.dump_stats(profile)
            else:
                summary = run.run()
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
    if steps and steps[-1][0] == "step":
        steps[-1][3] = started + seconds
    return {
        "status": summary.status,
        "message": summary.message,
        "seconds": seconds,
        "cpu": cpu,
        "read": {name: stats.records for name, stats in summary.read.items()},
        "written": {name: stats.written for name, stats in summary.sent.items()},
        "created": {name: stats.created for name, stats in summary.sent.items()},
        "counts": summary.counts(),
        "budget_calls": summary.api_calls,
        "hubspot_fields": {f"hubspot/{obj}": names for obj, names in hubspot.properties.items()},
        "steps": [
            [name, end - at, memory.peaks.get(number, 0.0)]
            for number, (_, name, at, end) in enumerate(steps)
        ],
        "before_first_step": (steps[0][2] if steps else started + seconds) - started,
        "peak_mib": _peak_mib(),
    }


class StepMemory:
    """Samples this process's resident set every 20 ms from a thread: the peak MiB per step."""

    def __init__(self) -> None:
        import threading

        self.step = -1  # before the first step
        self.peaks: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StepMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        page_mib = resource.getpagesize() / 2**20
        with open("/proc/self/statm", encoding="ascii") as statm:
            while not self._done.wait(0.02):
                statm.seek(0)
                rss = int(statm.read().split()[1]) * page_mib
                self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), rss)


def _step_name(event: ProgressEvent) -> str:
    """A step's name without record counts (``writing salesforce/Lead``)."""
    match event.kind:
        case "step":
            return event.text
        case "read":
            return f"reading {event.source}"
        case _:
            return f"writing {event.source}"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time this process has used so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spawn(job: str, info_file: Path, database: str, profile: Path | None) -> dict[str, Any]:
    """Run one job in a child process; its result is the last line it prints."""
    command = [
        sys.executable,
        __file__,
        "--job",
        job,
        "--server-info",
        str(info_file),
        "--database",
        database,
    ]
    if profile is not None:
        command += ["--profile", str(profile)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    job: str, srv: Server, work: Path, database: str, profile: Path | None = None
) -> dict[str, Any]:
    """One job against ``srv``, with the API calls and CPU the emulators used meanwhile."""
    info_file = work / "server.json"
    info_file.write_text(json.dumps(asdict(srv.info)))
    before = srv.counters()
    result = spawn(job, info_file, database, profile)
    counted = srv.counters().since(before)
    result["calls"] = {"salesforce": counted.salesforce, "hubspot": counted.hubspot}
    result["emulator_cpu"] = counted.cpu
    return result


# --- the report ------------------------------------------------------------------


def report(people: int, touches: int, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Print the tables; return the figures (the smoke test checks them)."""
    raw, initial = results["raw read"], results["initial sync"]
    window, again = results.get("raw incremental read"), results.get("no-change sync")
    empty: dict[str, Any] = {"read": {}, "written": {}}
    print(
        f"\n{'object':<28}{'seeded':>10}{'raw read':>10}{'sync read':>11}"
        f"{'no-change read':>16}{'written':>10}{'created':>10}{'no-change written':>19}"
    )
    seeded = results["seeded"]
    names = list(dict.fromkeys([*raw["read"], *initial["written"]]))
    for name in names:
        print(
            f"{name:<28}{_figure(seeded.get(name)):>10}{_figure(raw['read'].get(name)):>10}"
            f"{_figure(initial['read'].get(name)):>11}"
            f"{_figure((again or empty)['read'].get(name)):>16}"
            f"{_figure(initial['written'].get(name)):>10}"
            f"{_figure(initial['created'].get(name)):>10}"
            f"{_figure((again or empty)['written'].get(name)):>19}"
        )
    print(
        f"\n{'job':<16}{'status':>10}{'seconds':>9}{'client CPU':>12}{'emulator CPU':>14}"
        f"{'records read':>14}{'written':>9}{'SF calls':>10}{'HS calls':>10}{'peak RSS':>10}"
    )
    for job in [job for job in JOBS if job in results]:
        result = results[job]
        calls = result["calls"]
        written = sum(result.get("written", {}).values())
        print(
            f"{job:<16}{result.get('status', '-'):>10}{result['seconds']:>9.1f}"
            f"{result['cpu']:>12.1f}{result['emulator_cpu']:>14.1f}"
            f"{sum(result['read'].values()):>14,}{written:>9,}{calls['salesforce']:>10,}"
            f"{sum(calls['hubspot'].values()):>10,}{result['peak_mib']:>6,.0f} MiB"
        )
    ratio = initial["seconds"] / raw["seconds"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(
        f"\n{people:,} people, {touches:,} touchpoints: the initial sync took {ratio:.2f}x "
        f"the raw read ({initial['seconds']:.1f}s vs {raw['seconds']:.1f}s); "
        f"target within {TARGET_RATIO:g}x: {verdict}"
    )
    for job in [job for job in ("initial sync", "no-change sync") if job in results]:
        if results[job]["status"] != "succeeded":
            print(f"  {job} {results[job]['status']}: {results[job]['message']}")
    slowest, slowest_seconds = _slowest_system(raw["read_seconds"])
    print(
        f"  (the sync reads and writes each system in a lane of its own; the raw loop reads "
        f"them one after the other. Against the raw read of the slowest system alone, "
        f"{slowest} {slowest_seconds:.1f}s: {initial['seconds'] / slowest_seconds:.2f}x)"
    )
    if again is None or window is None:
        print("no-change sync: not measured (--initial-only)")
        no_change_ratio, no_change_writes = None, None
    else:
        no_change_ratio, no_change_writes = _no_change(again, window)
    for job in [job for job in ("initial sync", "no-change sync") if job in results]:
        result = results[job]
        print(f"\n{job}: seconds and peak resident MiB per step (as the sync reports its steps)")
        print(f"  {'(login, rules, lock)':<44}{result['before_first_step']:>8.1f}")
        for step, seconds, mib in result["steps"]:
            print(f"  {step:<44}{seconds:>8.1f}{mib:>9,.0f} MiB")
        budget = ", ".join(f"{k} {v:,}" for k, v in result["budget_calls"].items())
        print(f"  API calls by the connectors' own count: {budget}")
        hubspot = sorted(result["calls"]["hubspot"].items(), key=lambda kv: -kv[1])
        print("  HubSpot calls by endpoint: " + ", ".join(f"{p} {n:,}" for p, n in hubspot))
    for job in [job for job in ("raw read", "raw incremental read") if job in results]:
        per = ", ".join(f"{k} {v:.1f}s" for k, v in results[job]["read_seconds"].items())
        print(f"\n{job}, seconds per object: {per}")
    return {
        "ratio": ratio,
        "ratio_met": ratio <= TARGET_RATIO,
        "no_change_ratio": no_change_ratio,
        "no_change_written": no_change_writes,
        "statuses": [initial["status"], *([again["status"]] if again else [])],
        "raw_read": raw["read"],
        "sync_read": initial["read"],
        "written": initial["written"],
        "seconds": {job: results[job]["seconds"] for job in JOBS if job in results},
        "peak_mib": initial["peak_mib"],
    }


def _no_change(again: dict[str, Any], window: dict[str, Any]) -> tuple[float, int]:
    """Print the no-change sync's figures; its ratio to the raw incremental read, its writes."""
    no_change_writes = sum(again["written"].values())
    no_change_ratio = again["seconds"] / window["seconds"]
    print(
        f"no-change sync: {no_change_writes:,} records written (target 0: "
        f"{'met' if no_change_writes == 0 else 'NOT met'}), {again['seconds']:.1f}s, "
        f"{again['calls']['salesforce']:,} Salesforce and "
        f"{sum(again['calls']['hubspot'].values()):,} HubSpot calls; "
        f"{no_change_ratio:.2f}x the raw incremental read of the same window "
        f"({window['seconds']:.1f}s, {sum(window['read'].values()):,} records); target within "
        f"{TARGET_NO_CHANGE_RATIO:g}x: {_verdict(no_change_ratio <= TARGET_NO_CHANGE_RATIO)}"
    )
    slowest, slowest_seconds = _slowest_system(window["read_seconds"])
    print(
        f"  (against the raw incremental read of the slowest system alone, {slowest} "
        f"{slowest_seconds:.1f}s: {again['seconds'] / slowest_seconds:.2f}x)"
    )
    return no_change_ratio, no_change_writes


def _slowest_system(seconds: dict[str, float]) -> tuple[str, float]:
    """The system whose objects took the raw loop longest to read, and how long."""
    per_system: dict[str, float] = {}
    for name, taken in seconds.items():
        system = name.partition("/")[0]
        per_system[system] = per_system.get(system, 0.0) + taken
    return max(per_system.items(), key=lambda item: item[1])


def _profile(directory: Path | None, job: str) -> Path | None:
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{job}.prof"


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _figure(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Run the benchmark (or, with ``--serve`` / ``--job``, one of its processes)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument(
        "--touchpoints-per-person",
        type=float,
        default=2.0,
        help="average touchpoints per person (low on purpose: see the module docstring)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", type=Path, help="write cProfiles of the two syncs to this directory"
    )
    parser.add_argument(
        "--initial-only",
        action="store_true",
        help="measure the raw read and the initial sync only (a million people: the "
        "no-change jobs re-read the whole window of the initial sync's writes, for hours)",
    )
    parser.add_argument("--serve", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--job", choices=["raw", "window", "sync"], help=argparse.SUPPRESS)
    parser.add_argument("--server-info", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.data, args.serve)
        return None
    if args.job:
        info = ServerInfo(**json.loads(args.server_info.read_text()))
        if args.job == "raw":
            print(json.dumps(read_raw(info)))
        elif args.job == "window":
            print(json.dumps(read_raw_window(info, args.database)))
        else:
            print(json.dumps(run_sync(info, args.database, args.profile)))
        return None

    from abmsync.sandbox.generate import generate_dataset, write_dataset

    begun = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="abmsync-bench-sync-") as tmp:
        work = Path(tmp)
        data = generate_dataset(
            args.people, seed=args.seed, touchpoints_per_person=args.touchpoints_per_person
        )
        write_dataset(data, work / "data")
        people, touches = data.people.height, data.touchpoints.height
        del data
        print(
            f"data: {people:,} people, {touches:,} touchpoints "
            f"(generated in {time.perf_counter() - begun:.1f}s)",
            flush=True,
        )
        results: dict[str, dict[str, Any]] = {}
        database = f"sqlite:///{work / 'state.db'}"
        with server(work / "data") as srv:
            results["seeded"] = srv.info.seeded
            print("measuring the raw read", flush=True)
            results["raw read"] = measure("raw", srv, work, database)
        with server(work / "data") as srv:
            print("measuring the initial sync", flush=True)
            results["initial sync"] = measure(
                "sync", srv, work, database, _profile(args.profile, "initial-sync")
            )
            if not args.initial_only:
                print("measuring the raw incremental read", flush=True)
                results["raw incremental read"] = measure("window", srv, work, database)
                print("measuring the no-change sync", flush=True)
                results["no-change sync"] = measure(
                    "sync", srv, work, database, _profile(args.profile, "no-change-sync")
                )
        figures = report(people, touches, results)
    # The initial sync must have read what the raw loop read, record for record, and
    # asked HubSpot for the same properties.
    assert figures["sync_read"] == figures["raw_read"], (figures["sync_read"], figures["raw_read"])
    used = results["initial sync"]["hubspot_fields"]
    asked = {name: fields for name, fields in srv.info.fields.items() if name in used}
    assert used == asked, (used, asked)
    print(f"\nbenchmark wall time: {time.perf_counter() - begun:.0f}s")
    return figures


if __name__ == "__main__":
    main()
