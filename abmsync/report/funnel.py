"""The lead funnel from the stage-change ledger: reach, conversion, weekly volume, speed, cohorts.

A person *reached* a stage of the main path when they entered it or any later
stage of the path in the period (people skip stages: a fast-tracked lead goes
from subscriber to MQL), so conversion between neighbouring stages is
``reached(next) / reached(this)``. Time in stage counts completed stays (entry
to the next change) that ended in the period; velocity is the time from the
hand-over stage (MQL) to the first entry into each later stage.
"""

from __future__ import annotations

import polars as pl

from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Cohort, Funnel, SideStage, StageReach, StageTime, Velocity
from abmsync.report.stats import (
    days_between,
    entry_stage,
    quantile,
    ratio,
    stage_lists,
    week_of,
    weekly_counts,
)

NO_VALUE = "(none)"


def build_funnel(inputs: ReportInputs) -> Funnel:
    """The funnel section of the report."""
    changes = inputs.stage_changes.filter(pl.col("changed_at") <= inputs.period.end)
    main, side = stage_lists(inputs.rules.ruleset, changes["to_stage"].unique().sort().to_list())
    in_period = changes.filter(inputs.period.contains("changed_at"))
    current = _current_stages(changes)
    rank = {stage: i for i, stage in enumerate(main)}
    reached = _reached(in_period, rank)
    stages = [
        StageReach(
            stage=stage,
            reached=reached[i],
            current=current.get(stage, 0),
            conversion_to_next=ratio(reached[i + 1], reached[i]) if i + 1 < len(main) else None,
        )
        for i, stage in enumerate(main)
    ]
    sides = [
        SideStage(
            stage=stage,
            entered=in_period.filter(pl.col("to_stage") == stage).height,
            current=current.get(stage, 0),
        )
        for stage in side
    ]
    moves = in_period.filter(pl.col("from_stage").is_not_null())  # not first placements
    handover = entry_stage(inputs.rules.ruleset, main)
    later = main[main.index(handover) + 1 :] if handover in main else []
    return Funnel(
        main_stages=main,
        stages=stages,
        side_stages=sides,
        weekly=weekly_counts(moves, "changed_at", "to_stage"),
        time_in_stage=_time_in_stage(changes, inputs, main + side, current),
        velocity_from=handover,
        velocity=_velocity(changes, inputs, handover, later),
        cohorts=_cohorts(changes, inputs, handover, later, rank),
    )


def _current_stages(changes: pl.DataFrame) -> dict[str, int]:
    latest = changes.group_by("person_id").agg(pl.col("to_stage").last())
    return {str(s): int(n) for s, n in latest.group_by("to_stage").len().iter_rows()}


def _reached(in_period: pl.DataFrame, rank: dict[str, int]) -> list[int]:
    furthest = (
        in_period.with_columns(pl.col("to_stage").replace_strict(rank, default=None).alias("__r"))
        .drop_nulls("__r")
        .group_by("person_id")
        .agg(pl.col("__r").max())
    )
    return [furthest.filter(pl.col("__r") >= i).height for i in range(len(rank))]


def _time_in_stage(
    changes: pl.DataFrame, inputs: ReportInputs, stages: list[str], current: dict[str, int]
) -> list[StageTime]:
    stints = (
        changes.sort("person_id", "changed_at")
        .with_columns(pl.col("changed_at").shift(-1).over("person_id").alias("__left"))
        .drop_nulls("__left")
        .filter(inputs.period.contains("__left"))
        .with_columns(days_between("changed_at", "__left").alias("__days"))
    )
    result = []
    for stage in stages:
        days = stints.filter(pl.col("to_stage") == stage)["__days"]
        result.append(
            StageTime(
                stage=stage,
                stints=days.len(),
                median_days=quantile(days, 0.5),
                p90_days=quantile(days, 0.9),
                still_in=current.get(stage, 0),
            )
        )
    return result


def _first_entries(changes: pl.DataFrame, stage: str) -> pl.DataFrame:
    return (
        changes.filter(pl.col("to_stage") == stage)
        .group_by("person_id")
        .agg(pl.col("changed_at").min().alias("__entered"), pl.col("rules_version").first())
    )


def _velocity(
    changes: pl.DataFrame, inputs: ReportInputs, handover: str, later: list[str]
) -> list[Velocity]:
    entered = _first_entries(changes, handover).filter(inputs.period.contains("__entered"))
    result = []
    for stage in later:
        arrivals = (
            changes.filter(pl.col("to_stage") == stage)
            .join(entered, on="person_id")
            .filter(pl.col("changed_at") >= pl.col("__entered"))
            .group_by("person_id")
            .agg(days_between("__entered", "changed_at").min().alias("__days"))
        )["__days"]
        result.append(
            Velocity(
                to_stage=stage,
                people=arrivals.len(),
                median_days=quantile(arrivals, 0.5),
                p90_days=quantile(arrivals, 0.9),
            )
        )
    return result


def _cohorts(
    changes: pl.DataFrame,
    inputs: ReportInputs,
    handover: str,
    later: list[str],
    rank: dict[str, int],
) -> list[Cohort]:
    """Conversion of each MQL-week cohort, split by lead source and by rules version."""
    entered = _first_entries(changes, handover).filter(inputs.period.contains("__entered"))
    if entered.is_empty():
        return []
    sources = inputs.people.select("person_id", pl.col("lead_source").cast(pl.String))
    furthest = (
        changes.join(entered, on="person_id")
        .filter(pl.col("changed_at") >= pl.col("__entered"))
        .with_columns(pl.col("to_stage").replace_strict(rank, default=None).alias("__r"))
        .group_by("person_id")
        .agg(pl.col("__r").max())
    )
    people = (
        entered.join(sources, on="person_id", how="left")
        .join(furthest, on="person_id", how="left")
        .with_columns(
            week_of("__entered").alias("__week"),
            pl.col("lead_source").fill_null(NO_VALUE),
            pl.col("rules_version").fill_null(NO_VALUE),
        )
    )
    cohorts = []
    for dimension in ("lead_source", "rules_version"):
        groups = people.group_by(dimension, "__week").agg(
            pl.len().alias(handover),
            *[(pl.col("__r") >= rank[s]).sum().alias(s) for s in later],
        )
        for row in groups.sort(dimension, "__week").iter_rows(named=True):
            reached = {handover: int(row[handover])} | {s: int(row[s]) for s in later}
            last = later[-1] if later else handover
            cohorts.append(
                Cohort(
                    dimension=dimension,
                    value=str(row[dimension]),
                    mql_week=row["__week"],
                    reached=reached,
                    conversion=ratio(reached[last], reached[handover]),
                )
            )
    return cohorts
