"""Eloqua markup language statements and Bulk export filters, parsed and evaluated.

Statements (EML v3,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/BulkLanguages/eloqua-markup-language-v3.htm)
are ``{{Entity.Info}}`` with fields in parentheses and attributes in brackets:
``{{Contact.Field(C_EmailAddress)}}``, ``{{Contact.LeadScore.Model[1].Rating}}``,
``{{CustomObject[9].Field[58]}}``. :func:`parse_statement` splits one into
segments; what a statement means for an entity is decided in ``exports.py``
and ``imports.py``.

Filters use the Eloqua expression language
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/BulkLanguages/eloqua-expression-language.htm):
``'{{statement}}' <op> '<value>'`` with ``>``, ``>=``, ``<``, ``<=``, ``!=``,
``=``, ``~`` (SQL Server LIKE), joined by ``AND``, ``OR``, ``NOT`` and
parentheses, plus ``EXISTS('{{ContactList[1]}}')`` and ``STATUS(...) = '...'``.
Filters are at most 1000 characters
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/Filtering.htm).

Guesses:
- Text comparisons ignore case (SQL Server's default collation); an empty
  value compares as ``''``; a missing date or number matches no ordering.
- Keywords (AND, OR, NOT, EXISTS, STATUS) are case-insensitive.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Union

from abmsync.sandbox.eloqua.formats import parse_datetime, parse_number

FILTER_MAX = 1000
OPERATORS = (">=", "<=", "!=", "=", ">", "<", "~")
_SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\[\s*(\d+)\s*\]|\(\s*([^()]*?)\s*\))?")
_TOKEN = re.compile(
    r"\s*(?:(?P<quoted>'(?:[^']|'')*')|(?P<op>>=|<=|!=|=|>|<|~)|(?P<paren>[()])|(?P<word>[A-Za-z]+))"
)


class FilterError(ValueError):
    """A filter Eloqua cannot parse; the message is the validation constraint."""


@dataclass(frozen=True)
class Segment:
    """``Field(C_EmailAddress)`` is name Field, arg C_EmailAddress; ``Model[1]`` has index 1."""

    name: str
    index: int | None = None
    arg: str | None = None

    def is_(self, name: str) -> bool:
        """Whether this segment is ``name`` (case-insensitive)."""
        return self.name.lower() == name.lower()


@dataclass(frozen=True)
class Statement:
    """A parsed ``{{...}}`` statement."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def entity(self) -> str:
        """The first segment's name: Contact, Account, Activity, CustomObject."""
        return self.segments[0].name.lower()

    def shape(self) -> tuple[str, ...]:
        """Lower-case segment names, for matching: ``("contact", "field")``."""
        return tuple(segment.name.lower() for segment in self.segments)


def parse_statement(text: str) -> Statement | None:
    """The statement in ``text`` (``{{...}}``), or None when it is not well formed."""
    raw = text.strip()
    if not (raw.startswith("{{") and raw.endswith("}}")):
        return None
    inner = raw[2:-2].strip()
    segments = []
    position = 0
    while True:
        match = _SEGMENT.match(inner, position)
        if not match:
            return None
        name, index, arg = match.groups()
        segments.append(Segment(name, int(index) if index is not None else None, arg))
        position = match.end()
        if position == len(inner):
            return Statement(raw, tuple(segments))
        if inner[position] != ".":
            return None
        position += 1


# -- filters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``'{{statement}}' op 'value'``."""

    statement: Statement
    op: str
    value: str


@dataclass(frozen=True)
class Exists:
    """``EXISTS('{{ContactList[1]}}')`` (or STATUS(...) = 'value' with ``status`` set)."""

    statement: Statement
    status: str | None = None


@dataclass(frozen=True)
class Not:
    """``NOT <node>``."""

    item: Node


@dataclass(frozen=True)
class Junction:
    """``a AND b AND c`` or ``a OR b``."""

    kind: str  # "AND" | "OR"
    items: tuple[Node, ...]


Node = Union[Compare, Exists, Not, Junction]  # noqa: UP007 - a forward-referenced alias


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(
                f"Unexpected text at position {position}: {text[position : position + 20]!r}."
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "quoted":
            value = value[1:-1].replace("''", "'")
        elif kind == "word":
            value = value.upper()
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            wanted = value or kind
            raise FilterError(f"Expected {wanted} at token {self.position + 1}.")
        self.position += 1
        return token[1]

    def expression(self) -> Node:
        items = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.position += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Junction("OR", tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.peek() == ("word", "AND"):
            self.position += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else Junction("AND", tuple(items))

    def unary(self) -> Node:
        token = self.peek()
        if token == ("word", "NOT"):
            self.position += 1
            return Not(self.unary())
        if token == ("paren", "("):
            self.position += 1
            inner = self.expression()
            self.take("paren", ")")
            return inner
        if token in (("word", "EXISTS"), ("word", "STATUS")):
            self.position += 1
            self.take("paren", "(")
            statement = self.statement(self.take("quoted"))
            self.take("paren", ")")
            if token[1] == "EXISTS":
                return Exists(statement)
            self.take("op", "=")
            return Exists(statement, self.take("quoted"))
        left = self.statement(self.take("quoted"))
        op = self.take("op")
        return Compare(left, op, self.take("quoted"))

    @staticmethod
    def statement(text: str) -> Statement:
        parsed = parse_statement(text)
        if parsed is None:
            raise FilterError(f"'{text}' is not a valid Eloqua Markup Language statement.")
        return parsed


def parse_filter(text: str) -> Node:
    """The filter's syntax tree; FilterError when Eloqua would refuse it."""
    if len(text) > FILTER_MAX:
        raise FilterError(f"Must be at most {FILTER_MAX} characters long.")
    parser = _Parser(text)
    if not parser.tokens:
        raise FilterError("Must not be empty.")
    node = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"Unexpected token at position {parser.position + 1}.")
    return node


def comparisons(node: Node) -> list[Compare]:
    """Every comparison in the tree."""
    if isinstance(node, Compare):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.item)
    if isinstance(node, Junction):
        return [found for item in node.items for found in comparisons(item)]
    return []


def required_comparisons(node: Node) -> list[Compare]:
    """Comparisons every matching row must satisfy: those joined to the root by AND only."""
    if isinstance(node, Compare):
        return [node]
    if isinstance(node, Junction) and node.kind == "AND":
        return [found for item in node.items for found in required_comparisons(item)]
    return []


# -- evaluation --------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """A record's value for a statement: its kind, Python value and the zone of literals."""

    kind: str  # text | number | date
    value: Any
    zone: tzinfo


@functools.lru_cache(maxsize=256)
def literal(kind: str, text: str, zone: tzinfo) -> Any:
    """A filter value as ``kind``; ValueError when it is not one (cached: filters repeat)."""
    if kind == "date":
        return parse_datetime(text, zone)
    if kind == "number":
        return parse_number(text)
    return text


def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def compare(typed: Typed, op: str, text: str) -> bool:
    """Whether ``typed <op> text`` holds (see the module doc for empty values)."""
    if op == "~":
        value = "" if typed.value is None else str(typed.value)
        return _like(text).fullmatch(value) is not None
    if typed.kind == "text" or typed.value is None:
        left: Any = ("" if typed.value is None else str(typed.value)).lower()
        right: Any = text.lower()
        if typed.value is None and typed.kind != "text" and op not in ("=", "!="):
            return False
    else:
        left = typed.value
        right = literal(typed.kind, text, typed.zone)
        if isinstance(left, datetime) and isinstance(right, datetime):
            left, right = left.timestamp(), right.timestamp()
    return bool(
        {
            "=": left == right,
            "!=": left != right,
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
        }[op]
    )


def evaluate(
    node: Node,
    lookup: Callable[[Statement], Typed],
    exists: Callable[[Exists], bool] | None = None,
) -> bool:
    """Whether a record (seen through ``lookup``) passes the filter."""
    if isinstance(node, Compare):
        return compare(lookup(node.statement), node.op, node.value)
    if isinstance(node, Not):
        return not evaluate(node.item, lookup, exists)
    if isinstance(node, Junction):
        results = (evaluate(item, lookup, exists) for item in node.items)
        return all(results) if node.kind == "AND" else any(results)
    return exists(node) if exists else False
