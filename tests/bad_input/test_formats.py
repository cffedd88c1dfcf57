"""Every command that takes --data works on each format ``sandbox generate`` writes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.bad_input.conftest import EXAMPLE_RULES, FORMATS, PEOPLE
from tests.bad_input.helpers import invoke


def _ok(args: list[object]) -> str:
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("out", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_score_reads_each_format_and_writes_each_output(
    fmt: str, out: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    target = isolated / f"scores{out}"
    state = isolated / "state.db"
    _ok(["score", "--rules", EXAMPLE_RULES, "--data", datasets[fmt], "--out", target,
         "--database", f"sqlite:///{state}"])  # fmt: skip
    assert target.is_file() and state.is_file()
    assert sorted(p.name for p in isolated.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_run_reads_each_format_with_its_owners_file(
    fmt: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    output = _ok(["run", "--rules", EXAMPLE_RULES, "--data", datasets[fmt], "--json",
                  "--database", f"sqlite:///{isolated / 'state.db'}"])  # fmt: skip
    assert f'"people": {PEOPLE}' in output


@pytest.mark.parametrize("fmt", FORMATS)
def test_rules_diff_reads_each_format(fmt: str, datasets: dict[str, Path]) -> None:
    _ok(["rules", "diff", EXAMPLE_RULES, EXAMPLE_RULES, "--data", datasets[fmt], "--weeks", "2",
         "--json"])  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_backtest_reads_each_format(fmt: str, datasets: dict[str, Path]) -> None:
    _ok(["backtest", "--rules", EXAMPLE_RULES, "--data", datasets[fmt], "--from", "2026-10-01",
         "--to", "2026-10-22", "--json"])  # fmt: skip


def test_every_format_scores_the_same(isolated: Path, datasets: dict[str, Path]) -> None:
    scores = {}
    for fmt in FORMATS:
        target = isolated / f"{fmt}.parquet"
        _ok(["score", "--rules", EXAMPLE_RULES, "--data", datasets[fmt], "--out", target,
             "--no-ledger", "--as-of", "2026-11-01"])  # fmt: skip
        scores[fmt] = (
            pl.read_parquet(target).select("person_id", "total", "grade").sort("person_id")
        )
    assert scores["csv"].equals(scores["parquet"])
    assert scores["jsonl"].equals(scores["parquet"])
