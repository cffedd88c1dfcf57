"""One scoring and lifecycle pass over files: score, move, route, time, record.

The service behind ``abmsync run``. It reads the data, matches leads without
an account to one by email domain, scores everyone, loads where each person
stood from the state database, moves them through the lifecycle, routes the
people who entered a routing stage, evaluates SLA timers (reassigning or
escalating breaches as the rules say), and stores ledgers and state in one
transaction: a crash leaves the previous pass intact, never half of this one.

Moves are stamped with the time of their evidence (see
:mod:`abmsync.rules.lifecycle`), never before the previous pass, whose as-of
time is the latest ``recorded_at`` of the stage-change ledger. Opportunities,
when given, tell the lifecycle rules about each person's account
(:func:`with_opportunities`). SLA clocks of people a pass moved into a routing
stage or routed start when it handed them over, not at older evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from abmsync.connectors.files import FilesError, read_records
from abmsync.connectors.transforms import TransformArgs, apply_transform
from abmsync.rules.compiled import CompiledRules, compile_rules
from abmsync.rules.domains import link_people_to_accounts
from abmsync.rules.loader import LoadedRules
from abmsync.rules.progress import STATE_COLUMNS, LifecycleOutcome, advance
from abmsync.rules.routing import RoutingState, next_in_queue, route
from abmsync.rules.scoring import SCORE_DIGITS, ScoreResult, score
from abmsync.rules.sla import SlaOutcome, evaluate_sla, restart_timers
from abmsync.schema import TIMESTAMP, conform
from abmsync.sync.database import Transaction
from abmsync.sync.scoring import Inputs, find_input, load_touchpoints
from abmsync.sync.sources import Source
from abmsync.sync.store import Store

Progress = Callable[[str], None]
SAMPLE = 10
ASSIGNED_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "owner_id": pl.String(),
    "queue": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
}
OWNER_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "name": pl.String(),
    "queue": pl.String(),
    "max_open": pl.Int64(),
    "available": pl.Boolean(),
}


@dataclass(frozen=True)
class PassSummary:
    """What one pass did, for the CLI's tables and ``--json``."""

    as_of: datetime
    rules_version: str
    people: int
    matched_accounts: int
    score_rows: int
    stage_changes: pl.DataFrame  # from_stage, to_stage, rule, people
    moves: pl.DataFrame  # a sample of this pass's moves
    assignments: pl.DataFrame  # every assignment of this pass
    unassigned: pl.DataFrame
    sla_events: pl.DataFrame  # every SLA event of this pass
    flags: pl.DataFrame
    stages: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def rows(frame: pl.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
            shown = frame if limit is None else frame.head(limit)
            return [
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
                for row in shown.iter_rows(named=True)
            ]

        kinds = self.sla_events.group_by("kind").len().iter_rows() if self.sla_events.height else []
        return {
            "as_of": self.as_of.isoformat(),
            "rules_version": self.rules_version,
            "people": self.people,
            "matched_accounts": self.matched_accounts,
            "score_rows": self.score_rows,
            "stages": self.stages,
            "stage_changes": rows(self.stage_changes),
            "moves_sample": rows(self.moves),
            "assignments": rows(self.assignments),
            "unassigned": rows(self.unassigned),
            "sla": {str(kind): int(n) for kind, n in kinds},
            "sla_events": rows(self.sla_events.filter(pl.col("kind") == "breached")),
            "flags": {"count": self.flags.height, "sample": rows(self.flags, SAMPLE)},
        }


def run_pass(
    loaded: LoadedRules,
    inputs: Inputs,
    *,
    database_url: str,
    namespace: str | None = None,
    owners: Path | None = None,
    as_of: datetime | None = None,
    progress: Progress | None = None,
) -> PassSummary:
    """Run one scoring and lifecycle pass as of ``as_of`` and record it (in a tenant's
    ``namespace`` if given)."""
    step = progress or (lambda _: None)
    rules = compile_rules(loaded, as_of or datetime.now(UTC))
    step("reading data")
    people = inputs.read("people", inputs.people)
    accounts = inputs.read("accounts", inputs.accounts) if inputs.accounts else None
    touchpoints = load_touchpoints(inputs) if inputs.touchpoints else None
    owner_frame = read_owners(owners or find_input(inputs.people.parent, "owners"))
    deals = find_input(inputs.people.parent, "opportunities")
    opportunities = read_records(deals) if deals is not None else None
    with Store.open(database_url, namespace=namespace) as store:
        evaluated = evaluate_pass(
            rules,
            store,
            people,
            touchpoints,
            accounts,
            owner_frame,
            opportunities=opportunities,
            progress=step,
        )
        step("recording")
        with store.transaction() as tx:
            score_rows = record_pass(store, evaluated, tx=tx)
    return evaluated.summary(score_rows)


@dataclass(frozen=True)
class EvaluatedPass:
    """Everything one pass decided, before it is recorded."""

    rules: CompiledRules
    result: ScoreResult
    outcome: LifecycleOutcome
    state: pl.DataFrame  # every person's state after routing and SLA reassignment
    changed_state: pl.DataFrame  # the rows of ``state`` that differ from the stored state
    assignments: pl.DataFrame
    unassigned: pl.DataFrame
    sla: SlaOutcome
    pointers: dict[str, int]
    matched_accounts: int

    def summary(self, score_rows: int) -> PassSummary:
        """The pass as the CLI shows it."""
        moves = self.outcome.moved
        return PassSummary(
            as_of=self.rules.as_of,
            rules_version=self.rules.version,
            people=self.result.people.height,
            matched_accounts=self.matched_accounts,
            score_rows=score_rows,
            stage_changes=moves.group_by("from_stage", "to_stage", "rule")
            .len("people")
            .sort(["people", "to_stage"], descending=[True, False]),
            moves=moves.sort("person_id").head(SAMPLE),
            assignments=self.assignments,
            unassigned=self.unassigned,
            sla_events=self.sla.events,
            flags=self.outcome.flags,
            stages={
                str(k): int(v)
                for k, v in self.state.group_by("stage").len().sort("stage").iter_rows()
            },
        )


def evaluate_pass(
    rules: CompiledRules,
    store: Store,
    people: pl.DataFrame,
    touchpoints: pl.DataFrame | pl.LazyFrame | None,
    accounts: pl.DataFrame | None,
    owners: pl.DataFrame,
    *,
    opportunities: pl.DataFrame | None = None,
    progress: Progress | None = None,
) -> EvaluatedPass:
    """Score, move, route and time everyone, from the state stored in ``store``.

    Reads the store but writes nothing: :func:`record_pass` does, in the
    caller's transaction.
    """
    step = progress or (lambda _: None)
    people, matched = link_people_to_accounts(people, accounts)
    people = with_opportunities(people, opportunities, rules.as_of)
    step("scoring")
    result = score(rules, people, touchpoints, accounts)
    step("moving people through the lifecycle")
    state = store.load_lifecycle_state()
    since = store.last_recorded_stage_change()
    outcome = advance(rules, result.people, state, result.window, since=since)
    step("routing")
    routed_state, assignments, unassigned, pointers = _route(
        rules, result, outcome, owners, store.load_routing_pointers()
    )
    step("checking SLA timers")
    sla, routed_state, sla_assignments, pointers = _sla(
        rules,
        store.load_sla_timers(),
        routed_state,
        owners,
        pointers,
        _handed_over(rules, outcome, assignments),
    )
    changed_state = routed_state.join(state, on=list(STATE_COLUMNS), how="anti", nulls_equal=True)
    return EvaluatedPass(
        rules=rules,
        result=result,
        outcome=outcome,
        state=routed_state,
        changed_state=changed_state,
        assignments=pl.concat([assignments, sla_assignments], how="vertical"),
        unassigned=unassigned,
        sla=sla,
        pointers=pointers,
        matched_accounts=matched,
    )


def record_pass(
    store: Store,
    evaluated: EvaluatedPass,
    *,
    tx: Transaction,
    scores: pl.DataFrame | None = None,
) -> int:
    """Append the pass's ledger rows and save its state; returns the score rows added.

    ``scores`` are everyone's exact scores with their reasons text, if the
    caller has them already (the write-back's person results): the reasons
    of a million people are then not built a second time.
    """
    rules = evaluated.rules
    if scores is None:
        scores = evaluated.result.public_people(digits=None)
    score_rows = store.record_scores(
        # The ledger keeps its own columns of the frame; it records rounded points.
        scores.with_columns(pl.col("engagement", "total").round(SCORE_DIGITS)),
        rules_version=rules.version,
        as_of=rules.as_of,
        tx=tx,
    )
    store.record_stage_changes(evaluated.outcome.changes, tx=tx)
    store.record_assignments(
        evaluated.assignments.with_columns(
            pl.lit(rules.version).alias("rules_version"),
            pl.lit(rules.as_of, dtype=TIMESTAMP).alias("assigned_at"),
        ),
        tx=tx,
    )
    store.record_sla_events(evaluated.sla.events, tx=tx)
    store.save_lifecycle_state(evaluated.changed_state, now=rules.as_of, tx=tx)
    store.replace_sla_timers(evaluated.sla.timers, tx=tx)
    store.save_routing_pointers(evaluated.pointers, now=rules.as_of, tx=tx)
    store.save_person_emails(evaluated.result.people, now=rules.as_of, tx=tx)
    return score_rows


def with_opportunities(
    people: pl.DataFrame, opportunities: pl.DataFrame | None, as_of: datetime
) -> pl.DataFrame:
    """``people`` with what the lifecycle rules know of the opportunities at their account.

    ``open_opportunities`` and ``won_opportunities`` count the account's open
    and won opportunities created by ``as_of`` (0 without an account or
    opportunities); ``opportunity_opened_at`` is the newest open one's
    creation and ``won_at`` the newest win's close (not after ``as_of``): the
    evidence times of moves to an opportunity or customer stage.
    """
    if "account_id" not in people.columns or opportunities is None or opportunities.is_empty():
        return people
    moment = pl.lit(as_of, dtype=TIMESTAMP)
    deals = conform(opportunities, "opportunities").filter(
        pl.col("account_id").is_not_null()
        & (pl.col("created_at").is_null() | (pl.col("created_at") <= moment))
    )
    closed = pl.col("is_closed").fill_null(False)
    won = pl.col("is_won").fill_null(False) & closed
    facts = deals.group_by("account_id").agg(
        (~closed).sum().cast(pl.Int64).alias("open_opportunities"),
        won.sum().cast(pl.Int64).alias("won_opportunities"),
        pl.col("created_at").filter(~closed).max().alias("opportunity_opened_at"),
        pl.min_horizontal(pl.col("closed_at"), moment).filter(won).max().alias("won_at"),
    )
    names = [c for c in facts.columns if c != "account_id"]
    return (
        people.drop([c for c in names if c in people.columns])
        .join(facts, on="account_id", how="left", maintain_order="left")
        .with_columns(pl.col("open_opportunities", "won_opportunities").fill_null(0))
    )


def load_opportunities(store: Store, sources: Sequence[Source]) -> pl.DataFrame | None:
    """Every system's opportunities from the snapshot (None when no source maps any)."""
    frames = [s.load(store) for s in sources if s.entity == "opportunities"]
    found = [frame for frame in frames if frame.height]
    return pl.concat(found, how="diagonal_relaxed") if found else None


def read_owners(path: Path | None) -> pl.DataFrame:
    """Owners (id, name, queue, max_open, available) from any supported file; none = empty.

    CSV holds text, so ``max_open`` and ``available`` are parsed as the
    mapping transforms read them (``1,200``; ``true``/``yes``/``1``); a value
    that does not parse is a ``FilesError`` naming the file, row and column.
    """
    if path is None:
        return pl.DataFrame(schema=OWNER_COLUMNS)
    frame = read_records(path)
    if "id" not in frame.columns:
        raise FilesError(f"{path}: missing required column 'id'")
    columns = []
    for name, dtype in OWNER_COLUMNS.items():
        if name not in frame.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        parsed = _owner_column(frame, name, dtype, path)
        columns.append(parsed.alias(name))
    return frame.select(columns).with_columns(pl.col("available").fill_null(True))


_OWNER_PARSERS = {pl.Int64(): ("integer", "an integer"), pl.Boolean(): ("boolean", "a boolean")}


def _owner_column(frame: pl.DataFrame, name: str, dtype: pl.DataType, path: Path) -> pl.Expr:
    source = frame.schema[name]
    if dtype == pl.String() or source == dtype:
        return pl.col(name).cast(dtype)
    transform, expected = _OWNER_PARSERS[dtype]
    parsed, _ = apply_transform(transform, pl.col(name), source, TransformArgs())
    present = pl.col(name).is_not_null()
    if source == pl.String():
        present = present & (pl.col(name).str.strip_chars().str.len_bytes() > 0)
    bad = frame.select(pl.arg_where(present & parsed.is_null()).first()).item()
    if bad is not None:
        row, value = int(bad), frame[name][int(bad)]
        raise FilesError(f"{path}: row {row + 1}: column {name!r}: {value!r} is not {expected}")
    return parsed.cast(dtype)


def _route(
    rules: CompiledRules,
    result: ScoreResult,
    outcome: LifecycleOutcome,
    owners: pl.DataFrame,
    pointers: dict[str, int],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Route people who entered a routing stage in this pass; returns state with owners."""
    ruleset = rules.ruleset
    empty = pl.DataFrame(schema=ASSIGNED_COLUMNS)
    state = outcome.state
    if ruleset.routing is None:
        return (
            state,
            empty,
            pl.DataFrame(schema={"person_id": pl.String(), "reason": pl.String()}),
            pointers,
        )
    # Everyone who entered a routing stage now, and anyone waiting in one without an owner.
    entered = outcome.moved.filter(pl.col("to_stage").is_in(ruleset.routing.entry_stages))
    waiting = state.filter(
        pl.col("stage").is_in(ruleset.routing.entry_stages) & pl.col("owner_id").is_null()
    )
    wanted = pl.concat([entered.select("person_id"), waiting.select("person_id")]).unique()
    candidates = (
        result.people.drop("stage", "owner_id", strict=False)
        .join(wanted, on="person_id", how="semi")
        .join(state.select("person_id", "stage", "owner_id"), on="person_id", how="left")
    )
    open_counts = _open_counts(state, ruleset.routing.capacity_stages)
    routed = route(
        ruleset, candidates, owners, RoutingState(dict(pointers), open_counts), as_of=rules.as_of
    )
    assigned = routed.assignments
    state = with_assignments(state, assigned)
    # People whose owner came from the source system work in that owner's queue
    # (its calendar times their SLA).
    queues = owners.select(pl.col("id").alias("owner_id"), pl.col("queue").alias("__home"))
    state = (
        state.join(queues, on="owner_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("queue", "__home").alias("queue"))
        .drop("__home")
    )
    return state, assigned.select(list(empty.columns)), routed.unassigned, routed.state.pointers


def with_assignments(state: pl.DataFrame, assigned: pl.DataFrame) -> pl.DataFrame:
    """``state`` with the owner and queue of each newly assigned person."""
    new = assigned.select(
        "person_id", pl.col("owner_id").alias("__owner"), pl.col("queue").alias("__queue")
    )
    return (
        state.join(new, on="person_id", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("__owner", "owner_id").alias("owner_id"),
            pl.when(pl.col("__owner").is_not_null())
            .then(pl.col("__queue"))
            .otherwise(pl.col("queue"))
            .alias("queue"),
        )
        .drop("__owner", "__queue")
    )


def _open_counts(state: pl.DataFrame, stages: list[str]) -> dict[str, int]:
    counted = (
        state.filter(pl.col("stage").is_in(stages) & pl.col("owner_id").is_not_null())
        .group_by("owner_id")
        .len()
    )
    return {str(owner): int(n) for owner, n in counted.iter_rows()}


def _sla(
    rules: CompiledRules,
    timers: pl.DataFrame,
    state: pl.DataFrame,
    owners: pl.DataFrame,
    pointers: dict[str, int],
    handed_over: pl.Series,
) -> tuple[SlaOutcome, pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Evaluate timers; reassign or escalate breaches as their rule says.

    People ``handed_over`` to sales by this pass: their clocks start now at the earliest.
    """
    ruleset = rules.ruleset
    people = state.select(
        "person_id",
        "stage",
        "stage_entered_at",
        "owner_id",
        "queue",
        pl.when(pl.col("person_id").is_in(handed_over.implode()))
        .then(pl.lit(rules.as_of, dtype=TIMESTAMP))
        .alias("owned_since"),
    )
    outcome = evaluate_sla(ruleset, timers, people, rules.as_of)
    breaches = outcome.events.filter(
        (pl.col("kind") == "breached") & pl.col("action").is_in(["reassign", "escalate"])
    ).join(state.select("person_id", "stage", "queue"), on=["person_id", "stage"], how="semi")
    rows: list[dict[str, Any]] = []
    routing_state = RoutingState(dict(pointers), _open_counts(state, _capacity_stages(ruleset)))
    fallback = ruleset.routing.fallback if ruleset.routing else None
    queues = dict(state.select("person_id", "queue").iter_rows())
    for breach in breaches.iter_rows(named=True):
        person, current = breach["person_id"], breach["owner_id"]
        if breach["action"] == "escalate":
            owner, queue, reason = breach["escalate_to"], queues.get(person), "escalated"
        else:
            queue = queues.get(person) or fallback
            owner = None
            if queue is not None:
                owner, routing_state = next_in_queue(
                    ruleset, queue, owners, routing_state, exclude=current
                )
            reason = f"next in {queue}" if owner else f"no other eligible owner in {queue}"
        if owner is None or owner == current:
            continue
        rows.append(
            {
                "person_id": person,
                "owner_id": owner,
                "queue": queue,
                "rule": f"SLA breach in {breach['stage']}: {breach['action']}",
                "reason": f"{reason} (was {current or 'unowned'}, "
                f"due {breach['due_at']:%Y-%m-%d %H:%M} UTC)",
            }
        )
    reassigned = pl.DataFrame(rows, schema=ASSIGNED_COLUMNS)
    if reassigned.height:
        state = with_assignments(state, reassigned)
        restarted = restart_timers(
            ruleset,
            outcome.timers,
            reassigned.select("person_id", "owner_id", "queue"),
            rules.as_of,
        )
        outcome = SlaOutcome(restarted.timers, pl.concat([outcome.events, restarted.events]))
    return outcome, state, reassigned, routing_state.pointers


def _handed_over(
    rules: CompiledRules, outcome: LifecycleOutcome, assignments: pl.DataFrame
) -> pl.Series:
    """People this pass handed to sales: it moved them into a routing stage or routed them.

    Sales learn of such a move from this pass, however old its evidence.
    """
    routing = rules.ruleset.routing
    entered = (
        outcome.moved.filter(pl.col("to_stage").is_in(routing.entry_stages))["person_id"]
        if routing is not None
        else pl.Series("person_id", [], dtype=pl.String())
    )
    return pl.concat([entered, assignments["person_id"]]).unique()


def _capacity_stages(ruleset: Any) -> list[str]:
    return ruleset.routing.capacity_stages if ruleset.routing else []
