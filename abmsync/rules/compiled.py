"""A rules file compiled once into polars expressions, ready to score frames.

Compiling is separate from scoring so a sync run, a backtest week or a
benchmark pays for parsing and type-checking conditions once, not per frame.
Column names for each rule's contribution are fixed here too, so scoring,
explanations and tests agree on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from abmsync.rules import fields as scopes
from abmsync.rules.expr import Compiled, compile_condition
from abmsync.rules.loader import LoadedRules, rules_version
from abmsync.rules.model import EventRule, FastTrack, FieldType, FitRule, RuleSet, Transition
from abmsync.schema import BuyingRole, utc


@dataclass(frozen=True)
class FitTerm:
    rule: FitRule
    condition: Compiled
    column: str  # contribution column, e.g. "__fit_0"


@dataclass(frozen=True)
class EventTerm:
    rule: EventRule
    mask: pl.Expr  # type and condition, null as false
    points_column: str  # decayed, capped points
    count_column: str  # matching touchpoints in the window
    age_column: str  # age in days of the newest match


@dataclass(frozen=True)
class TransitionTerm:
    transition: Transition
    condition: Compiled
    label: str


@dataclass(frozen=True)
class FastTrackTerm:
    rule: FastTrack
    mask: pl.Expr  # over touchpoints: type and condition, null as false
    column: str  # newest matching touchpoint time per person


@dataclass(frozen=True)
class CompiledRules:
    """Everything scoring needs, built from one :class:`RuleSet` and an as-of time."""

    ruleset: RuleSet
    version: str
    as_of: datetime
    fit: tuple[FitTerm, ...]
    events: tuple[EventTerm, ...]
    tiers: tuple[tuple[str, Compiled], ...]
    account_fit: tuple[FitTerm, ...]
    roles: tuple[tuple[BuyingRole, Compiled], ...]
    mqa: Compiled | None
    transitions: tuple[TransitionTerm, ...]
    fast_tracks: tuple[FastTrackTerm, ...] = ()

    @property
    def custom_fields(self) -> dict[str, FieldType]:
        return dict(self.ruleset.fields)


def compile_rules(rules: RuleSet | LoadedRules, as_of: datetime) -> CompiledRules:
    """Compile every condition of ``rules`` for scoring as of ``as_of``.

    Raises :class:`abmsync.rules.expr.ConditionError` for a condition that does
    not compile; files loaded with ``load_rules`` have been checked already.
    """
    ruleset = rules.ruleset if isinstance(rules, LoadedRules) else rules
    version = rules.version if isinstance(rules, LoadedRules) else rules_version(ruleset)
    as_of = utc(as_of)
    custom = ruleset.fields
    person = scopes.person_scope(custom)
    account = scopes.account_scope(custom)

    def condition(text: str, scope: dict[str, FieldType]) -> Compiled:
        return compile_condition(text, scope, as_of=as_of)

    fit = tuple(
        FitTerm(rule, condition(rule.when, person), f"__fit_{i}")
        for i, rule in enumerate(ruleset.fit)
    )
    account_fit = tuple(
        FitTerm(rule, condition(rule.when, account), f"__afit_{i}")
        for i, rule in enumerate(ruleset.accounts.fit)
    )
    events = [
        EventTerm(
            event,
            _touchpoint_mask(event.type, event.when, condition),
            f"__evt_{i}",
            f"__evtn_{i}",
            f"__evtage_{i}",
        )
        for i, event in enumerate(ruleset.engagement.events)
    ]
    lifecycle_scope = scopes.lifecycle_scope(custom)
    transitions = tuple(
        TransitionTerm(t, condition(t.when, lifecycle_scope), t.name or f"to {t.to}")
        for t in (ruleset.lifecycle.transitions if ruleset.lifecycle else [])
    )
    fast_tracks = tuple(
        FastTrackTerm(rule, _touchpoint_mask(rule.type, rule.when, condition), f"__ft_{i}")
        for i, rule in enumerate(ruleset.lifecycle.fast_track if ruleset.lifecycle else [])
    )
    mqa = ruleset.accounts.mqa
    return CompiledRules(
        ruleset=ruleset,
        version=version,
        as_of=as_of,
        fit=fit,
        events=tuple(events),
        tiers=tuple((t.tier, condition(t.when, account)) for t in ruleset.accounts.tiers),
        account_fit=account_fit,
        roles=tuple(
            (role, condition(text, person)) for role, text in ruleset.accounts.buying_roles.items()
        ),
        mqa=condition(mqa, scopes.rollup_scope(custom)) if mqa else None,
        transitions=transitions,
        fast_tracks=fast_tracks,
    )


def _touchpoint_mask(
    kind: str | None, when: str | None, condition: Callable[[str, dict[str, FieldType]], Compiled]
) -> pl.Expr:
    """A touchpoint's type and condition as one mask; null counts as false."""
    mask = pl.lit(True)
    if kind is not None:
        mask = (pl.col("type") == kind).fill_null(False)
    if when is not None:
        mask = mask & condition(when, scopes.touchpoint_scope()).expr
    return mask
