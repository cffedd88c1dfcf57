"""The report's figures on a real (small) pipeline run agree with the ledgers they come from."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Report
from tests.report.conftest import MAPPINGS, RULES

ABMSYNC = Path(sys.executable).with_name("abmsync")


def test_the_funnel_never_widens_and_conversion_is_reached_next_over_reached(
    demo_report: Report,
) -> None:
    stages = demo_report.funnel.stages
    assert [s.stage for s in stages] == [
        "subscriber",
        "lead",
        "mql",
        "sal",
        "sql",
        "opportunity",
        "customer",
    ]
    assert [s.stage for s in demo_report.funnel.side_stages] == ["recycled", "disqualified"]
    for this, following in itertools.pairwise(stages):
        assert following.reached <= this.reached
        if this.reached:
            assert this.conversion_to_next == pytest.approx(
                following.reached / this.reached, abs=1e-4
            )
        else:
            assert this.conversion_to_next is None
    assert stages[0].reached == demo_report.people  # everyone is placed once


def test_people_in_each_stage_add_up_to_everyone(demo_report: Report) -> None:
    f = demo_report.funnel
    assert (
        sum(s.current for s in f.stages) + sum(s.current for s in f.side_stages)
        == demo_report.people
    )


def test_sla_counts_are_the_timer_ledger_counts(
    demo_report: Report, demo_inputs: ReportInputs
) -> None:
    events = demo_inputs.sla_events.filter(pl.col("stage") == "mql")
    overall = next(g for g in demo_report.sla.overall if g.stage == "mql")
    assert overall.started == events.filter(pl.col("kind") == "started").height
    assert overall.breached == events.filter(pl.col("kind") == "breached").height > 0
    assert sum(g.breached for g in demo_report.sla.by_owner if g.stage == "mql") == overall.breached
    assert sum(g.started for g in demo_report.sla.by_queue if g.stage == "mql") == overall.started
    assert demo_report.sla.reassignments == overall.breached  # the mql SLA reassigns on breach


def test_the_grade_band_matrix_counts_every_scored_person_once(demo_report: Report) -> None:
    scores = demo_report.scores
    assert sum(c.people for c in scores.matrix) == scores.scored == demo_report.people
    assert sum(b.people for b in scores.distribution) == scores.scored
    assert scores.top_rules[0].points >= scores.top_rules[-1].points


def test_accounts_by_tier_cover_every_account(demo_report: Report) -> None:
    abm = demo_report.abm
    assert sum(t.accounts for t in abm.tiers) == demo_report.accounts
    assert sum(t.mqas for t in abm.tiers) == abm.mqas
    assert all(len(k.trend) == len(abm.trend_weeks) for k in abm.key_accounts)


def test_attributed_credit_adds_up_to_the_influenced_pipeline(demo_report: Report) -> None:
    loop = demo_report.closed_loop
    assert loop.opportunities > 0
    for model in loop.models:
        credited = sum(c.pipeline for c in model.by_channel)
        assert credited == pytest.approx(loop.influenced_pipeline, abs=0.05)
    assert loop.sourced_pipeline <= loop.pipeline


def test_report_json_on_the_command_line_equals_the_model(
    demo_database: str, demo_report: Report, tmp_path: Path
) -> None:
    if not ABMSYNC.exists():
        pytest.skip(f"no abmsync command beside {sys.executable}")
    out = tmp_path / "report.html"
    result = subprocess.run(
        [
            str(ABMSYNC),
            "report",
            "--json",
            "--out",
            str(out),
            "--database",
            demo_database,
            "--rules",
            str(RULES),
            "--mappings",
            str(MAPPINGS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(demo_report.model_dump_json())
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
