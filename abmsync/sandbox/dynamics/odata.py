"""OData query options of the Dataverse Web API, translated to SQLite.

``$filter`` supports what "Query data using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows)
documents for everyday use: ``eq ne gt ge lt le``, ``and or not``, parentheses,
``contains``/``startswith``/``endswith``, ``Microsoft.Dynamics.CRM.In``, ``null``,
unquoted GUID and date/time literals, ``true``/``false`` and numbers. Lookups
are filtered as ``_<name>_value``. String comparisons ignore case, as Dataverse's
SQL collation does.

Guesses:
- Syntax errors answer ``0x80060888`` "Syntax error at position N in '...'." (the
  ODataException code Dataverse uses for URI errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata import AttributeDef, EntityDef
from abmsync.sandbox.dynamics.store import parse_stamp, quote

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
      | (?P<stamp>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_./]*)
      | (?P<punct>[(),\[\]=])
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_LIKE = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}
_TEXT = frozenset({"String", "Memo"})


@dataclass
class Token:
    kind: str
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    """Split a $filter into tokens; a syntax error names the position."""
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise syntax_error(text, at)
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    return tokens


def syntax_error(text: str, at: int) -> DataverseError:
    return DataverseError(400, errors.ODATA, f"Syntax error at position {at} in '{text}'.")


class Column:
    """A property of the entity type as the query sees it: its SQL column and attribute."""

    def __init__(self, table: EntityDef, name: str) -> None:
        lookup = re.fullmatch(r"_(\w+)_value", name)
        attribute = table.attributes.get(lookup.group(1) if lookup else name)
        if attribute is None or attribute.is_lookup != bool(lookup):
            raise errors.unknown_property(name, table.name)
        self.attribute: AttributeDef = attribute
        self.sql = quote(attribute.name)

    @property
    def text(self) -> bool:
        return self.attribute.type in _TEXT


def resolve(table: EntityDef) -> Callable[[str], Column]:
    return lambda name: Column(table, name)


class FilterParser:
    """Recursive descent over $filter tokens, building a SQL condition and its parameters."""

    def __init__(self, text: str, table: EntityDef) -> None:
        self.text = text
        self.table = table
        self.tokens = tokenize(text)
        self.at = 0
        self.params: list[Any] = []

    def parse(self) -> tuple[str, list[Any]]:
        sql = self.expression()
        if self.at < len(self.tokens):
            raise syntax_error(self.text, self.tokens[self.at].at)
        return sql, self.params

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise syntax_error(self.text, len(self.text))
        if text is not None and token.text.lower() != text.lower():
            raise syntax_error(self.text, token.at)
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() == word:
            self.at += 1
            return True
        return False

    def expression(self) -> str:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def conjunction(self) -> str:
        parts = [self.negation()]
        while self.keyword("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def negation(self) -> str:
        if self.keyword("not"):
            return f"NOT ({self.negation()})"
        return self.primary()

    def primary(self) -> str:
        token = self.take()
        if token.text == "(":
            inner = self.expression()
            self.take(")")
            return f"({inner})"
        if token.kind != "name":
            raise syntax_error(self.text, token.at)
        name = token.text
        if name.lower() in _LIKE:
            return self.like(name.lower())
        if name.startswith("Microsoft.Dynamics.CRM."):
            return self.crm_function(name, token)
        if name.lower() in ("true", "false"):
            raise syntax_error(self.text, token.at)
        column = Column(self.table, name)
        operator = self.take()
        if operator.text.lower() not in _COMPARE:
            raise syntax_error(self.text, operator.at)
        return self.compare(column, operator.text.lower(), self.take())

    def compare(self, column: Column, operator: str, literal: Token) -> str:
        if literal.kind == "name" and literal.text.lower() == "null":
            if operator not in ("eq", "ne"):
                return "0"
            return f"{column.sql} IS {'NOT ' if operator == 'ne' else ''}NULL"
        value = self.value(column, literal)
        self.params.append(value)
        collate = " COLLATE NOCASE" if column.text else ""
        return f"{column.sql}{collate} {_COMPARE[operator]} ?"

    def value(self, column: Column, literal: Token) -> Any:
        """A literal converted to the stored form of the column's type."""
        kind = column.attribute.type
        text = literal.text
        mismatch = DataverseError(
            400,
            errors.ODATA,
            f"A binary operator with incompatible types was detected. Found operand types "
            f"'{_edm(kind)}' and '{_literal_edm(literal)}' for operator kind 'Equal'.",
        )
        if literal.kind == "string":
            inner = text[1:-1].replace("''", "'")
            if kind in _TEXT:
                return inner
            if kind == "Uniqueidentifier" or column.attribute.is_lookup:
                raise mismatch
            if kind == "DateTime":
                return self.stamp(column, inner, literal)
            raise mismatch
        if literal.kind == "guid":
            if kind == "Uniqueidentifier" or column.attribute.is_lookup:
                return text.lower()
            raise mismatch
        if literal.kind == "stamp":
            if kind != "DateTime":
                raise mismatch
            return self.stamp(column, text, literal)
        if literal.kind == "number":
            if kind in _TEXT or kind in ("Boolean", "DateTime", "Uniqueidentifier"):
                raise mismatch
            number = text.rstrip("mMdDfFlL")
            return float(number) if any(c in number for c in ".eE") else int(number)
        if literal.kind == "name" and text.lower() in ("true", "false"):
            if kind != "Boolean":
                raise mismatch
            return 1 if text.lower() == "true" else 0
        raise syntax_error(self.text, literal.at)

    def stamp(self, column: Column, text: str, literal: Token) -> str:
        try:
            moment = parse_stamp(text)
        except ValueError:
            raise syntax_error(self.text, literal.at) from None
        if column.attribute.date_only:
            return moment.date().isoformat()
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def like(self, function: str) -> str:
        self.take("(")
        name = self.take()
        column = Column(self.table, name.text)
        self.take(",")
        literal = self.take()
        self.take(")")
        if not column.text or literal.kind != "string":
            raise DataverseError(
                400,
                errors.ODATA,
                f"No function signature for the function with name '{function}' matches the "
                "specified arguments.",
            )
        inner = literal.text[1:-1].replace("''", "'")
        escaped = inner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self.params.append(_LIKE[function].format(escaped))
        return f"{column.sql} LIKE ? ESCAPE '\\'"

    def crm_function(self, name: str, token: Token) -> str:
        function = name.removeprefix("Microsoft.Dynamics.CRM.")
        if function not in ("In", "NotIn"):
            raise DataverseError(
                400,
                errors.ODATA,
                f"The function '{name}' is not supported by the sandbox's $filter.",
            )
        self.take("(")
        arguments: dict[str, Any] = {}
        while True:
            key = self.take().text
            self.take("=")
            if self.peek() is not None and self.peek().text == "[":  # type: ignore[union-attr]
                self.take("[")
                items: list[Token] = []
                while self.peek() is not None and self.peek().text != "]":  # type: ignore[union-attr]
                    items.append(self.take())
                    if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                        self.take(",")
                self.take("]")
                arguments[key] = items
            else:
                arguments[key] = self.take()
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take(",")
                continue
            self.take(")")
            break
        prop = arguments.get("PropertyName")
        values = arguments.get("PropertyValues")
        if not isinstance(prop, Token) or not isinstance(values, list) or not values:
            raise syntax_error(self.text, token.at)
        column = Column(self.table, prop.text[1:-1])
        converted = []
        for item in values:
            # PropertyValues are strings even for numbers and GUIDs.
            if item.kind == "string":
                inner = item.text[1:-1].replace("''", "'")
                item = _retype(inner, item.at)
            converted.append(self.value(column, item))
        self.params.extend(converted)
        marks = ", ".join("?" for _ in converted)
        collate = " COLLATE NOCASE" if column.text else ""
        negate = "NOT " if function == "NotIn" else ""
        return f"{column.sql}{collate} {negate}IN ({marks})"


def _retype(inner: str, at: int) -> Token:
    """A PropertyValues string as the literal kind its text has (GUID, number, date)."""
    for kind in ("guid", "stamp", "number"):
        match = _TOKEN.match(inner)
        if match and match.lastgroup == kind and match.end() == len(inner):
            return Token(kind, inner, at)
    return Token("string", "'" + inner.replace("'", "''") + "'", at)


def _edm(kind: str) -> str:
    return {"String": "Edm.String", "Memo": "Edm.String", "Boolean": "Edm.Boolean"}.get(
        kind, "Edm.Int32" if kind in ("Integer", "Picklist", "State", "Status") else "Edm.Guid"
    )


def _literal_edm(token: Token) -> str:
    return {"string": "Edm.String", "guid": "Edm.Guid", "stamp": "Edm.DateTimeOffset"}.get(
        token.kind, "Edm.Int32"
    )


def parse_filter(text: str, table: EntityDef) -> tuple[str, list[Any]]:
    """A $filter as a SQL condition and its parameters."""
    return FilterParser(text, table).parse()


def parse_orderby(text: str, table: EntityDef) -> str:
    """A $orderby as a SQL ORDER BY list (ending with the primary key for stable pages)."""
    parts = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, direction = item.partition(" ")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise syntax_error(text, text.find(item) + len(name) + 1)
        column = Column(table, name)
        collate = " COLLATE NOCASE" if column.text else ""
        parts.append(f"{column.sql}{collate} {direction.upper()}")
    parts.append(quote(table.primary_id))
    return ", ".join(parts)


def parse_select(text: str, table: EntityDef) -> list[AttributeDef]:
    """The attributes a $select names (each validated)."""
    return [Column(table, n.strip()).attribute for n in text.split(",") if n.strip()]
