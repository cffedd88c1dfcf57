"""Semantic checks of a parsed rules file, each problem at its file position.

The models already reject unknown keys and wrong shapes; this module checks
what only makes sense across the file: every condition compiles in its scope,
rule names are unique, thresholds are in order, stages, queues and grades
that are referenced exist, and tests name things that exist.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

from abmsync.rules import fields as scopes
from abmsync.rules.expr import check_condition, suggest
from abmsync.rules.loader import Diagnostic, PathKey, SourceMap
from abmsync.rules.model import FieldType, RuleSet
from abmsync.schema import TouchpointType
from abmsync.settings import SYSTEMS

# Points, thresholds, caps and days beyond this are typos (and float sums past
# it lose whole points).
MAX_NUMBER = 1e12


def check_ruleset(ruleset: RuleSet, source: SourceMap) -> list[Diagnostic]:
    """Every semantic problem in ``ruleset``, in file order."""
    checker = _Checker(ruleset, source)
    checker.run()
    return sorted(checker.problems, key=lambda d: (d.line, d.column))


def known_touchpoint_types(ruleset: RuleSet) -> list[str]:
    """Built-in touchpoint types plus the extra ones the file declares."""
    return [t.value for t in TouchpointType] + list(ruleset.engagement.types)


class _Checker:
    def __init__(self, ruleset: RuleSet, source: SourceMap) -> None:
        self.rules = ruleset
        self.source = source
        self.problems: list[Diagnostic] = []
        self.custom: Mapping[str, FieldType] = ruleset.fields

    def run(self) -> None:
        self._required_sections()
        self._custom_fields()
        self._fit()
        self._engagement()
        self._rule_names()
        self._thresholds("grades", list(self.rules.grades.items()))
        self._thresholds("bands", sorted(self.rules.bands.items()))
        self._accounts()
        self._lifecycle()
        self._routing()
        self._tests()
        self._unique_names()
        self._writeback_systems()
        self._numbers(self.rules.model_dump(by_alias=True, exclude={"tests"}), ())
        for index, case in enumerate(self.rules.tests):
            self._numbers(case.model_dump(exclude={"person", "account"}), ("tests", index))

    def _required_sections(self) -> None:
        """``version`` always; ``grades`` once there are fit rules (defaults would not fit them)."""
        if ("version",) not in self.source.keys:
            self._problem((), "missing required field 'version' (add 'version: 1' at the top)")
        if self.rules.fit and ("grades",) not in self.source.keys:
            self._problem(
                ("fit",),
                "missing required field 'grades': fit rules need grade thresholds, "
                "e.g. grades: {A: 40, B: 25, C: 10}",
                key=True,
            )

    def _problem(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.at(path, message, key=key))

    def _condition(self, path: PathKey, text: str, scope: Mapping[str, FieldType]) -> None:
        for error in check_condition(text, scope):
            self.problems.append(self.source.inside(path, error.offset, error.message))

    def _custom_fields(self) -> None:
        builtin = scopes.PERSON | scopes.ACCOUNT | scopes.TOUCHPOINT | scopes.SCORE_FIELDS
        for name in self.custom:
            if name in builtin:
                self._problem(("fields", name), f"'{name}' is a built-in field", key=True)

    def _fit(self) -> None:
        scope = scopes.person_scope(self.custom)
        for index, rule in enumerate(self.rules.fit):
            self._condition(("fit", index, "when"), rule.when, scope)

    def _engagement(self) -> None:
        scope = scopes.touchpoint_scope()
        known = known_touchpoint_types(self.rules)
        for index, event in enumerate(self.rules.engagement.events):
            path: PathKey = ("engagement", "events", index)
            if event.type is not None and event.type not in known:
                self._problem(
                    (*path, "type"),
                    f"unknown touchpoint type '{event.type}'{suggest(event.type, known)}"
                    " (declare extra types under engagement.types)",
                )
            if event.when is not None:
                self._condition((*path, "when"), event.when, scope)

    def _rule_names(self) -> None:
        seen: dict[str, PathKey] = {}
        named: list[tuple[str, PathKey]] = [
            (rule.name, ("fit", i, "name")) for i, rule in enumerate(self.rules.fit)
        ]
        named += [
            (event.label, ("engagement", "events", i, "name" if event.name else "type"))
            for i, event in enumerate(self.rules.engagement.events)
        ]
        for name, path in named:
            if name in seen:
                first = self.source.at(seen[name], "").line
                self._problem(
                    path,
                    f"duplicate rule name '{name}' (first used on line {first}); "
                    "give each rule its own name",
                )
            else:
                seen[name] = path

    def _thresholds(self, section: str, items: Sequence[tuple[str | int, float]]) -> None:
        for (prev_key, prev_value), (key, value) in itertools.pairwise(items):
            if value >= prev_value:
                self._problem(
                    (section, key),
                    f"thresholds out of order: {section} {key} ({value:g}) must be below "
                    f"{prev_key} ({prev_value:g})",
                )

    def _accounts(self) -> None:
        accounts = self.rules.accounts
        account_scope = scopes.account_scope(self.custom)
        for index, tier in enumerate(accounts.tiers):
            self._condition(("accounts", "tiers", index, "when"), tier.when, account_scope)
        for index, rule in enumerate(accounts.fit):
            self._condition(("accounts", "fit", index, "when"), rule.when, account_scope)
        person_scope = scopes.person_scope(self.custom)
        for role, condition in accounts.buying_roles.items():
            self._condition(("accounts", "buying_roles", role.value), condition, person_scope)
        if accounts.mqa is not None:
            self._condition(("accounts", "mqa"), accounts.mqa, scopes.rollup_scope(self.custom))

    def _stage(self, path: PathKey, stage: str, *, key: bool = False) -> None:
        stages = self.rules.lifecycle.stages if self.rules.lifecycle else []
        if stage not in stages:
            hint = suggest(stage, stages) if stages else " (no lifecycle.stages are defined)"
            self._problem(path, f"unknown stage '{stage}'{hint}", key=key)

    def _lifecycle(self) -> None:
        lifecycle = self.rules.lifecycle
        if lifecycle is None:
            return
        duplicates = {s for s in lifecycle.stages if lifecycle.stages.count(s) > 1}
        for stage in sorted(duplicates):
            self._problem(("lifecycle", "stages"), f"stage '{stage}' is listed twice")
        for index, stage in enumerate(lifecycle.terminal):
            self._stage(("lifecycle", "terminal", index), stage)
        scope = scopes.lifecycle_scope(self.custom)
        for index, transition in enumerate(lifecycle.transitions):
            path: PathKey = ("lifecycle", "transitions", index)
            self._stage((*path, "to"), transition.to)
            if transition.from_ != "*":
                for position, stage in enumerate(transition.from_):
                    self._stage((*path, "from", position), stage)
            self._condition((*path, "when"), transition.when, scope)
        timed: set[str] = set()
        for index, sla in enumerate(lifecycle.sla):
            self._stage(("lifecycle", "sla", index, "stage"), sla.stage)
            if sla.stage in timed:
                self._problem(
                    ("lifecycle", "sla", index, "stage"),
                    f"stage '{sla.stage}' already has an SLA rule",
                )
            timed.add(sla.stage)
            if sla.calendar is not None:
                self._calendar(("lifecycle", "sla", index, "calendar"), sla.calendar)
        if lifecycle.initial is not None:
            self._stage(("lifecycle", "initial"), lifecycle.initial)
        touch = scopes.touchpoint_scope()
        types = known_touchpoint_types(self.rules)
        for index, fast in enumerate(lifecycle.fast_track):
            path = ("lifecycle", "fast_track", index)
            self._stage((*path, "to"), fast.to)
            if fast.from_ != "*":
                for position, stage in enumerate(fast.from_):
                    self._stage((*path, "from", position), stage)
            if fast.type is not None and fast.type not in types:
                self._problem(
                    (*path, "type"),
                    f"unknown touchpoint type '{fast.type}'{suggest(fast.type, types)}",
                )
            if fast.when is not None:
                self._condition((*path, "when"), fast.when, touch)

    def _calendar(self, path: PathKey, name: str) -> None:
        if name not in self.rules.calendars:
            known = self.rules.calendars
            hint = suggest(name, known) if known else " (no calendars: are defined)"
            self._problem(path, f"unknown calendar '{name}'{hint}")

    def _queue(self, path: PathKey, name: str) -> None:
        queues = self.rules.routing.queues if self.rules.routing else {}
        if name not in queues:
            self._problem(path, f"unknown queue '{name}'{suggest(name, queues)}")

    def _routing(self) -> None:
        routing = self.rules.routing
        if routing is None:
            return
        on_enter = [routing.on_enter] if isinstance(routing.on_enter, str) else routing.on_enter
        for stage in on_enter:
            self._stage(("routing", "on_enter"), stage)
        scope = scopes.lifecycle_scope(self.custom)
        for index, rule in enumerate(routing.rules):
            path: PathKey = ("routing", "rules", index)
            if rule.when is not None:
                self._condition((*path, "when"), rule.when, scope)
            queue = getattr(rule.assign, "round_robin", None)
            if queue is not None:
                self._queue((*path, "assign", "round_robin"), queue)
            table = getattr(rule.assign, "territory", None)
            if table is not None and table not in routing.territories:
                self._problem(
                    (*path, "assign", "territory"),
                    f"unknown territory table '{table}'{suggest(table, routing.territories)}",
                )

        if routing.fallback is not None:
            self._queue(("routing", "fallback"), routing.fallback)
        for index, stage in enumerate(routing.open_stages or []):
            self._stage(("routing", "open_stages", index), stage)
        for name, queue in routing.queues.items():
            if queue.calendar is not None:
                self._calendar(("routing", "queues", name, "calendar"), queue.calendar)
        for table, rows in routing.territories.items():
            for index, row in enumerate(rows):
                if row.queue is not None:
                    self._queue(("routing", "territories", table, index, "queue"), row.queue)

    def _tests(self) -> None:
        grades = [*self.rules.grades, self.rules.lowest_grade]
        bands = [*sorted(self.rules.bands), self.rules.lowest_band]
        rule_names = [r.name for r in self.rules.fit] + [
            e.label for e in self.rules.engagement.events
        ]
        person_fields = {**scopes.person_scope(self.custom), **scopes.LIFECYCLE_FIELDS}
        account_fields = scopes.account_scope(self.custom)
        types = known_touchpoint_types(self.rules)
        for index, case in enumerate(self.rules.tests):
            path: PathKey = ("tests", index)
            self._known_keys((*path, "person"), case.person, person_fields)
            self._known_keys((*path, "account"), case.account, account_fields)
            for position, touch in enumerate(case.touchpoints):
                if touch.type not in types:
                    self._problem(
                        (*path, "touchpoints", position, "type"),
                        f"unknown touchpoint type '{touch.type}'{suggest(touch.type, types)}",
                    )
            expect = case.expect
            exp_path: PathKey = (*path, "expect")
            if expect.grade is not None and expect.grade not in grades:
                self._problem(
                    (*exp_path, "grade"),
                    f"unknown grade '{expect.grade}' (grades are {', '.join(grades)})",
                )
            if expect.band is not None and expect.band not in bands:
                self._problem((*exp_path, "band"), f"unknown band {expect.band}")
            if expect.stage is not None:
                self._stage((*exp_path, "stage"), expect.stage)
            for kind in ("fired", "not_fired"):
                for position, name in enumerate(getattr(expect, kind)):
                    if name not in rule_names:
                        self._problem(
                            (*exp_path, kind, position),
                            f"unknown rule '{name}'{suggest(name, rule_names)}",
                        )

    def _unique_names(self) -> None:
        """Transitions, fast tracks and tests are told apart by name (``moved_by``, results)."""
        lifecycle = self.rules.lifecycle
        groups: list[tuple[str, PathKey, list[str | None]]] = [
            ("test", ("tests",), [case.name for case in self.rules.tests]),
        ]
        if lifecycle is not None:
            named = [t.name for t in lifecycle.transitions]
            groups.append(("transition", ("lifecycle", "transitions"), named))
            groups.append(
                ("fast track", ("lifecycle", "fast_track"), [f.name for f in lifecycle.fast_track])
            )
        for kind, section, names in groups:
            first: dict[str, int] = {}
            for index, name in enumerate(names):
                if name is None:
                    continue
                if name in first:
                    line = self.source.at((*section, first[name], "name"), "").line
                    self._problem(
                        (*section, index, "name"),
                        f"duplicate {kind} name '{name}' (first used on line {line})",
                    )
                else:
                    first[name] = index

    def _writeback_systems(self) -> None:
        for stage in self.rules.writeback.hubspot_stages:
            self._stage(("writeback", "hubspot_stages", stage), stage, key=True)
        for system in self.rules.writeback.systems:
            if system not in SYSTEMS:
                self._problem(
                    ("writeback", system),
                    f"unknown system '{system}' to write back to{suggest(system, list(SYSTEMS))} "
                    f"(known: {', '.join(SYSTEMS)})",
                    key=True,
                )

    def _numbers(self, value: object, path: PathKey) -> None:
        """Every number is finite and of a sane size (``1e309`` is infinity, ``1e13`` a typo)."""
        if isinstance(value, dict):
            for key, item in value.items():
                self._numbers(item, (*path, key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                self._numbers(item, (*path, index))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                self._problem(path, f"{_dotted(path)}: must be a finite number, not {value}")
            elif abs(value) > MAX_NUMBER:
                self._problem(
                    path, f"{_dotted(path)}: {value:g} is too large (at most {MAX_NUMBER:.0e})"
                )

    def _known_keys(
        self, path: PathKey, values: Iterable[str], known: Mapping[str, object]
    ) -> None:
        for name in values:
            if name not in known:
                self._problem(
                    (*path, str(name)), f"unknown field '{name}'{suggest(name, known)}", key=True
                )


def _dotted(path: PathKey) -> str:
    return ".".join(str(part) for part in path)
