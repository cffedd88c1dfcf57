"""Scores as the ledger recorded them at the period's end: grade × band, spread, top rules.

Each person's ledger row valid at the end is what their CRM record showed
then. Points per rule are read back from that row's reasons text (``+15
target industry; +1 email open ×2 (2026-10-23)``), so the top rules are the
ones that actually made those scores.
"""

from __future__ import annotations

import math
import re

import polars as pl

from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Bin, MatrixCell, RuleContribution, Scores
from abmsync.rules.model import RuleSet

BIN_WIDTH = 10.0
TOP_RULES = 15
_REASON = re.compile(r"^(?P<points>[+\-−]?\d+(?:\.\d+)?) (?P<rule>.+?)(?: ×\d+)?(?: \([^)]*\))?$")


def build_scores(inputs: ReportInputs) -> Scores:
    """The scores section of the report."""
    ruleset = inputs.rules.ruleset
    scores = inputs.scores
    grades = _ordered([*ruleset.grades, ruleset.lowest_grade], scores["grade"].unique().to_list())
    bands = sorted({*ruleset.bands, ruleset.lowest_band, *scores["band"].unique().to_list()})
    counts = {(g, int(b)): int(n) for g, b, n in scores.group_by("grade", "band").len().iter_rows()}
    return Scores(
        scored=scores.height,
        rules_versions=sorted(scores["rules_version"].unique().to_list()),
        grades=grades,
        bands=bands,
        matrix=[
            MatrixCell(grade=g, band=b, people=counts.get((g, b), 0)) for g in grades for b in bands
        ],
        distribution=_distribution(scores["total"]),
        top_rules=top_rules(scores["reasons"], ruleset),
    )


def _ordered(configured: list[str], seen: list[str]) -> list[str]:
    return list(dict.fromkeys([*configured, *sorted(str(s) for s in seen)]))


def _distribution(totals: pl.Series) -> list[Bin]:
    """People per score bin of ``BIN_WIDTH`` points, from the lowest to the highest score."""
    if totals.is_empty():
        return []
    low = math.floor(float(totals.min()) / BIN_WIDTH) * BIN_WIDTH  # type: ignore[arg-type]
    high = math.floor(float(totals.max()) / BIN_WIDTH) * BIN_WIDTH  # type: ignore[arg-type]
    index = ((totals - low) / BIN_WIDTH).floor().cast(pl.Int64)
    counts = dict(index.value_counts().iter_rows())
    steps = int((high - low) / BIN_WIDTH) + 1
    return [
        Bin(low=low + i * BIN_WIDTH, high=low + (i + 1) * BIN_WIDTH, people=int(counts.get(i, 0)))
        for i in range(steps)
    ]


def top_rules(reasons: pl.Series, ruleset: RuleSet) -> list[RuleContribution]:
    """Rules by the absolute points they contributed over all ``reasons`` texts."""
    kinds = {rule.name: "fit" for rule in ruleset.fit} | {
        event.label: "engagement" for event in ruleset.engagement.events
    }
    parts = (
        pl.DataFrame({"reasons": reasons})
        .select(pl.col("reasons").str.split("; ").alias("part"))
        .explode("part")
        .drop_nulls()
        .with_columns(pl.col("part").str.extract_groups(_REASON.pattern).alias("m"))
        .unnest("m")
        .drop_nulls("rule")
        .with_columns(pl.col("points").str.replace("−", "-").cast(pl.Float64))
    )
    totals = (
        parts.group_by("rule")
        .agg(pl.len().alias("people"), pl.col("points").sum())
        .sort([pl.col("points").abs(), "rule"], descending=[True, False])
        .head(TOP_RULES)
    )
    return [
        RuleContribution(
            rule=str(rule), kind=kinds.get(str(rule), "other"), people=int(n), points=round(p, 1)
        )
        for rule, n, p in totals.iter_rows()
    ]
