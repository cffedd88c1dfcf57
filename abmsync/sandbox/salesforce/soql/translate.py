"""Plain queries (fields of one object, no relationships) as one SQL statement.

For callers that read the rows themselves (the Bulk API 1.0 emulation): the
statement selects exactly :attr:`Query.fields`, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from abmsync.sandbox.salesforce.schema import ObjectDef
from abmsync.sandbox.salesforce.soql.errors import SoqlError
from abmsync.sandbox.salesforce.soql.parser import parse
from abmsync.sandbox.salesforce.soql.plan import Planner
from abmsync.sandbox.salesforce.store import Store


@dataclass(frozen=True)
class Query:
    """A translated query: the object, the selected field names and the SQLite SQL."""

    obj: ObjectDef
    fields: list[str]
    sql: str


def translate(soql: str, store: Store, *, include_deleted: bool = False) -> Query:
    """Translate a plain ``soql`` query; relationship, aggregate and child queries are refused."""
    today = store.clock().date()
    planner = Planner(store, soql, today, include_deleted=include_deleted, own_id=False)
    plan = planner.plan(parse(soql))
    fields: list[str] = []
    for output in plan.outputs:
        column = output.column
        if output.kind != "field" or column is None or column.hops:
            raise SoqlError("MALFORMED_QUERY", f"not a plain field query: {soql}")
        fields.append(column.spec.name)
    if plan.aggregate or plan.count_only or plan.hop_columns:
        raise SoqlError("MALFORMED_QUERY", f"not a plain field query: {soql}")
    return Query(plan.obj, fields, plan.sql())
