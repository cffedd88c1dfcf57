"""Search of the HubSpot emulator: HubSpot's limits, filterGroups, sorts and the text query.

Limits and semantics follow the CRM search guide
(https://developers.hubspot.com/docs/api-reference/search/guide): at most 200
results a page and 10,000 in all; up to five filterGroups (ORed) of up to six
filters (ANDed), 18 filters in total; a query of at most 3,000 characters,
matched against the object's default searchable properties. Values compare by
the property's type (numbers and dates as numbers, text without regard to case);
records without a sorted property come last.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from abmsync.sandbox.hubspot.errors import ApiError
from abmsync.sandbox.hubspot.properties import DEFAULT_RETURNED, PropertyDef
from abmsync.sandbox.hubspot.records import Record, property_value, to_ms

SEARCH_RESULT_CAP = 10_000
SEARCH_PAGE_MAX = 200


def search_window(body: Mapping[str, Any]) -> tuple[int, int]:
    """A search body's (limit, offset), or HubSpot's 400 for a body past its limits."""
    limit = int(body.get("limit") or 10)
    if limit > SEARCH_PAGE_MAX or limit < 1:
        raise ApiError(400, "VALIDATION_ERROR", f"limit must be between 1 and {SEARCH_PAGE_MAX}")
    after_text = str(body.get("after") or "0")
    offset = int(after_text) if after_text.isdigit() else 0
    if offset + limit > SEARCH_RESULT_CAP:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "There was a problem with the request.",
            errors=[
                {
                    "message": "Search results are limited to 10,000; "
                    "narrow the filters to page further.",
                    "code": "SEARCH_RESULT_LIMIT",
                }
            ],
        )
    groups = body.get("filterGroups") or []
    # "up to five filterGroups with up to 6 filters in each group, with a maximum
    # of 18 filters in total"; "a query can contain a maximum of 3,000 characters"
    # (https://developers.hubspot.com/docs/api-reference/search/guide).
    sizes = [len(g.get("filters") or []) for g in groups]
    if len(groups) > 5 or sum(sizes) > 18 or any(n > 6 for n in sizes):
        raise ApiError(400, "VALIDATION_ERROR", "Too many filter groups or filters")
    if len(str(body.get("query") or "")) > 3000:
        raise ApiError(400, "VALIDATION_ERROR", "query: at most 3000 characters")
    return limit, offset


def search_records(
    obj: str,
    props: Mapping[str, PropertyDef],
    records: Iterable[Record],
    body: Mapping[str, Any],
) -> list[Record]:
    """The live ``records`` that match the body's filterGroups and query, in its sort order
    (then by id)."""
    matches_filters = _compile_groups(props, body.get("filterGroups") or [])
    matches = [
        r
        for r in records
        if r.archived_ms is None
        and matches_filters(r)
        and _query_matches(obj, r, body.get("query"))
    ]
    matches.sort(key=lambda r: r.id)
    for name, descending in reversed(_sorts(body.get("sorts"))):
        prop = props.get(name)

        def key(r: Record, n: str = name, p: PropertyDef | None = prop) -> SortKey:
            return _sort_key(p, r, n)

        matches.sort(key=key, reverse=descending)
    return matches


def _sorts(raw: Any) -> list[tuple[str, bool]]:
    """Sorts as (property, descending); HubSpot accepts objects or ``"-name"`` strings."""
    result: list[tuple[str, bool]] = []
    for sort in raw or []:
        if isinstance(sort, str):
            result.append((sort.lstrip("-"), sort.startswith("-")))
        elif isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
            result.append((sort["propertyName"], sort.get("direction") == "DESCENDING"))
        else:
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid sort: {sort!r}")
    return result


def _comparable(prop: PropertyDef | None, value: str) -> float | str:
    if prop is not None and prop.type in ("datetime", "date"):
        ms = to_ms(value)
        return float(ms) if ms is not None else float("nan")
    if prop is not None and prop.type == "number":
        try:
            return float(value)
        except ValueError:
            return float("nan")
    return value.lower()


def _record_comparable(prop: PropertyDef | None, record: Record, name: str) -> float | str | None:
    """A record's value in comparable form; system fields without string round trips."""
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return float(record.updated_ms)
    if name == "createdate":
        return float(record.created_ms)
    if name == "hs_object_id":
        return float(record.id)
    raw = record.properties.get(name)
    return None if raw is None else _comparable(prop, raw)


SortKey = tuple[int, float | str]


def _sort_key(prop: PropertyDef | None, record: Record, name: str) -> SortKey:
    value = _record_comparable(prop, record, name)
    if value is None:
        return (1, "")  # missing values sort last
    return (0, value)


Predicate = Callable[[Record], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


def _compile_groups(props: Mapping[str, PropertyDef], groups: list[Mapping[str, Any]]) -> Predicate:
    """filterGroups as one predicate: OR of groups, AND of filters (values parsed once)."""
    compiled = [[_compile_filter(props, f) for f in g.get("filters") or []] for g in groups]
    if not compiled:
        return lambda record: True
    return lambda record: any(all(f(record) for f in group) for group in compiled)


def _compile_filter(props: Mapping[str, PropertyDef], spec: Mapping[str, Any]) -> Predicate:
    name = str(spec.get("propertyName"))
    operator = str(spec.get("operator"))
    prop = props.get(name)
    if prop is None:
        raise ApiError(400, "VALIDATION_ERROR", f"There was a problem with the request: {name}")

    def left(record: Record) -> float | str | None:
        return _record_comparable(prop, record, name)

    if operator == "HAS_PROPERTY":
        return lambda r: left(r) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: left(r) is None
    if operator in ("IN", "NOT_IN"):
        wanted = {_comparable(prop, str(v)) for v in spec.get("values") or []}
        inside = operator == "IN"
        return lambda r: (left(r) is not None and left(r) in wanted) is inside
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", ""))
        positive = operator == "CONTAINS_TOKEN"

        def contains(r: Record) -> bool:
            raw = property_value(r, name)
            return (raw is not None and _contains_token(raw, token)) is positive

        return contains
    value = _comparable(prop, str(spec.get("value")))
    if operator == "NEQ":
        return lambda r: left(r) is None or left(r) != value
    if operator == "BETWEEN":
        high = _comparable(prop, str(spec.get("highValue")))

        def between(r: Record) -> bool:
            own = left(r)
            return type(own) is type(value) and value <= own <= high  # type: ignore[operator]

        return between
    compare = _COMPARE.get(operator)
    if compare is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unknown filter operator {operator}")

    def compared(r: Record) -> bool:
        own = left(r)
        return own is not None and type(own) is type(value) and compare(own, value)

    return compared


def _contains_token(value: str, token: str) -> bool:
    """Whole-token match; ``*`` is a wildcard (``*@example.com``)."""
    wanted = token.lower()
    if "*" in wanted:
        return fnmatch.fnmatchcase(value.lower(), wanted)
    return wanted in re.split(r"[^a-z0-9@._-]+", value.lower()) or wanted in re.split(
        r"[^a-z0-9]+", value.lower()
    )


def _query_matches(obj: str, record: Record, query: Any) -> bool:
    if not query:
        return True
    text = str(query).lower()
    return any(
        text in (record.properties.get(name) or "").lower() for name in DEFAULT_RETURNED[obj]
    )
