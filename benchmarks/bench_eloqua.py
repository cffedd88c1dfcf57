"""Eloqua reads: the connector's Bulk exports beside a raw export loop over the same emulator.

    python benchmarks/bench_eloqua.py --people 100000

Generates N people with a year of touchpoints and loads them into the Eloqua
emulator (contacts, accounts and every activity type with the sends, visits
and bouncebacks around them; :mod:`abmsync.sandbox.seed_eloqua`). The emulator
runs in a server process of its own, so it does not compete for the GIL with
the client being measured, and each measured job runs in a child process:

* ``raw export``: plain httpx, HTTP Basic, ``GET /id`` for the pod, then per
  object (contacts, accounts, each of the nine activity types): create the
  export definition, ``POST /syncs``, poll it, and page ``/syncs/{id}/data``
  50,000 records a page, with the same field statements the connector asks
  for; nothing is done with the records: the limit;
* ``abmsync``: ``EloquaConnector.read_changes`` of contacts, accounts and
  activities from no cursor, reading only the fields the example mappings
  need (as a sync does), every batch a typed polars frame, cursors built.

Both read the same server, freshly seeded for each (the benchmark asserts
they read the same number of records). It prints records per object, seconds,
the ratio abmsync / raw (target within 1.5x, reported, not asserted), API
calls each made (as the emulator counted them) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "examples" / "mappings"
OBJECTS = ("accounts", "contacts", "activities")
TARGET_RATIO = 1.5
PAGE = 50_000


# --- the server process ------------------------------------------------------------------


def serve(data: Path) -> None:
    """Seed and serve the Eloqua emulator; answer ``counts`` on stdin until stdin closes."""
    from pydantic import SecretStr

    from abmsync.connectors.eloqua.connector import EloquaConnector
    from abmsync.sandbox.eloqua import EloquaConfig, create_app
    from abmsync.sandbox.faults import Faults
    from abmsync.sandbox.generate import read_dataset
    from abmsync.sandbox.seed import seed_sandbox
    from abmsync.sandbox.server import SandboxServer

    config = EloquaConfig()
    app = create_app(Faults(), config=config)
    seeded = seed_sandbox(read_dataset(data), None, None, None, eloqua=app.state.store)
    with SandboxServer(app, tls=True) as server:
        connector = EloquaConnector(
            config.company,
            config.username,
            SecretStr(config.password),
            login_url=server.url,
            verify=str(server.ca_file),
        )
        statements = _statements(connector)
        connector.close()
        _say(
            {
                "url": server.url,
                "ca_file": str(server.ca_file),
                "company": config.company,
                "username": config.username,
                "password": config.password,
                "seeded": seeded.eloqua,
                "statements": statements,
            }
        )
        for line in sys.stdin:
            if line.strip() == "counts":
                _say({"calls": app.state.gate.api_calls})


def _statements(connector: Any) -> dict[str, dict[str, str]]:
    """Per export the connector will make (object or activity type): column -> statement."""
    from abmsync.connectors.eloqua.activities import STATEMENTS
    from abmsync.sync.sources import load_sources

    found: dict[str, dict[str, str]] = {}
    for source in load_sources([MAPPINGS], ["eloqua"]):
        if source.obj == "activities":
            continue
        described = connector.catalog.describe(source.obj)
        wanted = [described.id_column, described.modified, *source.mapping.vendor_fields]
        found[source.obj] = {
            name: described.statements[name]
            for name in dict.fromkeys(wanted)
            if name in described.statements
        }
    for kind, statements in STATEMENTS.items():
        found[f"activities/{kind}"] = dict(statements)
    return found


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def _answer(stream: IO[str]) -> dict[str, Any]:
    for line in stream:
        if line.startswith("{"):
            answer: dict[str, Any] = json.loads(line)
            return answer
    raise RuntimeError("the sandbox server process exited; see its output above")


# --- the measured jobs -----------------------------------------------------------------------


def raw_export(info: dict[str, Any]) -> dict[str, Any]:
    """Every object through plain Bulk exports with httpx; the records are only counted."""
    import httpx

    started = time.perf_counter()
    auth = (f"{info['company']}\\{info['username']}", info["password"])
    with httpx.Client(verify=info["ca_file"], auth=auth, timeout=120, trust_env=False) as http:
        urls = http.get(f"{info['url']}/id").json()["urls"]
        bulk = urls["apis"]["rest"]["bulk"].replace("{version}", "2.0").rstrip("/")
        records: dict[str, int] = {}
        for name, statements in info["statements"].items():
            obj, _, kind = name.partition("/")
            body: dict[str, Any] = {"name": f"raw {name}", "fields": statements}
            if kind:
                body["filter"] = f"'{{{{Activity.Type}}}}' = '{kind}'"
            definition = http.post(f"{bulk}/{obj}/exports", json=body).json()
            sync = http.post(f"{bulk}/syncs", json={"syncedInstanceUri": definition["uri"]}).json()
            while sync["status"] not in ("success", "warning", "error"):
                time.sleep(0.05)
                sync = http.get(f"{bulk}{sync['uri']}").json()
            offset = count = 0
            while True:
                page = http.get(
                    f"{bulk}{sync['uri']}/data", params={"limit": PAGE, "offset": offset}
                ).json()
                count += int(page.get("count", len(page.get("items", []))))
                offset += PAGE
                if not page.get("hasMore"):
                    break
            records[obj] = records.get(obj, 0) + count
    return {"seconds": time.perf_counter() - started, "read": records, "peak_mib": _peak_mib()}


def read_abmsync(info: dict[str, Any]) -> dict[str, Any]:
    """``read_changes`` of every object from no cursor, fields as the mappings select them."""
    from pydantic import SecretStr

    from abmsync.connectors.eloqua.connector import EloquaConnector
    from abmsync.sync.sources import load_sources

    started = time.perf_counter()
    connector = EloquaConnector(
        info["company"],
        info["username"],
        SecretStr(info["password"]),
        login_url=info["url"],
        verify=info["ca_file"],
    )
    records: dict[str, int] = {}
    for source in load_sources([MAPPINGS], ["eloqua"]):
        connector.select_fields(source.obj, source.mapping.vendor_fields)
        count = 0
        for batch in connector.read_changes(source.obj, None):
            count += batch.records.height
        records[source.obj] = count
    connector.close()
    return {
        "seconds": time.perf_counter() - started,
        "read": records,
        "calls": connector.budget.calls,
        "peak_mib": _peak_mib(),
    }


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- driving ----------------------------------------------------------------------------------


def _job(name: str, info: dict[str, Any]) -> dict[str, Any]:
    """Run one measured job in a child process of its own."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(info, handle)
    command = [sys.executable, __file__, "--job", name, "--info", handle.name]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr}")
    return _answer(iter(done.stdout.splitlines()))  # type: ignore[arg-type]


def _measure(data: Path, job: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh seeded server, one job against it; the job's result and the server's counts."""
    command = [sys.executable, __file__, "--serve", "--data", str(data)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        try:
            info = _answer(process.stdout)
            before = _counts(process)
            result = _job(job, info)
            result["server_calls"] = _counts(process) - before
            return info, result
        finally:
            process.stdin.close()
            process.wait(timeout=120)


def _counts(process: subprocess.Popen[str]) -> int:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("counts\n")
    process.stdin.flush()
    return int(_answer(process.stdout)["calls"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--touchpoints-per-person", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--job", choices=["raw", "abmsync"], help=argparse.SUPPRESS)
    parser.add_argument("--info", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.data)
        return
    if args.job:
        info = json.loads(args.info.read_text())
        _say(raw_export(info) if args.job == "raw" else read_abmsync(info))
        return

    from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset, write_dataset

    with tempfile.TemporaryDirectory(prefix="bench-eloqua-") as folder:
        data = Path(folder) / "data"
        started = time.perf_counter()
        dataset = generate_dataset(
            args.people,
            seed=args.seed,
            as_of=DEFAULT_AS_OF,
            touchpoints_per_person=args.touchpoints_per_person,
        )
        write_dataset(dataset, data, "parquet")
        print(
            f"generated {args.people:,} people, {dataset.touchpoints.height:,} touchpoints "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        info, raw = _measure(data, "raw")
        print(f"seeded: {info['seeded']}", flush=True)
        _, ours = _measure(data, "abmsync")
    rows = [
        ("records read", f"{sum(raw['read'].values()):,}", f"{sum(ours['read'].values()):,}"),
        *((f"  {obj}", f"{raw['read'].get(obj, 0):,}", f"{ours['read'].get(obj, 0):,}")
          for obj in OBJECTS),
        ("seconds", f"{raw['seconds']:.1f}", f"{ours['seconds']:.1f}"),
        ("API calls (emulator)", f"{raw['server_calls']:,}", f"{ours['server_calls']:,}"),
        ("peak RSS MiB", f"{raw['peak_mib']:.0f}", f"{ours['peak_mib']:.0f}"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':{width}}  {'raw export':>12}  {'abmsync':>12}")
    for label, left, right in rows:
        print(f"{label:{width}}  {left:>12}  {right:>12}")
    ratio = ours["seconds"] / raw["seconds"]
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    print(f"\nabmsync / raw export: {ratio:.2f}x (target {TARGET_RATIO}x: {verdict})")
    if raw["read"] != ours["read"]:
        print(f"records differ: raw {raw['read']} abmsync {ours['read']}")
        sys.exit(1)


if __name__ == "__main__":
    main()
