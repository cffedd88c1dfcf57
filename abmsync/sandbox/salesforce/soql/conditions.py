"""WHERE and HAVING conditions compiled to SQLite expressions.

Rules from the SOQL and SOSL Reference ("Comparison Operators", "fieldExpression
Syntax", "Date Formats and Date Literals", "Semi-Join and Anti-Join" limits):

- text comparisons ignore case (``=``, ``!=``, ``IN``, ``LIKE``), ids match in
  their 15- or 18-character form; ``!=`` and ``NOT IN`` are true for null, any
  other test on null is false (SOQL has no unknown);
- a value must fit the field: quoted for text and ids, unquoted for numbers,
  booleans, dates and datetimes (``INVALID_FIELD``: "value of filter criterion
  for field 'CreatedDate' must be of type dateTime and should not be enclosed
  in quotes"); a date is no datetime and the reverse;
- a date literal is a range: ``= TODAY`` is within it, ``> TODAY`` after it;
- long text areas cannot be filtered;
- ``Id IN (SELECT AccountId FROM Contact)``: the left operand and the selected
  field are ids or references, at most two semi/anti-joins per query, none
  nested, no ORDER BY or LIMIT inside.

Literals are inlined as quoted SQL literals (no bind parameters), so a
translated statement can run on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from abmsync.sandbox.salesforce.formats import format_datetime, is_id, parse_datetime
from abmsync.sandbox.salesforce.schema import FieldDef
from abmsync.sandbox.salesforce.soql.dates import date_range, is_date_literal
from abmsync.sandbox.salesforce.soql.errors import SoqlError, located
from abmsync.sandbox.salesforce.soql.scope import Scope, quote
from abmsync.sandbox.salesforce.soql.syntax import Call, Compare, Condition, Literal, Path, Select

_TEXT = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"}
)
_NUMBER = frozenset({"int", "double", "currency", "percent"})
_TYPE_NAMES = {"datetime": "dateTime", "currency": "double", "percent": "double"}
MAX_SEMI_JOINS = 2


def sql_literal(value: str | float | bool | None) -> str:
    """A value as a SQLite literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Context:
    """What compiling a condition needs besides the scope."""

    soql: str
    today: date
    # Compiles a semi-join's subquery to SQL selecting one id column.
    subselect: Callable[[Select, Scope], str] | None = None
    # Resolves an aggregate call in HAVING to (SQL, result type).
    aggregate: Callable[[Call], tuple[str, str]] | None = None
    semi_joins: int = 0
    nested: bool = False
    problems: list[str] = field(default_factory=list)


def compile_condition(cond: Condition, scope: Scope, ctx: Context) -> str:
    """``cond`` as a two-valued SQLite expression over ``scope``'s tables."""
    if not isinstance(cond, Compare):
        parts = [compile_condition(p, scope, ctx) for p in cond.parts]
        if cond.op == "NOT":
            return f"(NOT {parts[0]})"
        return "(" + f" {cond.op} ".join(parts) + ")"
    if isinstance(cond.value, Select):
        return _semi_join(cond, cond.value, scope, ctx)
    expr, kind, name = _operand(cond.left, scope, ctx, cond.op)
    if cond.op in ("IN", "NOTIN"):
        values = cond.value if isinstance(cond.value, tuple) else ()
        pieces = [_compare(expr, kind, name, "=", v, ctx) for v in values]
        inside = "(" + " OR ".join(pieces) + ")"
        return f"(NOT {inside})" if cond.op == "NOTIN" else inside
    if cond.op in ("INCLUDES", "EXCLUDES"):
        return _includes(expr, kind, name, cond, ctx)
    assert isinstance(cond.value, Literal)
    if cond.op == "LIKE":
        if kind not in _TEXT:
            raise located(
                ctx.soql,
                cond.pos,
                f"invalid operator on {_type_name(kind)} field: LIKE",
                "INVALID_QUERY_FILTER_OPERATOR",
            )
        pattern = _text(cond.value, kind, name, ctx)
        return (
            f"({expr} IS NOT NULL AND soql_fold({expr}) LIKE "
            f"{sql_literal(pattern.casefold())} ESCAPE '\\')"
        )
    return _compare(expr, kind, name, cond.op, cond.value, ctx)


def _operand(left: Path | Call, scope: Scope, ctx: Context, op: str) -> tuple[str, str, str]:
    """SQL, field type and name of a condition's left side."""
    if isinstance(left, Call):
        if ctx.aggregate is None:
            raise located(ctx.soql, left.pos, "Aggregate functions are not allowed in WHERE")
        sql, kind = ctx.aggregate(left)
        return sql, kind, left.func
    column = scope.column(left)
    spec = column.spec
    if not spec.filterable:
        raise located(
            ctx.soql,
            left.pos,
            f"field '{spec.name}' can not be filtered in a query call",
            "INVALID_FIELD",
        )
    return column.sql, spec.type, spec.name


def _compare(expr: str, kind: str, name: str, op: str, value: Literal, ctx: Context) -> str:
    if value.kind == "null":
        if op == "=":
            return f"({expr} IS NULL)"
        if op == "!=":
            return f"({expr} IS NOT NULL)"
        return "0"
    if value.kind == "dateliteral" and kind in ("date", "datetime"):
        return _in_range(expr, kind, op, value, ctx)
    if kind in ("id", "reference"):
        text = _text(value, kind, name, ctx)
        if not is_id(text):
            raise located(
                ctx.soql, value.pos, f"invalid ID field: {text}", "INVALID_QUERY_FILTER_OPERATOR"
            )
        short = sql_literal(text[:15])
        if op == "=":
            return f"({expr} >= {short} AND {expr} < {sql_literal(text[:15] + '~')})"
        if op == "!=":
            return f"({expr} IS NULL OR substr({expr}, 1, 15) != {short})"
        return f"({expr} IS NOT NULL AND substr({expr}, 1, 15) {op} {short})"
    if kind in _TEXT:
        folded = sql_literal(_text(value, kind, name, ctx).casefold())
        target = f"soql_fold({expr})"
    else:
        folded = sql_literal(_typed(value, kind, name, ctx))
        target = expr
    if op == "!=":
        return f"({expr} IS NULL OR {target} != {folded})"
    return f"({expr} IS NOT NULL AND {target} {op} {folded})"


def _in_range(expr: str, kind: str, op: str, value: Literal, ctx: Context) -> str:
    if not is_date_literal(value.value, value.n is not None):
        raise located(ctx.soql, value.pos, f"unexpected token: {value.value}")
    start, end = date_range(value.value, value.n, ctx.today)
    low, high = (sql_literal(_bound(d, kind)) for d in (start, end))
    inside = f"({expr} >= {low} AND {expr} < {high})"
    bounds = {"<": f"{expr} < {low}", "<=": f"{expr} < {high}"}
    bounds |= {">": f"{expr} >= {high}", ">=": f"{expr} >= {low}"}
    if op == "=":
        return f"({expr} IS NOT NULL AND {inside})"
    if op == "!=":
        return f"({expr} IS NULL OR NOT {inside})"
    return f"({expr} IS NOT NULL AND {bounds[op]})"


def _bound(day: date, kind: str) -> str:
    return day.isoformat() if kind == "date" else day.isoformat() + "T00:00:00.000+0000"


def _includes(expr: str, kind: str, name: str, cond: Compare, ctx: Context) -> str:
    if kind != "multipicklist":
        raise located(
            ctx.soql,
            cond.pos,
            f"{cond.op} or EXCLUDES operator only valid on multipicklist field",
            "INVALID_QUERY_FILTER_OPERATOR",
        )
    values = cond.value if isinstance(cond.value, tuple) else ()
    wrapped = f"(';' || soql_fold({expr}) || ';')"
    alternatives = []
    for value in values:
        parts = _text(value, kind, name, ctx).casefold().split(";")
        tests = [f"instr({wrapped}, {sql_literal(';' + p.strip() + ';')}) > 0" for p in parts]
        alternatives.append("(" + " AND ".join(tests) + ")")
    found = f"({expr} IS NOT NULL AND (" + " OR ".join(alternatives) + "))"
    return found if cond.op == "INCLUDES" else f"(NOT {found})"


def _text(value: Literal, kind: str, name: str, ctx: Context) -> str:
    if value.kind != "string":
        raise _wrong_type(value, kind, name, ctx, quoted=True)
    return value.value


def _typed(value: Literal, kind: str, name: str, ctx: Context) -> str | float | bool:
    """A non-text value checked against the field type, as stored."""
    wanted = {"boolean": "boolean", "date": "date", "datetime": "datetime"}.get(kind, "number")
    if value.kind != wanted:
        raise _wrong_type(value, kind, name, ctx, quoted=False)
    if wanted == "boolean":
        return value.value == "true"
    if wanted == "number":
        number = float(value.value)
        return int(number) if kind == "int" and number.is_integer() else number
    if wanted == "datetime":
        return format_datetime(parse_datetime(value.value))
    return value.value


def _wrong_type(value: Literal, kind: str, name: str, ctx: Context, *, quoted: bool) -> SoqlError:
    enclosed = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    return located(
        ctx.soql,
        value.pos,
        f"value of filter criterion for field '{name}' must be of type "
        f"{_type_name(kind)} and {enclosed}",
        "INVALID_FIELD",
    )


def _type_name(kind: str) -> str:
    return _TYPE_NAMES.get(kind, kind)


def _semi_join(cond: Compare, sub: Select, scope: Scope, ctx: Context) -> str:
    if cond.op not in ("IN", "NOTIN") or isinstance(cond.left, Call):
        raise located(ctx.soql, cond.pos, "unexpected token: SELECT")
    if ctx.nested:
        raise located(ctx.soql, sub.pos, "Nesting of semi join sub-selects is not supported")
    ctx.semi_joins += 1
    if ctx.semi_joins > MAX_SEMI_JOINS:
        raise located(ctx.soql, sub.pos, "Maximum of 2 semi join sub-selects are allowed per query")
    column = scope.column(cond.left)
    if column.spec.type not in ("id", "reference"):
        raise located(
            ctx.soql,
            cond.left.pos,
            "semi join sub selects are only allowed on the Id field or on reference fields",
            "INVALID_FIELD",
        )
    if ctx.subselect is None:
        raise located(ctx.soql, sub.pos, "semi join sub-selects are not supported here")
    inner = ctx.subselect(sub, scope)
    expr = column.sql
    if cond.op == "IN":
        return f"({expr} IN ({inner}))"
    return f"({expr} IS NULL OR {expr} NOT IN ({inner}))"


def semi_join_field(sub: Select, spec: FieldDef | None, ctx: Context) -> None:
    """Check a semi-join subquery's shape (one id/reference field, no ORDER BY/LIMIT)."""
    if sub.order or sub.limit is not None or sub.offset is not None or sub.group:
        raise located(
            ctx.soql, sub.pos, "ORDER BY, LIMIT, OFFSET and GROUP BY are not allowed in semi joins"
        )
    if spec is None or spec.type not in ("id", "reference"):
        raise located(
            ctx.soql,
            sub.pos,
            "semi join sub selects can only select an Id or a reference field",
            "INVALID_FIELD",
        )


__all__ = ["Context", "compile_condition", "quote", "semi_join_field", "sql_literal"]
