"""A small, obviously correct per-record evaluator of rules, for property tests.

It walks the parsed condition for one record at a time with SQL's
three-valued logic (None is unknown) and scores with plain Python loops. It
shares nothing with the vectorized compiler but the SQL parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp

from abmsync.rules.model import RuleSet

Row = Mapping[str, Any]


def evaluate(text: str, row: Row) -> bool:
    """True only when the condition is true for ``row`` (unknown is false)."""
    return _eval(sqlglot.parse_one(text), row) is True


def _like(pattern: str, insensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(regex, (re.IGNORECASE if insensitive else 0) | re.DOTALL)


def _eval(node: exp.Expr, row: Row) -> Any:
    if isinstance(node, exp.Paren):
        return _eval(node.this, row)
    if isinstance(node, exp.Column):
        return row.get(node.name.lower())
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else float(node.this)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.And):
        left, right = _eval(node.this, row), _eval(node.expression, row)
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if isinstance(node, exp.Or):
        left, right = _eval(node.this, row), _eval(node.expression, row)
        if left is True or right is True:
            return True
        return None if left is None or right is None else False
    if isinstance(node, exp.Not):
        value = _eval(node.this, row)
        return None if value is None else not value
    if isinstance(node, exp.Is):
        return _eval(node.this, row) is None
    comparisons = {
        exp.EQ: lambda a, b: a == b,
        exp.NEQ: lambda a, b: a != b,
        exp.GT: lambda a, b: a > b,
        exp.GTE: lambda a, b: a >= b,
        exp.LT: lambda a, b: a < b,
        exp.LTE: lambda a, b: a <= b,
    }
    if type(node) in comparisons:
        left, right = _eval(node.this, row), _eval(node.expression, row)
        if left is None or right is None:
            return None
        return comparisons[type(node)](left, right)
    if isinstance(node, exp.In):
        subject = _eval(node.this, row)
        if subject is None:
            return None
        return subject in [_eval(item, row) for item in node.expressions]
    if isinstance(node, exp.Between):
        subject = _eval(node.this, row)
        if subject is None:
            return None
        return _eval(node.args["low"], row) <= subject <= _eval(node.args["high"], row)
    if isinstance(node, exp.Like | exp.ILike):
        subject = _eval(node.this, row)
        if subject is None:
            return None
        return bool(_like(node.expression.this, isinstance(node, exp.ILike)).fullmatch(subject))
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "HAS_WORD":
        subject = _eval(node.expressions[0], row)
        if subject is None:
            return None
        words = [w.this for w in node.expressions[1:]]
        return any(re.search(rf"\b{re.escape(w)}\b", subject, re.IGNORECASE) for w in words)
    raise NotImplementedError(type(node).__name__)


def score_person(
    ruleset: RuleSet, person: Row, touchpoints: list[Row], as_of: datetime
) -> tuple[float, float, str, int]:
    """(fit, engagement, grade, band) for one person, the slow and simple way."""
    fit = sum(rule.points for rule in ruleset.fit if evaluate(rule.when, person))
    engagement_rules = ruleset.engagement
    engagement = 0.0
    for event in engagement_rules.events:
        total = 0.0
        for touch in touchpoints:
            age = (as_of - touch["occurred_at"]).total_seconds() / 86400
            if age < 0 or age > engagement_rules.window_days:
                continue
            if event.type is not None and touch.get("type") != event.type:
                continue
            if event.when is not None and not evaluate(event.when, touch):
                continue
            half_life = engagement_rules.half_life_days
            weight = 1.0 if half_life is None else math.pow(0.5, age / half_life)
            total += event.points * weight
        if event.cap is not None:
            total = max(-event.cap, min(event.cap, total))
        engagement += total
    grade = next((g for g, t in ruleset.grades.items() if fit >= t), ruleset.lowest_grade)
    band = next(
        (b for b, t in sorted(ruleset.bands.items()) if engagement >= t), ruleset.lowest_band
    )
    return fit, engagement, grade, band
