"""Dataverse table and column definitions: what ``describe`` reports and ``ensure_fields`` creates.

Reads follow "Query table definitions using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api):
``EntityDefinitions`` filtered on the logical name gives the entity set and
primary columns; ``.../Attributes`` the columns (each with its derived type's
properties: MaxLength, Targets, ...); casts to ``PicklistAttributeMetadata``,
``StateAttributeMetadata`` and ``StatusAttributeMetadata`` with the
``OptionSet`` expanded give choice labels; ``.../Keys`` the alternate keys;
``.../ManyToOneRelationships`` the navigation property behind each lookup.

:class:`Catalog` sends the definitions of :mod:`.definitions` to create what
``ensure_fields`` needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from abmsync.connectors.base import FieldMeta, FieldType, ObjectMeta
from abmsync.connectors.dynamics.client import DataverseClient, DynamicsTerminalError
from abmsync.connectors.dynamics.definitions import (
    CREATED_MARK,
    attribute_body,
    check_custom_name,
    key_body,
    relationship_body,
    table_body,
    title,
)
from abmsync.errors import ConfigError

CRM = "Microsoft.Dynamics.CRM"

_TYPES = {
    "String": FieldType.STRING,
    "Memo": FieldType.TEXT,
    "Integer": FieldType.INTEGER,
    "BigInt": FieldType.INTEGER,
    "Decimal": FieldType.NUMBER,
    "Double": FieldType.NUMBER,
    "Money": FieldType.NUMBER,
    "Boolean": FieldType.BOOLEAN,
    "DateTime": FieldType.DATETIME,
    "Picklist": FieldType.PICKLIST,
    "State": FieldType.PICKLIST,
    "Status": FieldType.PICKLIST,
    "Lookup": FieldType.REFERENCE,
    "Owner": FieldType.REFERENCE,
    "Customer": FieldType.REFERENCE,
    "Uniqueidentifier": FieldType.ID,
}
_STRING_FORMATS = {"Email": FieldType.EMAIL, "Url": FieldType.URL, "Phone": FieldType.PHONE}
LOOKUP_TYPES = frozenset({"Lookup", "Owner", "Customer"})
# Lookups that always get a ``<name>_type`` column, whatever one org's targets are.
POLYMORPHIC = frozenset({"regardingobjectid", "parentcustomerid", "customerid", "partyid"})
# The option set casts whose labels ``describe`` reads, one call each.
OPTION_SET_CASTS = (
    "PicklistAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
)
ENTITY_SELECT = (
    "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled"
)


@dataclass(frozen=True)
class Column:
    """One readable column: its logical name, AttributeType and lookup targets.

    ``labelled``: a choice column abmsync created (its stage), read as its
    labels, the way abmsync writes every choice; other choices read as numbers.
    """

    name: str
    type: str
    targets: tuple[str, ...] = ()
    labelled: bool = False

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def wire_name(self) -> str:
        """The property name in Web API records: ``_ownerid_value`` for a lookup."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def polymorphic(self) -> bool:
        """A lookup to more than one table whose target is worth a ``<name>_type`` column.

        Owner lookups (user or team) are left out: abmsync reads owners as users.
        """
        if self.name in POLYMORPHIC:
            return True
        return self.type in ("Lookup", "Customer") and len(self.targets) > 1


@dataclass(frozen=True)
class Table:
    """What ``EntityDefinitions`` says about one table."""

    logical: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    change_tracking: bool

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Table:
        return cls(
            logical=str(item["LogicalName"]),
            entity_set=str(item["EntitySetName"]),
            primary_id=str(item["PrimaryIdAttribute"]),
            primary_name=str(item["PrimaryNameAttribute"])
            if item.get("PrimaryNameAttribute")
            else None,
            change_tracking=bool(item.get("ChangeTrackingEnabled")),
        )


@dataclass
class Described:
    """``describe``'s answer and what reading and writing need besides it."""

    table: Table
    meta: ObjectMeta
    columns: dict[str, Column]
    choices: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> label -> value
    keys: list[tuple[str, ...]] = field(default_factory=list)


def label_text(value: object) -> str:
    """The user's (or first) label of a ``Label`` complex value."""
    if not isinstance(value, Mapping):
        return ""
    user = value.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and user.get("Label"):
        return str(user["Label"])
    for item in value.get("LocalizedLabels") or []:
        if isinstance(item, Mapping) and item.get("Label"):
            return str(item["Label"])
    return ""


def is_skipped(item: Mapping[str, Any]) -> bool:
    """Virtual and calculated columns (``AttributeOf`` set: ``owneridname``), unreadable ones."""
    return (
        bool(item.get("AttributeOf"))
        or item.get("AttributeType") in ("Virtual", "EntityName", "ManagedProperty")
        or item.get("IsValidForRead") is False
    )


def options(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Column -> choice label -> value, from attributes with the ``OptionSet`` expanded."""
    found: dict[str, dict[str, int]] = {}
    for item in items:
        option_set = item.get("OptionSet") or {}
        labels: dict[str, int] = {}
        for option in option_set.get("Options") or []:
            text = label_text(option.get("Label")) or str(option.get("Value"))
            labels[text] = int(option["Value"])
        found[str(item["LogicalName"])] = labels
    return found


def describe_table(
    table: Table,
    attributes: Iterable[Mapping[str, Any]],
    choices: Mapping[str, dict[str, int]],
    keys: Iterable[Mapping[str, Any]],
    label_of_table: str = "",
) -> Described:
    """Build :class:`Described` from the metadata answers of one table."""
    key_columns = [tuple(str(a) for a in k.get("KeyAttributes") or []) for k in keys]
    singles = {k[0] for k in key_columns if len(k) == 1}  # an upsert key is one column
    fields: dict[str, FieldMeta] = {}
    columns: dict[str, Column] = {}
    for item in attributes:
        if is_skipped(item):
            continue
        name = str(item["LogicalName"])
        kind_name = str(item.get("AttributeType") or "")
        kind = _TYPES.get(kind_name, FieldType.OTHER)
        if kind is FieldType.STRING:
            fmt = item.get("FormatName") or {}
            kind = _STRING_FORMATS.get(
                str(fmt.get("Value") if isinstance(fmt, Mapping) else fmt), kind
            )
        targets = tuple(str(t) for t in item.get("Targets") or [])
        labelled = kind_name == "Picklist" and label_text(item.get("Description")).endswith(
            CREATED_MARK
        )
        columns[name] = Column(name, kind_name, targets, labelled)
        labels = choices.get(name)
        fields[name] = FieldMeta(
            name=name,
            label=label_text(item.get("DisplayName")),
            type=kind,
            length=int(item["MaxLength"]) if item.get("MaxLength") else None,
            picklist=list(labels) if labels is not None else None,
            restricted_picklist=labels is not None,
            writable=bool(item.get("IsValidForUpdate") or item.get("IsValidForCreate")),
            external_id=name in singles,
            reference_to=targets[0] if targets else None,
        )
    meta = ObjectMeta(name=table.logical, label=label_of_table, fields=fields)
    return Described(table, meta, columns, dict(choices), key_columns)


class Catalog:
    """Table and column definitions of one org, read once per table and cached."""

    def __init__(self, client: DataverseClient) -> None:
        self.client = client
        self._tables: dict[str, Table] = {}
        self._described: dict[str, Described] = {}
        self._navigation: dict[str, dict[str, dict[str, str]]] = {}

    def find_table(self, logical: str) -> Table | None:
        """The table named ``logical``, or None when the org has none (cached once found)."""
        if logical not in self._tables:
            answer = self.client.get_json(
                "EntityDefinitions",
                what=f"looking up table {logical}",
                params={
                    "$filter": f"LogicalName eq '{odata_text(logical)}'",
                    "$select": ENTITY_SELECT,
                },
            )
            found = [Table.of(item) for item in answer.get("value") or []]
            if not found:
                return None  # not cached: ensure_fields may create it
            self._tables[logical] = found[0]
        return self._tables[logical]

    def table(self, logical: str) -> Table:
        """The table named ``logical``; a terminal error when it does not exist."""
        found = self.find_table(logical)
        if found is None:
            raise ConfigError(f"Dynamics 365 has no table {logical!r} (a logical name, like lead)")
        return found

    def describe(self, logical: str, *, fresh: bool = False) -> Described:
        """Columns, choices and keys of ``logical``: 6 calls the first time, cached after."""
        if fresh or logical not in self._described:
            table = self.table(logical)
            path = f"EntityDefinitions(LogicalName='{odata_text(logical)}')"
            what = f"describing {logical}"
            attributes = self.client.get_json(f"{path}/Attributes", what=what)["value"]
            choices: dict[str, dict[str, int]] = {}
            for cast in OPTION_SET_CASTS:
                answer = self.client.get_json(
                    f"{path}/Attributes/{CRM}.{cast}",
                    what=what,
                    params={"$select": "LogicalName", "$expand": "OptionSet"},
                )
                choices |= options(answer.get("value") or [])
            keys = self.client.get_json(f"{path}/Keys", what=what).get("value") or []
            active = [k for k in keys if k.get("EntityKeyIndexStatus", "Active") == "Active"]
            self._described[logical] = describe_table(table, attributes, choices, active)
            self._described[logical].keys = [tuple(k.get("KeyAttributes") or []) for k in keys]
        return self._described[logical]

    def navigation(self, logical: str, column: str, target: str | None) -> str | None:
        """The single-valued navigation property that binds ``column`` to ``target``.

        From ``ManyToOneRelationships`` (read once per table): a polymorphic
        lookup has one per target table (``parentcustomerid_account``), an
        owner one to ``owner`` (``ownerid``) and a custom lookup its schema
        name, whose case matters (``abm_Lead``).
        """
        if logical not in self._navigation:
            answer = self.client.get_json(
                f"EntityDefinitions(LogicalName='{odata_text(logical)}')/ManyToOneRelationships",
                what=f"reading the lookups of {logical}",
                params={
                    "$select": "ReferencingAttribute,ReferencingEntityNavigationPropertyName,"
                    "ReferencedEntity"
                },
            )
            navs: dict[str, dict[str, str]] = {}
            for item in answer.get("value") or []:
                by_target = navs.setdefault(str(item["ReferencingAttribute"]), {})
                nav = item.get("ReferencingEntityNavigationPropertyName")
                if nav:
                    by_target[str(item["ReferencedEntity"])] = str(nav)
            self._navigation[logical] = navs
        by_target = self._navigation[logical].get(column) or {}
        if target is not None and target in by_target:
            return by_target[target]
        names = set(by_target.values())
        return names.pop() if len(names) == 1 else None

    # -- creating ----------------------------------------------------------------------

    def ensure(self, obj: str, fields: Iterable[FieldMeta]) -> list[str]:
        """Create the table ``obj`` (if custom and missing) and its missing columns and keys.

        Idempotent: what exists is left alone; returns the names of the columns
        created (as the Protocol asks: a table or key made for them is not a field).
        """
        wanted = list(fields)
        created: list[str] = []
        changed = False
        if self.find_table(obj) is None:
            check_custom_name(obj, obj)
            self._post(
                "EntityDefinitions",
                table_body(obj, title(obj)),
                f"creating table {obj}",
                lambda: self.find_table(obj) is not None,
            )
            changed = True
        path = f"EntityDefinitions(LogicalName='{odata_text(obj)}')"
        existing = self.describe(obj, fresh=True)
        for spec in wanted:
            if spec.name in existing.meta.fields:
                continue
            check_custom_name(obj, spec.name)
            what = f"creating column {obj}.{spec.name}"
            if spec.type is FieldType.REFERENCE:
                if not spec.reference_to:
                    raise ConfigError(f"cannot create lookup {obj}.{spec.name}: no reference_to")
                url, body = (
                    "RelationshipDefinitions",
                    relationship_body(obj, spec, self.table(spec.reference_to)),
                )
            else:
                url, body = f"{path}/Attributes", attribute_body(spec)
            self._post(url, body, what, partial(self._has_column, obj, spec.name))
            created.append(spec.name)
        keyed = {k for k in self.describe(obj, fresh=True).keys if len(k) == 1}
        for spec in wanted:
            if spec.external_id and (spec.name,) not in keyed:
                self._post(
                    f"{path}/Keys",
                    key_body(spec.name),
                    f"creating key {obj}.{spec.name}",
                    partial(self._has_key, obj, spec.name),
                )
                changed = True
        if created or changed:
            self._navigation.pop(obj, None)
            self.describe(obj, fresh=True)
        return created

    def _has_column(self, obj: str, name: str) -> bool:
        return name in self.describe(obj, fresh=True).meta.fields

    def _has_key(self, obj: str, name: str) -> bool:
        return (name,) in self.describe(obj, fresh=True).keys

    def _post(self, url: str, body: dict[str, Any], what: str, exists: Callable[[], bool]) -> None:
        """POST a definition; a refusal is fine when the definition now exists.

        A lost answer is retried like any transient failure, and the second
        try of a create that went through is refused as a duplicate name; so
        is a create that a concurrent run made first.
        """
        try:
            self.client.send("POST", url, what=what, json_body=body)
        except DynamicsTerminalError:
            if not exists():
                raise


def odata_text(value: str) -> str:
    """``value`` inside an OData string literal: single quotes doubled."""
    return value.replace("'", "''")
