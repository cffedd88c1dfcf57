"""The ``harness`` fixture: every conformance test runs once per vendor.

Each vendor's emulator server starts once per session, on first use (a TLS
certificate and uvicorn take a moment); every test then installs a fresh
tenant behind it, with its own faults, clock and records. A vendor whose
connector is not in the tree yet is skipped with a reason; once its modules
import, its tests run.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import pytest

from tests.connectors.conformance.harness import Harness, quiet_faults

# pytest id -> (adapter module, harness class); the module has ``serve()``.
VENDORS: dict[str, tuple[str, str]] = {
    "salesforce": ("tests.connectors.conformance.salesforce", "SalesforceHarness"),
    "hubspot": ("tests.connectors.conformance.hubspot", "HubSpotHarness"),
    "dynamics": ("tests.connectors.conformance.dynamics", "DynamicsHarness"),
    "eloqua": ("tests.connectors.conformance.eloqua", "EloquaHarness"),
}

# Vendors still being written: (packages that must exist, the skip reason until they do).
PENDING: dict[str, tuple[tuple[str, ...], str]] = {
    "dynamics": (
        ("abmsync.connectors.dynamics", "abmsync.sandbox.dynamics"),
        "Dynamics connector not available yet",
    ),
    "eloqua": (
        ("abmsync.connectors.eloqua", "abmsync.sandbox.eloqua"),
        "Eloqua connector not available yet",
    ),
}


def missing_reason(vendor: str) -> str | None:
    """Why ``vendor`` cannot run yet, or None: its packages are there (regular, not namespace)."""
    packages, reason = PENDING.get(vendor, ((), ""))
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:  # absent, or a directory without __init__
            return reason
    return None


class Servers:
    """Emulator servers started on first use and stopped at the end of the session."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._started: dict[str, Any] = {}

    def get(self, vendor: str, serve: Callable[[], AbstractContextManager[Any]]) -> Any:
        if vendor not in self._started:
            self._started[vendor] = self._stack.enter_context(serve())
        return self._started[vendor]


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack)


@pytest.fixture(params=list(VENDORS))
def harness(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Harness]:
    """A fresh tenant of one vendor, with faults off."""
    vendor: str = request.param
    reason = missing_reason(vendor)
    if reason is not None:
        pytest.skip(reason)
    module_name, class_name = VENDORS[vendor]
    module = importlib.import_module(module_name)
    server = servers.get(vendor, module.serve)
    made: Harness = getattr(module, class_name)(server, quiet_faults())
    try:
        yield made
    finally:
        made.set_faults(quiet_faults())
        made.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``known_bug(vendor, reason)`` is a strict xfail for that vendor."""
    for item in items:
        bugs = getattr(getattr(item, "function", None), "known_bugs", None)
        callspec = getattr(item, "callspec", None)
        if not bugs or callspec is None:
            continue
        vendor = callspec.params.get("harness")
        for bug_vendor, case, reason in bugs:
            if bug_vendor == vendor and (case is None or case in callspec.id):
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
