"""``$batch`` bodies: many Web API requests in one multipart/mixed call, and their answers.

As "Execute batch operations using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api)
documents, after OData 4.0 section 11.7: each request is a part of type
``application/http`` with ``Content-Transfer-Encoding: binary`` holding the
request line, headers and body; a batch holds at most 1000 requests; the
answers come back in the order of the requests, each a part holding a status
line, headers and body. A changeset (a nested multipart) is answered either
with one answer per request or, rolled back, with the one error.

abmsync sends its writes as requests *outside* changesets with ``Prefer:
odata.continue-on-error``: each request is its own transaction, so one bad
record fails only itself, and the body stays flat (no nested boundaries).
Without that preference Dataverse stops at the first failure and answers no
further requests; :func:`decode_batch` then returns fewer answers than
requests and the caller sends the rest again.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from abmsync.connectors.dynamics.client import parse_body

MAX_REQUESTS = 1000
CRLF = "\r\n"
_BOUNDARY = re.compile(r'boundary="?([^";\s]+)"?', re.IGNORECASE)
_STATUS = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})")


@dataclass(frozen=True)
class Operation:
    """One request of a batch: method, URL (absolute) and JSON body."""

    method: str
    url: str
    body: Mapping[str, object] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """One response part: status, headers (lower-case names) and parsed body."""

    status: int
    headers: Mapping[str, str]
    body: object

    @property
    def ok(self) -> bool:
        return self.status < 400


def encode_batch(operations: Sequence[Operation]) -> tuple[bytes, str]:
    """The multipart body for ``operations`` and its Content-Type header value."""
    if len(operations) > MAX_REQUESTS:
        raise ValueError(f"a $batch holds at most {MAX_REQUESTS} requests, not {len(operations)}")
    boundary = f"batch_{uuid.uuid4()}"
    chunks: list[str] = []
    for operation in operations:
        lines = [
            f"--{boundary}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            f"{operation.method} {operation.url} HTTP/1.1",
        ]
        lines += [f"{name}: {value}" for name, value in operation.headers.items()]
        if operation.body is not None:
            lines.append("Content-Type: application/json; type=entry")
        lines.append("")
        lines.append(json.dumps(operation.body) if operation.body is not None else "")
        chunks.append(CRLF.join(lines))
    body = CRLF.join(chunks) + f"{CRLF}--{boundary}--{CRLF}"
    return body.encode(), f"multipart/mixed; boundary={boundary}"


def decode_batch(content: bytes, content_type: str) -> list[Answer]:
    """The answers of a ``$batch`` response, in order; changeset answers flattened."""
    return [
        answer
        for part in _parts(content.decode("utf-8", "replace"), content_type)
        for answer in _answers(part)
    ]


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"no multipart boundary in {content_type!r}")
    return match.group(1)


def _parts(text: str, content_type: str) -> list[str]:
    """The blocks between the ``--boundary`` delimiters of a multipart body."""
    delimiter = f"--{_boundary(content_type)}"
    parts = []
    for chunk in text.split(delimiter)[1:]:
        if chunk.startswith("--"):
            break
        parts.append(chunk.strip("\r\n"))
    return parts


def _split_head(block: str) -> tuple[dict[str, str], str]:
    """Headers (lower-case names) and what follows the first blank line of ``block``."""
    normal = block.replace("\r\n", "\n")
    head, _, rest = normal.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _answers(part: str) -> list[Answer]:
    """The answer (or a changeset's answers) in one part."""
    mime, rest = _split_head(part)
    kind = mime.get("content-type", "")
    if kind.lower().startswith("multipart/mixed"):
        return [a for inner in _parts(rest, kind) for a in _answers(inner)]
    status_line, _, tail = rest.lstrip("\n").partition("\n")
    match = _STATUS.match(status_line.strip())
    if match is None:
        raise ValueError(f"a $batch answer part has no status line: {status_line[:80]!r}")
    headers, body = _split_head(tail)
    return [Answer(int(match.group(1)), headers, parse_body(body.strip()))]
