"""SOQL tokens and the syntax tree the parser builds.

Grammar per the SOQL and SOSL Reference, "SOQL SELECT Syntax"
(https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm).
Literals: strings in single quotes with backslash escapes (``\\'``, ``\\n``, ``\\\\``;
``\\%`` and ``\\_`` stay escaped for LIKE), numbers, ``true``/``false``/``null``,
unquoted dates ``YYYY-MM-DD`` and datetimes ``YYYY-MM-DDThh:mm:ss(.sss)(Z|±hh:mm)``
("Date Formats and Date Literals"), and date literals such as ``LAST_N_DAYS:30``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from abmsync.sandbox.salesforce.soql.errors import located

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
    |(?P<number>-?(?:\d+(?:\.\d+)?|\.\d+)(?![\w.]))
    |(?P<ident>[A-Za-z][A-Za-z0-9_]*)
    |(?P<string>')
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),.:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_ESCAPES |= {"'": "'", '"': '"', "\\": "\\", "%": "\\%", "_": "\\_"}


@dataclass(frozen=True)
class Token:
    """One token: its kind, text (a string's value) and position in the query."""

    kind: str
    text: str
    pos: int

    def word(self) -> str:
        """The token upper-cased if it is an identifier (keywords ignore case)."""
        return self.text.upper() if self.kind == "ident" else ""


def tokenize(soql: str) -> list[Token]:
    """The tokens of ``soql``, ending with an ``eof`` token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN.match(soql, pos)
        if match is None:
            raise located(soql, pos, f"unexpected token: '{soql[pos]}'")
        kind = match.lastgroup or ""
        if kind == "string":
            value, end = _string(soql, pos)
            tokens.append(Token("string", value, pos))
            pos = end
            continue
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def _string(soql: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at ``start`` and the position after it."""
    chars: list[str] = []
    i = start + 1
    while i < len(soql):
        char = soql[i]
        if char == "'":
            return "".join(chars), i + 1
        if char == "\\":
            escaped = _ESCAPES.get(soql[i + 1 : i + 2])
            if escaped is None:
                raise located(soql, i, "Invalid string literal: unknown escape sequence")
            chars.append(escaped)
            i += 2
            continue
        chars.append(char)
        i += 1
    raise located(soql, start, "unexpected token: unterminated string literal")


@dataclass(frozen=True)
class Path:
    """A field reference such as ``Name`` or ``Account.Owner.Email``."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Call:
    """An aggregate function: ``COUNT()``, ``COUNT(Id)``, ``SUM(Amount)`` ..."""

    func: str
    arg: Path | None
    pos: int
    alias: str | None = None


@dataclass(frozen=True)
class FieldsCall:
    """``FIELDS(ALL)``, ``FIELDS(STANDARD)`` or ``FIELDS(CUSTOM)``."""

    kind: str
    pos: int


@dataclass(frozen=True)
class Literal:
    """A value: ``kind`` is string, number, boolean, null, date, datetime or dateliteral."""

    kind: str
    value: str
    pos: int
    n: int | None = None  # the ``n`` of ``LAST_N_DAYS:n``


@dataclass(frozen=True)
class Compare:
    """``operand op value``; ``op`` is one of = != < <= > >= LIKE IN NOTIN INCLUDES EXCLUDES."""

    left: Path | Call
    op: str
    value: Literal | tuple[Literal, ...] | Select
    pos: int


@dataclass(frozen=True)
class Logic:
    """``AND``/``OR`` of several conditions, or ``NOT`` of one."""

    op: str
    parts: tuple[Condition, ...]


Condition = Compare | Logic


@dataclass(frozen=True)
class Order:
    """One ORDER BY item."""

    target: Path | Call
    desc: bool
    nulls_last: bool | None


@dataclass(frozen=True)
class Item:
    """One select item: a field, an aggregate, FIELDS() or a child subquery."""

    value: Path | Call | FieldsCall | Select
    alias: str | None = None


@dataclass
class Select:
    """A parsed SELECT (the top query, a child subquery or a semi-join)."""

    items: list[Item]
    obj: str
    obj_pos: int
    alias: str | None = None
    where: Condition | None = None
    group: list[Path] = field(default_factory=list)
    having: Condition | None = None
    order: list[Order] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    pos: int = 0
