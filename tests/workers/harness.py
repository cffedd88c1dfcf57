"""Real parts for the worker tests: a Redis server, worker and scheduler processes, tenant files.

Redis is started here, on a free loopback port, and removed at the end: the
tests restart it, so they own it. ``redis-server`` comes from the Debian
package (scripts/test installs it); without it the tests are skipped, unless
ABMSYNC_REQUIRE_REDIS=1 (scripts/test, and so CI): then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from abmsync.sandbox.salesforce.app import SandboxConfig
from tests.sync.crm_env import MAPPINGS, RULES, TOKEN, CrmEnv

REQUIRE_REDIS_ENV = "ABMSYNC_REQUIRE_REDIS"
# Short deadlines, so that a killed worker's task comes back within seconds. A run
# lock must outlast the wait of a run's tasks in the queue (two tenants' reads here).
VISIBILITY_TIMEOUT = 4
LOCK_TTL = 30
# How long a test waits for a progress signal before it gives up (a hung run, not a slow one).
PATIENCE = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    what: str,
    ready: Callable[[], bool],
    *,
    every: float = 0.1,
    state: Callable[[], object] | None = None,
) -> None:
    """Return once ``ready()``; fail the test if it never comes (a hang, not slowness).

    ``state`` tells, in the failure, what things looked like when the wait gave up.
    """
    deadline = time.monotonic() + PATIENCE
    while not ready():
        if time.monotonic() > deadline:
            seen = "" if state is None else f"; at the end: {state()!r}"
            pytest.fail(f"waited {PATIENCE} s for {what}{seen}")
        time.sleep(every)


class WriteGate:
    """An ASGI wrapper holding every HubSpot batch write until :meth:`open` is called.

    ``held`` is set once a write is waiting: the pass is then mid-task, for sure.
    """

    WRITES = re.compile(r"/batch/(create|update|upsert)$")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.held, self._open = threading.Event(), threading.Event()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.WRITES.search(scope["path"]):
            while not self._open.is_set():
                self.held.set()
                await asyncio.sleep(0.05)
        await self.app(scope, receive, send)


class RedisServer:
    """A ``redis-server`` process of the test's own, with no persistence: a restart loses all."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for("redis-server to listen", self._listening, every=0.05)

    def kill(self) -> None:
        """kill -9: everything queued and every chord's state is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"redis-server exited with {self.process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False


def redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but redis-server is not installed", pytrace=False)
        pytest.skip("the worker tests need redis-server (apt-get install redis-server)")
    return found


def write_tenant(folder: Path, name: str, env: CrmEnv) -> str:
    """A tenant file for the emulators of ``env``, in a namespace unique to this test."""
    namespace = f"w_{name}_{uuid.uuid4().hex[:8]}"
    config = SandboxConfig()
    (folder / f"{name}.toml").write_text(
        f"""name = "{name}"
namespace = "{namespace}"
rules = "{RULES}"
mappings = "{MAPPINGS}"

[salesforce]
instance_url = "{env.sf_url}"
client_id = "{config.client_id}"
client_secret = "{config.client_secret}"
verify = "{env.sf_ca}"

[hubspot]
host = "{env.hs_url}"
access_token = "{TOKEN}"
""",
        encoding="utf-8",
    )
    return namespace


@dataclass
class Deployment:
    """Tenant files, a state database and a Redis server, and the processes that use them."""

    tenants: Path
    database: str
    redis: RedisServer
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "ABMSYNC_TENANTS": str(self.tenants),
            "ABMSYNC_DATABASE_URL": self.database,
            "ABMSYNC_WORKERS__BROKER_URL": self.redis.url,
            "ABMSYNC_WORKERS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "ABMSYNC_WORKERS__LOCK_TTL": str(LOCK_TTL),
            "ABMSYNC_WORKERS__TICK": "0.5",
        }

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``abmsync ARGS`` in a session of its own (so kill -9 reaches its children too)."""
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "abmsync.cli", *args],
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", "--concurrency", "1", "--name", f"{name}@%h")

    def schedule(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, "schedule", *args)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # -- the state database, read as the tenant sees it ----------------------------

    def query(self, namespace: str, sql: str) -> list[sa.Row[object]]:
        """Rows of ``sql`` in the tenant's schema; none while its tables do not exist yet."""
        url = make_url(self.database)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'SET search_path TO "{namespace}"')
                return list(connection.execute(sa.text(sql)))
        except sa.exc.ProgrammingError:
            return []  # not migrated yet
        finally:
            engine.dispose()

    def runs(self, namespace: str) -> list[sa.Row[object]]:
        return self.query(
            namespace, "SELECT id, status, started_at, finished_at, error FROM runs ORDER BY id"
        )

    def cursors(self, namespace: str) -> dict[tuple[str, str], str]:
        rows = self.query(namespace, "SELECT connector, obj, value FROM cursors")
        return {(row[0], row[1]): row[2] for row in rows}


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd stops a service, and wait for the exit: a scheduler ends its tick
    first, so a run it has recorded is queued too (kill -9 could land between the two)."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.args!r} did not stop within {PATIENCE} s of SIGTERM")
    assert code == 0, f"{process.args!r} exited with {code} on SIGTERM"


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the process and every process of its session: a worker host dying."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def deployment(tmp_path: Path, database: str, redis: RedisServer) -> Iterator[Deployment]:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    made = Deployment(tenants, database, redis, logs)
    try:
        yield made
    finally:
        made.stop_all()
