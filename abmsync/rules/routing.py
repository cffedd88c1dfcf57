"""Routing: which sales rep gets each person who just entered a routing stage.

Rules are tried in file order. A rule applies when its ``when`` holds and its
strategy finds an *eligible* owner; otherwise the next rule is tried, then the
``fallback`` queue, and a person nobody can take is reported as unassigned
with the reason. An owner is eligible when they are in the owners list,
available, and below their capacity: the smaller of their own ``max_open``
and the ``max_open`` of the queue they are reached through (for a direct
assignment, the routing queue named in the owner's ``queue`` column).

Strategies:

``account_owner``
    The owner of the person's account (``account_owner_id``).
``{round_robin: queue}``
    Smooth weighted round robin over the queue's members (see
    :func:`weighted_cycle`), from the queue's pointer in :class:`RoutingState`,
    passing over ineligible members. The pointer is the caller's to persist, so
    the rotation stays fair across runs and restarts.
``{territory: table}``
    The first row of the table whose criteria all hold (country, state,
    postal-code prefix; a missing criterion matches anything) gives an owner
    or a queue to rotate through.

People who already have an owner keep them. The first rule whose ``when``
holds decides: without ``reassign: true`` they are kept; with it they are
routed again, unless their owner already belongs where the rule would send
them (the account owner, a member of the queue, the territory's owner), so
routing the same people twice never moves anyone a second time.

Candidates are handled best first (grade, band, then highest total), then by
id, so the same inputs always give the same assignments. Conditions are
compiled once and evaluated over the whole frame; only the hand-out of owners
is sequential, as each one changes the capacity left for the next.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Literal

import polars as pl

from abmsync.rules.expr import compile_condition
from abmsync.rules.fields import lifecycle_scope
from abmsync.rules.model import (
    FieldType,
    QueueMember,
    RoundRobin,
    Routing,
    RoutingRule,
    RuleSet,
    Territory,
    TerritoryRow,
)
from abmsync.rules.territory import country, first_row, text
from abmsync.schema import cast_column

ASSIGNMENT_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "owner_id": pl.String(),
    "queue": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
}
UNASSIGNED_COLUMNS: dict[str, pl.DataType] = {"person_id": pl.String(), "reason": pl.String()}
KEPT_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "owner_id": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
}
FALLBACK_RULE = "fallback"
"""The ``rule`` of an assignment made by the fallback queue."""

_DTYPES: dict[FieldType, pl.DataType] = {
    "text": pl.String(),
    "number": pl.Float64(),
    "integer": pl.Int64(),
    "boolean": pl.Boolean(),
    "datetime": pl.Datetime("us", "UTC"),
}


@dataclass
class RoutingState:
    """What routing remembers between runs; the caller persists it."""

    pointers: dict[str, int] = field(default_factory=dict)
    """Per queue: the position in its weighted cycle that is tried next."""
    open_counts: dict[str, int] = field(default_factory=dict)
    """Per owner: people currently open (counted against capacity)."""


@dataclass(frozen=True)
class RoutingOutcome:
    """The result of one routing pass."""

    assignments: pl.DataFrame
    """person_id, owner_id, queue (null for a direct assignment), rule, reason."""
    unassigned: pl.DataFrame
    """person_id, reason: people without an owner whom nobody could take."""
    state: RoutingState
    """The state after this pass (the input state is left as it was)."""
    kept: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=KEPT_COLUMNS))
    """person_id, owner_id, rule (null when no rule matched), reason: people who keep
    the owner they already had."""


def weighted_cycle(members: Sequence[QueueMember]) -> list[str]:
    """One full cycle of a smooth weighted round robin over ``members``.

    Each member appears ``weight`` times (weights divided by their greatest
    common divisor; a member listed twice has its weights added), spread out
    as evenly as possible, the way nginx balances upstreams: weights 2 and 1
    give ``[A, B, A]``, never ``[A, A, B]``. Deterministic: ties go to the
    member listed first.
    """
    weights = _summed(members)
    if not weights:
        return []
    divisor = reduce(math.gcd, weights.values())
    weights = {owner: weight // divisor for owner, weight in weights.items()}
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0)
    cycle: list[str] = []
    for _ in range(total):
        for owner, weight in weights.items():
            current[owner] += weight
        chosen = max(current, key=current.__getitem__)  # the first of equals
        current[chosen] -= total
        cycle.append(chosen)
    return cycle


def route(
    ruleset: RuleSet,
    candidates: pl.DataFrame,
    owners: pl.DataFrame,
    state: RoutingState,
    *,
    as_of: datetime,
) -> RoutingOutcome:
    """Assign owners to ``candidates`` by ``ruleset.routing``.

    ``candidates`` has ``id`` (or ``person_id``), the fields routing conditions
    read (missing ones count as null), ``owner_id`` and ``account_owner_id``;
    ``owners`` has ``id``, ``name``, ``queue``, ``max_open`` and ``available``.
    ``as_of`` is the time conditions such as ``DAYS_SINCE(...)`` measure from.
    Raises ``ValueError`` when the rules file has no ``routing`` section or
    names a queue or territory table it does not define.
    """
    routing = _routing_of(ruleset)
    frame = _prepare(ruleset, routing, candidates, as_of)
    router = _Router(routing, owners, state)
    result = _Results()
    for row in frame.iter_rows(named=True):
        _route_one(router, routing, row, result)
    return RoutingOutcome(
        assignments=pl.DataFrame(result.assignments, schema=ASSIGNMENT_COLUMNS, orient="row"),
        unassigned=pl.DataFrame(result.unassigned, schema=UNASSIGNED_COLUMNS, orient="row"),
        state=router.state(),
        kept=pl.DataFrame(result.kept, schema=KEPT_COLUMNS, orient="row"),
    )


def next_in_queue(
    ruleset: RuleSet,
    queue: str,
    owners: pl.DataFrame,
    state: RoutingState,
    *,
    exclude: str | None = None,
) -> tuple[str | None, RoutingState]:
    """The next eligible member of ``queue`` after its pointer, and the state after
    handing them one person (pointer moved on, their open count up by one).

    ``exclude`` is passed over, e.g. the owner who let an SLA lapse. Returns
    ``(None, state)`` unchanged when no member is eligible. Lowering the
    previous owner's open count is the caller's business, as it knows whether
    that person was counted.
    """
    router = _Router(_routing_of(ruleset), owners, state)
    pick = router.round_robin(queue, exclude=exclude)
    if isinstance(pick, str):
        return None, RoutingState(dict(state.pointers), dict(state.open_counts))
    return pick.owner_id, router.state()


# --- owners, capacity and queues ----------------------------------------------------------


@dataclass(frozen=True)
class _Owner:
    queue: str | None
    max_open: int | None
    available: bool


@dataclass(frozen=True)
class _Problem:
    """Why an owner cannot take a person now."""

    kind: Literal["unknown", "unavailable", "at capacity", "excluded"]
    detail: str


@dataclass(frozen=True)
class _Pick:
    owner_id: str
    queue: str | None
    detail: str  # e.g. "weight 2 of 3"


class _Router:
    """Eligibility, capacity and round-robin pointers during one pass."""

    def __init__(self, routing: Routing, owners: pl.DataFrame, state: RoutingState) -> None:
        self.routing = routing
        self.owners = _owner_table(owners)
        self.pointers = dict(state.pointers)
        self.counts = dict(state.open_counts)
        self.cycles = {name: weighted_cycle(q.members) for name, q in routing.queues.items()}
        self.weights = {name: _summed(q.members) for name, q in routing.queues.items()}
        # Counts only grow during a pass, so a queue with nobody eligible stays so.
        self.exhausted: dict[str, str] = {}

    def state(self) -> RoutingState:
        return RoutingState(pointers=dict(self.pointers), open_counts=dict(self.counts))

    def queue(self, name: str) -> list[str]:
        if name not in self.cycles:
            known = ", ".join(sorted(self.cycles)) or "none"
            raise ValueError(
                f"routing names queue '{name}', which is not defined (queues: {known})"
            )
        return self.cycles[name]

    def members(self, name: str) -> set[str]:
        return set(self.queue(name))

    def home_queue(self, owner_id: str) -> str | None:
        """The routing queue an owner belongs to, for capacity of direct assignments."""
        owner = self.owners.get(owner_id)
        if owner is None or owner.queue not in self.routing.queues:
            return None
        return owner.queue

    def capacity(self, owner_id: str, queue: str | None) -> int | None:
        owner = self.owners.get(owner_id)
        limits = [owner.max_open if owner else None]
        if queue is not None and queue in self.routing.queues:
            limits.append(self.routing.queues[queue].max_open)
        set_limits = [limit for limit in limits if limit is not None]
        return min(set_limits) if set_limits else None

    def problem(self, owner_id: str, queue: str | None) -> _Problem | None:
        """Why ``owner_id`` cannot take one more person through ``queue``; None if they can."""
        owner = self.owners.get(owner_id)
        if owner is None:
            return _Problem("unknown", f"{owner_id} is not in the owners list")
        if not owner.available:
            return _Problem("unavailable", f"{owner_id} is unavailable")
        limit = self.capacity(owner_id, queue)
        open_now = self.counts.get(owner_id, 0)
        if limit is not None and open_now >= limit:
            return _Problem("at capacity", f"{owner_id} is at capacity ({open_now} of {limit})")
        return None

    def take(self, owner_id: str) -> None:
        self.counts[owner_id] = self.counts.get(owner_id, 0) + 1

    def direct(self, owner_id: str) -> _Problem | None:
        """Give one person to ``owner_id`` if they are eligible; else why not."""
        problem = self.problem(owner_id, self.home_queue(owner_id))
        if problem is None:
            self.take(owner_id)
        return problem

    def round_robin(self, name: str, *, exclude: str | None = None) -> _Pick | str:
        """The next eligible member of queue ``name``, taken; else why nobody is."""
        cycle = self.queue(name)
        if exclude is None and name in self.exhausted:
            return self.exhausted[name]
        start = self.pointers.get(name, 0) % len(cycle)
        problems: dict[str, _Problem] = {}
        for step in range(len(cycle)):
            index = (start + step) % len(cycle)
            owner_id = cycle[index]
            problem = (
                _Problem("excluded", f"{owner_id} is excluded")
                if owner_id == exclude
                else self.problem(owner_id, name)
            )
            if problem is None:
                self.pointers[name] = (index + 1) % len(cycle)
                self.take(owner_id)
                weights = self.weights[name]
                detail = f"weight {weights[owner_id]} of {sum(weights.values())}"
                return _Pick(owner_id, name, detail)
            problems[owner_id] = problem
        why = _queue_problem(name, problems)
        if exclude is None:
            self.exhausted[name] = why
        return why


def _summed(members: Sequence[QueueMember]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for member in members:
        weights[member.owner] = weights.get(member.owner, 0) + member.weight
    return weights


def _queue_problem(name: str, problems: Mapping[str, _Problem]) -> str:
    kinds = Counter(problem.kind for problem in problems.values())
    if set(kinds) == {"at capacity"}:
        return f"{name} queue at capacity"
    if set(kinds) == {"unavailable"}:
        return f"{name} queue: every member is unavailable"
    parts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"{name} queue has no eligible member ({parts})"


def _owner_table(owners: pl.DataFrame) -> dict[str, _Owner]:
    """Owners by id (the first row of an id counts); unknown availability counts as available."""
    dtypes: dict[str, pl.DataType] = {
        "queue": pl.String(),
        "max_open": pl.Int64(),
        "available": pl.Boolean(),
    }
    frame = owners.select(
        text(pl.col("id")),
        *(
            cast_column(owners.schema[name], name, dtype)
            if name in owners.columns
            else pl.lit(None, dtype).alias(name)
            for name, dtype in dtypes.items()
        ),
    )
    table: dict[str, _Owner] = {}
    for owner_id, queue, max_open, available in frame.iter_rows():
        if owner_id is not None:
            table.setdefault(owner_id, _Owner(queue, max_open, available is not False))
    return table


# --- candidates ---------------------------------------------------------------------------


def _routing_of(ruleset: RuleSet) -> Routing:
    if ruleset.routing is None:
        raise ValueError("the rules file has no 'routing' section")
    return ruleset.routing


def _prepare(
    ruleset: RuleSet, routing: Routing, candidates: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Candidates in processing order with what routing reads: person, owners, account,
    location, ``_rule_<n>`` (its condition holds) and ``_territory_<table>`` (row index)."""
    scope = lifecycle_scope(ruleset.fields)
    frame = candidates
    if "id" not in frame.columns and "person_id" in frame.columns:
        frame = frame.rename({"person_id": "id"})
    compiled = [
        compile_condition(rule.when, scope, as_of=as_of) if rule.when is not None else None
        for rule in routing.rules
    ]
    needed = {name for c in compiled if c is not None for name in c.columns}
    needed |= {"owner_id", "account_owner_id", "account_name", "account_id", "country"}
    needed |= {"account_country", "state", "postal_code"}
    missing = [
        pl.lit(None, dtype=_DTYPES[scope.get(name, "text")]).alias(name)
        for name in sorted(needed - set(frame.columns))
    ]
    frame = frame.with_columns(missing) if missing else frame
    flags = [
        (c.expr if c is not None else pl.lit(True)).alias(f"_rule_{index}")
        for index, c in enumerate(compiled)
    ]
    tables = sorted(
        {rule.assign.territory for rule in routing.rules if isinstance(rule.assign, Territory)}
    )
    territories = []
    for table in tables:
        if table not in routing.territories:
            known = ", ".join(sorted(routing.territories)) or "none"
            raise ValueError(
                f"routing names territory table '{table}', which is not defined (tables: {known})"
            )
        territories.append(first_row(routing.territories[table]).alias(f"_territory_{table}"))
    frame = frame.with_columns(
        *flags,
        *territories,
        *(text(pl.col(name)).alias(name) for name in ("id", "owner_id", "account_owner_id")),
        country().alias("_country"),
        text(pl.col("state")).alias("_state"),
        text(pl.col("postal_code")).alias("_postal"),
    )
    keys, descending = _order(frame.columns)
    frame = frame.sort(keys, descending=descending, nulls_last=True, maintain_order=True)
    read = ["id", "owner_id", "account_owner_id", "account_name", "account_id"]
    return frame.select(*read, pl.col("^_(rule|territory|country|state|postal).*$"))


def _order(columns: list[str]) -> tuple[list[str], list[bool]]:
    """Best first: grade A before B, band 1 before 2, higher total first; then id."""
    order = [
        (n, d) for n, d in (("grade", False), ("band", False), ("total", True)) if n in columns
    ]
    order.append(("id", False))
    return [name for name, _ in order], [descending for _, descending in order]


# --- one person ---------------------------------------------------------------------------

Row = dict[str, object]


@dataclass
class _Results:
    assignments: list[tuple[str, str, str | None, str, str]] = field(default_factory=list)
    unassigned: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str, str | None, str]] = field(default_factory=list)


def _route_one(router: _Router, routing: Routing, row: Row, result: _Results) -> None:
    person = str(row["id"])
    current = _str(row.get("owner_id"))
    skipped: list[str] = []
    for index, rule in enumerate(routing.rules):
        if not row[f"_rule_{index}"]:
            continue
        if current is not None:
            if not rule.reassign:
                why = f"already owned by {current}; rule {rule.name} does not reassign"
                result.kept.append((person, current, rule.name, why))
                return
            home = _already_there(router, routing, rule, row, current)
            if home is not None:
                result.kept.append((person, current, rule.name, f"already owned by {home}"))
                return
        attempt = _try_rule(router, routing, rule, row)
        if isinstance(attempt, str):
            skipped.append(f"{attempt} (rule {rule.name})")
            continue
        owner_id, queue, reason = attempt
        if skipped:
            reason += "; skipped: " + "; ".join(skipped)
        if current is not None:
            reason += f"; replaces {current}"
        result.assignments.append((person, owner_id, queue, rule.name, reason))
        return
    if current is not None:
        why = f"already owned by {current}; " + (
            "no reassigning rule could route them: " + "; ".join(skipped)
            if skipped
            else "no routing rule matches"
        )
        result.kept.append((person, current, None, why))
        return
    if routing.fallback is not None:
        pick = router.round_robin(routing.fallback)
        if isinstance(pick, _Pick):
            reason = f"fallback queue {routing.fallback} ({pick.detail})"
            if skipped:
                reason += "; skipped: " + "; ".join(skipped)
            result.assignments.append((person, pick.owner_id, pick.queue, FALLBACK_RULE, reason))
            return
        skipped.append(f"{pick} (fallback)")
    if skipped:
        result.unassigned.append((person, "no eligible owner: " + "; ".join(skipped)))
    else:
        result.unassigned.append((person, "no routing rule matches and there is no fallback queue"))


def _try_rule(
    router: _Router, routing: Routing, rule: RoutingRule, row: Row
) -> tuple[str, str | None, str] | str:
    """(owner, queue, reason) when the rule's strategy found an owner, else why not."""
    assign = rule.assign
    if isinstance(assign, RoundRobin):
        pick = router.round_robin(assign.round_robin)
        if isinstance(pick, str):
            return pick
        return pick.owner_id, pick.queue, f"round robin in {pick.queue} ({pick.detail})"
    if isinstance(assign, Territory):
        return _try_territory(router, routing, assign.territory, row)
    owner_id = _str(row.get("account_owner_id"))
    if owner_id is None:
        return "the account has no owner"
    problem = router.direct(owner_id)
    if problem is not None:
        return f"account owner {problem.detail}"
    return owner_id, None, f"account owner of {_account(row)}"


def _try_territory(
    router: _Router, routing: Routing, table: str, row: Row
) -> tuple[str, str | None, str] | str:
    index = row[f"_territory_{table}"]
    if not isinstance(index, int):
        return f"no row of territory {table} matches ({_location(row)})"
    territory_row = routing.territories[table][index]
    where = f"territory {table} row {index + 1} ({_location(row, territory_row)})"
    if territory_row.owner is not None:
        problem = router.direct(territory_row.owner)
        if problem is not None:
            return f"{where}: {problem.detail}"
        return territory_row.owner, None, where
    assert territory_row.queue is not None  # a row names an owner or a queue
    pick = router.round_robin(territory_row.queue)
    if isinstance(pick, str):
        return f"{where}: {pick}"
    return pick.owner_id, pick.queue, f"{where}: round robin in {pick.queue} ({pick.detail})"


def _already_there(
    router: _Router, routing: Routing, rule: RoutingRule, row: Row, current: str
) -> str | None:
    """How ``current`` already belongs where ``rule`` would send the person, or None."""
    assign = rule.assign
    if isinstance(assign, RoundRobin):
        queue = assign.round_robin
        return f"{current}, a member of {queue}" if current in router.members(queue) else None
    if isinstance(assign, Territory):
        index = row[f"_territory_{assign.territory}"]
        if not isinstance(index, int):
            return None
        target = routing.territories[assign.territory][index]
        if target.owner == current:
            return f"{current}, the owner of territory {assign.territory} row {index + 1}"
        if target.queue is not None and current in router.members(target.queue):
            return f"{current}, a member of {target.queue}"
        return None
    if _str(row.get("account_owner_id")) == current:
        return f"{current}, the account owner of {_account(row)}"
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _account(row: Row) -> str:
    return _str(row.get("account_name")) or _str(row.get("account_id")) or "their account"


def _location(row: Row, territory_row: TerritoryRow | None = None) -> str:
    """The person's country, state and postal code, or those a territory row tests:
    'country DE, postal 80331'."""
    tested = (
        (territory_row.country, territory_row.state, territory_row.postal)
        if territory_row is not None
        else (row["_country"], row["_state"], row["_postal"])
    )
    parts = [
        f"{label} {row[column]}"
        for label, column, test in zip(
            ("country", "state", "postal"), ("_country", "_state", "_postal"), tested, strict=True
        )
        if test is not None
    ]
    if parts:
        return ", ".join(parts)
    return "any location" if territory_row is not None else "no country, state or postal code"
