"""A small real pipeline run (the demo: sandbox CRM and marketing platform, two syncs a week
apart) whose state database every report test reads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from abmsync.report.build import build_report
from abmsync.report.inputs import ReportInputs, load_inputs
from abmsync.report.model import Report
from abmsync.rules.loader import load_rules
from abmsync.sync.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules.yaml"
MAPPINGS = ROOT / "examples" / "mappings"


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The state database URL after ``abmsync demo --people 300``."""
    from abmsync.demo import run_demo

    directory = tmp_path_factory.mktemp("report-demo")
    summaries = run_demo(
        Console(file=io.StringIO(), width=120),
        people=300,
        seed=7,
        directory=directory,
        rules_path=RULES,
        mappings=MAPPINGS,
    )
    assert {s.status for s in summaries} <= {"succeeded", "partial"}
    return f"sqlite:///{directory / 'abmsync.db'}"


@pytest.fixture(scope="session")
def demo_inputs(demo_database: str) -> Iterator[ReportInputs]:
    with Store.open(demo_database) as store:
        yield load_inputs(store, load_rules(RULES), [MAPPINGS])


@pytest.fixture(scope="session")
def demo_report(demo_inputs: ReportInputs) -> Report:
    return build_report(demo_inputs)
