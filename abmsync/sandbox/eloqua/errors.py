"""Eloqua's error answers: status codes and the three body shapes Eloqua uses.

- Application (REST) API validation errors answer 400 with a list of typed
  errors, e.g. ``[{"type": "EndpointParameterError", "parameter": "id",
  "requirement": {"type": "IdRequirement", "isRelativeAllowed": false},
  "value": "sandwich"}]`` or ``ObjectValidationError`` with ``property`` and a
  ``requirement`` such as ``UniquenessRequirement``
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_HTTPValidationErrors.html).
- Bulk API definition validation answers 400 with ``{"failures": [{"field",
  "constraint", "value"}]}`` (the shape Bulk clients parse, e.g. pyeloqua's
  tests: ``{"failures": [{"field": "identifierFieldName", "constraint": "Must be a
  string value, at least 1 character and at most 100 characters long."}]}``).
- Sync problems are reported through ELQ status codes in ``/syncs/{id}/logs``
  and ``/rejects`` (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_EloquaStatusCodes.html).

Status codes per https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_HTTPStatusCodes.html:
400 bad request, 401 login required, 404 not found, 410 gone, 429 too many requests,
500/503 server trouble.

Guesses:
- 404 and 410 answers have an empty body.
- 401 answers carry the JSON string ``"Not authenticated."``, the same body
  ``/id`` answers (with 200) for bad credentials.
- 429 answers carry ``Retry-After`` (Oracle documents none) and the text
  ``Too Many Requests``; 503 answers the text ``Service Unavailable``.
"""

from __future__ import annotations

import json
from typing import Any

NOT_AUTHENTICATED = "Not authenticated."
JSON_TYPE = "application/json; charset=utf-8"


class EloquaError(Exception):
    """An error answer: status, optional JSON body, extra headers."""

    def __init__(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        text: str | None = None,
    ) -> None:
        super().__init__(f"{status} {body if body is not None else text or ''}")
        self.status = status
        self.body = body
        self.text = text
        self.headers = headers or {}


def failures(*items: tuple[str, str, Any]) -> EloquaError:
    """400 with the Bulk API's ``{"failures": [...]}`` body; items: (field, constraint, value)."""
    listed = []
    for field, constraint, value in items:
        entry: dict[str, Any] = {"field": field, "constraint": constraint}
        if value is not None:
            entry["value"] = value
        listed.append(entry)
    return EloquaError(400, {"failures": listed})


def failure(field: str, constraint: str, value: Any = None) -> EloquaError:
    """400 with one Bulk API validation failure."""
    return failures((field, constraint, value))


def parameter_error(parameter: str, requirement: dict[str, Any], value: Any) -> EloquaError:
    """400 ``EndpointParameterError``: a query or path parameter Eloqua does not accept."""
    body = [
        {
            "type": "EndpointParameterError",
            "parameter": parameter,
            "requirement": requirement,
            "value": None if value is None else str(value),
        }
    ]
    return EloquaError(400, body)


def id_parameter_error(parameter: str, value: str) -> EloquaError:
    """400 for an id that is not a positive whole number (the docs' ``sandwich`` example)."""
    return parameter_error(parameter, {"type": "IdRequirement", "isRelativeAllowed": False}, value)


def range_parameter_error(parameter: str, value: str, minimum: int, maximum: int) -> EloquaError:
    """400 for a paging parameter outside its documented range."""
    requirement = {"type": "IntegerRequirement", "minimum": minimum, "maximum": maximum}
    return parameter_error(parameter, requirement, value)


def object_error(object_type: str, prop: str, requirement: str, value: Any = None) -> EloquaError:
    """400 ``ObjectValidationError`` for one property of a REST request body."""
    body = [
        {
            "type": "ObjectValidationError",
            "container": {"type": "ObjectKey", "objectType": object_type},
            "property": prop,
            "requirement": {"type": requirement},
            "value": None if value is None else str(value),
        }
    ]
    return EloquaError(400, body)


def not_found() -> EloquaError:
    """404 with an empty body."""
    return EloquaError(404)


def gone() -> EloquaError:
    """410: the resource (staged data past its retention) is no longer available."""
    return EloquaError(410)


def unauthorized() -> EloquaError:
    """401: credentials missing, wrong or expired; clients call ``/id`` again."""
    return EloquaError(401, NOT_AUTHENTICATED)


def too_many_requests(retry_after: int) -> EloquaError:
    """429 with ``Retry-After`` in seconds."""
    return EloquaError(429, None, {"Retry-After": str(retry_after)}, text="Too Many Requests")


def render_fault(kind: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Eloqua-shaped answers for :class:`~abmsync.sandbox.faults.FaultMiddleware`."""
    if kind == "token_expiry":
        body = json.dumps(NOT_AUTHENTICATED).encode()
        return 401, [(b"content-type", JSON_TYPE.encode())], body
    if kind == "rate_limit":
        return 429, [(b"content-type", b"text/plain; charset=utf-8")], b"Too Many Requests"
    return 503, [(b"content-type", b"text/plain; charset=utf-8")], b"Service Unavailable"
