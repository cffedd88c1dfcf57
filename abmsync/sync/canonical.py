"""Canonical forms of CRM field values, so a value compares equal however a vendor renders it.

Each system hands an owned field's value back its own way: Salesforce renders a
datetime as ``2026-03-01T10:00:00.000+0000``, HubSpot a number as ``"12.0"``
and a checkbox as ``"true"``, the written-values table keeps everything as
text. :func:`abmsync.sync.plan.plan_writes` compares abmsync's value, the one it
last wrote and the CRM's in the canonical form of the field's
:data:`ValueKind`, so an unchanged value is never written again and a real
change always is:

- ``text``: the text itself;
- ``number``: a float (``12``, ``"12.0"`` and ``12.0`` are one value);
- ``boolean``: ``True``/``False`` (``"true"``, ``"1"``, ``1``; ``"false"``, ``"0"``);
- ``date``: ``2026-03-01``;
- ``time``: UTC ISO text to the second, ``2026-03-01T10:00:00Z`` (any offset,
  any fraction of a second, epoch milliseconds).

Text that cannot be read as the kind is null (unknown), never an error.

A boolean bound for a text field (Eloqua has no checkbox type) is sent as
``"true"``/``"false"`` (:func:`sent_as_text`) and still compared as a
boolean, so the text the vendor hands back is never rewritten.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from abmsync.connectors.base import FieldType

ValueKind = Literal["text", "number", "boolean", "date", "time"]
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DATE_FORMAT = "%Y-%m-%d"
MOMENT = pl.Datetime("ms", "UTC")
TRUE_TEXTS = ("true", "1", "1.0", "yes")
FALSE_TEXTS = ("false", "0", "0.0", "no")
# The kind a text value takes when the CRM field is typed: what abmsync writes as
# text to a date or datetime field comes back in the vendor's rendering.
FIELD_KINDS: dict[FieldType, ValueKind] = {
    FieldType.INTEGER: "number",
    FieldType.NUMBER: "number",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATE: "date",
    FieldType.DATETIME: "time",
}
# Field types that hold any text: a boolean sent to one goes as "true"/"false".
TEXT_TYPES = frozenset({FieldType.STRING, FieldType.TEXT})
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",  # Salesforce: 2026-11-29T12:00:00.000+0000
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",  # HubSpot: 2026-11-29T12:00:00.000Z
    "%Y-%m-%dT%H:%M:%SZ",  # Dataverse: 2026-11-29T12:00:00Z
    "%Y-%m-%d %H:%M:%S%.f%:z",  # an aware datetime column read as text
    "%Y-%m-%d %H:%M:%S%.f",  # a naive (UTC) datetime column read as text
)


def kind_of(dtype: pl.DataType, field_type: FieldType | None = None) -> ValueKind:
    """The kind of a ``dtype`` value written to a field of ``field_type``.

    A typed value keeps its type wherever it goes (a score is a number even in
    a text field); a text value takes the field's type (an ISO time written to
    a datetime field is a time).
    """
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if isinstance(dtype, pl.Datetime):
        return "date" if field_type == FieldType.DATE else "time"
    if dtype == pl.Date:
        return "date"
    return FIELD_KINDS.get(field_type, "text") if field_type is not None else "text"


def sent_as_text(dtype: pl.DataType, field_type: FieldType | None) -> bool:
    """Whether a ``dtype`` value is sent to a ``field_type`` field as its text.

    True for a boolean to a text field: polars renders it ``"true"``/``"false"``,
    which :func:`canonical_boolean` reads back as the same boolean.
    """
    return dtype == pl.Boolean and field_type in TEXT_TYPES


def canonical(value: pl.Expr, kind: ValueKind, dtype: pl.DataType | None = None) -> pl.Expr:
    """``value`` (of any type, or a vendor's text for it) in ``kind``'s canonical form.

    ``dtype``, when known, spares typed columns the reading of text.
    """
    typed = dtype is not None and dtype not in (pl.String, pl.Null)
    if kind == "number":
        return (value if typed else _text(value)).cast(pl.Float64, strict=False)
    if kind == "boolean":
        return value.cast(pl.Boolean, strict=False) if typed else canonical_boolean(value)
    if kind == "time":
        if isinstance(dtype, pl.Datetime):
            return _utc(value, dtype).dt.strftime(TIME_FORMAT)
        return canonical_time(value)
    if kind == "date":
        return canonical_date(value)
    return value.cast(pl.String)


def canonical_boolean(value: pl.Expr) -> pl.Expr:
    """A checkbox as ``True``/``False``; text that is neither is null."""
    texts = {**dict.fromkeys(TRUE_TEXTS, True), **dict.fromkeys(FALSE_TEXTS, False)}
    return (
        _text(value).str.to_lowercase().replace_strict(texts, default=None, return_dtype=pl.Boolean)
    )


def canonical_time(value: pl.Expr) -> pl.Expr:
    """A datetime (or a vendor's text for one) as abmsync writes it; unparsable is null."""
    return _parsed_time(value).dt.strftime(TIME_FORMAT)


def canonical_date(value: pl.Expr) -> pl.Expr:
    """A date (or a datetime, or a vendor's text for either) as ``2026-03-01``."""
    day = _text(value).str.to_date(DATE_FORMAT, strict=False)
    return pl.coalesce(day, _parsed_time(value).dt.date()).dt.strftime(DATE_FORMAT)


def _parsed_time(value: pl.Expr) -> pl.Expr:
    return value.map_batches(_parse_times, return_dtype=MOMENT, is_elementwise=True)


def _parse_times(values: pl.Series) -> pl.Series:
    """Vendor texts for moments as UTC datetimes (null where none can be read).

    Most columns hold one vendor's ISO 8601 rendering, which one pass reads;
    only the values it leaves are tried against every known format.
    """
    texts = values.cast(pl.String).str.strip_chars()
    parsed = texts.str.to_datetime(strict=False, time_zone="UTC", time_unit="ms")
    left = (parsed.is_null() & texts.is_not_null()).arg_true()
    if left.len() == 0:
        return parsed
    text = pl.col("text")
    epoch_ms = pl.from_epoch(
        pl.when(text.str.contains(r"^\d{11,}$")).then(text).cast(pl.Int64, strict=False),
        time_unit="ms",
    ).dt.replace_time_zone("UTC")
    formats = [
        text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="ms")
        for f in _TIME_FORMATS
    ]
    rest = texts.gather(left).to_frame("text").select(pl.coalesce(*formats, epoch_ms))
    return parsed.scatter(left, rest.to_series())


def _utc(value: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """An aware datetime converted to UTC; a naive one taken as UTC."""
    if dtype.time_zone is None:
        return value.dt.replace_time_zone("UTC")
    return value.dt.convert_time_zone("UTC")


def _text(value: pl.Expr) -> pl.Expr:
    return value.cast(pl.String).str.strip_chars()
