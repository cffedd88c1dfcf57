"""The application API's ``search`` URL parameter.

``search={term}{operator}{value}``: exact matches, ``*`` as a wildcard, terms
that are endpoint properties (``updatedAt``, ``name``...) or field internal
names (``C_EmailAddress``), fields usable even when not returned at the
requested depth (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/RESTAPI/Tutorials/search_parameter.htm).
A value without a term searches the entity's name (for contacts, the email
address and names).

Guesses:
- Several criteria separated by spaces (or ``AND``) must all hold.
- Operators are ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``; text compares
  case-insensitively; dates are Unix seconds or ``YYYY-MM-DD[ HH:MM:SS]`` in UTC.
- An unknown term answers 400 ``EndpointParameterError`` for ``search``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.formats import parse_datetime, parse_number

_CRITERION = re.compile(
    r"\s*(?:AND\s+)?(?:(?P<term>[A-Za-z_]\w*)\s*(?P<op>>=|<=|!=|=|>|<)\s*)?"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s'\"]+)\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Criterion:
    """``term op value``; ``term`` None for a bare value."""

    term: str | None
    op: str
    value: str


def parse_search(text: str) -> list[Criterion]:
    """The criteria of a ``search`` value; 400 when it cannot be read."""
    criteria = []
    position = 0
    while position < len(text):
        match = _CRITERION.match(text, position)
        if not match or match.end() == position:
            raise errors.parameter_error("search", {"type": "SearchRequirement"}, text)
        value = match.group("value")
        if value[:1] in "'\"" and value[-1:] == value[:1]:
            value = value[1:-1]
        criteria.append(Criterion(match.group("term"), match.group("op") or "=", value))
        position = match.end()
    return criteria


def matches_value(have: Any, op: str, wanted: str) -> bool:
    """Whether a stored value satisfies ``op wanted``."""
    if isinstance(have, datetime):
        try:
            target = parse_datetime(wanted, UTC)
        except ValueError:
            return False
        return _ordered(have.timestamp(), op, target.timestamp())
    if isinstance(have, int | float) and not isinstance(have, bool):
        try:
            return _ordered(have, op, parse_number(wanted))
        except ValueError:
            return False
    text = "" if have is None else str(have).lower()
    pattern = wanted.lower()
    if op in ("=", "!="):
        hit = fnmatch.fnmatchcase(text, pattern) if "*" in pattern else text == pattern
        return hit if op == "=" else not hit
    return _ordered(text, op, pattern)


def _ordered(left: Any, op: str, right: Any) -> bool:
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


def matcher(
    text: str | None,
    value_of: Callable[[str, Any], tuple[bool, Any]],
    bare: Callable[[Any], list[Any]],
) -> Callable[[Any], bool]:
    """A predicate over records for ``search=text``.

    ``value_of(term, record)`` returns (known term?, value) and must accept
    ``record=None`` (to check terms up front); ``bare(record)`` lists the
    values a term-less search looks at.
    """
    if not text:
        return lambda record: True
    criteria = parse_search(text)
    for criterion in criteria:
        if criterion.term is not None and not value_of(criterion.term, None)[0]:
            raise errors.parameter_error("search", {"type": "SearchRequirement"}, text)

    def check(record: Any) -> bool:
        for criterion in criteria:
            if criterion.term is None:
                if not any(matches_value(v, "=", criterion.value) for v in bare(record)):
                    return False
                continue
            _, value = value_of(criterion.term, record)
            if not matches_value(value, criterion.op, criterion.value):
                return False
        return True

    return check
