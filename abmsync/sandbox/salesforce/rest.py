"""The HTTP edge of the REST API: error bodies, versions, methods, replication windows.

Every error under ``/services/`` answers JSON ``[{"message", "errorCode"}]``
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm),
unknown routes and methods included: 404 ``NOT_FOUND``, 405
``METHOD_NOT_ALLOWED``, 400 ``JSON_PARSER_ERROR`` for a body that is not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from abmsync.sandbox.salesforce.store import format_datetime, parse_datetime
from abmsync.sandbox.salesforce.versions import parse_version, version_list

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.app import SalesforceSandbox

NOT_FOUND = "The requested resource does not exist"
# getUpdated()/getDeleted() serve no more than 30 days back (SOAP API Developer Guide,
# sforce_api_calls_getupdated.htm, "Rules and Guidelines"); the REST resources
# (resources_getupdated.htm, resources_getdeleted.htm) answer INVALID_REPLICATION_DATE.
REPLICATION_DAYS = 30


class ApiError(Exception):
    """An error answer: HTTP status plus the ``[{"message", "errorCode"}]`` body."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: list[dict[str, Any]] = [{"message": message, "errorCode": code}]
        if fields is not None:
            self.body[0]["fields"] = fields


class Allow:
    """Checks a request's method against the methods a resource takes."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __call__(self, *allowed: str) -> str:
        """The method, or 405 ``METHOD_NOT_ALLOWED`` naming the allowed ones."""
        if self.method in allowed:
            return self.method
        names = ",".join(("HEAD", *allowed) if "GET" in allowed else allowed)
        message = f"HTTP Method '{self.method}' not allowed. Allowed are {names}"
        raise ApiError(405, "METHOD_NOT_ALLOWED", message)


def served(segment: str, latest: str) -> str | None:
    """The version of a ``vXX.X`` path segment the org serves, or None."""
    return parse_version(segment, latest)


def replication_window(params: dict[str, str], now: datetime) -> tuple[datetime, datetime]:
    """``start``/``end`` of ``updated/`` and ``deleted/``, or 400 ``INVALID_REPLICATION_DATE``.

    The seconds of both are ignored (resources_getdeleted.htm: 12:30:15 is read
    as 12:30:00); start must come before end and lie within the last 30 days.
    """
    try:
        start = parse_datetime(params["start"]).replace(second=0, microsecond=0)
        end = parse_datetime(params["end"]).replace(second=0, microsecond=0)
    except (KeyError, ValueError) as error:
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTime values"
        ) from error
    if end <= start:
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
        )
    if start < now - timedelta(days=REPLICATION_DAYS):
        earliest = format_datetime(now - timedelta(days=REPLICATION_DAYS))
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate can not be more than {REPLICATION_DAYS} days ago (earliest {earliest})",
        )
    return start, end


def data_endpoint(sandbox: SalesforceSandbox) -> Callable[[Request], Awaitable[Response]]:
    """The ``/services/data/...`` endpoint: versions, auth, quota, JSON, dispatch."""

    async def data(request: Request) -> Response:
        parts = [p for p in request.path_params["rest"].split("/") if p]
        if not parts:  # the Versions resource needs no session
            if request.method not in ("GET", "HEAD"):
                return _error(
                    ApiError(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{request.method}' not allowed. Allowed are HEAD,GET",
                    )
                )
            return JSONResponse(version_list(sandbox.config.api_version))
        headers: dict[str, str] = {}
        try:
            if served(parts[0], sandbox.config.api_version) is None:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND)
            sandbox.authorize(request.headers.get("authorization", ""))
            if parts[1:] != ["limits"]:
                sandbox.count_call()
            try:
                raw = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)  # the client gave up (a timeout)
            body = _json_body(raw)
            params = dict(request.query_params)
            options = request.headers.get("sforce-query-options", "")
            if options.startswith("batchSize="):
                try:
                    batch = int(options.removeprefix("batchSize="))
                except ValueError:
                    batch = 2000
                params["_batch_size"] = str(min(max(batch, 200), 2000))
            status, answer = sandbox.handle(request.method, parts, params, body)
        except ApiError as error:
            status, answer = error.status, error.body
        headers["Sforce-Limit-Info"] = sandbox.limit_header()
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(answer, status_code=status, headers=headers)

    return data


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        message = f"Unexpected character in the request body: {error}"
        raise ApiError(400, "JSON_PARSER_ERROR", message) from error


def _error(error: ApiError) -> Response:
    return JSONResponse(error.body, status_code=error.status)


async def services_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) as Salesforce JSON errors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message = f"HTTP Method '{request.method}' not allowed"
        return _error(ApiError(405, "METHOD_NOT_ALLOWED", message))
    if exc.status_code == 404:
        return _error(ApiError(404, "NOT_FOUND", NOT_FOUND))
    return _error(ApiError(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail)))
