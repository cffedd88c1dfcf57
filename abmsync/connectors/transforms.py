"""Named, vectorized value transforms used by field mappings.

Each transform is a function ``(expr, dtype, args) -> (expr, dtype)`` that
builds a polars expression, so a mapping runs over millions of rows without a
Python loop. ``TransformArgs`` is the part of a mapping rule that names the
transforms and their arguments; ``abmsync.connectors.mapping`` documents the
list for admins. Parsing transforms turn what they cannot read into null.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from polars.exceptions import PanicException
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from abmsync.schema import TIMESTAMP

_COUNTRIES = """
US USA United States|United States of America|U.S.A.|U.S.|America
       Vereinigte Staaten|Vereinigte Staaten von Amerika|États-Unis|États-Unis d'Amérique
CA CAN Canada|Kanada
MX MEX Mexico|Mexiko|Mexique|México
BR BRA Brazil|Brasilien|Brésil|Brasil
AR ARG Argentina|Argentinien|Argentine
CL CHL Chile|Chili
CO COL Colombia|Kolumbien|Colombie
PE PER Peru|Pérou|Perú
GB GBR United Kingdom|UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland
       Vereinigtes Königreich|Großbritannien|Grossbritannien|Royaume-Uni|Grande-Bretagne|Angleterre
IE IRL Ireland|Republic of Ireland|Éire|Irland|Irlande
FR FRA France|Frankreich
DE DEU Germany|Deutschland|Allemagne|Federal Republic of Germany|Bundesrepublik Deutschland|BRD
AT AUT Austria|Österreich|Oesterreich|Autriche
CH CHE Switzerland|Schweiz|Suisse|Svizzera
NL NLD Netherlands|The Netherlands|Holland|Nederland|Niederlande|Pays-Bas
BE BEL Belgium|Belgien|Belgique|België
LU LUX Luxembourg|Luxemburg
DK DNK Denmark|Danmark|Dänemark|Danemark
SE SWE Sweden|Sverige|Schweden|Suède
NO NOR Norway|Norge|Norwegen|Norvège
FI FIN Finland|Suomi|Finnland|Finlande
IS ISL Iceland|Island|Islande
ES ESP Spain|España|Spanien|Espagne
PT PRT Portugal
IT ITA Italy|Italia|Italien|Italie
GR GRC Greece|Hellas|Griechenland|Grèce
PL POL Poland|Polska|Polen|Pologne
CZ CZE Czech Republic|Czechia|Tschechien|Tschechische Republik|République tchèque|Tchéquie
SK SVK Slovakia|Slowakei|Slovaquie
HU HUN Hungary|Ungarn|Hongrie
RO ROU Romania|Rumänien|Roumanie
BG BGR Bulgaria|Bulgarien|Bulgarie
HR HRV Croatia|Kroatien|Croatie
SI SVN Slovenia|Slowenien|Slovénie
RS SRB Serbia|Serbien|Serbie
EE EST Estonia|Estland|Estonie
LV LVA Latvia|Lettland|Lettonie
LT LTU Lithuania|Litauen|Lituanie
UA UKR Ukraine
RU RUS Russia|Russian Federation|Russland|Russie
TR TUR Turkey|Türkiye|Türkei|Turquie
IL ISR Israel|Israël
AE ARE United Arab Emirates|UAE|Vereinigte Arabische Emirate|Émirats arabes unis
SA SAU Saudi Arabia|Saudi-Arabien|Arabie saoudite
QA QAT Qatar|Katar
EG EGY Egypt|Ägypten|Égypte
ZA ZAF South Africa|Südafrika|Afrique du Sud
NG NGA Nigeria
KE KEN Kenya|Kenia
MA MAR Morocco|Marokko|Maroc
IN IND India|Indien|Inde
PK PAK Pakistan
BD BGD Bangladesh|Bangladesch
CN CHN China|People's Republic of China|PRC|Chine|Volksrepublik China
HK HKG Hong Kong|Hongkong
TW TWN Taiwan
JP JPN Japan|Japon
KR KOR South Korea|Korea|Republic of Korea|Korea, Republic of|Südkorea|Corée du Sud
SG SGP Singapore|Singapur|Singapour
MY MYS Malaysia|Malaisie
TH THA Thailand|Thailande
VN VNM Vietnam|Viet Nam
ID IDN Indonesia|Indonesien|Indonésie
PH PHL Philippines|Philippinen
AU AUS Australia|Australien|Australie
NZ NZL New Zealand|Neuseeland|Nouvelle-Zélande
"""


def country_key(name: str) -> str:
    """The lookup key of a country name: lower-case, no accents, dots or dashes."""
    text = unicodedata.normalize("NFKD", name.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[.'’]", "", text)
    return re.sub(r"[\s\-_,()/]+", " ", text).strip()


def _country_table() -> dict[str, str]:
    """Lookup key -> ISO-2 from ``_COUNTRIES`` (indented lines continue the line above)."""
    rows: list[list[str]] = []
    for line in _COUNTRIES.strip().splitlines():
        if line.startswith(" "):
            rows[-1].extend(line.strip().split("|"))
        else:
            iso2, iso3, names = line.split(" ", 2)
            rows.append([iso2, iso3, *names.split("|")])
    table: dict[str, str] = {}
    for row in rows:
        iso2 = row[0]
        for name in row:
            key = country_key(name)
            if table.setdefault(key, iso2) != iso2:
                raise RuntimeError(f"country alias {name!r} maps to {table[key]} and {iso2}")
    return table


COUNTRY_CODES: dict[str, str] = _country_table()


# --------------------------------------------------------------------------- transforms

Typed = tuple[pl.Expr, pl.DataType]


def _text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``expr`` as trimmed text, blanks as null."""
    if isinstance(dtype, pl.Struct):
        expr = expr.struct.json_encode()
    elif dtype != pl.String:
        expr = expr.cast(pl.String)
    trimmed = expr.str.strip_chars()
    return pl.when(trimmed.str.len_bytes() > 0).then(trimmed)


def _strip(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    return _text(expr, dtype), pl.String()


def _lower(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    return _text(expr, dtype).str.to_lowercase(), pl.String()


def _upper(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    return _text(expr, dtype).str.to_uppercase(), pl.String()


def _email(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    text = _text(expr, dtype).str.to_lowercase()
    inner = pl.coalesce(text.str.extract(r"<([^<>\s]+@[^<>\s]+)>", 1), text)
    cleaned = inner.str.strip_prefix("mailto:").str.strip_chars()
    return pl.when(cleaned.str.len_bytes() > 0).then(cleaned), pl.String()


def _numeric_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Text with currency marks and thousands separators removed; a lone comma is decimal."""
    text = _text(expr, dtype)
    text = text.str.replace_all(r"[\s_'$€£¥]", "").str.replace(r"^[A-Za-z]{3}|[A-Za-z]{3}$", "")
    return text.str.replace_all(r",(\d{3})", "${1}").str.replace(",", ".", literal=True)


def _integer(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    if dtype.is_integer() or dtype == pl.Boolean:
        return expr.cast(pl.Int64, strict=False), pl.Int64()
    number = expr if dtype.is_float() else _numeric_text(expr, dtype).cast(pl.Float64, strict=False)
    whole = pl.when(number == number.round(0)).then(number.cast(pl.Int64, strict=False))
    return whole, pl.Int64()


def _number(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    if dtype.is_numeric() or dtype == pl.Boolean:
        return expr.cast(pl.Float64, strict=False), pl.Float64()
    return _numeric_text(expr, dtype).cast(pl.Float64, strict=False), pl.Float64()


_TRUE = ("true", "t", "yes", "y", "1", "on", "x", "checked", "ja", "oui", "vrai", "wahr")
_FALSE = ("false", "f", "no", "n", "0", "off", "unchecked", "nein", "non", "faux", "falsch")
_BOOLEANS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def _boolean(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    if dtype == pl.Boolean:
        return expr, pl.Boolean()
    if dtype.is_numeric():
        return expr != 0, pl.Boolean()
    lowered = _text(expr, dtype).str.to_lowercase()
    return lowered.replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean), pl.Boolean()


_EPOCH_DIGITS = r"^-?\d{9,}(\.\d+)?$"  # shorter digit runs are more likely dates (20240115)
_ZONE = r"(?:Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_OFFSET = rf"\s*({_ZONE})$"
_ISO_USUAL = (  # YYYY-MM-DD[ T]HH:MM[:SS[.f]][offset]: parsed at fixed positions
    r"^\d{4}-\d{2}-\d{2}"
    rf"(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d{{1,9}})?)?(?:\s*{_ZONE})?)?$"
)
_ISO_8601 = (  # also basic format (20240115T1030Z) and one-digit hours
    r"^(?<year>\d{4})-?(?<month>\d{2})-?(?<day>\d{2})"
    r"(?:[T ](?<hour>\d{1,2}):?(?<minute>\d{2})"
    r"(?::?(?<second>\d{2})(?:[.,](?<fraction>\d{1,9}))?)?)?"
    rf"\s*(?<offset>{_ZONE})?$"
)


def _from_epoch(number: pl.Expr, unit: str) -> pl.Expr:
    """Seconds, milliseconds or microseconds since 1970 as a UTC timestamp."""
    number = number.cast(pl.Float64)
    if unit == "s":
        micros = number * 1e6
    elif unit == "ms":
        micros = number * 1e3
    elif unit == "us":
        micros = number
    else:  # auto: 1e11 s is the year 5138, 1e11 ms is 1973
        magnitude = number.abs()
        micros = (
            pl.when(magnitude < 1e11)
            .then(number * 1e6)
            .when(magnitude < 1e14)
            .then(number * 1e3)
            .otherwise(number)
        )
    return micros.cast(pl.Int64, strict=False).cast(TIMESTAMP)


def _localize(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Read a naive timestamp as wall-clock time in ``timezone``; return it in UTC."""
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _has_offset(fmt: str) -> bool:
    return any(code in fmt for code in ("%z", "%:z", "%#z"))


def _parse_datetime_text(text: pl.Expr, opts: TransformArgs) -> pl.Expr:
    """ISO 8601 (offset, 'Z', naive, date only, basic) or epoch text as a UTC timestamp."""
    tz = opts.timezone or "UTC"
    if opts.format:
        if _has_offset(opts.format):
            return text.str.to_datetime(opts.format, strict=False, time_zone="UTC", time_unit="us")
        return _localize(text.str.to_datetime(opts.format, strict=False, time_unit="us"), tz)
    unit = opts.unit or "auto"
    return text.map_batches(
        lambda batch: _parse_datetime_series(batch, tz, unit),
        return_dtype=TIMESTAMP,
        is_elementwise=True,
    )


def _parse_datetime_series(text: pl.Series, tz: str, unit: str) -> pl.Series:
    """The work of ``_parse_datetime_text`` on one batch, in stages.

    Speed matters here (a million rows per column). The usual shape,
    ``YYYY-MM-DD[ T]HH:MM[:SS[.f]][offset]``, is cut at fixed positions and
    parsed with one fast exact format; only rows of another shape reach the
    slower regex split, and each parser sees the other rows as null. Each
    stage is materialized so no step is computed twice.
    """
    t = pl.col("t")
    frame = pl.DataFrame({"t": text}).with_columns(
        usual=t.str.contains(_ISO_USUAL),
        other=t.str.contains(_ISO_8601),
        digits=t.str.contains(_EPOCH_DIGITS),
    )
    usual, other = pl.col("usual"), pl.col("other")
    frame = frame.with_columns(
        fast=pl.when(usual).then(t),
        slow=pl.when(~usual & other).then(t).str.extract_groups(_ISO_8601),
        epoch=_from_epoch(pl.when(pl.col("digits")).then(t).cast(pl.Float64, strict=False), unit),
    )
    fast, slow = pl.col("fast"), pl.col("slow")
    frame = frame.with_columns(
        naive=pl.coalesce(_usual_naive(fast), _any_naive(slow)),
        offset=pl.coalesce(
            pl.when(fast.str.len_bytes() >= 16).then(fast.str.slice(16)).str.extract(_OFFSET, 1),
            slow.struct.field("offset"),
        ),
    )
    parsed = _apply_offset(pl.col("naive"), pl.col("offset"), tz)
    return frame.select(pl.coalesce(parsed, pl.col("epoch"))).to_series().alias(text.name)


def _usual_naive(text: pl.Expr) -> pl.Expr:
    """Naive timestamp of text matching ``_ISO_USUAL``, cut at fixed positions."""
    timed = text.str.len_bytes() >= 16
    seconds = text.str.slice(16, 1) == ":"
    canonical = pl.concat_str(
        text.str.slice(0, 10),
        pl.lit(" "),
        pl.when(timed).then(text.str.slice(11, 5)).otherwise(pl.lit("00:00")),
        pl.lit(":"),
        pl.when(seconds).then(text.str.slice(17, 2)).otherwise(pl.lit("00")),
    )
    naive = canonical.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
    fractional = pl.when(seconds & text.str.slice(19, 1).is_in([".", ","])).then(text.str.slice(20))
    micros = pl.concat_str(fractional.str.extract(r"^(\d{1,9})", 1), pl.lit("00000"))
    return naive + pl.duration(microseconds=micros.str.slice(0, 6).cast(pl.Int64).fill_null(0))


def _any_naive(parts: pl.Expr) -> pl.Expr:
    """Naive timestamp from the named groups of ``_ISO_8601`` (basic format, 1-digit hours)."""
    canonical = pl.concat_str(
        parts.struct.field("year"),
        pl.lit("-"),
        parts.struct.field("month"),
        pl.lit("-"),
        parts.struct.field("day"),
        pl.lit("T"),
        parts.struct.field("hour").fill_null("00").str.zfill(2),
        pl.lit(":"),
        parts.struct.field("minute").fill_null("00"),
        pl.lit(":"),
        parts.struct.field("second").fill_null("00"),
        pl.lit("."),
        parts.struct.field("fraction").fill_null("0"),
    )
    return canonical.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")


def _apply_offset(naive: pl.Expr, offset: pl.Expr, tz: str) -> pl.Expr:
    """``naive`` minus its UTC ``offset`` ('Z', '+02:00', '-0500'), or read in ``tz`` if none."""
    digits = offset.str.replace_all(":", "", literal=True)
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = hours * 60 + digits.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    signed = pl.when(digits.str.starts_with("-")).then(-minutes).otherwise(minutes)
    shift = pl.when(offset.is_in(["Z", "z", "UTC", "GMT"])).then(0).otherwise(signed)
    aware = naive.dt.replace_time_zone("UTC") - pl.duration(minutes=shift)
    return pl.when(offset.is_null()).then(_localize(naive, tz)).otherwise(aware)


def _datetime(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    tz = opts.timezone or "UTC"
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            expr = _localize(expr, tz)
        return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), TIMESTAMP
    if dtype == pl.Date:
        return _localize(expr.cast(pl.Datetime("us")), tz), TIMESTAMP
    if dtype.is_numeric():
        return _from_epoch(expr, opts.unit or "auto"), TIMESTAMP
    return _parse_datetime_text(_text(expr, dtype), opts), TIMESTAMP


def _date(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone(opts.timezone or "UTC")
        return expr.dt.date(), pl.Date()
    if dtype == pl.Date:
        return expr, pl.Date()
    if dtype.is_numeric():
        return _from_epoch(expr, opts.unit or "auto").dt.date(), pl.Date()
    text = _text(expr, dtype)
    if opts.format:
        return text.str.to_date(opts.format, strict=False), pl.Date()
    epoch = pl.when(text.str.contains(_EPOCH_DIGITS)).then(
        _from_epoch(text.cast(pl.Float64, strict=False), opts.unit or "auto").dt.date()
    )
    parsed = pl.coalesce(
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        pl.when(text.str.len_bytes() == 8).then(text).str.to_date("%Y%m%d", strict=False),
        epoch,
    )
    return parsed, pl.Date()


def _country(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    text = _text(expr, dtype)
    key = (
        text.str.to_lowercase()
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all(r"[.'’]", "")
        .str.replace_all(r"[\s\-_,()/]+", " ")
        .str.strip_chars()
    )
    unknown = pl.when(text.str.contains(r"^[A-Za-z]{2}$")).then(text.str.to_uppercase())
    fallback = unknown.otherwise(text)
    return key.replace_strict(COUNTRY_CODES, default=fallback, return_dtype=pl.String), pl.String()


def _domain(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    host = (
        _text(expr, dtype)
        .str.to_lowercase()
        .str.replace(r"^(?:[a-z][a-z0-9+.\-]*://|mailto:|//)", "")
        .str.replace(r"[/?#].*$", "")
        .str.replace(r"^.*@", "")
        .str.replace(r":\d*$", "")
        .str.replace(r"^www\d*\.", "")
        .str.strip_chars(".")
    )
    return pl.when(host.str.len_bytes() > 0).then(host), pl.String()


def _split(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    item = pl.element().str.strip_chars()
    parts = _text(expr, dtype).str.split(opts.sep or ";")
    return parts.list.eval(item.filter(item.str.len_bytes() > 0)), pl.List(pl.String())


def _map(expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    """Vendor values to abmsync values by a table (``values:``); unlisted values become null
    unless ``default`` is given. The result's type is that of the table's values."""
    table = opts.values or {}
    targets = list(table.values())
    kind: pl.DataType = (
        pl.Boolean() if targets and all(isinstance(v, bool) for v in targets) else pl.String()
    )
    default = pl.lit(opts.default if opts.default is not None else None, dtype=kind)
    mapped = _text(expr, dtype).replace_strict(
        list(table),
        [v if kind == pl.Boolean() else str(v) for v in targets],
        default=default,
        return_dtype=kind,
    )
    return mapped, kind


TransformFn = Callable[[pl.Expr, pl.DataType, "TransformArgs"], Typed]

TRANSFORMS: dict[str, TransformFn] = {
    "strip": _strip,
    "lower": _lower,
    "upper": _upper,
    "email": _email,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "datetime": _datetime,
    "date": _date,
    "country": _country,
    "domain": _domain,
    "split": _split,
    "map": _map,
}
TRANSFORM_NAMES = (*TRANSFORMS, "const")


def json_text(expr: pl.Expr) -> pl.Expr:
    """Any value (list, struct, duration, ...) as JSON text; null stays null."""
    wrapped = pl.struct(expr.alias("v")).struct.json_encode()  # {"v":<value>}
    return pl.when(expr.is_not_null()).then(wrapped.str.slice(5).str.strip_suffix("}"))


def _instance(dtype: object) -> pl.DataType:
    """A data type instance (polars also uses bare classes such as ``pl.String``)."""
    if isinstance(dtype, pl.DataType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    raise TypeError(f"not a polars data type: {dtype!r}")


def apply_transform(name: str, expr: pl.Expr, dtype: pl.DataType, opts: TransformArgs) -> Typed:
    """Apply the transform ``name`` to ``expr`` of ``dtype``; lists are transformed per element.

    The result's name is not kept (it may come from a helper column): alias it.
    """
    if isinstance(dtype, pl.List) and name != "split":
        inner, inner_dtype = apply_transform(name, pl.element(), _instance(dtype.inner), opts)
        return expr.list.eval(inner), pl.List(inner_dtype)
    if isinstance(dtype, pl.List):
        return apply_transform("strip", expr, dtype, opts)
    return TRANSFORMS[name](expr, dtype, opts)


def did_you_mean(word: str, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    options = [str(c) for c in choices]
    folded = {c.lower(): c for c in options}
    close = [folded[word.lower()]] if word.lower() in folded else []
    close = close or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class TransformArgs(BaseModel):
    """The transforms applied to one value and their arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transform: list[str] = Field(default_factory=list, description="one name or a chain")
    sep: str | None = Field(default=None, description="separator for split (default ';')")
    format: str | None = Field(default=None, description="strftime format for datetime/date")
    timezone: str | None = Field(default=None, description="zone of naive datetimes (UTC)")
    unit: Literal["auto", "s", "ms", "us"] | None = Field(
        default=None, description="epoch unit for datetime/date (auto by magnitude)"
    )
    values: dict[str, str | bool] | None = Field(
        default=None, description="for map: vendor value -> abmsync value"
    )
    default: str | bool | None = Field(default=None, description="for map: unlisted values")

    @field_validator("transform", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("transform")
    @classmethod
    def _known_transforms(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in TRANSFORM_NAMES:
                hint = did_you_mean(name, TRANSFORM_NAMES)
                known = ", ".join(TRANSFORM_NAMES)
                raise ValueError(f"unknown transform {name!r}{hint}; known: {known}")
        return names

    @model_validator(mode="after")
    def _arguments_fit_transforms(self) -> TransformArgs:
        uses = {
            "sep": ("split",),
            "format": ("datetime", "date"),
            "timezone": ("datetime", "date"),
            "unit": ("datetime", "date"),
            "values": ("map",),
            "default": ("map",),
        }
        for arg, needs in uses.items():
            if getattr(self, arg) is not None and not set(needs) & set(self.transform):
                raise ValueError(f"{arg!r} only applies to transform {' or '.join(needs)}")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {self.timezone!r}") from None
        if self.format is not None:
            _check_format(self.format)
        targets = list((self.values or {}).values())
        booleans = bool(targets) and all(isinstance(v, bool) for v in targets)
        if booleans and self.default is not None and not isinstance(self.default, bool):
            raise ValueError(f"default {self.default!r} must be true or false, like the values")
        return self

    def apply(self, expr: pl.Expr, dtype: pl.DataType) -> Typed:
        """Run the chain over ``expr`` of ``dtype``; return the result and its dtype."""
        for name in self.transform:
            if name != "const":
                expr, dtype = apply_transform(name, expr, dtype, self)
        return expr, dtype


def _check_format(fmt: str) -> None:
    """A strftime ``format`` must be one polars accepts and hold at least one directive."""
    if "%" not in fmt:
        raise ValueError(f"format {fmt!r} has no %-directive (e.g. '%d.%m.%Y %H:%M')")
    try:
        pl.Series(["2000-01-01"]).str.to_datetime(fmt, strict=False, time_unit="us")
    except (pl.exceptions.PolarsError, PanicException) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"format {fmt!r} is not a valid date-time format: {detail}") from None
