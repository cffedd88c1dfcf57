"""Check the HubSpot answers of an ``abmsync`` process the tests launch (``abmsync demo``).

The test gives the process :func:`child_env`; its start-up hook (``startup/sitecustomize.py``)
calls :func:`check_served_emulators`, which wraps every HubSpot emulator the
process creates and appends one JSON line per answer to the log; the test
reads the verdict back with :func:`read_log`.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from .check import Exchange, Violation
from .recorder import Ledger, watch

STARTUP = Path(__file__).resolve().parent / "startup"
ROOT = Path(__file__).resolve().parents[4]


def child_env(log: Path) -> dict[str, str]:
    """Environment entries that make a child ``abmsync`` process check its HubSpot answers."""
    path = os.pathsep.join(p for p in (str(STARTUP), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "HUBSPOT_CONTRACT_LOG": str(log),
        "HUBSPOT_CONTRACT_ROOT": str(ROOT),
    }


class LogLedger(Ledger):
    """A ledger that also appends each checked answer to a JSON-lines file."""

    def __init__(self, log: str) -> None:
        super().__init__()
        self.log = log
        self._write = threading.Lock()

    def record(self, exchange: Exchange, operation: str | None, found: list[Violation]) -> None:
        super().record(exchange, operation, found)
        line = {
            "operation": operation,
            "status": exchange.status,
            "violations": [str(v) for v in found],
        }
        with self._write, open(self.log, "a") as handle:
            handle.write(json.dumps(line) + "\n")


def check_served_emulators(log: str) -> None:
    """Make ``create_app`` of the HubSpot emulator return it wrapped in the contract check."""
    import abmsync.sandbox.hubspot.app as emulator

    ledger = LogLedger(log)
    create_app = emulator.create_app

    def create_checked_app(*args: Any, **kwargs: Any) -> Any:
        return watch(create_app(*args, **kwargs), ledger)

    emulator.create_app = create_checked_app


def read_log(log: Path) -> tuple[int, int, list[str]]:
    """(answers checked, answers out of scope, violations) from a child's log."""
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    checked = sum(1 for line in lines if line["operation"] is not None)
    broken = [violation for line in lines for violation in line["violations"]]
    return checked, len(lines) - checked, broken
