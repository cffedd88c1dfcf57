"""Running a SOQL query: REST records, aggregate results and Bulk API 2.0 CSV rows.

Answer shapes follow the REST API Developer Guide ("Query", "Execute a SOQL
Query") and the SOQL reference ("Relationship Queries", "Aggregate Functions"):

- every record has ``attributes`` (``type``, ``url``); a parent reached through a
  relationship is a nested record (``"Account": {"attributes": ..., "Name": ...}``)
  or ``null`` when the lookup is empty; a polymorphic parent's type is ``Name``;
- a child subquery is ``{"totalSize", "done", "records"}`` or ``null`` when the
  record has no children;
- ``COUNT()`` answers only ``totalSize``; aggregate rows are ``AggregateResult``
  records keyed by alias or ``expr0``, ``expr1`` ...;
- Bulk API 2.0 writes ``Account.Name`` columns and refuses what it does not
  support ("Bulk API 2.0 Query": GROUP BY, OFFSET, aggregate functions,
  compound fields, parent-to-child relationship queries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from abmsync.sandbox.salesforce.soql.conditions import sql_literal
from abmsync.sandbox.salesforce.soql.errors import SoqlError
from abmsync.sandbox.salesforce.soql.parser import parse
from abmsync.sandbox.salesforce.soql.plan import Output, Plan, Planner
from abmsync.sandbox.salesforce.soql.syntax import Select
from abmsync.sandbox.salesforce.store import Store

_CHUNK = 500  # parent ids per child query (well under SQLite's variable limit)


@dataclass
class QueryResult:
    """What a REST query answers: ``totalSize`` and its records, a page at a time.

    The rows of a query that pages are kept in the store (:meth:`Store.keep`,
    a snapshot, as a query locator is) and turned into records, their child
    subqueries run, as each page is handed out: a query over a million rows
    answers its first page without building a million nested records first.
    """

    object: str
    total: int
    aggregate: bool
    rows: Callable[[int, int], list[tuple[Any, ...]]]
    build: Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]
    close: Callable[[], None] = lambda: None

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """The records of rows ``start`` to ``stop`` (all, by default)."""
        return self.build(self.rows(start, self.total if stop is None else stop))


def run_query(
    store: Store, soql: str, version: str, *, include_deleted: bool = False
) -> QueryResult:
    """Run ``soql`` for the REST ``query``/``queryAll`` resources."""
    tree = parse(soql)
    plan = Planner(store, soql, store.clock().date(), include_deleted=include_deleted).plan(tree)
    if plan.count_only:
        (count,) = store.select(plan.sql())[0]
        return QueryResult(plan.obj.name, int(count), False, lambda *_: [], lambda _: [])
    if plan.aggregate:
        rows = store.select(plan.sql())
        return QueryResult(
            plan.obj.name,
            len(rows),
            True,
            lambda start, stop: rows[start:stop],
            lambda page: [_aggregate_record(plan, row) for row in page],
        )
    kept, total = store.keep(plan.sql())

    def build(page: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        records = [_record(plan, row, version) for row in page]
        for output in plan.outputs:
            if output.kind == "child" and output.child is not None:
                _attach_children(store, plan, page, records, output, version)
        return records

    return QueryResult(
        plan.obj.name,
        total,
        False,
        partial(store.kept_rows, kept),
        build,
        partial(store.drop_kept, kept),
    )


def prepare_bulk_query(
    store: Store, soql: str, *, include_deleted: bool = False
) -> tuple[str, list[str], Callable[[], list[list[str]]]]:
    """Check ``soql`` for a Bulk API 2.0 query job (``SoqlError`` if it is refused):
    object name, CSV header, and how to run it for the rows."""
    tree = parse(soql)
    _refuse_for_bulk(tree)
    plan = Planner(store, soql, store.clock().date(), include_deleted=include_deleted).plan(tree)
    if plan.count_only or plan.aggregate:
        raise SoqlError("API_ERROR", "Aggregate queries are not supported by Bulk API 2.0")
    header: list[str] = []
    for output in plan.outputs:
        if output.kind != "field" or output.column is None:
            raise SoqlError(
                "API_ERROR", "Compound fields are not supported by Bulk API 2.0; query their parts"
            )
        header.append(output.column.label)

    def rows() -> list[list[str]]:
        return [[_csv_value(o, row) for o in plan.outputs] for row in store.select(plan.sql())]

    return plan.obj.name, header, rows


def _refuse_for_bulk(tree: Select) -> None:
    # What Bulk API 2.0 refuses: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
    if any(isinstance(i.value, Select) for i in tree.items):
        raise SoqlError(
            "FeatureNotEnabled",
            "Aggregate Relationships not supported in Bulk V2 Query with CSV content type",
        )
    if tree.group or tree.having is not None:
        raise SoqlError("API_ERROR", "GROUP BY is not supported by Bulk API 2.0")
    if tree.offset is not None:
        raise SoqlError("API_ERROR", "OFFSET is not supported by Bulk API 2.0")


def _value(output: Output, row: tuple[Any, ...]) -> Any:
    value = row[output.index]
    column = output.column
    if column is not None and column.spec.type == "boolean" and value is not None:
        return bool(value)
    return value


def _record(plan: Plan, row: tuple[Any, ...], version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects"
    out: dict[str, Any] = {"attributes": {"type": plan.obj.name}}
    for output in plan.outputs:
        if output.kind == "child":
            out[output.key] = None
            continue
        column = output.column
        assert column is not None
        container: dict[str, Any] | None = out
        for depth, hop in enumerate(column.hops):
            assert container is not None
            id_index, type_index = plan.hop_columns[column.keys[: depth + 1]]
            parent_id = row[id_index]
            if parent_id is None:
                container[hop.key] = None
                container = None
                break
            nested = container.get(hop.key)
            if nested is None:
                kind = "Name" if hop.polymorphic else row[type_index]
                url = f"{base}/{row[type_index]}/{parent_id}"
                nested = {"attributes": {"type": kind, "url": url}}
                container[hop.key] = nested
            container = nested
        if container is None:
            continue
        if output.kind == "address":
            parts = {key: row[index] for key, index in output.parts.items()}
            has_any = any(v is not None for v in parts.values())
            container[column.spec.name] = parts if has_any else None
        else:
            container[column.spec.name] = _value(output, row)
    if plan.id_index >= 0 and row[plan.id_index]:
        out["attributes"]["url"] = f"{base}/{plan.obj.name}/{row[plan.id_index]}"
    return out


def _aggregate_record(plan: Plan, row: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
    for output in plan.outputs:
        out[output.key] = row[output.index]
    return out


def _attach_children(
    store: Store,
    plan: Plan,
    rows: list[tuple[Any, ...]],
    records: list[dict[str, Any]],
    output: Output,
    version: str,
) -> None:
    """Fill one child subquery's nested results into every parent record."""
    child = output.child
    assert child is not None
    ids = [row[plan.id_index] for row in rows]
    wanted = [i for i in dict.fromkeys(ids) if i]
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = ", ".join(sql_literal(i) for i in wanted[start : start + _CHUNK])
        for row in store.select(child.sql(f"{child.fk_sql} IN ({chunk})")):
            found.setdefault(str(row[child.fk_index]), []).append(_record(child, row, version))
    for record, parent_id in zip(records, ids, strict=True):
        children = found.get(str(parent_id), [])
        if child.limit is not None:
            children = children[: child.limit]
        record[output.key] = (
            {"totalSize": len(children), "done": True, "records": children} if children else None
        )


def _csv_value(output: Output, row: tuple[Any, ...]) -> str:
    """A value as Bulk API 2.0 writes it: empty for null, ``true``/``false``, ``Z`` times."""
    value = _value(output, row)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    column = output.column
    if column is not None and column.spec.type == "datetime":
        return str(value).replace("+0000", "Z")
    return str(value)
