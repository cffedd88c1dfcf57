"""What-if: what changes for whom when one rules file replaces another.

Both rule sets score the same data as of the same time; each person's grade,
priority, stage (from a clean start, as the rules alone would place them)
and owner (as routing would assign them on entering a routing stage) are
compared. A sample of changed people carries the reasons on both sides, and
a week-by-week replay shows the MQL volume each rule set would produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from abmsync.rules.compiled import compile_rules
from abmsync.rules.loader import LoadedRules
from abmsync.rules.progress import advance, empty_state
from abmsync.rules.replay import FUTURE_COLUMNS, Replay, replay
from abmsync.rules.routing import RoutingState, route
from abmsync.rules.scoring import score
from abmsync.schema import conform

COMPARED = ("grade", "priority", "stage", "owner_id")


@dataclass(frozen=True)
class RulesDiff:
    """Counts of people whose results change, a sample, and weekly MQL volume."""

    old_version: str
    new_version: str
    as_of: datetime
    people: int
    changed: dict[str, int]  # per compared field
    transitions: pl.DataFrame  # field, old, new, people
    sample: pl.DataFrame  # person_id, email, old_/new_ fields and reasons
    weekly: pl.DataFrame  # week, old_mqls, new_mqls


def diff_rules(
    old: LoadedRules,
    new: LoadedRules,
    people: pl.DataFrame,
    touchpoints: pl.DataFrame | pl.LazyFrame | None,
    accounts: pl.DataFrame | None,
    owners: pl.DataFrame | None,
    *,
    as_of: datetime,
    weeks: list[datetime],
    start: datetime | None = None,
    sample_size: int = 10,
) -> RulesDiff:
    """Compare ``old`` and ``new`` on the same data as of ``as_of``."""
    people = conform(people, "people").drop([c for c in FUTURE_COLUMNS if c in people.columns])
    if isinstance(touchpoints, pl.LazyFrame):
        touchpoints = touchpoints.collect()
    sides = [
        _results(loaded, people, touchpoints, accounts, owners, as_of) for loaded in (old, new)
    ]
    joined = sides[0].join(sides[1], on="person_id", suffix="_new", maintain_order="left")
    changed = {
        name: int(joined.filter(pl.col(name).ne_missing(pl.col(f"{name}_new"))).height)
        for name in COMPARED
    }
    transitions = pl.concat(
        [
            joined.filter(pl.col(name).ne_missing(pl.col(f"{name}_new")))
            .group_by(pl.col(name).alias("old"), pl.col(f"{name}_new").alias("new"))
            .len("people")
            .with_columns(pl.lit(name).alias("field"))
            .select("field", "old", "new", "people")
            for name in COMPARED
        ]
    ).sort(["field", "people"], descending=[False, True])
    any_change = pl.any_horizontal(
        [pl.col(name).ne_missing(pl.col(f"{name}_new")) for name in COMPARED]
    )
    sample = (
        joined.filter(any_change)
        .sort("person_id")
        .head(sample_size)
        .select(
            "person_id",
            "email",
            *[c for name in COMPARED for c in (name, f"{name}_new")],
            "reasons",
            "reasons_new",
        )
    )
    weekly = _weekly(
        replay(old, people, touchpoints, accounts, weeks, start=start),
        replay(new, people, touchpoints, accounts, weeks, start=start),
    )
    return RulesDiff(
        old.version, new.version, as_of, joined.height, changed, transitions, sample, weekly
    )


def _results(
    loaded: LoadedRules,
    people: pl.DataFrame,
    touchpoints: pl.DataFrame | None,
    accounts: pl.DataFrame | None,
    owners: pl.DataFrame | None,
    as_of: datetime,
) -> pl.DataFrame:
    rules = compile_rules(loaded, as_of)
    result = score(rules, people, touchpoints, accounts)
    outcome = advance(rules, result.people, empty_state(), result.window)
    owner = pl.DataFrame(schema={"person_id": pl.String(), "owner_id": pl.String()})
    routing = rules.ruleset.routing
    if routing is not None and owners is not None:
        entered = outcome.state.filter(pl.col("stage").is_in(routing.entry_stages))
        candidates = result.people.drop("stage", "owner_id", strict=False).join(
            entered.select("person_id", "stage", "owner_id"), on="person_id"
        )
        routed = route(rules.ruleset, candidates, owners, RoutingState({}, {}), as_of=as_of)
        owner = routed.assignments.select("person_id", "owner_id")
    return (
        result.public_people()
        .drop("stage")
        .join(
            outcome.state.select("person_id", "stage"),
            on="person_id",
            how="left",
            maintain_order="left",
        )
        .join(owner, on="person_id", how="left", maintain_order="left")
        .select("person_id", "email", *COMPARED, "reasons")
    )


def _weekly(old: Replay, new: Replay) -> pl.DataFrame:
    def counts(replayed: Replay, name: str) -> pl.DataFrame:
        return replayed.qualified.group_by("week").len(name)

    weeks = pl.DataFrame({"week": old.weeks}, schema={"week": old.qualified.schema["week"]})
    return (
        weeks.join(counts(old, "old_mqls"), on="week", how="left")
        .join(counts(new, "new_mqls"), on="week", how="left")
        .with_columns(pl.col("old_mqls", "new_mqls").fill_null(0).cast(pl.Int64))
        .sort("week")
    )
