"""``abmsync demo``, the README's main command, end to end on a small data set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sync.store import Store

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_syncs_plays_a_week_syncs_again_and_then_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the demo reads examples/ as a user runs it, from the checkout
    result = CliRunner().invoke(
        main, ["demo", "--people", "300", "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    out = result.output
    assert result.exit_code == 0, out
    assert "rule tests passed" in out
    assert "In Salesforce: the top leads as sales sees them" in out
    assert "A week passes" in out and "converted to contact" in out
    assert re.search(r"run 3: succeeded", out)
    with Store.open(f"sqlite:///{tmp_path / 'demo' / 'abmsync.db'}") as store:
        runs = store.recent_runs()
    assert [r.status for r in runs] == ["succeeded"] * 3
    first, second, third = runs[2], runs[1], runs[0]
    assert first.counts["written"] > 300  # people and their touchpoint history
    assert 0 < second.counts["written"] < first.counts["written"]
    assert third.counts["written"] == 0 and third.counts["planned"] == 0
    # Right after a sync: our own writes were recognised, so nothing is read again either.
    assert third.counts["read"] == 0 and third.counts["deleted"] == 0
    assert "nothing read, nothing written" in out
    assert second.counts["deleted"] >= 2  # the merged and the deleted lead
