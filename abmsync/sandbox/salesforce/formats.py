"""Salesforce's formats for ids and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_CHARS = frozenset(_BASE62)


def format_datetime(moment: datetime) -> str:
    """A UTC timestamp the way Salesforce writes one: ``2026-01-01T00:00:00.000+0000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z``, ``+00:00`` or ``+0000``); naive means UTC."""
    moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def long_id(short: str) -> str:
    """The 18-character form of a 15-character id (the case-safe checksum appended)."""
    if len(short) != 15:
        return short
    suffix = ""
    for chunk in range(3):
        part = short[chunk * 5 : chunk * 5 + 5]
        bits = sum(1 << i for i, c in enumerate(part) if "A" <= c <= "Z")
        suffix += _CHECKSUM[bits]
    return short + suffix


def is_id(text: str) -> bool:
    """Whether ``text`` is shaped like a 15- or 18-character Salesforce id."""
    return len(text) in (15, 18) and set(text) <= _ID_CHARS


def record_id(prefix: str, number: int) -> str:
    """An 18-character id: key prefix, pod, a base-62 counter and the case checksum."""
    digits = ""
    while len(digits) < 7:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return long_id(f"{prefix}5g000{digits}")
