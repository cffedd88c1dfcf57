"""How the Eloqua emulator writes and reads dates, numbers and durations.

Eloqua uses four notations, one per API surface:

- Bulk API definitions, syncs and logs: ISO 8601 in UTC with seven fractional
  digits, ``2014-05-12T14:23:05.9100000Z`` (the examples in
  https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/troubleshooting.htm).
- Bulk API export data: ``2026-12-01 10:20:30.123`` (see :func:`export_timestamp`).
- Application (REST) API: Unix seconds as a string, ``"1410193024"``
  (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_RequestDepth.html).
- Bulk durations: ISO 8601, ``PT12H``, ``P14D``.

Guesses:
- Export data writes every date as ``YYYY-MM-DD HH:MM:SS.fff`` (SQL Server's
  ``datetime`` rendering with milliseconds) and every number as its shortest
  decimal string (``"12"``, ``"12.5"``); empty values are ``""``.
- Filter and import dates are accepted as ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS[.f]]``,
  ISO 8601 with ``T`` and an optional offset or ``Z``, ``MM/DD/YYYY [HH:MM[:SS]]``
  and Unix seconds; a value without an offset is wall-clock time in the zone
  that applies (the site's, or UTC for system timestamps exported in UTC).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

SITE_TIME_ZONE = "America/New_York"  # the emulated site's time zone (a guess, see store docs)

_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.IGNORECASE,
)
_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)


def api_timestamp(moment: datetime) -> str:
    """``2014-05-12T14:23:05.9100000Z``: Bulk API definitions, syncs and logs."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def export_timestamp(moment: datetime, zone: tzinfo) -> str:
    """``2026-12-01 10:20:30.123``: a date in export data, in ``zone``."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def unix_seconds(moment: datetime) -> str:
    """Unix seconds as a string, as the application API writes dates."""
    return str(math.floor(moment.timestamp()))


def number_text(value: Any) -> str:
    """A number as export data and REST field values write it: ``12``, ``12.5``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def parse_number(text: Any) -> float | int:
    """A number from import data or a filter; ValueError when it is not one."""
    if isinstance(text, bool):
        raise ValueError("not a number")
    if isinstance(text, int | float):
        return text
    raw = str(text).strip()
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    if number == number.to_integral_value() and "." not in raw and "e" not in raw.lower():
        return int(number)
    return float(number)


def parse_datetime(text: Any, zone: tzinfo) -> datetime:
    """A date from a filter, import data or search; wall-clock values are in ``zone``."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=zone)
    raw = str(text).strip()
    if re.fullmatch(r"\d{9,11}", raw):
        return datetime.fromtimestamp(int(raw), tz=UTC)
    if "T" in raw or raw.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", raw):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{raw!r} is not a date") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    for pattern in _FORMATS:
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    raise ValueError(f"{raw!r} is not a date")


def parse_duration(text: str) -> timedelta | None:
    """An ISO 8601 duration such as ``PT12H`` or ``P7D``; None when malformed."""
    match = _DURATION.fullmatch(text.strip())
    if not match or not any(match.groupdict().values()) or text.strip().upper().endswith("T"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)
