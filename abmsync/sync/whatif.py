"""File-reading services for what-if comparisons and backtests (``rules diff``, ``backtest``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from abmsync.rules.diff import RulesDiff, diff_rules
from abmsync.rules.loader import LoadedRules
from abmsync.rules.replay import WEEK, conversion, replay, totals, week_ends
from abmsync.sync.lifecycle_job import read_owners
from abmsync.sync.scoring import Inputs, find_input, load_touchpoints


@dataclass(frozen=True)
class Backtest:
    """Weekly conversion of one or more rule sets over the same past."""

    start: datetime
    end: datetime
    versions: list[str]
    weekly: list[pl.DataFrame]  # one conversion table per rule set
    totals: list[dict[str, float | int | None]]

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "rule_sets": [
                {
                    "rules_version": version,
                    "totals": total,
                    "weeks": [
                        {**row, "week": row["week"].isoformat()}
                        for row in weekly.iter_rows(named=True)
                    ],
                }
                for version, weekly, total in zip(
                    self.versions, self.weekly, self.totals, strict=True
                )
            ],
        }


def _read(
    inputs: Inputs,
) -> tuple[pl.DataFrame, pl.DataFrame | pl.LazyFrame | None, pl.DataFrame | None]:
    people = inputs.read("people", inputs.people)
    touchpoints = load_touchpoints(inputs) if inputs.touchpoints else None
    accounts = inputs.read("accounts", inputs.accounts) if inputs.accounts else None
    return people, touchpoints, accounts


def run_backtest(
    rule_sets: list[LoadedRules], inputs: Inputs, *, start: datetime, end: datetime
) -> Backtest:
    """Replay each rule set week by week from ``start`` to ``end`` and measure conversion."""
    people, touchpoints, accounts = _read(inputs)
    opportunities_path = find_input(inputs.people.parent, "opportunities")
    opportunities = inputs.read("opportunities", opportunities_path) if opportunities_path else None
    weeks = week_ends(start, end)
    tables = [
        conversion(replay(loaded, people, touchpoints, accounts, weeks, start=start), opportunities)
        for loaded in rule_sets
    ]
    return Backtest(start, end, [r.version for r in rule_sets], tables, [totals(t) for t in tables])


def run_diff(
    old: LoadedRules, new: LoadedRules, inputs: Inputs, *, as_of: datetime, weeks: int
) -> RulesDiff:
    """Compare two rule sets on the files in ``inputs`` as of ``as_of``."""
    people, touchpoints, accounts = _read(inputs)
    owners_path = find_input(inputs.people.parent, "owners")
    owners = read_owners(owners_path) if owners_path else None
    first = as_of - WEEK * weeks
    ends = week_ends(first, as_of) if weeks > 0 else []
    return diff_rules(
        old, new, people, touchpoints, accounts, owners, as_of=as_of, weeks=ends, start=first
    )
