"""A parsed SELECT checked against the org's objects and turned into one SQL statement.

What a plan knows: the SQL, and for each selected item where its value sits in
a result row (plus the hidden columns relationship records need: each parent's
Id and type). Checks follow the SOQL and SOSL Reference: aggregate functions
("Aggregate Functions", "Considerations for GROUP BY": a non-aggregated field
must be grouped; ``COUNT()`` stands alone; a LIMIT with an aggregate needs GROUP
BY), ``FIELDS()`` ("FIELDS(ALL)/FIELDS(CUSTOM) need LIMIT of at most 200";
duplicate fields are refused), OFFSET ("The maximum offset is 2,000 rows ...
NUMBER_OUTSIDE_VALID_RANGE") and parent-to-child subqueries by child
relationship name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from abmsync.sandbox.salesforce.schema import ADDRESS_PARTS, ObjectDef
from abmsync.sandbox.salesforce.soql.conditions import (
    Context,
    compile_condition,
    semi_join_field,
)
from abmsync.sandbox.salesforce.soql.errors import located
from abmsync.sandbox.salesforce.soql.scope import Column, Scope, quote
from abmsync.sandbox.salesforce.soql.syntax import Call, FieldsCall, Item, Path, Select
from abmsync.sandbox.salesforce.store import Store

MAX_OFFSET = 2000
FIELDS_LIMIT = 200
_NUMERIC = frozenset({"int", "double", "currency", "percent"})
_TEXT_SORT = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"}
)


@dataclass
class Output:
    """One selected item: a field (or address), an aggregate or a child subquery."""

    kind: str  # field | address | aggregate | child
    index: int = -1
    column: Column | None = None
    key: str = ""
    parts: dict[str, int] = field(default_factory=dict)  # address component -> index
    child: Plan | None = None
    child_field: str = ""


@dataclass
class Plan:
    """One SELECT ready to run."""

    obj: ObjectDef
    select: str  # SELECT ... FROM ... joins
    where: list[str]
    tail: str  # GROUP BY / HAVING / ORDER BY / LIMIT / OFFSET
    outputs: list[Output]
    hop_columns: dict[tuple[str, ...], tuple[int, int]]  # hop keys -> (id, type) index
    count_only: bool = False
    aggregate: bool = False
    limit: int | None = None
    fk_index: int = -1  # a child plan: where the parent's id sits
    fk_sql: str = ""  # a child plan: the SQL of its reference to the parent
    id_index: int = -1  # where the record's own Id sits

    def sql(self, extra: str | None = None) -> str:
        """The statement, with one more condition if given."""
        where = [*self.where, extra] if extra else self.where
        text = self.select + (" WHERE " + " AND ".join(where) if where else "")
        if self.count_only:
            return f"SELECT COUNT(*) FROM ({text}{self.tail})"
        return text + self.tail


class Planner:
    """Builds plans for one query text against one org."""

    def __init__(
        self, store: Store, soql: str, today: date, *, include_deleted: bool, own_id: bool = True
    ) -> None:
        self.store = store
        self.own_id = own_id
        self.soql = soql
        self.include_deleted = include_deleted
        self.ctx = Context(soql, today)
        self._aliases = 0

    def plan(self, tree: Select, *, child_of: ObjectDef | None = None) -> Plan:
        """A plan for ``tree``; ``child_of`` makes it a parent-to-child subquery."""
        obj, fk = self._object(tree, child_of)
        self._aliases += 1
        scope = Scope(self.store, obj, f"t{self._aliases}", self.soql, tree.alias)
        items = self._expand(tree, obj)
        calls = [i.value for i in items if isinstance(i.value, Call)]
        count_only = any(c.arg is None for c in calls)
        aggregate = bool(calls or tree.group) and not count_only
        if count_only and (len(items) > 1 or tree.group):
            raise located(self.soql, calls[0].pos, "COUNT() must be the only item selected")
        if child_of is not None and (aggregate or count_only):
            raise located(self.soql, tree.pos, "Aggregate functions are not allowed in subqueries")
        columns: list[str] = []
        plan = Plan(obj, "", [], "", [], {}, count_only, aggregate, tree.limit)

        def add(sql: str) -> int:
            columns.append(sql)
            return len(columns) - 1

        group = [scope.column(p) for p in tree.group]
        for path, column in zip(tree.group, group, strict=True):
            if not column.spec.groupable:
                raise located(
                    self.soql,
                    path.pos,
                    f"field '{column.spec.name}' can not be grouped in a query call",
                    "INVALID_FIELD",
                )
        grouped = {c.label.lower() for c in group}
        seen: set[str] = set()
        expr_count = 0
        for item in items:
            value = item.value
            if isinstance(value, Select):
                if child_of is not None or aggregate or count_only:
                    raise located(self.soql, value.pos, "unexpected token: SELECT")
                child = self.plan(value, child_of=obj)
                rel = obj.child(value.obj)
                assert rel is not None
                plan.outputs.append(Output("child", child=child, key=rel.name or value.obj))
                continue
            if isinstance(value, Call):
                sql, _ = self.aggregate_sql(value, scope)
                key = value.alias or f"expr{expr_count}"
                expr_count += 0 if value.alias else 1
                if count_only:
                    continue
                plan.outputs.append(Output("aggregate", add(sql), key=key))
                continue
            assert isinstance(value, Path)
            column = scope.column(value)
            label = column.label.lower()
            if label in seen and not aggregate:
                raise located(self.soql, value.pos, f"duplicate field selected: {column.label}")
            seen.add(label)
            if aggregate:
                if label not in grouped:
                    raise located(
                        self.soql, value.pos, f"Field must be grouped or aggregated: {column.label}"
                    )
                key = item.alias or column.spec.name
                plan.outputs.append(Output("aggregate", add(column.sql), key=key))
                continue
            if item.alias:
                raise located(self.soql, value.pos, f"unexpected token: {item.alias}")
            self._hops(plan, column, add)
            if column.spec.type == "address":
                parts = {
                    key: add(scope.column(Path((*value.parts[:-1], name), value.pos)).sql)
                    for key, name in _address_parts(column).items()
                }
                plan.outputs.append(Output("address", column=column, parts=parts))
                continue
            plan.outputs.append(Output("field", add(column.sql), column=column))
        if fk:
            plan.fk_sql = f"{scope.alias}.{quote(fk)}"
            plan.fk_index = add(plan.fk_sql)
        if self.own_id and not aggregate and not count_only and "Id" in obj.fields:
            plan.id_index = add(f'{scope.alias}."Id"')  # for attributes.url and child records
        if not plan.outputs and not count_only:
            raise located(self.soql, tree.obj_pos, "unexpected token: FROM")
        plan.where = self._where(tree, scope, obj)
        plan.tail = self._tail(tree, scope, obj, group, grouped, aggregate)
        joins = " ".join(scope.joins)
        shown = ", ".join(columns) if columns else "1"
        plan.select = f"SELECT {shown} FROM {quote(obj.name)} AS {scope.alias} {joins}".rstrip()
        return plan

    # -- pieces -------------------------------------------------------------------------

    def _object(self, tree: Select, child_of: ObjectDef | None) -> tuple[ObjectDef, str]:
        if child_of is not None:
            rel = child_of.child(tree.obj)
            child = self.store.get_object(rel.child) if rel else None
            if rel is None or child is None:
                raise located(
                    self.soql,
                    tree.obj_pos,
                    f"Didn't understand relationship '{tree.obj}' in FROM part of query call. "
                    "If you are attempting to use a custom relationship, be sure to append "
                    "the '__r' after the custom relationship name. Please reference your WSDL "
                    "or the describe call for the appropriate names.",
                    "INVALID_TYPE",
                )
            return child, rel.field
        obj = self.store.get_object(tree.obj)
        if obj is None:
            raise located(
                self.soql,
                tree.obj_pos,
                f"sObject type '{tree.obj}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                "INVALID_TYPE",
            )
        if not obj.traits.queryable:
            raise located(
                self.soql,
                tree.obj_pos,
                f"entity type {obj.name} does not support query",
                "INVALID_TYPE_FOR_OPERATION",
            )
        return obj, ""

    def _expand(self, tree: Select, obj: ObjectDef) -> list[Item]:
        """The select items with ``FIELDS(...)`` replaced by the fields it names."""
        items: list[Item] = []
        for item in tree.items:
            if not isinstance(item.value, FieldsCall):
                items.append(item)
                continue
            kind = item.value.kind
            if kind != "STANDARD" and (tree.limit is None or tree.limit > FIELDS_LIMIT):
                raise located(
                    self.soql,
                    item.value.pos,
                    "The SOQL FIELDS function must have a LIMIT of at most 200",
                )
            for spec in obj.fields.values():
                if kind == "ALL" or (kind == "CUSTOM") == spec.custom:
                    items.append(Item(Path((spec.name,), item.value.pos)))
        return items

    def _hops(self, plan: Plan, column: Column, add: Callable[[str], int]) -> None:
        """Hidden columns with each crossed relationship's parent Id and type."""
        for depth in range(len(column.hops)):
            keys = tuple(h.key for h in column.hops[: depth + 1])
            if keys not in plan.hop_columns:
                hop = column.hops[depth]
                plan.hop_columns[keys] = (add(hop.id_sql), add(hop.type_sql))

    def aggregate_sql(self, call: Call, scope: Scope) -> tuple[str, str]:
        """SQL and result type of an aggregate call."""
        if call.arg is None:
            if call.func != "COUNT":
                raise located(self.soql, call.pos, f"unexpected token: {call.func}()")
            return "COUNT(*)", "int"
        column = scope.column(call.arg)
        spec = column.spec
        numeric = spec.type in _NUMERIC
        allowed = {
            "COUNT": spec.filterable,
            "COUNT_DISTINCT": spec.filterable,
            "SUM": numeric,
            "AVG": numeric,
            "MIN": spec.aggregatable,
            "MAX": spec.aggregatable,
        }[call.func]
        if not allowed:
            raise located(
                self.soql,
                call.arg.pos,
                f"field {spec.name} does not support aggregate operator {call.func}",
            )
        if call.func == "COUNT_DISTINCT":
            return f"COUNT(DISTINCT {column.sql})", "int"
        kind = {"COUNT": "int", "SUM": "double", "AVG": "double"}.get(call.func, spec.type)
        return f"{call.func}({column.sql})", kind

    def _where(self, tree: Select, scope: Scope, obj: ObjectDef) -> list[str]:
        where: list[str] = []
        if not self.include_deleted and "IsDeleted" in obj.fields:
            where.append(f'{scope.alias}."IsDeleted" = 0')
        if tree.where is not None:
            self.ctx.subselect = self._subselect
            where.append(compile_condition(tree.where, scope, self.ctx))
        return where

    def _subselect(self, sub: Select, outer: Scope) -> str:
        """SQL selecting a semi-join subquery's single id column."""
        obj, _ = self._object(sub, None)
        field_path = sub.items[0].value if len(sub.items) == 1 else None
        spec = None
        self._aliases += 1
        scope = Scope(self.store, obj, f"s{self._aliases}", self.soql, sub.alias)
        if isinstance(field_path, Path) and len(field_path.parts) == 1:
            column = scope.column(field_path)
            spec = column.spec
        semi_join_field(sub, spec, self.ctx)
        assert isinstance(field_path, Path)
        column = scope.column(field_path)
        where = [f"{column.sql} IS NOT NULL"]
        if "IsDeleted" in obj.fields:
            where.append(f'{scope.alias}."IsDeleted" = 0')
        if sub.where is not None:
            self.ctx.nested = True
            try:
                where.append(compile_condition(sub.where, scope, self.ctx))
            finally:
                self.ctx.nested = False
        joins = " ".join(scope.joins)
        return (
            f"SELECT {column.sql} FROM {quote(obj.name)} AS {scope.alias} {joins} "
            f"WHERE {' AND '.join(where)}"
        )

    def _tail(
        self,
        tree: Select,
        scope: Scope,
        obj: ObjectDef,
        group: list[Column],
        grouped: set[str],
        aggregate: bool,
    ) -> str:
        tail = ""
        if group:
            tail += " GROUP BY " + ", ".join(c.sql for c in group)
        if tree.having is not None:
            if not group:
                raise located(self.soql, tree.pos, "HAVING needs a GROUP BY clause")
            self.ctx.aggregate = lambda call: self.aggregate_sql(call, scope)
            tail += " HAVING " + compile_condition(tree.having, scope, self.ctx)
        if tree.order:
            tail += " ORDER BY " + ", ".join(
                self._ordering(o.target, o.desc, o.nulls_last, scope, grouped, aggregate)
                for o in tree.order
            )
        if aggregate and not group and tree.limit is not None:
            raise located(
                self.soql, tree.pos, "LIMIT with an aggregate function needs a GROUP BY clause"
            )
        if tree.offset is not None and tree.offset > MAX_OFFSET:
            raise located(
                self.soql,
                tree.pos,
                f"Maximum SOQL offset allowed for apiName {obj.name} is {MAX_OFFSET}",
                "NUMBER_OUTSIDE_VALID_RANGE",
            )
        if tree.limit is not None:
            tail += f" LIMIT {tree.limit}"
        if tree.offset is not None:
            tail += f"{'' if tree.limit is not None else ' LIMIT -1'} OFFSET {tree.offset}"
        return tail

    def _ordering(
        self,
        target: Path | Call,
        desc: bool,
        nulls_last: bool | None,
        scope: Scope,
        grouped: set[str],
        aggregate: bool,
    ) -> str:
        if isinstance(target, Call):
            if not aggregate:
                raise located(self.soql, target.pos, "Aggregate functions need a GROUP BY")
            sql, _ = self.aggregate_sql(target, scope)
        else:
            column = scope.column(target)
            if not column.spec.sortable:
                raise located(
                    self.soql,
                    target.pos,
                    f"field '{column.spec.name}' can not be sorted in a query call",
                    "INVALID_FIELD",
                )
            if aggregate and column.label.lower() not in grouped:
                raise located(
                    self.soql,
                    target.pos,
                    f"Ordered field must be grouped or aggregated: {column.label}",
                )
            sql = column.sql
            if column.spec.type in _TEXT_SORT:
                sql = f"soql_fold({sql})"  # Salesforce sorts text without regard to case
        # SOQL: ascending puts nulls first, descending last, as SQLite does.
        nulls = ""
        if nulls_last is not None and nulls_last != desc:
            nulls = " NULLS LAST" if nulls_last else " NULLS FIRST"
        return f"{sql}{' DESC' if desc else ''}{nulls}"


def _address_parts(column: Column) -> dict[str, str]:
    """JSON key -> component field name of a compound address (``BillingCity`` ...)."""
    prefix = column.spec.name.removesuffix("Address")
    return {
        key: prefix + part
        for part, key in ADDRESS_PARTS.items()
        if column.owner.field(prefix + part) is not None
    }
