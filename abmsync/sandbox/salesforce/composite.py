"""Composite and Composite Batch: several REST requests in one call.

``POST composite`` (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm):
up to 25 subrequests run in order; a later one may use an earlier answer with
``@{referenceId.field}`` (``@{ref.records[0].Id}`` too) in its ``url`` or
``body``. With ``allOrNone`` the first failure rolls every write back and the
other subrequests answer 400 ``PROCESSING_HALTED``; without it, only the
subrequests that refer to a failed one are halted. The answer is
``{"compositeResponse": [{"body", "httpHeaders", "httpStatusCode", "referenceId"}]}``
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_subrequest_result.htm);
the whole request is one API call.

``POST composite/batch`` (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/requests_composite_batch.htm):
up to 25 independent subrequests (``url`` ``vXX.X/...``, body ``richInput``),
each committed on its own and each charged as an API call; with ``haltOnError``
the ones after a failure answer 412 ``BATCH_PROCESSING_HALTED``. The answer is
``{"hasErrors", "results": [{"statusCode", "result"}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from abmsync.sandbox.salesforce.rest import ApiError
from abmsync.sandbox.salesforce.store import Store

MAX_SUBREQUESTS = 25
# What a subrequest does: (method, path below /services/data/, query, body) -> (status, body).
Dispatch = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"})
_ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


def run_composite(store: Store, version: str, body: Any, dispatch: Dispatch) -> dict[str, Any]:
    """``POST composite``: run the subrequests in order and collect their answers."""
    payload = _object(body)
    subrequests = _subrequests(payload, "compositeRequest", "A composite request")
    for flag in ("allOrNone", "collateSubrequests"):
        if not isinstance(payload.get(flag, False), bool):
            raise ApiError(400, "JSON_PARSER_ERROR", f"{flag} must be true or false")
    plans = [_composite_subrequest(item, version) for item in subrequests]
    seen = [ref for _, _, _, ref in plans]
    if len(set(seen)) != len(seen):
        raise ApiError(400, "INVALID_INPUT", "Duplicate referenceId provided in the request")
    all_or_none = bool(payload.get("allOrNone", False))
    with store.atomic() as transaction:
        results = _run_in_order(plans, version, dispatch, all_or_none)
        if all_or_none and any(r["httpStatusCode"] >= 400 for r in results):
            transaction.rollback()
            results = [
                r if r["httpStatusCode"] >= 400 else _halted(r["referenceId"], _ROLLED_BACK)
                for r in results
            ]
    return {"compositeResponse": results}


def _run_in_order(
    plans: list[tuple[str, str, Any, str]], version: str, dispatch: Dispatch, all_or_none: bool
) -> list[dict[str, Any]]:
    answers: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    failed = False
    for method, url, body, ref in plans:
        if failed and all_or_none:
            results.append(_halted(ref, _ROLLED_BACK))
            continue
        try:
            url = _resolve_text(url, answers)
            body = _resolve(body, answers)
        except LookupError as missing:
            results.append(_halted(ref, str(missing)))
            failed = True
            continue
        split = urlsplit(url)
        status, answer = dispatch(method, split.path, dict(parse_qsl(split.query)), body)
        headers: dict[str, str] = {}
        if status == 201 and isinstance(answer, dict) and answer.get("id"):
            headers["Location"] = f"{split.path.rstrip('/')}/{answer['id']}"
        results.append(
            {
                "body": None if status == 204 else answer,
                "httpHeaders": headers,
                "httpStatusCode": status,
                "referenceId": ref,
            }
        )
        if status >= 400:
            failed = True
        else:
            answers[ref] = answer
    return results


def _subrequests(payload: dict[str, Any], key: str, what: str) -> list[Any]:
    """The list of subrequests under ``key``: not empty, at most MAX_SUBREQUESTS."""
    subrequests = payload.get(key)
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "JSON_PARSER_ERROR", f"{key}: a list of subrequests")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(
            400, "LIMIT_EXCEEDED", f"{what} may contain at most {MAX_SUBREQUESTS} subrequests"
        )
    return subrequests


def _method_and_url(item: Any) -> tuple[str, str]:
    """A subrequest's HTTP method (one of those allowed) and its url."""
    if not isinstance(item, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "each subrequest must be an object")
    method = str(item.get("method", "")).upper()
    if method not in _METHODS:
        raise ApiError(400, "INVALID_INPUT", f"Invalid HTTP method for a subrequest: {method}")
    return method, str(item.get("url", ""))


def _composite_subrequest(item: Any, version: str) -> tuple[str, str, Any, str]:
    method, url = _method_and_url(item)
    ref = str(item.get("referenceId", ""))
    if not url.startswith("/services/data/v"):
        raise ApiError(400, "INVALID_INPUT", f"The subrequest URL is not a REST resource: {url}")
    # Reference ids hold only letters, numbers and underscores (Composite Subrequest Result).
    if not _REFERENCE_ID.fullmatch(ref):
        raise ApiError(400, "INVALID_INPUT", f"Invalid referenceId: {ref!r}")
    return method, url, item.get("body"), ref


def run_batch(
    version: str, body: Any, dispatch: Dispatch, charge: Callable[[], None]
) -> dict[str, Any]:
    """``POST composite/batch``: independent subrequests, each committed and charged alone."""
    payload = _object(body)
    subrequests = _subrequests(payload, "batchRequests", "A batch")
    halt = payload.get("haltOnError", False)
    if not isinstance(halt, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", "haltOnError must be true or false")
    # A bad method or url fails the whole request before anything runs (Batch Request Body).
    plans = [_batch_subrequest(item) for item in subrequests]
    results: list[dict[str, Any]] = []
    stopped = False
    for index, (method, url, rich) in enumerate(plans):
        if stopped:
            halted = [
                {
                    "errorCode": "BATCH_PROCESSING_HALTED",
                    "message": "Batch processing halted per request",
                }
            ]
            results.append({"statusCode": 412, "result": halted})
            continue
        if index:
            charge()  # the batch request itself paid for the first subrequest
        split = urlsplit("/services/data/" + url.lstrip("/"))
        status, answer = dispatch(method, split.path, dict(parse_qsl(split.query)), rich)
        results.append({"statusCode": status, "result": None if status == 204 else answer})
        stopped = halt and status >= 400
    has_errors = any(r["statusCode"] >= 400 for r in results)
    return {"hasErrors": has_errors, "results": results}


def _batch_subrequest(item: Any) -> tuple[str, str, Any]:
    method, url = _method_and_url(item)
    if not re.match(r"/?v\d+\.\d/", url):
        raise ApiError(400, "INVALID_INPUT", f"The subrequest URL must start with vXX.X/: {url}")
    return method, url, item.get("richInput")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "the request body must be a JSON object")
    return body


def _halted(ref: str, message: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _resolve(value: Any, answers: Mapping[str, Any]) -> Any:
    """``value`` with every ``@{ref.path}`` replaced by the earlier answer's value."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole is not None:  # the entire string: keep the referenced value's type
            return _lookup(whole, answers)
        return _resolve_text(value, answers)
    if isinstance(value, list):
        return [_resolve(v, answers) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, answers) for k, v in value.items()}
    return value


def _resolve_text(text: str, answers: Mapping[str, Any]) -> str:
    return _REFERENCE.sub(lambda m: str(_lookup(m, answers)), text)


def _lookup(match: re.Match[str], answers: Mapping[str, Any]) -> Any:
    ref, path = match[1], match[2]
    missing = LookupError(
        f"Invalid reference specified. No value for {ref}{path} found in {ref}. "
        f"Provided referenceId ('{ref}') may be missing or incorrect."
    )
    if ref not in answers:
        raise missing
    value = answers[ref]
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            raise missing from None
    return value
