"""SQL boolean conditions compiled to vectorized polars expressions.

Admins write conditions the way they write SOQL or report filters::

    industry IN ('Software', 'Manufacturing') AND employees >= 200
    HAS_WORD(title, 'cto', 'cfo') OR title ILIKE '%vice president%'

A condition is parsed once (sqlglot), type-checked against the fields the
rule may see, and compiled to one ``polars.Expr`` evaluated over whole frames.
SQL's three-valued logic holds inside the expression; the final result treats
unknown (null) as false, so a rule on a missing value simply does not fire.

Errors are collected, not raised one at a time, each with the character
offset inside the condition so the loader can point at ``file:line:column``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from abmsync.rules.model import FieldType

# Types an expression can have while compiling; "null" is the type of NULL.
Kind = str  # "text" | "number" | "boolean" | "datetime" | "null"
NUMERIC = {"number", "integer"}

FUNCTIONS: dict[str, str] = {
    "HAS_WORD": "HAS_WORD(text, 'word', ...): any whole word, any case",
    "REGEXP_LIKE": "REGEXP_LIKE(text, 'pattern')",
    "LOWER": "LOWER(text)",
    "UPPER": "UPPER(text)",
    "LENGTH": "LENGTH(text)",
    "COALESCE": "COALESCE(a, b, ...)",
    "ABS": "ABS(number)",
    "DAYS_SINCE": "DAYS_SINCE(datetime): days before the as-of time",
}


@dataclass(frozen=True)
class ExprError:
    """A problem in a condition, at a character offset inside it."""

    offset: int
    message: str


class ConditionError(ValueError):
    """A condition failed to compile; ``errors`` holds every problem found."""

    def __init__(self, text: str, errors: list[ExprError]) -> None:
        self.text = text
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass(frozen=True)
class Compiled:
    """A compiled condition and the fields it reads."""

    text: str
    expr: pl.Expr
    columns: frozenset[str]


def suggest(name: str, candidates: list[str] | Mapping[str, object]) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def compile_condition(
    text: str, fields: Mapping[str, FieldType], *, as_of: datetime | None = None
) -> Compiled:
    """Compile ``text`` to a boolean polars expression where null counts as false.

    ``fields`` maps each field the condition may reference to its type.
    Raises :class:`ConditionError` with every problem found.
    """
    compiler = _Compiler(text, fields, as_of or datetime(2000, 1, 1, tzinfo=UTC))
    result = compiler.run()
    if compiler.errors:
        raise ConditionError(text, compiler.errors)
    return Compiled(text, result.fill_null(False), frozenset(compiler.columns))


def check_condition(text: str, fields: Mapping[str, FieldType]) -> list[ExprError]:
    """Every problem in ``text`` (empty when it compiles)."""
    try:
        compile_condition(text, fields)
    except ConditionError as exc:
        return exc.errors
    return []


def like_to_regex(pattern: str, *, case_insensitive: bool) -> str:
    """Translate a SQL LIKE pattern (``%`` and ``_``) to an anchored regex."""
    flags = "(?si)" if case_insensitive else "(?s)"
    return f"{flags}^{_like_body(pattern)}$"


def _like_body(pattern: str) -> str:
    """The regex for a LIKE pattern, unanchored; a leading or trailing % needs no ``.*``."""
    core = pattern
    lead = core.startswith("%")
    trail = core.endswith("%") and len(core) > 1
    core = core[1 if lead else 0 : len(core) - (1 if trail else 0)]
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in core)
    return (".*" if lead else "") + body + (".*" if trail else "")


def _is_plain_contains(pattern: str) -> str | None:
    """The literal inside ``'%literal%'`` when nothing else is a wildcard."""
    if len(pattern) >= 2 and pattern[0] == "%" and pattern[-1] == "%":
        inner = pattern[1:-1]
        if inner and "%" not in inner and "_" not in inner:
            return inner
    return None


@dataclass
class _Typed:
    expr: pl.Expr
    kind: Kind
    literal: object = None
    is_literal: bool = False


@dataclass
class _Compiler:
    text: str
    fields: Mapping[str, FieldType]
    as_of: datetime
    errors: list[ExprError] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)

    def run(self) -> pl.Expr:
        try:
            tree = sqlglot.parse_one(self.text)
        except ParseError as exc:
            detail = exc.errors[0] if exc.errors else {}
            offset = max(int(detail.get("col", 1)) - 1, 0)
            description = detail.get("description", str(exc))
            self._error(offset, f"syntax error: {_syntax_message(str(description))}")
            return pl.lit(False)
        except TokenError as exc:
            self._error(0, f"syntax error: {exc}")
            return pl.lit(False)
        result = self.visit(tree)
        if result.kind not in ("boolean", "null") and not self.errors:
            self._error(0, f"a condition must be true or false, not {result.kind}")
        return result.expr

    # --- helpers -----------------------------------------------------------
    def _error(self, offset: int, message: str) -> None:
        self.errors.append(ExprError(offset, message))

    def _offset(self, node: exp.Expr) -> int:
        for column in node.find_all(exp.Column):
            start = column.this.meta.get("start") if isinstance(column.this, exp.Expr) else None
            if isinstance(start, int):
                return start
        return 0

    def _name_offset(self, name: str) -> int:
        found = self.text.upper().find(name.upper())
        return max(found, 0)

    def _compatible(self, left: _Typed, right: _Typed, node: exp.Expr) -> bool:
        kinds = {left.kind, right.kind}
        if "null" in kinds or len(kinds) == 1:
            return True
        if kinds <= NUMERIC | {"number"}:
            return True
        if kinds == {"datetime", "text"}:
            return self._coerce_datetime(left, right, node)
        described = " and ".join(_describe(side) for side in (left, right))
        self._error(self._offset(node), f"type mismatch: cannot compare {described}")
        return False

    def _coerce_datetime(self, left: _Typed, right: _Typed, node: exp.Expr) -> bool:
        text_side = left if left.kind == "text" else right
        if not text_side.is_literal:
            self._error(self._offset(node), "type mismatch: datetime compared to a text field")
            return False
        try:
            parsed = datetime.fromisoformat(str(text_side.literal).replace("Z", "+00:00"))
        except ValueError:
            self._error(self._offset(node), f"not a date or time: '{text_side.literal}'")
            return False
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        text_side.expr = pl.lit(parsed, dtype=pl.Datetime("us", "UTC"))
        text_side.kind = "datetime"
        return True

    def _expect(self, typed: _Typed, kinds: set[str], node: exp.Expr, what: str) -> None:
        if typed.kind != "null" and typed.kind not in kinds:
            self._error(
                self._offset(node),
                f"{what} needs {' or '.join(sorted(kinds))}, got {_describe(typed)}",
            )

    # --- dispatch ----------------------------------------------------------
    def visit(self, node: exp.Expr) -> _Typed:
        handler = _HANDLERS.get(type(node))
        if handler is None and isinstance(node, exp.Func):
            return self.function(node)
        if handler is None:
            name = type(node).__name__.upper()
            self._error(self._offset(node), f"unsupported syntax: {name} in '{node.sql()}'")
            return _Typed(pl.lit(None), "null")
        return handler(self, node)

    def column(self, node: exp.Column) -> _Typed:
        name = node.name.lower()
        start = node.this.meta.get("start", 0) if isinstance(node.this, exp.Expr) else 0
        if node.table:
            self._error(start, f"unknown field '{node.sql()}': write the field name alone")
            return _Typed(pl.lit(None), "null")
        kind = self.fields.get(name)
        if kind is None:
            self._error(start, f"unknown field '{name}'{suggest(name, self.fields)}")
            return _Typed(pl.lit(None), "null")
        self.columns.add(name)
        return _Typed(pl.col(name), "number" if kind == "integer" else kind)

    def literal(self, node: exp.Literal) -> _Typed:
        if node.is_string:
            return _Typed(pl.lit(node.this, dtype=pl.String()), "text", node.this, True)
        number = float(node.this)
        value: int | float = int(number) if number.is_integer() and "." not in node.this else number
        return _Typed(pl.lit(value), "number", value, True)

    def boolean(self, node: exp.Boolean) -> _Typed:
        return _Typed(pl.lit(bool(node.this), dtype=pl.Boolean()), "boolean", bool(node.this), True)

    def null(self, node: exp.Null) -> _Typed:
        return _Typed(pl.lit(None), "null", None, True)

    def paren(self, node: exp.Paren) -> _Typed:
        return self.visit(node.this)

    def logical(self, node: exp.Connector) -> _Typed:
        parts = _flatten(node, type(node))
        if isinstance(node, exp.Or):
            parts_exprs = self._merged_contains(parts)
        else:
            parts_exprs = []
            for part in parts:
                typed = self.visit(part)
                self._expect(typed, {"boolean"}, part, type(node).__name__.upper())
                parts_exprs.append(typed.expr)
        combined = parts_exprs[0]
        for expr in parts_exprs[1:]:
            combined = (combined & expr) if isinstance(node, exp.And) else (combined | expr)
        return _Typed(combined, "boolean")

    def _merged_contains(self, parts: list[exp.Expr]) -> list[pl.Expr]:
        """OR of ``col ILIKE 'pattern'`` terms on one column becomes one string scan.

        Plain ``'%word%'`` terms become one ``contains_any`` (Aho-Corasick);
        other patterns become one regex alternation. Scanning a text column
        once instead of once per term is what makes keyword rules cheap.
        """
        words: dict[str, list[str]] = {}
        patterns: dict[str, list[str]] = {}
        exprs: list[pl.Expr] = []
        for part in parts:
            inner = part.this if isinstance(part, exp.Paren) else part
            if (
                isinstance(inner, exp.ILike)
                and isinstance(inner.this, exp.Column)
                and isinstance(inner.expression, exp.Literal)
                and inner.expression.is_string
            ):
                typed = self.column(inner.this)
                self._expect(typed, {"text"}, inner, "ILIKE")
                if typed.kind == "text":
                    name, pattern = inner.this.name.lower(), inner.expression.this
                    word = _is_plain_contains(pattern)
                    if word is not None and word.isascii():
                        words.setdefault(name, []).append(word)
                    else:
                        patterns.setdefault(name, []).append(_like_body(pattern))
                continue
            typed = self.visit(part)
            self._expect(typed, {"boolean"}, part, "OR")
            exprs.append(typed.expr)
        for name, group in words.items():
            exprs.append(pl.col(name).str.contains_any(group, ascii_case_insensitive=True))
        for name, bodies in patterns.items():
            exprs.append(pl.col(name).str.contains(f"(?si)^(?:{'|'.join(bodies)})$"))
        return exprs

    def negate(self, node: exp.Not) -> _Typed:
        typed = self.visit(node.this)
        self._expect(typed, {"boolean"}, node, "NOT")
        return _Typed(~typed.expr, "boolean")

    def compare(self, node: exp.Binary) -> _Typed:
        left, right = self.visit(node.this), self.visit(node.expression)
        if not self._compatible(left, right, node):
            return _Typed(pl.lit(None, dtype=pl.Boolean()), "boolean")
        operator = _COMPARISONS[type(node)]
        return _Typed(operator(left.expr, right.expr), "boolean")

    def arithmetic(self, node: exp.Binary) -> _Typed:
        left, right = self.visit(node.this), self.visit(node.expression)
        for side in (left, right):
            self._expect(side, NUMERIC, node, "arithmetic")
        operator = _ARITHMETIC[type(node)]
        return _Typed(operator(left.expr, right.expr), "number")

    def negative(self, node: exp.Neg) -> _Typed:
        typed = self.visit(node.this)
        self._expect(typed, NUMERIC, node, "minus")
        if typed.is_literal and isinstance(typed.literal, int | float):
            return _Typed(pl.lit(-typed.literal), "number", -typed.literal, True)
        return _Typed(-typed.expr, "number")

    def is_null(self, node: exp.Is) -> _Typed:
        subject = self.visit(node.this)
        if not isinstance(node.expression, exp.Null):
            other = self.visit(node.expression)
            if other.kind != "boolean":
                self._error(self._offset(node), "IS needs NULL, TRUE or FALSE")
                return _Typed(pl.lit(False), "boolean")
            return _Typed((subject.expr == other.expr).fill_null(False), "boolean")
        return _Typed(subject.expr.is_null(), "boolean")

    def membership(self, node: exp.In) -> _Typed:
        subject = self.visit(node.this)
        if subject.kind == "datetime":
            self._error(self._offset(node), "IN does not take dates; use BETWEEN")
            return _Typed(pl.lit(False), "boolean")
        if node.args.get("query") is not None or not node.expressions:
            self._error(self._offset(node), "IN needs a list of values, e.g. IN ('a', 'b')")
            return _Typed(pl.lit(False), "boolean")
        values: list[object] = []
        for item in node.expressions:
            typed = self.visit(item)
            if not typed.is_literal:
                self._error(
                    self._offset(node), f"IN accepts only literal values, not '{item.sql()}'"
                )
                continue
            if self._compatible(subject, typed, node) and typed.literal is not None:
                values.append(typed.literal)
        if subject.kind == "number":
            values = [float(v) for v in values if isinstance(v, int | float)]
            expr = subject.expr.cast(pl.Float64).is_in(
                pl.Series(values, dtype=pl.Float64).implode()
            )
        elif subject.kind == "text":
            expr = subject.expr.is_in(pl.Series(values, dtype=pl.String()).implode())
        else:
            expr = subject.expr.is_in(pl.Series(values).implode())
        return _Typed(expr, "boolean")

    def between(self, node: exp.Between) -> _Typed:
        subject = self.visit(node.this)
        low, high = self.visit(node.args["low"]), self.visit(node.args["high"])
        ok = self._compatible(subject, low, node) and self._compatible(subject, high, node)
        if not ok:
            return _Typed(pl.lit(None, dtype=pl.Boolean()), "boolean")
        return _Typed((subject.expr >= low.expr) & (subject.expr <= high.expr), "boolean")

    def like(self, node: exp.Like | exp.ILike) -> _Typed:
        insensitive = isinstance(node, exp.ILike)
        subject = self.visit(node.this)
        self._expect(subject, {"text"}, node, "ILIKE" if insensitive else "LIKE")
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            self._error(self._offset(node), "LIKE needs a quoted pattern, e.g. '%pricing%'")
            return _Typed(pl.lit(False), "boolean")
        word = _is_plain_contains(pattern.this)
        if word is not None and insensitive and word.isascii():
            expr = subject.expr.str.contains_any([word], ascii_case_insensitive=True)
        elif word is not None and not insensitive:
            expr = subject.expr.str.contains(word, literal=True)
        else:
            regex = like_to_regex(pattern.this, case_insensitive=insensitive)
            expr = subject.expr.str.contains(regex)
        return _Typed(expr, "boolean")

    def function(self, node: exp.Func) -> _Typed:
        name = _function_name(node)
        if name not in FUNCTIONS:
            self._error(
                self._name_offset(name), f"unknown function '{name}'{suggest(name, FUNCTIONS)}"
            )
            return _Typed(pl.lit(None), "null")
        args = [self.visit(arg) for arg in _function_args(node)]
        return _FUNCTIONS[name](self, node, args)


def _describe(typed: _Typed) -> str:
    if typed.is_literal:
        shown = f"'{typed.literal}'" if typed.kind == "text" else str(typed.literal)
        return f"{typed.kind} {shown}"
    return f"a {typed.kind} field"


def _flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    if isinstance(node, kind):
        return _flatten(node.this, kind) + _flatten(node.expression, kind)
    return [node]


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).upper()
    names = {
        exp.RegexpLike: "REGEXP_LIKE",
        exp.Lower: "LOWER",
        exp.Upper: "UPPER",
        exp.Length: "LENGTH",
        exp.Coalesce: "COALESCE",
        exp.Abs: "ABS",
    }
    return names.get(type(node), node.sql_name())


def _function_args(node: exp.Func) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    args: list[exp.Expr] = []
    for key in node.arg_types:
        value = node.args.get(key)
        if isinstance(value, list):
            args.extend(value)
        elif isinstance(value, exp.Expr):
            args.append(value)
    return args


def _arity(c: _Compiler, node: exp.Func, args: list[_Typed], low: int, high: int | None) -> bool:
    name = _function_name(node)
    if len(args) < low or (high is not None and len(args) > high):
        c._error(c._name_offset(name), f"wrong number of arguments: {FUNCTIONS[name]}")
        return False
    return True


def _has_word(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
    if not _arity(c, node, args, 2, None):
        return _Typed(pl.lit(False), "boolean")
    c._expect(args[0], {"text"}, node, "HAS_WORD")
    words = [a.literal for a in args[1:] if a.is_literal and isinstance(a.literal, str)]
    if len(words) != len(args) - 1 or not all(words):
        c._error(c._name_offset("HAS_WORD"), "HAS_WORD needs quoted words after the field")
        return _Typed(pl.lit(False), "boolean")
    regex = r"(?i)\b(?:" + "|".join(re.escape(str(w)) for w in words) + r")\b"
    return _Typed(args[0].expr.str.contains(regex), "boolean")


def _regexp_like(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
    if not _arity(c, node, args, 2, 2):
        return _Typed(pl.lit(False), "boolean")
    c._expect(args[0], {"text"}, node, "REGEXP_LIKE")
    pattern = args[1].literal
    if not (args[1].is_literal and isinstance(pattern, str)):
        c._error(c._name_offset("REGEXP_LIKE"), "REGEXP_LIKE needs a quoted pattern")
        return _Typed(pl.lit(False), "boolean")
    try:
        pl.Series([""], dtype=pl.String()).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        c._error(c._name_offset("REGEXP_LIKE"), f"bad regular expression: {_regex_error(exc)}")
        return _Typed(pl.lit(False), "boolean")
    return _Typed(args[0].expr.str.contains(pattern), "boolean")


def _text_function(method: Callable[[pl.Expr], pl.Expr], result: Kind) -> _Handler:
    def build(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
        if not _arity(c, node, args, 1, 1):
            return _Typed(pl.lit(None), "null")
        c._expect(args[0], {"text"}, node, _function_name(node))
        return _Typed(method(args[0].expr), result)

    return build


def _abs(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
    if not _arity(c, node, args, 1, 1):
        return _Typed(pl.lit(None), "null")
    c._expect(args[0], NUMERIC, node, "ABS")
    return _Typed(args[0].expr.abs(), "number")


def _coalesce(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
    if not _arity(c, node, args, 1, None):
        return _Typed(pl.lit(None), "null")
    kinds = {a.kind for a in args} - {"null"}
    if len(kinds - NUMERIC) > 1 or (kinds & NUMERIC and kinds - NUMERIC):
        c._error(c._name_offset("COALESCE"), "COALESCE arguments must have one type")
    kind = next(iter(kinds), "null")
    return _Typed(pl.coalesce([a.expr for a in args]), kind)


def _days_since(c: _Compiler, node: exp.Func, args: list[_Typed]) -> _Typed:
    if not _arity(c, node, args, 1, 1):
        return _Typed(pl.lit(None), "null")
    c._expect(args[0], {"datetime"}, node, "DAYS_SINCE")
    as_of = pl.lit(c.as_of, dtype=pl.Datetime("us", "UTC"))
    return _Typed((as_of - args[0].expr).dt.total_seconds() / 86400.0, "number")


def _regex_error(exc: Exception) -> str:
    """The 'error: ...' line of the regex engine's message."""
    for line in str(exc).splitlines():
        if line.strip().startswith("error:"):
            return line.strip().removeprefix("error:").strip()
    return str(exc).strip().splitlines()[0]


_MISSING = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>")


def _syntax_message(description: str) -> str:
    """sqlglot's parser messages, in an admin's words."""
    missing = _MISSING.search(description)
    if missing:
        return f"incomplete {missing.group(1).upper()}: something is missing after it"
    return description


_Handler = Callable[[_Compiler, exp.Func, list[_Typed]], _Typed]

_FUNCTIONS: dict[str, _Handler] = {
    "HAS_WORD": _has_word,
    "REGEXP_LIKE": _regexp_like,
    "LOWER": _text_function(lambda e: e.str.to_lowercase(), "text"),
    "UPPER": _text_function(lambda e: e.str.to_uppercase(), "text"),
    "LENGTH": _text_function(lambda e: e.str.len_chars().cast(pl.Float64), "number"),
    "COALESCE": _coalesce,
    "ABS": _abs,
    "DAYS_SINCE": _days_since,
}

_COMPARISONS: dict[type[exp.Expr], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}

_ARITHMETIC: dict[type[exp.Expr], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: lambda a, b: a / b,
}

_HANDLERS: dict[type[exp.Expr], Callable[[_Compiler, Any], _Typed]] = {
    exp.Column: _Compiler.column,
    exp.Literal: _Compiler.literal,
    exp.Boolean: _Compiler.boolean,
    exp.Null: _Compiler.null,
    exp.Paren: _Compiler.paren,
    exp.And: _Compiler.logical,
    exp.Or: _Compiler.logical,
    exp.Not: _Compiler.negate,
    exp.Neg: _Compiler.negative,
    exp.Is: _Compiler.is_null,
    exp.In: _Compiler.membership,
    exp.Between: _Compiler.between,
    exp.Like: _Compiler.like,
    exp.ILike: _Compiler.like,
    **dict.fromkeys(_COMPARISONS, _Compiler.compare),
    **dict.fromkeys(_ARITHMETIC, _Compiler.arithmetic),
    **dict.fromkeys(
        (exp.Anonymous, exp.RegexpLike, exp.Lower, exp.Upper, exp.Length, exp.Coalesce, exp.Abs),
        _Compiler.function,
    ),
}
