"""Replay history week by week: what a rule set would have done on the same past.

Backtests and ``rules diff`` are only honest if the replay sees nothing from
the future, so each week is scored as of its end with:

- only the people created by then, and only touchpoints before then (scoring
  already ignores touchpoints after its as-of time);
- no stage, CRM status or rejection reason from the source data: those are
  today's values. Everyone starts in the initial stage and only the rules
  move them, week after week, with the state carried in memory.

Conversion then asks what became of each week's new MQLs: did an
opportunity follow (the person is its primary contact, or it was created at
the person's account) on or after the MQL date, and was it won?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from abmsync.rules.compiled import compile_rules
from abmsync.rules.loader import LoadedRules
from abmsync.rules.progress import advance, empty_state
from abmsync.rules.scoring import score
from abmsync.schema import TIMESTAMP, conform, utc

# Columns that hold today's answers, not the past's.
FUTURE_COLUMNS = ("stage", "crm_status", "rejection_reason", "previous_stage", "days_in_stage")
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Replay:
    """Each person's first entry into the qualified stage, and the weeks replayed."""

    qualified: pl.DataFrame  # person_id, account_id, week, qualified_at
    weeks: list[datetime]
    stage: str


def week_ends(start: datetime, end: datetime) -> list[datetime]:
    """Week boundaries after ``start`` up to and including ``end`` (``start`` itself is
    the warm-up pass of :func:`replay`)."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValueError("the end of a backtest must come after its start")
    ends, current = [], start + WEEK
    while current < end:
        ends.append(current)
        current += WEEK
    ends.append(end)
    return ends


def replay(
    loaded: LoadedRules,
    people: pl.DataFrame,
    touchpoints: pl.DataFrame | pl.LazyFrame | None,
    accounts: pl.DataFrame | None,
    weeks: list[datetime],
    *,
    start: datetime | None = None,
    stage: str = "mql",
) -> Replay:
    """Run the lifecycle week after week and record when each person first reached ``stage``.

    With ``start``, a warm-up pass as of ``start`` places everyone first; people
    already qualified then are not counted as new in the first week.
    """
    people = conform(people, "people").drop([c for c in FUTURE_COLUMNS if c in people.columns])
    if touchpoints is not None:
        # Scan once, not once per week.
        touchpoints = (
            touchpoints.lazy().collect() if isinstance(touchpoints, pl.LazyFrame) else touchpoints
        )
    state = empty_state()
    found: list[pl.DataFrame] = []
    reached: set[str] = set()
    previous: datetime | None = None  # no move is stamped before the previous pass
    for index, week_end in enumerate([start, *weeks] if start is not None else weeks):
        rules = compile_rules(loaded, week_end)
        known = people.filter(pl.col("created_at").is_null() | (pl.col("created_at") <= week_end))
        result = score(rules, known, touchpoints, accounts)
        outcome = advance(rules, result.people, state, result.window, since=previous)
        state, previous = outcome.state, week_end
        arrived = outcome.changes.filter(
            (pl.col("to_stage") == stage) & ~pl.col("person_id").is_in(list(reached))
        ).unique("person_id")
        reached.update(arrived["person_id"].to_list())
        if start is not None and index == 0:
            continue  # the warm-up: qualified before the replay began
        found.append(
            arrived.join(result.people.select("person_id", "account_id"), on="person_id").select(
                "person_id",
                "account_id",
                pl.lit(week_end, dtype=TIMESTAMP).alias("week"),
                pl.col("changed_at").alias("qualified_at"),
            )
        )
    schema = {
        "person_id": pl.String(),
        "account_id": pl.String(),
        "week": TIMESTAMP,
        "qualified_at": TIMESTAMP,
    }
    qualified = pl.concat(found) if found else pl.DataFrame(schema=schema)
    return Replay(qualified.cast(schema), weeks, stage)  # type: ignore[arg-type]


def conversion(replayed: Replay, opportunities: pl.DataFrame | None) -> pl.DataFrame:
    """Per week: new qualified people, and how many went on to an opportunity and a win."""
    qualified = replayed.qualified
    if opportunities is None or opportunities.is_empty():
        outcomes = qualified.with_columns(
            pl.lit(False).alias("to_opportunity"), pl.lit(False).alias("to_won")
        )
    else:
        opps = conform(opportunities, "opportunities").select(
            "account_id", "primary_person_id", "created_at", "is_won"
        )
        by_person = qualified.join(
            opps.drop("account_id"), left_on="person_id", right_on="primary_person_id"
        )
        by_account = qualified.filter(pl.col("account_id").is_not_null()).join(
            opps.drop("primary_person_id"), on="account_id"
        )
        after = pl.concat(
            [
                by_person.select([*qualified.columns, "created_at", "is_won"]),
                by_account.select([*qualified.columns, "created_at", "is_won"]),
            ]
        )
        followed = (
            after.filter(pl.col("created_at") >= pl.col("qualified_at"))
            .group_by("person_id")
            .agg(
                pl.lit(True).alias("to_opportunity"),
                pl.col("is_won").fill_null(False).any().alias("to_won"),
            )
        )
        outcomes = qualified.join(followed, on="person_id", how="left").with_columns(
            pl.col("to_opportunity").fill_null(False), pl.col("to_won").fill_null(False)
        )
    weeks = pl.DataFrame({"week": replayed.weeks}, schema={"week": TIMESTAMP})
    per_week = outcomes.group_by("week").agg(
        pl.len().alias("qualified"),
        pl.col("to_opportunity").sum().alias("to_opportunity"),
        pl.col("to_won").sum().alias("to_won"),
    )
    return (
        weeks.join(per_week, on="week", how="left")
        .with_columns(pl.col("qualified", "to_opportunity", "to_won").fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("to_opportunity") / pl.col("qualified")).alias("opportunity_rate"),
            (pl.col("to_won") / pl.col("qualified")).alias("win_rate"),
        )
        .sort("week")
    )


def totals(per_week: pl.DataFrame) -> dict[str, float | int | None]:
    """Sum of a conversion table, with overall rates."""
    qualified = int(per_week["qualified"].sum())
    opportunities = int(per_week["to_opportunity"].sum())
    won = int(per_week["to_won"].sum())
    return {
        "qualified": qualified,
        "to_opportunity": opportunities,
        "to_won": won,
        "opportunity_rate": opportunities / qualified if qualified else None,
        "win_rate": won / qualified if qualified else None,
    }
