"""Check one recorded exchange against the operation HubSpot's spec documents for it.

The answer must have a status the operation declares (a 2xx exactly; an error
falls under ``default``), a body that fits the schema for that status (none for
a 204, whose content map is empty), and, when the emulator answered 2xx, the
request must have been one HubSpot accepts: required parameters and body
present, typed parameters parseable, the body valid per the request schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .defects import RATE_LIMIT_BODY
from .spec import Contract, Operation, SchemaCheck

RATE_LIMIT = SchemaCheck(RATE_LIMIT_BODY)
MAX_ERRORS = 3  # per body: enough to act on, short enough to read


@dataclass(frozen=True)
class Exchange:
    """One request the emulator answered, as the wire carried it."""

    method: str
    path: str
    query: str
    request_body: bytes
    status: int
    response_body: bytes
    content_type: str = ""


@dataclass(frozen=True)
class Violation:
    """Where an exchange broke the contract: the operation, status, side and JSON path."""

    operation: str
    exchange: Exchange
    side: str  # "response" or "request"
    where: str  # a JSON path ($.results[0].id) or the parameter / header at fault
    problem: str

    def __str__(self) -> str:
        sent = f"{self.exchange.method} {self.exchange.path}"
        return (
            f"{self.operation} answered {self.exchange.status} (to {sent}): "
            f"{self.side} {self.where}: {self.problem}"
        )


def check(contract: Contract, exchange: Exchange) -> tuple[Operation | None, list[Violation]]:
    """The operation ``exchange`` belongs to (None: undocumented) and what it broke."""
    operation = contract.find(exchange.method, exchange.path)
    if operation is None:
        return None, []
    found = _check_response(operation, exchange)
    if 200 <= exchange.status < 300:
        found += _check_request(operation, exchange)
    return operation, found


def _violation(
    operation: Operation, exchange: Exchange, side: str, where: str, problem: str
) -> Violation:
    return Violation(operation.name, exchange, side, where, problem)


def _check_response(operation: Operation, exchange: Exchange) -> list[Violation]:
    responses: dict[str, Any] = operation.body.get("responses", {})
    status = str(exchange.status)
    if status not in responses and exchange.status < 400:
        declared = ", ".join(sorted(responses))
        return [_violation(operation, exchange, "response", "status", f"not declared ({declared})")]
    if exchange.status == 429:
        return _schema_errors(operation, exchange, "response", RATE_LIMIT, exchange.response_body)
    document = operation.document
    response = document.resolve(responses.get(status) or responses["default"])
    content: dict[str, Any] = response.get("content") or {}
    if not content:  # a 204: HubSpot sends no body
        if exchange.response_body.strip():
            return [
                _violation(operation, exchange, "response", "body", "a body where none is declared")
            ]
        return []
    media = content.get("application/json") or content.get("*/*") or {}
    if "json" not in exchange.content_type:
        problem = f"content-type {exchange.content_type!r}, JSON declared"
        return [_violation(operation, exchange, "response", "content-type", problem)]
    key = f"{operation.name} {status}"
    validator = document.validator(key, media.get("schema", {}), response=True)
    return _schema_errors(operation, exchange, "response", validator, exchange.response_body)


def _check_request(operation: Operation, exchange: Exchange) -> list[Violation]:
    found: list[Violation] = []
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(exchange.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    for parameter in operation.body.get("parameters", []):
        parameter = operation.document.resolve(parameter)
        if parameter.get("in") != "query":
            continue
        name = parameter["name"]
        values = query.get(name)
        if values is None:
            if parameter.get("required"):
                found.append(
                    _violation(operation, exchange, "request", f"?{name}", "required, missing")
                )
            continue
        problem = _parameter_problem(parameter.get("schema", {}), values)
        if problem:
            found.append(_violation(operation, exchange, "request", f"?{name}", problem))
    body = operation.body.get("requestBody")
    if body is None:
        return found
    if not exchange.request_body.strip():
        if body.get("required"):
            found.append(_violation(operation, exchange, "request", "body", "required, missing"))
        return found
    schema = (body.get("content", {}).get("application/json") or {}).get("schema", {})
    validator = operation.document.validator(f"{operation.name} body", schema, response=False)
    return found + _schema_errors(operation, exchange, "request", validator, exchange.request_body)


def _parameter_problem(schema: dict[str, Any], values: list[str]) -> str | None:
    """Why the query values do not fit ``schema`` (form style, explode: repeated or a,b)."""
    kind = schema.get("type")
    if kind == "array":
        values = [part for value in values for part in value.split(",")]
        schema = schema.get("items", {})
        kind = schema.get("type")
    elif len(values) > 1:
        return f"given {len(values)} times"
    for value in values:
        if kind == "integer" and not value.lstrip("-").isdigit():
            return f"{value!r} is not an integer"
        # Case-insensitive: HubSpot's own client sends Python's ``True`` (str(bool),
        # hubspot-api-client 12.0.0 api_client.parameters_to_tuples) and HubSpot takes it.
        if kind == "boolean" and value.lower() not in ("true", "false"):
            return f"{value!r} is not a boolean"
        if "enum" in schema and value not in schema["enum"]:
            return f"{value!r} not in {schema['enum']}"
    return None


def _schema_errors(
    operation: Operation, exchange: Exchange, side: str, validator: SchemaCheck, raw: bytes
) -> list[Violation]:
    try:
        body = json.loads(raw)
    except ValueError:
        return [_violation(operation, exchange, side, "body", f"not JSON: {raw[:80]!r}")]
    errors = validator.errors(body)
    return [
        _violation(operation, exchange, side, error.json_path, _short(error.message))
        for error in errors[:MAX_ERRORS]
    ]


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
