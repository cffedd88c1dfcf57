"""A small case-insensitive router for the Eloqua emulator, and paging helpers.

Eloqua's paths are case-insensitive: ``/API/REST/1.0/data/contacts``,
``/api/rest/1.0/data/contacts`` and ``/api/bulk/2.0/customobjects/9/fields``
all answer (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests.html
writes ``/API/rest/1.0``; clients write every casing). Routes are regular
expressions matched without case; a trailing slash is ignored.

Guesses:
- A body that is not JSON (or not the object a call needs) answers 400 with
  ``[{"type": "SerializationError", "message": ...}]``.
- An unknown API path answers 404 and a known path with another method 405,
  both with an empty body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.errors import JSON_TYPE, EloquaError


@dataclass
class Call:
    """One API request as handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: bytes
    base_url: str
    user: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; 400 when it is not."""
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise errors.EloquaError(
                400, [{"type": "SerializationError", "message": "Invalid JSON."}]
            ) from None

    def object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 when it is something else."""
        body = self.json()
        if not isinstance(body, dict):
            raise errors.EloquaError(
                400, [{"type": "SerializationError", "message": "Expected a JSON object."}]
            )
        return body

    def id(self, name: str = "id") -> int:
        """A path id; 400 ``IdRequirement`` when it is not a positive whole number."""
        raw = self.params[name]
        if not raw.isdigit() or int(raw) < 1:
            raise errors.id_parameter_error(name, raw)
        return int(raw)


Handler = Callable[[Call], Response]


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer with Eloqua's content type."""
    return Response(json.dumps(body), status_code=status, media_type=JSON_TYPE)


def no_content() -> Response:
    """204 with no body."""
    return Response(status_code=204)


def error_response(error: EloquaError) -> Response:
    """The answer for an :class:`EloquaError`."""
    if error.body is not None:
        answer = json_response(error.body, error.status)
    elif error.text is not None:
        answer = Response(
            error.text, status_code=error.status, media_type="text/plain; charset=utf-8"
        )
    else:
        answer = Response(status_code=error.status)
    for name, value in error.headers.items():
        answer.headers[name] = value
    return answer


class Router:
    """Routes ``(method, path pattern)`` to handlers; patterns use ``{name}`` for segments."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``pattern`` (``{id}`` matches one segment)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(regex + "/?", re.IGNORECASE), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | int:
        """The handler and path params, or 404/405 when nothing fits."""
        allowed = False
        for route_method, regex, handler in self._routes:
            match = regex.fullmatch(path)
            if not match:
                continue
            if route_method == method:
                return handler, match.groupdict()
            allowed = True
        return 405 if allowed else 404


@dataclass(frozen=True)
class Paging:
    """Bulk ``limit``/``offset``/``totalResults`` query parameters, checked."""

    limit: int
    offset: int
    total_results: bool


def bulk_paging(query: Mapping[str, str], maximum: int = 1000, default: int = 1000) -> Paging:
    """Parse Bulk paging; 400 ``EndpointParameterError`` when out of range
    (limit 1..1000, or 1..50,000 for sync data:
    https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-syncs-id-data-get.html)."""
    limit = _integer(query, "limit", default, 1, maximum)
    offset = _integer(query, "offset", 0, 0, 2**31 - 1)
    total = query.get("totalResults", "true").lower() != "false"
    return Paging(limit, offset, total)


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw.strip()) or not low <= int(raw) <= high:
        raise errors.range_parameter_error(name, raw, low, high)
    return int(raw)


def bulk_page(items: Sequence[Any], paging: Paging) -> dict[str, Any]:
    """The Bulk list envelope; ``items`` is left out when the page is empty (as Eloqua does)."""
    chosen = list(items[paging.offset : paging.offset + paging.limit])
    body: dict[str, Any] = {}
    if chosen:
        body["items"] = chosen
    if paging.total_results:
        body["totalResults"] = len(items)
    body.update(
        {
            "limit": paging.limit,
            "offset": paging.offset,
            "count": len(chosen),
            "hasMore": paging.offset + len(chosen) < len(items),
        }
    )
    return body


def rest_paging(query: Mapping[str, str]) -> tuple[int, int]:
    """REST ``page`` (from 1) and ``count`` (1..1000, default 1000)."""
    page = _integer(query, "page", 1, 1, 2**31 - 1)
    count = _integer(query, "count", 1000, 1, 1000)
    return page, count


def rest_page(elements: Sequence[Any], page: int, count: int) -> dict[str, Any]:
    """The REST list envelope ``{elements, page, pageSize, total}``."""
    start = (page - 1) * count
    return {
        "elements": list(elements[start : start + count]),
        "page": page,
        "pageSize": count,
        "total": len(elements),
    }
