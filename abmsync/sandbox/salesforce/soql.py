"""A SOQL subset translated to SQLite SQL with sqlglot.

Supported: ``SELECT f1, f2 FROM Obj [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]``
with AND/OR/NOT, ``= != <> < <= > >=``, ``IN``/``NOT IN``, ``LIKE``, ``= null``,
string, number, ``true``/``false``/``null`` literals and unquoted date and
datetime literals (``2026-01-01``, ``2026-01-01T00:00:00Z``). Field and object
names are matched without regard to case, as Salesforce does; an unknown field
raises :class:`SoqlError` with ``INVALID_FIELD``, anything else the subset
cannot read ``MALFORMED_QUERY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from abmsync.sandbox.salesforce.store import ObjectDef, Store, format_datetime, parse_datetime

_DATETIME = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?(?![\w:.-])"
)
_ALLOWED = (
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.In,
    exp.Like,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Neg,
    exp.Is,
)


class SoqlError(Exception):
    """A query Salesforce refuses: ``MALFORMED_QUERY``, ``INVALID_FIELD`` or ``INVALID_TYPE``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Query:
    """A translated query: the object, the selected field names and the SQLite SQL."""

    obj: ObjectDef
    fields: list[str]
    sql: str


def translate(soql: str, store: Store, *, include_deleted: bool = False) -> Query:
    """Translate ``soql`` to SQLite SQL over the store's tables."""
    text = _normalize_literals(soql)
    try:
        tree = sqlglot.parse_one(text)
    except sqlglot.errors.ParseError as error:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token in query: {soql}") from error
    if not isinstance(tree, exp.Select):
        raise SoqlError("MALFORMED_QUERY", f"only SELECT queries are supported: {soql}")
    source = tree.args.get("from_") or tree.args.get("from")
    if not isinstance(source, exp.From) or not isinstance(source.this, exp.Table):
        raise SoqlError("MALFORMED_QUERY", "unexpected token: a query needs FROM <object>")
    unsupported = [k for k in ("joins", "group", "having", "with", "distinct") if tree.args.get(k)]
    if unsupported:
        raise SoqlError("MALFORMED_QUERY", f"unsupported clause in this sandbox: {unsupported[0]}")
    obj_name = source.this.name
    obj = store.get_object(obj_name)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"\n{soql}\n^\nERROR at Row:1:Column:1\nsObject type '{obj_name}' is not supported.",
        )
    fields: list[str] = []
    for selected in tree.expressions:
        if not isinstance(selected, exp.Column) or selected.table:
            raise SoqlError("MALFORMED_QUERY", f"unsupported select item: {selected.sql()}")
        fields.append(_field(obj, selected.name, soql))
    if not fields:
        raise SoqlError("MALFORMED_QUERY", "unexpected token: FROM")
    conditions: list[str] = [] if include_deleted else ['"IsDeleted" = 0']
    where = tree.args.get("where")
    if where is not None:
        conditions.append(f"({_condition(where.this, obj, soql)})")
    sql = f"SELECT {', '.join(_quote(f) for f in fields)} FROM {_quote(obj.name)}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    order = tree.args.get("order")
    if order is not None:
        sql += " ORDER BY " + ", ".join(_ordering(o, obj, soql) for o in order.expressions)
    for clause in ("limit", "offset"):
        part = tree.args.get(clause)
        if part is not None:
            value = part.expression
            if not isinstance(value, exp.Literal) or value.is_string:
                raise SoqlError("MALFORMED_QUERY", f"{clause.upper()} needs a number")
            sql += f" {clause.upper()} {int(value.this)}"
    return Query(obj, fields, sql)


def _normalize_literals(soql: str) -> str:
    """Rewrite SOQL strings (backslash escapes) and bare date(time) literals as SQL strings."""
    out: list[str] = []
    i = 0
    while i < len(soql):
        quote = soql.find("'", i)
        if quote < 0:
            out.append(_dates(soql[i:]))
            break
        out.append(_dates(soql[i:quote]))
        j = quote + 1
        chars: list[str] = []
        while j < len(soql) and soql[j] != "'":
            if soql[j] == "\\" and j + 1 < len(soql):
                j += 1
            chars.append(soql[j])
            j += 1
        if j >= len(soql):
            raise SoqlError("MALFORMED_QUERY", f"unterminated string literal in: {soql}")
        out.append("'" + "".join(chars).replace("'", "''") + "'")
        i = j + 1
    return "".join(out)


def _dates(text: str) -> str:
    def literal(match: re.Match[str]) -> str:
        day, time = match.group(1), match.group(2)
        if time is None:
            return f"'{day}'"
        return f"'{format_datetime(parse_datetime(day + time))}'"

    return _DATETIME.sub(literal, text)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _field(obj: ObjectDef, name: str, soql: str) -> str:
    spec = obj.field(name)
    if spec is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"\n{soql}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity "
            f"'{obj.name}'. If you are attempting to use a custom field, be sure to append "
            "the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names.",
        )
    return spec.name


def _condition(node: exp.Expression, obj: ObjectDef, soql: str) -> str:
    """The WHERE expression with canonical column names and SOQL null semantics."""
    for part in node.walk():
        if not isinstance(part, _ALLOWED):
            raise SoqlError("MALFORMED_QUERY", f"unsupported expression: {part.sql()}")
        if isinstance(part, exp.Column):
            if part.table:
                raise SoqlError("MALFORMED_QUERY", f"relationship fields unsupported: {part.sql()}")
            part.set("this", exp.to_identifier(_field(obj, part.name, soql), quoted=True))

    def two_valued(part: exp.Expression) -> exp.Expression:
        # SOQL has no unknown: ``=``/``!=`` are null-safe, any other test on null is false.
        if isinstance(part, exp.EQ | exp.NEQ):
            test: exp.Expression = exp.Is(this=part.this, expression=part.expression)
            return test if isinstance(part, exp.EQ) else exp.Not(this=test)
        if isinstance(part, exp.LT | exp.LTE | exp.GT | exp.GTE | exp.In | exp.Like):
            return exp.Coalesce(this=part, expressions=[exp.Literal.number(0)])
        return part

    converted = node.transform(two_valued)
    sql: str = converted.sql(dialect="sqlite")
    return sql


def _ordering(node: exp.Expression, obj: ObjectDef, soql: str) -> str:
    if not isinstance(node, exp.Ordered) or not isinstance(node.this, exp.Column):
        raise SoqlError("MALFORMED_QUERY", f"unsupported ORDER BY item: {node.sql()}")
    name = _quote(_field(obj, node.this.name, soql))
    desc = bool(node.args.get("desc"))
    nulls_first = node.args.get("nulls_first")
    # SOQL puts nulls first in ascending order unless told otherwise; so does SQLite.
    nulls = ""
    if nulls_first is not None and bool(nulls_first) == desc:
        nulls = " NULLS FIRST" if nulls_first else " NULLS LAST"
    return f"{name}{' DESC' if desc else ''}{nulls}"
