"""Errors of the HubSpot emulator, rendered as HubSpot's error bodies.

    Exception
    ├── ApiError             the whole request fails: ``status`` with ``{"status": "error",
    │                        "message", "correlationId", "category", ...}``
    └── RecordRejectedError  a store write refused one record; carries a RecordError

A :class:`RecordError` is one failed input of a batch call, rendered as a
``StandardError`` in the batch answer, or as the whole answer when the batch
is all-or-nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from abmsync.sandbox.hubspot.records import JSON

# HubSpot's own objects the emulator does not hold: the sandbox app has no scope for
# them, so HubSpot answers 403 MISSING_SCOPES (hubspot-api-nodejs issue #268 shows the body).
UNGRANTED_OBJECT_TYPES = {
    "tickets": "tickets",
    "products": "e-commerce",
    "line_items": "e-commerce",
    "quotes": "crm.objects.quotes.read",
}


class ApiError(Exception):
    """A whole-request failure: rendered as ``status`` with HubSpot's error body."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }


@dataclass(frozen=True)
class RecordError:
    """One input of a batch call that failed; rendered as a ``StandardError``."""

    status: int
    category: str
    message: str
    code: str | None = None
    property_name: str | None = None
    detail: str | None = None  # the short message of the one error detail

    def render(self, ids: list[str], trace_id: str | None) -> JSON:
        """The ``StandardError`` of a batch answer's ``errors`` for the inputs ``ids``."""
        context: dict[str, list[str]] = {"ids": ids}
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": self._details(),
            "links": {},
        }

    def as_request_error(self) -> ApiError:
        """This error as the answer to the whole request (an all-or-nothing batch)."""
        details = self._details()
        extra: JSON = {"errors": details} if details else {}
        return ApiError(self.status, self.category, self.message, **extra)

    def _details(self) -> list[JSON]:
        """The ``errors`` list: the one detail with its code (and property), if any."""
        if self.code is None:
            return []
        detail: JSON = {"message": self.detail or self.message, "code": self.code}
        if self.property_name is not None:
            detail["context"] = {"propertyName": [self.property_name]}
        return [detail]


class RecordRejectedError(Exception):
    """Raised by store writes; carries the per-record error."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(error.message)
        self.error = error


def missing_scopes(scope: str) -> ApiError:
    """HubSpot's 403 for a call the app's token has no scope for."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def invalid_value(name: str, code: str, message: str) -> RecordError:
    """HubSpot's 400 VALIDATION_ERROR for one bad property value (``code``: INVALID_OPTION ...)."""
    detail = json.dumps([{"isValid": False, "message": message, "error": code, "name": name}])
    return RecordError(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {detail}",
        code=code,
        property_name=name,
        detail=message,
    )
