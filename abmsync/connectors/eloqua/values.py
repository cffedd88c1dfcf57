"""Values as Eloqua writes them in exports and reads them in filters and imports.

Bulk exports give every value as text, an empty value as ``""``; with
``areSystemTimestampsInUTC`` the system timestamps are UTC
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/system-timestamps.htm),
written ``2026-05-12 14:23:05.910`` (a space, no zone; the ISO ``T``/``Z``
forms and Unix seconds are read too). abmsync's frames type them:

- system timestamps (``C_DateModified``, ``Activity.CreatedAt``...) are UTC;
  other date fields are wall-clock time in the site's time zone (Eloqua's
  servers keep Eastern time: https://docs.oracle.com/en/cloud/saas/marketing/eloqua-user/Help/General/TimeZonesAcrossEloqua.htm),
  set by the connector's ``site_time_zone``;
- dates and datetimes become UTC ISO-8601 strings with milliseconds,
  ``2026-05-12T14:23:05.910Z``, always that shape so polars reads a column
  with one format (the engine's ``str.to_datetime``);
- numbers become ``Float64`` (Eloqua's numeric fields are decimals);
- ids (contact, account, activity, asset, campaign) stay strings;
- an empty value is null.

Filters compare system timestamps with ``'YYYY-MM-DD HH:MM:SS'`` literals
(the Filtering tutorial's examples; sub-seconds dropped, so a lower bound is
floored to the second and compared with ``>=``).

Guesses:
    - export dates may also come as ``MM/DD/YYYY hh:mm:ss AM`` on some
      instances; those are read too, and anything else unreadable stays the
      raw text rather than being dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import polars as pl

from abmsync.connectors.base import FieldType

_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


def parse_time(text: object, zone: tzinfo = UTC) -> datetime | None:
    """An Eloqua timestamp (export text, ISO-8601 or Unix seconds) as an aware UTC datetime.

    A value without an offset is wall-clock time in ``zone``.
    """
    if text is None:
        return None
    if isinstance(text, datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    raw = str(text).strip()
    if not raw:
        return None
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw), tz=UTC)
    cleaned = raw.replace("Z", "+00:00")
    if "." in cleaned:
        # .NET writes 7 fractional digits (2014-05-12T14:23:05.9100000Z); Python takes 6.
        head, _, tail = cleaned.partition(".")
        rest = tail.lstrip("0123456789")
        digits = tail[: len(tail) - len(rest)]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        parsed = _parse_us(raw)
        if parsed is None:
            return None
        moment = parsed
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _parse_us(raw: str) -> datetime | None:
    for form in _FORMATS:
        try:
            return datetime.strptime(raw, form)
        except ValueError:
            continue
    return None


def iso(moment: datetime) -> str:
    """``2026-05-12T14:23:05.910Z``: UTC, milliseconds, always the same shape."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def filter_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """A filter or import literal: wall-clock time in ``zone`` (UTC for system timestamps),
    floored to the second."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def floor_second(moment: datetime) -> datetime:
    """``moment`` without its fraction of a second."""
    return moment.replace(microsecond=0)


def minus(moment: datetime, seconds: float) -> datetime:
    """``moment`` less ``seconds``."""
    return moment - timedelta(seconds=seconds)


def quote(value: str) -> str:
    """A filter literal's text: single quotes doubled, as in SQL."""
    return value.replace("'", "''")


@dataclass(frozen=True)
class Column:
    """One column of a read frame: its name, the EML statement behind it, its type.

    ``zone`` is where a date without an offset is wall-clock time: UTC for
    system timestamps (exported in UTC), the site's time zone for the others.
    """

    name: str
    statement: str
    type: FieldType = FieldType.STRING
    zone: tzinfo = UTC


def polars_type(kind: FieldType) -> pl.DataType:
    """The polars type of a column of ``kind`` (see the module docstring)."""
    if kind in (FieldType.NUMBER, FieldType.INTEGER):
        return pl.Float64()
    if kind is FieldType.BOOLEAN:
        return pl.Boolean()
    return pl.String()


def typed(kind: FieldType, value: object, zone: tzinfo = UTC) -> Any:
    """One exported value as the column of ``kind`` holds it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind in (FieldType.DATE, FieldType.DATETIME):
        moment = parse_time(value, zone)
        return iso(moment) if moment is not None else str(value).strip()
    if kind in (FieldType.NUMBER, FieldType.INTEGER):
        try:
            number = float(str(value).replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if kind is FieldType.BOOLEAN:
        return str(value).strip().lower() in ("true", "1", "yes", "on")
    return str(value)


def frame(columns: Sequence[Column], items: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Export items as a frame with one typed column per :class:`Column`, in order.

    The same values :func:`typed` gives, computed over whole columns: the
    export's text is read into polars at once and typed with expressions
    (a page holds up to 50,000 records); only dates in a shape other than
    the export's ``YYYY-MM-DD HH:MM:SS.fff`` go through :func:`parse_time`.
    """
    text = {c.name: pl.String() for c in columns}
    raw = (
        pl.from_dicts(list(items), schema=text, strict=False)
        if items
        else pl.DataFrame(schema=text)
    )
    return pl.DataFrame([_typed_series(c, raw[c.name]) for c in columns])


_TRUE = ("true", "1", "yes", "on")
_EXPORT_DATE = "%Y-%m-%d %H:%M:%S%.f"


def _typed_series(column: Column, text: pl.Series) -> pl.Series:
    """One column of export text as :func:`typed` types each value."""
    value = pl.col(column.name)
    blank = value.is_null() | (value.str.strip_chars() == "")
    kind = column.type
    typed_value: pl.Expr
    if kind in (FieldType.NUMBER, FieldType.INTEGER):
        number = value.str.replace_all(",", "").str.strip_chars().cast(pl.Float64, strict=False)
        typed_value = pl.when(number.is_finite()).then(number).otherwise(None)
    elif kind is FieldType.BOOLEAN:
        typed_value = value.str.strip_chars().str.to_lowercase().is_in(_TRUE)
    elif kind in (FieldType.DATE, FieldType.DATETIME):
        return _dates(column, text)
    else:
        typed_value = value
    frame = text.to_frame(column.name)
    return frame.select(pl.when(~blank).then(typed_value).alias(column.name)).to_series()


def _dates(column: Column, text: pl.Series) -> pl.Series:
    """Dates as UTC ISO strings; the export's own shape vectorised, any other one by
    :func:`parse_time` (unreadable text is kept as it was, as :func:`typed` keeps it)."""
    zone = "UTC" if column.zone == UTC else getattr(column.zone, "key", None)
    stripped = text.str.strip_chars()
    fast = pl.Series(column.name, [None] * len(text), dtype=pl.String())
    if zone is not None:
        fast = (
            stripped.str.to_datetime(_EXPORT_DATE, strict=False)
            .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .alias(column.name)
        )
    missed = (fast.is_null() & stripped.is_not_null() & (stripped != "")).arg_true()
    if missed.len():
        slow = [typed(column.type, text[i], column.zone) for i in missed.to_list()]
        fast = fast.scatter(missed, pl.Series(slow, dtype=pl.String()))
    return fast


def import_value(kind: FieldType, value: object, zone: tzinfo) -> Any:
    """A patch value as an import row carries it: dates as wall-clock time in the site's
    ``zone``, booleans as ``true``/``false``, a cleared value as ``""``."""
    if value is None:
        return ""
    if kind is FieldType.DATETIME and isinstance(value, str) and len(value.strip()) > 10:
        moment = parse_time(value)
        return filter_time(moment, zone) if moment is not None else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
