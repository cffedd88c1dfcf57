"""A tenant's run holds its lock in its own namespace: two processes never run one tenant at once.

The first ``abmsync sync --tenant acme`` process is held inside its run (the
HubSpot emulator answers nobody until the test opens a gate), so the second
one certainly starts while the first holds the lock; nothing here depends on
timing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any

from abmsync.clikit import ExitCode
from tests.sync.crm_env import Servers
from tests.tenants.conftest import Client

AS_OF = "2026-11-29T12:00:00Z"
PATIENCE = 300  # seconds: only a hung process ever waits this long


class Gate:
    """ASGI middleware that holds every request until ``open`` (and says when one arrived)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrived = threading.Event()
        self.opened = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.arrived.set()
            await asyncio.to_thread(self.opened.wait, PATIENCE)
        await self.app(scope, receive, send)


def sync_process(*args: str) -> subprocess.Popen[str]:
    """``abmsync sync`` in a process of its own, with the test's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "abmsync.cli", "sync", "--as-of", AS_OF, *args],
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_sync(*args: str) -> subprocess.CompletedProcess[str]:
    """``abmsync sync`` in a process of its own, to the end."""
    process = sync_process(*args)
    out, err = process.communicate(timeout=PATIENCE)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_second_process_on_the_same_tenant_is_skipped_while_another_tenant_runs(
    clients: dict[str, Client], acme_servers: Servers
) -> None:
    gate = Gate(acme_servers.hs_switch.app)
    acme_servers.hs_switch.app = gate
    first = sync_process("--tenant", "acme")
    try:
        assert gate.arrived.wait(PATIENCE), first.communicate()
        second = run_sync("--tenant", "acme", "--fail-if-locked")
        assert second.returncode == ExitCode.LOCKED, second.stdout + second.stderr
        assert "acme: skipped another sync of this configuration is running" in second.stdout
        # Another tenant's lock is its own: beta runs while acme is held.
        other = run_sync("--tenant", "beta")
        assert other.returncode == ExitCode.OK, other.stdout + other.stderr
    finally:
        gate.opened.set()
        out, err = first.communicate(timeout=PATIENCE)
    assert first.returncode == ExitCode.OK, out + err
    assert "acme: succeeded run 1" in out
    # The skipped process wrote nothing and left no run behind.
    third = run_sync("--tenant", "acme", "--json")
    assert third.returncode == ExitCode.OK, third.stdout + third.stderr
    assert '"run_id": 2' in third.stdout and '"written": 0' in third.stdout
