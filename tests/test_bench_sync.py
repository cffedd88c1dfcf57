"""Smoke test of ``benchmarks/bench_sync.py``: a tiny run yields sane figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sync.py"


@pytest.fixture
def bench_sync(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The benchmark script as a module (registered while the test runs, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location("bench_sync", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_benchmark_measures_a_sync_that_reads_all_and_then_writes_nothing(
    bench_sync: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = bench_sync.main(["--people", "300"])

    assert figures["statuses"] == ["succeeded", "succeeded"]
    assert figures["no_change_written"] == 0
    assert figures["ratio"] > 0 and figures["no_change_ratio"] > 0
    assert figures["sync_read"] == figures["raw_read"]
    assert figures["raw_read"]["salesforce/Lead"] > 0
    assert figures["raw_read"]["hubspot/contacts"] > 0
    assert figures["written"]["salesforce/Lead"] == figures["raw_read"]["salesforce/Lead"]
    assert all(seconds > 0 for seconds in figures["seconds"].values())
    printed = capsys.readouterr().out
    assert "target within 2x" in printed
    assert "no-change sync: 0 records written" in printed
    assert "the raw incremental read of the same window" in printed


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_initial_only_measures_the_raw_read_and_the_initial_sync_with_its_memory_per_step(
    bench_sync: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = bench_sync.main(["--people", "120", "--initial-only"])

    assert figures["statuses"] == ["succeeded"]
    assert figures["no_change_ratio"] is None
    assert set(figures["seconds"]) == {"raw read", "initial sync"}
    assert figures["sync_read"] == figures["raw_read"]
    assert figures["peak_mib"] > 0
    printed = capsys.readouterr().out
    assert "no-change sync: not measured (--initial-only)" in printed
    assert "seconds and peak resident MiB per step" in printed
    assert "against the raw read of the slowest system alone" in printed.lower()
