"""Smoke test of ``benchmarks/bench_sync.py``: a tiny run yields sane figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sync.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sync", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_benchmark_measures_a_sync_that_reads_all_and_then_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = _benchmark().main(["--people", "300"])

    assert figures["statuses"] == ["succeeded", "succeeded"]
    assert figures["no_change_written"] == 0
    assert figures["ratio"] > 0
    assert figures["sync_read"] == figures["raw_read"]
    assert figures["raw_read"]["salesforce/Lead"] > 0
    assert figures["raw_read"]["hubspot/contacts"] > 0
    assert figures["written"]["salesforce/Lead"] == figures["raw_read"]["salesforce/Lead"]
    assert all(seconds > 0 for seconds in figures["seconds"].values())
    printed = capsys.readouterr().out
    assert "target within 2x" in printed
    assert "no-change sync: 0 records written" in printed
