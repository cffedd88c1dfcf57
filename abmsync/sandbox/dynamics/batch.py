"""``$batch``: many Web API requests in one multipart/mixed call.

As "Execute batch operations using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api)
documents: each part is ``Content-Type: application/http`` with
``Content-Transfer-Encoding: binary``; a changeset (a nested multipart) is
atomic, and when one of its requests fails it is rolled back and answered with
that one error; ``Content-ID`` values can be referenced as ``$1`` in a later
request's URL or ``@odata.bind`` inside the same changeset; without
``Prefer: odata.continue-on-error`` the batch stops at the first failure; a
batch holds at most 1000 requests.

Guesses:
- A GET inside a changeset fails the changeset with 400 ``0x80060888``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.webapi import ApiRequest, Reply

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.app import DataverseSandbox

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


@dataclass
class Part:
    """One request of a batch, with its Content-ID."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class Changeset:
    parts: list[Part] = field(default_factory=list)


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if not match:
        raise DataverseError(
            400, errors.ODATA, "The batch request must have a multipart/mixed boundary."
        )
    return match.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    """The parts between ``--boundary`` delimiters."""
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.strip(b"\r\n"))
    return parts


def _headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """MIME headers and the rest of a block (after the first blank line)."""
    text = block.replace(b"\r\n", b"\n")
    head, _, rest = text.partition(b"\n\n")
    headers = {}
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(block: bytes) -> Part:
    mime, rest = _headers(block)
    http_head, _, body = rest.partition(b"\n\n")
    lines = http_head.decode("utf-8", "replace").split("\n")
    request_line = lines[0].strip().split(" ")
    if len(request_line) < 2:
        raise DataverseError(400, errors.ODATA, "A batch part has no request line.")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Part(
        request_line[0].upper(),
        request_line[1],
        headers,
        body.strip(b"\r\n"),
        mime.get("content-id"),
    )


def parse_batch(body: bytes, content_type: str) -> list[Part | Changeset]:
    """The requests and changesets of a batch body, in order."""
    items: list[Part | Changeset] = []
    for block in _split(body, _boundary(content_type)):
        mime, rest = _headers(block)
        kind = mime.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            changeset = Changeset()
            for inner in _split(rest, _boundary(kind)):
                changeset.parts.append(_request(inner))
            items.append(changeset)
        else:
            items.append(_request(block))
    return items


def _api_request(part: Part, outer: ApiRequest, ids: dict[str, str]) -> ApiRequest:
    url = part.url
    for content_id, location in ids.items():
        if url == f"${content_id}" or url.startswith(f"${content_id}/"):
            url = location + url[len(content_id) + 1 :]
    split = urlsplit(url)
    path = split.path
    marker = re.search(r"/api/data/v[\d.]+/", path)
    if marker:
        path = path[marker.end() :]
    body = part.body
    if ids and body:
        text = body.decode("utf-8", "replace")
        for content_id, location in ids.items():
            text = text.replace(f'"${content_id}"', json.dumps(location))
        body = text.encode()
    return ApiRequest(
        part.method,
        path.lstrip("/"),
        dict(parse_qsl(split.query, keep_blank_values=True)),
        part.headers,
        body,
        outer.base,
    )


def _render(reply: Reply, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines.append("")
    lines.append(f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}")
    headers = {"OData-Version": "4.0", **reply.headers}
    if reply.body is not None:
        headers["Content-Type"] = "application/json; odata.metadata=minimal"
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    lines.append("")
    body = "" if reply.body is None else json.dumps(reply.body)
    lines.append(body)
    return "\r\n".join(lines)


def run_batch(sandbox: DataverseSandbox, request: ApiRequest) -> Reply:
    """Run a batch; the answer is a multipart/mixed body with one response per request."""
    try:
        items = parse_batch(request.body, request.headers.get("content-type", ""))
    except DataverseError as failure:
        return Reply(failure.status, failure.body())
    total = sum(len(i.parts) if isinstance(i, Changeset) else 1 for i in items)
    if total > MAX_REQUESTS:
        refusal = DataverseError(
            400,
            errors.TOO_MANY_BATCH,
            f"The number of requests in the batch ({total}) exceeds the maximum of {MAX_REQUESTS}.",
        )
        return Reply(400, refusal.body())
    keep_going = "odata.continue-on-error" in request.headers.get("prefer", "")
    boundary = f"batchresponse_{uuid.uuid4()}"
    blocks: list[str] = []
    for item in items:
        if isinstance(item, Part):
            reply = sandbox.dispatch(_api_request(item, request, {}))
            blocks.append(_render(reply, item.content_id))
            failed = reply.status >= 400
        else:
            block, failed = _run_changeset(sandbox, request, item)
            blocks.append(block)
        if failed and not keep_going:
            break
    body = "".join(f"--{boundary}\r\n{block}\r\n" for block in blocks) + f"--{boundary}--\r\n"
    return Reply(200, body.encode(), {"Content-Type": f"multipart/mixed; boundary={boundary}"})


class _RollbackError(Exception):
    def __init__(self, reply: Reply, content_id: str | None) -> None:
        super().__init__("changeset failed")
        self.reply = reply
        self.content_id = content_id


def _run_changeset(
    sandbox: DataverseSandbox, request: ApiRequest, changeset: Changeset
) -> tuple[str, bool]:
    """All the changeset's requests in one transaction; one error answer when any fails."""
    ids: dict[str, str] = {}
    replies: list[tuple[Reply, str | None]] = []
    try:
        with sandbox.store.transaction():
            for part in changeset.parts:
                if part.method == "GET":
                    error = DataverseError(
                        400, errors.ODATA, "GET requests are not allowed inside a change set."
                    )
                    raise _RollbackError(Reply(400, error.body()), part.content_id)
                reply = sandbox.dispatch(_api_request(part, request, ids))
                if reply.status >= 400:
                    raise _RollbackError(reply, part.content_id)
                location = reply.headers.get("OData-EntityId")
                if part.content_id and location:
                    ids[part.content_id] = location
                replies.append((reply, part.content_id))
    except _RollbackError as failure:
        return _render(failure.reply, failure.content_id), True
    inner = f"changesetresponse_{uuid.uuid4()}"
    parts = "".join(f"--{inner}\r\n{_render(r, c)}\r\n" for r, c in replies)
    block = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{parts}--{inner}--"
    return block, False
