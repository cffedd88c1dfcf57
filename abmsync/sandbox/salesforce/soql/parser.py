"""A recursive-descent parser for SOQL SELECT statements.

SOQL, unlike SQL, refuses ``a AND b OR c`` without parentheses ("unexpected
token: OR"), so a condition is a run of one conjunction only. Unknown tokens
are ``MALFORMED_QUERY`` errors located the way Salesforce locates them.
"""

from __future__ import annotations

from abmsync.sandbox.salesforce.soql.errors import SoqlError, located
from abmsync.sandbox.salesforce.soql.syntax import (
    Call,
    Compare,
    Condition,
    FieldsCall,
    Item,
    Literal,
    Logic,
    Order,
    Path,
    Select,
    Token,
    tokenize,
)

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
_OPERATORS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# Words that end a select item or the FROM clause (so they are never taken as aliases).
_CLAUSES = frozenset(
    {"FROM", "WHERE", "WITH", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FOR", "USING"}
)
_UNSUPPORTED = frozenset({"TYPEOF"})


def parse(soql: str) -> Select:
    """The syntax tree of ``soql``; raise :class:`SoqlError` on anything else."""
    parser = _Parser(soql)
    select = parser.select()
    parser.expect_end()
    return select


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.i = 0

    # -- tokens ---------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def error(self, token: Token | None = None, message: str | None = None) -> SoqlError:
        token = token or self.token
        return located(self.soql, token.pos, message or f"unexpected token: {token.text}")

    def is_word(self, *words: str) -> bool:
        return self.token.word() in words

    def accept(self, *words: str) -> bool:
        if self.is_word(*words):
            self.advance()
            return True
        return False

    def expect(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error()
        return self.advance()

    def expect_punct(self, text: str) -> Token:
        if self.token.text != text or self.token.kind != "punct":
            raise self.error()
        return self.advance()

    def is_punct(self, text: str) -> bool:
        return self.token.kind == "punct" and self.token.text == text

    def expect_end(self) -> None:
        if self.token.kind != "eof":
            raise self.error()

    # -- SELECT ---------------------------------------------------------------------

    def select(self) -> Select:
        start = self.expect("SELECT")
        if self.is_word(*_UNSUPPORTED):
            raise self.error(message=f"{self.token.text} is not supported by this org")
        items = [self.item()]
        while self.is_punct(","):
            self.advance()
            items.append(self.item())
        self.expect("FROM")
        obj = self.advance()
        if obj.kind != "ident":
            raise self.error(obj)
        query = Select(items, obj.text, obj.pos, pos=start.pos)
        if self.token.kind == "ident" and self.token.word() not in _CLAUSES:
            query.alias = self.advance().text
        if self.accept("USING"):
            self.expect("SCOPE")
            if not self.accept("EVERYTHING"):
                raise self.error(message="USING SCOPE: only everything is supported here")
        if self.accept("WHERE"):
            query.where = self.condition()
        modes = ("SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE")
        if self.accept("WITH") and not self.accept(*modes):
            raise self.error()
        if self.accept("GROUP"):
            self.expect("BY")
            query.group = [self.path()]
            while self.is_punct(","):
                self.advance()
                query.group.append(self.path())
        if self.accept("HAVING"):
            query.having = self.condition()
        if self.accept("ORDER"):
            self.expect("BY")
            query.order = [self.ordering()]
            while self.is_punct(","):
                self.advance()
                query.order.append(self.ordering())
        if self.accept("LIMIT"):
            query.limit = self.count()
        if self.accept("OFFSET"):
            query.offset = self.count()
        if self.accept("FOR") and not self.accept("VIEW", "REFERENCE", "UPDATE"):
            raise self.error()
        return query

    def count(self) -> int:
        token = self.advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        return int(token.text)

    def item(self) -> Item:
        if self.is_punct("("):
            self.advance()
            sub = self.select()
            self.expect_punct(")")
            return Item(sub)
        if self.is_word("FIELDS") and self.peek().text == "(":
            start = self.advance()
            self.advance()
            kind = self.advance()
            if kind.word() not in ("ALL", "STANDARD", "CUSTOM"):
                raise self.error(kind)
            self.expect_punct(")")
            return Item(FieldsCall(kind.word(), start.pos))
        value: Path | Call = self.operand()
        alias = None
        if self.token.kind == "ident" and self.token.word() not in _CLAUSES:
            alias = self.advance().text
        if isinstance(value, Call):
            value = Call(value.func, value.arg, value.pos, alias)
        return Item(value, alias)

    def operand(self) -> Path | Call:
        """A field path, or an aggregate call like ``COUNT(Id)``."""
        if self.token.word() in AGGREGATES and self.peek().text == "(":
            name = self.advance()
            self.advance()
            arg = None if self.is_punct(")") else self.path()
            self.expect_punct(")")
            return Call(name.word(), arg, name.pos)
        if self.token.kind == "ident" and self.peek().text == "(":
            raise self.error(message=f"unsupported function: {self.token.text}")
        return self.path()

    def path(self) -> Path:
        first = self.advance()
        if first.kind != "ident":
            raise self.error(first)
        parts = [first.text]
        while self.is_punct("."):
            self.advance()
            part = self.advance()
            if part.kind != "ident":
                raise self.error(part)
            parts.append(part.text)
        return Path(tuple(parts), first.pos)

    def ordering(self) -> Order:
        target = self.operand()
        desc = False
        if self.accept("DESC"):
            desc = True
        else:
            self.accept("ASC")
        nulls_last = None
        if self.accept("NULLS"):
            if self.accept("FIRST"):
                nulls_last = False
            else:
                self.expect("LAST")
                nulls_last = True
        return Order(target, desc, nulls_last)

    # -- WHERE ----------------------------------------------------------------------

    def condition(self) -> Condition:
        parts = [self.term()]
        joiner = ""
        while self.is_word("AND", "OR"):
            word = self.token.word()
            if joiner and word != joiner:
                raise self.error()  # SOQL needs parentheses to mix AND and OR
            joiner = word
            self.advance()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Logic(joiner, tuple(parts))

    def term(self) -> Condition:
        if self.accept("NOT"):
            return Logic("NOT", (self.term(),))
        if self.is_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        left = self.operand()
        token = self.token
        if token.kind == "op":
            self.advance()
            return Compare(left, _OPERATORS[token.text], self.value(), token.pos)
        word = token.word()
        if word == "NOT" and self.peek().word() == "IN":
            self.advance()
            self.advance()
            return Compare(left, "NOTIN", self.value_list(allow_select=True), token.pos)
        if word in ("IN", "INCLUDES", "EXCLUDES"):
            self.advance()
            values = self.value_list(allow_select=word == "IN")
            return Compare(left, word, values, token.pos)
        if word == "LIKE":
            self.advance()
            return Compare(left, "LIKE", self.value(), token.pos)
        raise self.error()

    def value_list(self, *, allow_select: bool) -> tuple[Literal, ...] | Select:
        self.expect_punct("(")
        if allow_select and self.is_word("SELECT"):
            sub = self.select()
            self.expect_punct(")")
            return sub
        values = [self.value()]
        while self.is_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        token = self.advance()
        if token.kind in ("string", "number", "date", "datetime"):
            return Literal(token.kind, token.text, token.pos)
        word = token.word()
        if word in ("TRUE", "FALSE"):
            return Literal("boolean", word.lower(), token.pos)
        if word == "NULL":
            return Literal("null", "null", token.pos)
        if token.kind == "ident":
            n = None
            if self.is_punct(":"):
                self.advance()
                n = self.count()
            return Literal("dateliteral", word, token.pos, n)
        raise self.error(token)
