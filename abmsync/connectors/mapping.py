"""YAML field mappings from a vendor object onto a shared schema entity.

A mapping file names the schema entity it produces, the vendor object it reads,
and for each schema column either a vendor field or a constant, optionally
passed through small *named* transforms (no expressions, no templating)::

    entity: people                  # people | accounts | touchpoints | opportunities |
                                    # opportunity_roles
    source: {system: salesforce, object: Lead}
    fields:                         # schema column: vendor field | {field|const, transform, args}
      id: Id
      email: {field: Email, transform: email}
      employees: {field: NumberOfEmployees, transform: integer}
      created_at: {field: CreatedDate, transform: datetime, timezone: Europe/Berlin}
      lead_source: {const: webinar}
    custom:                         # vendor field: custom column (kept for rules)
      Rating: rating
      Roles__c: {column: roles, transform: [split, lower], sep: ";"}
      Rejection_Reason__c: {column: rejection_reason, optional: true}

A custom field marked ``optional`` may be missing from an org (a field some
orgs add and others do not): its column is then null rather than an error.

A dotted vendor field reads a field of the record a lookup points to, where
the connector can (Salesforce relationship fields: ``Campaign.Name`` on a
``CampaignMember``); the connector checks the path against ``describe``
before the first read and names what it does not know.

Transforms (chain several with a list; after ``split`` the rest apply to each
element). Text transforms trim whitespace and turn blanks into null; parsing
transforms turn values they cannot read into null, so one odd value in a
million-row export does not stop an import. A column mapped *without* a
transform is parsed strictly and a bad value raises ``BadValueError``.

==========  =============================================================
strip       trim whitespace
lower/upper trim and change case
email       trim, lower-case, drop ``mailto:`` and ``Name <...>`` wrapping
integer     ``1,200`` -> 1200; ``12.0`` -> 12; fractions -> null
number      ``$1,200.50`` -> 1200.5
boolean     true/yes/y/1/on/x/ja/oui -> true; false/no/n/0/off/nein/non -> false
datetime    ISO 8601 with offset or ``Z``, naive (read in ``timezone``, default
            UTC), epoch s/ms/us (``unit: auto`` guesses by magnitude), or a
            strftime ``format`` -> UTC timestamp
date        ISO date or the date part of an ISO datetime, epoch, or ``format``
country     names (English, German, French), aliases, ISO-3 -> ISO-2; unknown
            two-letter codes are upper-cased, anything else kept as given
domain      from a URL or an email: no scheme, ``www.``, port or path; lower-case
split       text -> list on ``sep`` (default ``;``, as Salesforce multi-picklists)
const       implied by ``const:``; the value is used for every row
==========  =============================================================

Every transform is a polars expression, so a mapping runs over whole frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from abmsync.connectors.transforms import (
    TransformArgs,
    Typed,
    apply_transform,
    did_you_mean,
    json_text,
)
from abmsync.errors import ConfigError
from abmsync.schema import FRAME_COLUMNS, REQUIRED_COLUMNS, TIMESTAMP, SchemaError, conform
from abmsync.yamlnodes import YamlError, compose

Location = tuple[str | int, ...]
KEY = "<key>"  # path step meaning "the key node of the previous step"
Entity = Literal["people", "accounts", "touchpoints", "opportunities", "opportunity_roles"]
Constant = str | int | float | bool | None


class MappingError(ConfigError):
    """A mapping file or mapping model is wrong; the message is one line.

    When the mapping came from a file the message starts with ``file:line:column: ``.
    ``path`` is where in the mapping document the problem is (keys and indexes).
    """

    def __init__(self, message: str, path: Location = ()) -> None:
        super().__init__(message)
        self.path = path


class InputError(ConfigError):
    """Input records do not fit the schema (a required column is absent, a value unreadable)."""


class BadValueError(InputError):
    """A value in the input cannot be read as its schema column's type; ``row`` is 0-based."""

    def __init__(self, column: str, row: int, value: str, expected: str) -> None:
        self.column, self.row, self.value, self.expected = column, row, value, expected
        super().__init__(f"row {row + 1}: column {column!r}: {value!r} is not {expected}")


# --------------------------------------------------------------------------- models


class FieldRule(TransformArgs):
    """Where one schema column comes from: a vendor field or a constant."""

    field: str | None = Field(default=None, description="vendor field name")
    first_of: list[str] | None = Field(
        default=None,
        min_length=2,
        description="several vendor fields: the first that has a value (e.g. LeadId, ContactId)",
    )
    const: Constant = Field(default=None, description="a value for every row")

    @model_validator(mode="before")
    @classmethod
    def _plain_field_name(cls, value: object) -> object:
        return {"field": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _field_or_const(self) -> FieldRule:
        has_const = "const" in self.model_fields_set
        given = [self.field is not None, self.first_of is not None, has_const]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'field', 'first_of' or 'const'")
        if "const" in self.transform and not has_const:
            raise ValueError("transform 'const' needs a 'const:' value")
        return self

    @property
    def is_const(self) -> bool:
        """Whether this rule yields a constant rather than a vendor field."""
        return self.field is None and self.first_of is None


class CustomRule(TransformArgs):
    """A vendor field kept as a custom column that rules may reference."""

    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="custom column name")
    optional: bool = Field(
        default=False, description="the vendor field may be absent: the column is then null"
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_column_name(cls, value: object) -> object:
        return {"column": value} if isinstance(value, str) else value


class SourceSpec(BaseModel):
    """The vendor system and object a mapping reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(description="connector name, e.g. 'salesforce', 'hubspot', 'files'")
    object: str = Field(description="vendor object, e.g. 'Lead', 'contacts'")


class Mapping(BaseModel):
    """A parsed mapping: which schema entity, from which vendor object, field by field."""

    model_config = ConfigDict(extra="forbid")

    entity: Entity
    source: SourceSpec
    fields: dict[str, FieldRule]
    custom: dict[str, CustomRule] = Field(default_factory=dict)
    _origin: str = PrivateAttr(default="")
    _locations: dict[Location, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _columns_fit_entity(self) -> Mapping:
        columns = FRAME_COLUMNS[self.entity]
        for name, rule in self.fields.items():
            if name not in columns:
                raise MappingError(
                    f"unknown {self.entity} column {name!r}{did_you_mean(name, columns)};"
                    " other vendor fields go under 'custom'",
                    ("fields", name, KEY),
                )
            if "split" in rule.transform:
                raise MappingError(
                    f"{name}: 'split' makes a list; map multi-value fields under 'custom'",
                    ("fields", name, "transform"),
                )
        missing = [c for c in REQUIRED_COLUMNS[self.entity] if c not in self.fields]
        if missing:
            raise MappingError(
                f"{self.entity} mapping must map required column {missing[0]!r}", ("fields",)
            )
        seen: dict[str, str] = {}
        for vendor, custom in self.custom.items():
            column = custom.column
            if column in columns:
                raise MappingError(
                    f"custom column {column!r} is a {self.entity} column; map it in 'fields'",
                    ("custom", vendor),
                )
            if column in seen:
                raise MappingError(
                    f"custom column {column!r} is already taken by {seen[column]!r}",
                    ("custom", vendor),
                )
            seen[column] = vendor
        return self

    @property
    def vendor_fields(self) -> list[str]:
        """Every vendor field the mapping reads, in order of first use."""
        names: list[str] = []
        for rule in self.fields.values():
            names += [rule.field] if rule.field else list(rule.first_of or [])
        names += list(self.custom)
        return list(dict.fromkeys(names))

    def columns_from(self, vendor_fields: Sequence[str]) -> list[str]:
        """The columns this mapping fills from any of ``vendor_fields``."""
        wanted = set(vendor_fields)
        columns = [
            column
            for column, rule in self.fields.items()
            if {rule.field, *(rule.first_of or [])} & wanted
        ]
        return columns + [rule.column for field, rule in self.custom.items() if field in wanted]

    @property
    def origin(self) -> str:
        """The file this mapping was loaded from, or ``''`` if built in code."""
        return self._origin

    def where(self, *path: str | int) -> str:
        """``file:line:column: `` of a place in the mapping file, or nothing if unknown."""
        return self._locations.get(path, "")


# --------------------------------------------------------------------------- loading


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping file; raise ``MappingError`` with file:line:column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read mapping: {exc}") from None
    try:
        # Tags, alias bombs and deep nesting are refused before anything is built.
        root = compose(text)
        data = yaml.safe_load(text)
    except YamlError as exc:
        message = exc.message.replace("YAML syntax: ", "invalid YAML: ", 1)
        raise MappingError(f"{path}:{exc.line}:{exc.column}: {message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise MappingError(f"{where}: invalid YAML: {problem}") from None
    except ValueError as exc:  # e.g. a date such as 2026-02-30
        raise MappingError(f"{path}: invalid value: {str(exc).splitlines()[0]}") from None
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise MappingError(f"{path}:1:1: a mapping file is a YAML mapping (entity, source, fields)")
    _reject_duplicate_keys(path, root)
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        loc: Location = tuple(errors[0]["loc"])
        if errors[0]["type"] == "extra_forbidden":
            loc = (*loc, KEY)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = f"{_mark(path, root, loc)}: {_describe(errors[0])}{more}"
        raise MappingError(message, loc) from None
    except MappingError as exc:
        raise MappingError(f"{_mark(path, root, exc.path)}: {exc}", exc.path) from None
    mapping._origin = str(path)
    for group in ("fields", "custom"):
        for name, rule in getattr(mapping, group).items():
            plain = group == "fields" and not rule.is_const
            step = (group, name, "field") if plain else (group, name, KEY)
            mapping._locations[(group, name)] = _mark(path, root, step) + ": "
    return mapping


def _describe(error: Any) -> str:
    """One line for a pydantic error: what is wrong, at which key."""
    loc = [str(p) for p in error["loc"]]
    if error["type"] == "extra_forbidden":
        known = [*Mapping.model_fields, *SourceSpec.model_fields, *CustomRule.model_fields]
        known += list(FieldRule.model_fields)
        return f"unknown key {loc[-1]!r}{did_you_mean(loc[-1], known)}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {message}" if loc else message


def _mark(path: Path, root: yaml.Node, loc: Location) -> str:
    """``file:line:column`` of the node at ``loc`` (the deepest that exists)."""
    node = root
    for step in loc:
        if step == KEY:
            break
        child = _child(node, step)
        if child is None:
            break
        node = child
    if loc and loc[-1] == KEY:
        node = _key_node(root, loc[:-1]) or node
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]  # type: ignore[no-any-return]
    return None


def _key_node(root: yaml.Node, loc: Location) -> yaml.Node | None:
    parent: yaml.Node | None = root
    for step in loc[:-1]:
        parent = _child(parent, step) if parent is not None else None
    if isinstance(parent, yaml.MappingNode):
        for key, _ in parent.value:
            if key.value == str(loc[-1]):
                return key  # type: ignore[no-any-return]
    return None


def _reject_duplicate_keys(path: Path, node: yaml.Node) -> None:
    """YAML keeps the last of two equal keys silently; in a mapping that is always a mistake."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                mark = key.start_mark
                raise MappingError(
                    f"{path}:{mark.line + 1}:{mark.column + 1}: duplicate key {key.value!r}"
                )
            seen.add(key.value)
            _reject_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(path, item)


# --------------------------------------------------------------------------- applying


def mapping_exprs(mapping: Mapping, schema: pl.Schema, *, source: str = "input") -> list[pl.Expr]:
    """Expressions that turn a frame of vendor fields (``schema``) into the entity's columns.

    Raises ``MappingError`` naming the mapping's line when a vendor field is
    absent; ``source`` names the input in that message (a file name).
    """
    exprs: list[pl.Expr] = []
    columns = FRAME_COLUMNS[mapping.entity]
    for name in columns:
        if name not in mapping.fields:
            continue
        rule = mapping.fields[name]
        if rule.is_const:
            base, dtype = _literal(rule.const)
        elif rule.first_of is not None:
            typed = [
                _vendor_column(mapping, schema, field, ("fields", name), source)
                for field in rule.first_of
            ]
            base, dtype = pl.coalesce([expr for expr, _ in typed]), typed[0][1]
        else:
            base, dtype = _vendor_column(
                mapping, schema, rule.field or "", ("fields", name), source
            )
        expr, _ = rule.apply(base, dtype)
        exprs.append(expr.alias(name))
    if mapping.entity == "touchpoints" and "source_system" not in mapping.fields:
        exprs.append(pl.lit(mapping.source.system, dtype=pl.String).alias("source_system"))
    for vendor, custom in mapping.custom.items():
        if custom.optional and vendor not in schema:
            base, dtype = pl.lit(None, dtype=pl.String), pl.String()
        else:
            base, dtype = _vendor_column(mapping, schema, vendor, ("custom", vendor), source)
        expr, _ = custom.apply(base, dtype)
        exprs.append(expr.alias(custom.column))
    return exprs


_SOURCE = "__abmsync_source__"


def source_exprs(mapping: Mapping, schema: pl.Schema) -> list[pl.Expr]:
    """The vendor values behind the columns :func:`check_transformed` checks, as extra columns.

    Those are the entity's required columns and columns parsed with an explicit
    ``format``: for them a transform that turns a present value into null is
    an error, not tolerance of an odd value.
    """
    exprs = []
    for name in _checked_columns(mapping):
        rule = mapping.fields[name]
        fields = [rule.field] if rule.field else list(rule.first_of or [])
        present = [pl.col(f) for f in fields if f in schema]
        if present and rule.transform:
            exprs.append(pl.coalesce(present).alias(_SOURCE + name))
    return exprs


def check_transformed(mapping: Mapping, frame: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Raise ``MappingError`` (mapping position, input row) where a checked transform lost a value.

    ``frame`` holds the mapped columns and those of :func:`source_exprs`; the
    latter are dropped from the result.
    """
    helpers = [c for c in frame.columns if c.startswith(_SOURCE)]
    for helper in helpers:
        name = helper.removeprefix(_SOURCE)
        raw = frame[helper]
        present = raw.is_not_null()
        if raw.dtype == pl.String():
            present = present & (raw.str.strip_chars().str.len_bytes() > 0)
        lost = (present & frame[name].is_null()).arg_true()
        if lost.len() == 0:
            continue
        row = int(lost[0])
        rule = mapping.fields[name]
        raise MappingError(
            f"{mapping.where('fields', name)}{source}: row {row + 1}: {name}: "
            f"{raw[row]!r} {_why_lost(rule)}",
            ("fields", name),
        )
    return frame.drop(helpers)


def _checked_columns(mapping: Mapping) -> list[str]:
    required = REQUIRED_COLUMNS[mapping.entity]
    return [
        name
        for name, rule in mapping.fields.items()
        if not rule.is_const and (name in required or rule.format is not None)
    ]


def _why_lost(rule: FieldRule) -> str:
    if "map" in rule.transform:
        return "is not among the map's values (add it, or give a default:)"
    if rule.format is not None:
        return f"does not match format {rule.format!r}"
    return f"cannot be read by {' then '.join(rule.transform)}"


def apply_mapping(mapping: Mapping, frame: pl.DataFrame) -> pl.DataFrame:
    """Map a frame of vendor records onto ``mapping.entity``; the result is conformed.

    Schema columns come first in schema order, then custom columns. Raises
    ``MappingError`` for a vendor field the frame lacks and ``BadValueError``
    for a value of an untransformed column that cannot be read as its type.
    """
    mapped = frame.select(mapping_exprs(mapping, frame.schema))
    return coerce_to_schema(mapped, mapping.entity)


def _literal(value: Constant) -> Typed:
    dtypes: dict[type, pl.DataType] = {
        str: pl.String(),
        bool: pl.Boolean(),
        int: pl.Int64(),
        float: pl.Float64(),
    }
    dtype = dtypes.get(type(value), pl.Null())
    return pl.lit(value, dtype=dtype), dtype


def _vendor_column(
    mapping: Mapping, schema: pl.Schema, field: str, where: Location, source: str
) -> Typed:
    """The vendor column ``field`` and its type; a ``MappingError`` at ``where`` if absent."""
    if field not in schema:
        raise MappingError(
            f"{mapping.where(*where)}{source} has no column {field!r}"
            f"{did_you_mean(field, schema.names())}",
            where,
        )
    return pl.col(field), schema[field]


_STAGED = "__abmsync_parsed__"

# Parsers used for columns mapped without a transform (and for files already in
# schema names): the same readers as the transforms, but a miss is an error.
_PARSERS: dict[pl.DataType, tuple[str, str]] = {
    TIMESTAMP: ("datetime", "a date-time"),
    pl.Int64(): ("integer", "an integer"),
    pl.Float64(): ("number", "a number"),
    pl.Boolean(): ("boolean", "a boolean (true/false, yes/no, 1/0)"),
}


def coerce_to_schema(frame: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Parse the entity's columns of ``frame`` strictly, then ``conform`` it.

    Text is read with the transform of the column's type (ISO datetimes with
    offsets and epoch values, ``yes``/``no`` booleans, ``1,200``). The first
    non-blank value that does not parse raises ``BadValueError`` with its row.
    """
    parsed: dict[str, pl.Expr] = {}  # staged under a temporary name, so parsed once
    misses: dict[str, pl.Expr] = {}
    for name, target in FRAME_COLUMNS[entity].items():
        if name not in frame.columns or frame.schema[name] == target:
            continue
        source = frame.schema[name]
        if target == pl.String:
            if source.is_nested():
                parsed[name] = json_text(pl.col(name))
            continue  # conform casts scalars to text; that cannot fail
        transform, _ = _PARSERS[target]
        parsed[name], _ = apply_transform(transform, pl.col(name), source, TransformArgs())
        present = pl.col(name).is_not_null()
        if source == pl.String:
            present = present & (pl.col(name).str.strip_chars().str.len_bytes() > 0)
        misses[name] = pl.arg_where(present & pl.col(_STAGED + name).is_null()).first()
    if parsed:
        staged = frame.with_columns(**{_STAGED + n: e for n, e in parsed.items()})
        found = staged.select(**misses).row(0, named=True) if misses else {}
        bad = [(row, name) for name, row in found.items() if row is not None]
        if bad:
            row, name = min(bad)
            expected = _PARSERS[FRAME_COLUMNS[entity][name]][1]
            raise BadValueError(name, row, str(frame[name][row]), expected)
        renames = [pl.col(_STAGED + n).alias(n) for n in parsed]
        frame = staged.with_columns(renames).drop([_STAGED + n for n in parsed])
    try:
        conformed = conform(frame, entity)
    except SchemaError as exc:
        raise InputError(str(exc)) from None
    known = list(FRAME_COLUMNS[entity])
    return conformed.select(*known, *(c for c in conformed.columns if c not in known))
