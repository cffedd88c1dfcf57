"""The metadata Web API: EntityDefinitions, Attributes, Keys and RelationshipDefinitions.

Reads follow "Query table definitions using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api);
writes "Create and update table definitions", "Create and update column
definitions" and "Define alternate keys using the Web API". A custom name needs
a publisher prefix (``abm_``); the logical name is the lower-cased SchemaName.

Guesses:
- A custom name without a publisher prefix answers 400 ``0x80044150`` and a
  name already taken 400 ``0x80047013`` (messages modelled on Dataverse's).
- Lookup columns can only be made through RelationshipDefinitions (POSTing a
  LookupAttributeMetadata to Attributes answers 400), as Dataverse documents.
- ``$filter`` on metadata supports comparisons with and/or/not on top-level and
  ``Complex/Value`` properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata import (
    TYPE_BY_METADATA,
    AttributeDef,
    EntityDef,
    KeyDef,
    Option,
    label_text,
    metadata_id,
)
from abmsync.sandbox.dynamics.odata import Token, syntax_error, tokenize
from abmsync.sandbox.dynamics.store import DataverseStore
from abmsync.sandbox.dynamics.webapi import ApiRequest, Reply, split_outside_quotes

BAD_NAME = "0x80044150"
_SEGMENT = re.compile(r"^([^()]+)(?:\((.*)\))?$")


def plural(name: str) -> str:
    """The entity set name Dataverse derives for a new table."""
    if re.search(r"[^aeiou]y$", name):
        return name[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", name):
        return name + "es"
    return name + "s"


class MetadataApi:
    """Answers ``EntityDefinitions``, ``RelationshipDefinitions`` and ``CreateEntities``."""

    def __init__(self, store: DataverseStore) -> None:
        self.store = store
        self.relationships: dict[str, dict[str, Any]] = {}

    def handles(self, path: str) -> bool:
        head = path.lstrip("/").split("/", 1)[0].split("(", 1)[0]
        return head in ("EntityDefinitions", "RelationshipDefinitions", "CreateEntities")

    def handle(self, request: ApiRequest) -> Reply:
        segments = [s for s in split_outside_quotes(request.path, "/") if s]
        head = _SEGMENT.match(segments[0])
        assert head is not None
        name, key = head.group(1), head.group(2)
        if name == "CreateEntities" and request.method == "POST":
            for entity in request.json().get("Entities") or []:
                self.create_table(entity)
            return Reply(204)
        if name == "RelationshipDefinitions":
            return self.relationship(request, key)
        if key is None:
            if request.method == "POST":
                table = self.create_table(request.json())
                return Reply(204, None, {"OData-EntityId": self._entity_url(request, table)})
            tables = [t.as_json() for t in self.store.tables.values()]
            return self._listing(request, "EntityDefinitions", tables)
        table = self._table(key)
        rest = segments[1:]
        if not rest:
            if request.method == "DELETE":
                return self.drop_table(table)
            body = table.as_json()
            if "Attributes" in request.query.get("$expand", ""):
                body["Attributes"] = [a.as_json(table.name) for a in table.attributes.values()]
            return Reply(200, self._one(request, "EntityDefinitions/$entity", body))
        if rest[0].split("(", 1)[0] == "Attributes":
            return self.attributes(request, table, rest)
        if rest[0].split("(", 1)[0] == "Keys":
            return self.keys(request, table, rest)
        if rest[0] == "ManyToOneRelationships":
            items = self.many_to_one(table)
            what = f"EntityDefinitions('{table.metadata_id}')/ManyToOneRelationships"
            return self._listing(request, what, items)
        raise DataverseError(404, errors.ODATA, f"Resource not found for the segment '{rest[0]}'.")

    # -- reading ------------------------------------------------------------------

    def many_to_one(self, table: EntityDef) -> list[dict[str, Any]]:
        """The table's lookups as OneToManyRelationshipMetadata, one per lookup and target.

        Guess: standard relationships are named ``<target>_<table>_<attribute>``
        (Dataverse's names vary, e.g. ``lead_owning_user``); clients use the
        attributes and navigation property names, which follow the tables'.
        """
        items = []
        for attribute in table.attributes.values():
            if not attribute.is_lookup:
                continue
            for target in attribute.targets:
                custom = next(
                    (
                        r
                        for r in self.relationships.values()
                        if r["ReferencingEntity"] == table.name
                        and r["ReferencingAttribute"] == attribute.name
                    ),
                    None,
                )
                if custom is not None:
                    items.append(custom)
                    continue
                schema = f"{target}_{table.name}_{attribute.name}"
                referenced = self.store.tables.get(target)
                items.append(
                    {
                        "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
                        "MetadataId": metadata_id("relationship", schema),
                        "SchemaName": schema,
                        "ReferencedEntity": target,
                        "ReferencedAttribute": referenced.primary_id if referenced else "",
                        "ReferencingEntity": table.name,
                        "ReferencingAttribute": attribute.name,
                        "ReferencingEntityNavigationPropertyName": attribute.nav.get(
                            target, attribute.name
                        ),
                        "ReferencedEntityNavigationPropertyName": schema,
                        "RelationshipType": "OneToManyRelationship",
                        "IsCustomRelationship": attribute.custom,
                    }
                )
        return items

    def _table(self, key: str) -> EntityDef:
        match = re.fullmatch(r"\s*LogicalName\s*=\s*'([^']*)'\s*", key)
        for table in self.store.tables.values():
            if (match and table.name == match.group(1)) or table.metadata_id == key.lower():
                return table
        raise DataverseError(
            404,
            errors.NOT_FOUND,
            f"Could not find entity with {'name ' + match.group(1) if match else 'id ' + key}.",
        )

    def _entity_url(self, request: ApiRequest, table: EntityDef) -> str:
        return f"{request.base}/EntityDefinitions({table.metadata_id})"

    def _listing(self, request: ApiRequest, what: str, items: list[dict[str, Any]]) -> Reply:
        text = request.query.get("$filter")
        if text:
            items = [i for i in items if MetadataFilter(text).matches(i)]
        select = request.query.get("$select")
        shape = f"({select})" if select else ""
        value = [self._selected(request, i) for i in items]
        return Reply(
            200, {"@odata.context": f"{request.base}/$metadata#{what}{shape}", "value": value}
        )

    def _selected(self, request: ApiRequest, item: dict[str, Any]) -> dict[str, Any]:
        select = request.query.get("$select")
        if not select:
            return item
        names = {n.strip() for n in select.split(",")} | {"MetadataId", "@odata.type"}
        return {k: v for k, v in item.items() if k in names or k == "OptionSet"}

    def _one(self, request: ApiRequest, what: str, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "@odata.context": f"{request.base}/$metadata#{what}",
            **self._selected(request, item),
        }

    def attributes(self, request: ApiRequest, table: EntityDef, rest: list[str]) -> Reply:
        head = _SEGMENT.match(rest[0])
        key = head.group(2) if head else None
        cast = next((s.removeprefix("Microsoft.Dynamics.CRM.") for s in rest[1:]), None)
        if key is None and len(rest) > 1:
            cast = rest[1].removeprefix("Microsoft.Dynamics.CRM.")
        if request.method == "POST" and key is None:
            attribute = self.create_attribute(table, request.json())
            made = metadata_id(table.name, attribute.name)
            url = f"{self._entity_url(request, table)}/Attributes({made})"
            return Reply(204, None, {"OData-EntityId": url})
        chosen = list(table.attributes.values())
        if key is not None:
            match = re.fullmatch(r"\s*LogicalName\s*=\s*'([^']*)'\s*", key)
            chosen = [
                a
                for a in chosen
                if (match and a.name == match.group(1)) or metadata_id(table.name, a.name) == key
            ]
            if not chosen:
                raise DataverseError(
                    404,
                    errors.NOT_FOUND,
                    f"Could not find attribute {key} for entity {table.name}.",
                )
        if cast:
            chosen = [
                a
                for a in chosen
                if TYPE_BY_METADATA.get(cast) == a.type
                or (cast == "LookupAttributeMetadata" and a.is_lookup)
            ]
        expand_options = "OptionSet" in request.query.get("$expand", "")
        items = []
        for attribute in chosen:
            item = attribute.as_json(table.name)
            if expand_options and attribute.has_options:
                item["OptionSet"] = attribute.option_set_json(table.name)
            items.append(item)
        what = f"EntityDefinitions('{table.metadata_id}')/Attributes"
        if key is not None:
            if not items:
                raise DataverseError(404, errors.NOT_FOUND, f"Attribute {key} is not a {cast}.")
            return Reply(200, self._one(request, what + "/$entity", items[0]))
        return self._listing(request, what, items)

    def keys(self, request: ApiRequest, table: EntityDef, rest: list[str]) -> Reply:
        if request.method == "POST":
            body = request.json()
            schema = str(body.get("SchemaName", ""))
            attributes = tuple(str(a).lower() for a in body.get("KeyAttributes") or [])
            if not schema or not attributes:
                raise DataverseError(
                    400, errors.PAYLOAD, "SchemaName and KeyAttributes are required."
                )
            key = KeyDef(schema.lower(), attributes, label_text(body.get("DisplayName")))
            self.store.add_key(table.name, key)
            made = metadata_id(table.name, "key", key.name)
            url = f"{self._entity_url(request, table)}/Keys({made})"
            return Reply(204, None, {"OData-EntityId": url})
        head = _SEGMENT.match(rest[0])
        wanted = head.group(2) if head else None
        items = [k.as_json(table.name) for k in table.keys]
        if wanted:
            items = [
                i for i in items if wanted in (i["MetadataId"], f"LogicalName='{i['LogicalName']}'")
            ]
            if not items:
                raise DataverseError(404, errors.NOT_FOUND, f"Could not find key {wanted}.")
            if request.method == "DELETE":
                table.keys = [k for k in table.keys if k.name != items[0]["LogicalName"]]
                return Reply(204)
            return Reply(200, self._one(request, "EntityDefinitions/Keys/$entity", items[0]))
        return self._listing(request, f"EntityDefinitions('{table.metadata_id}')/Keys", items)

    # -- writing ------------------------------------------------------------------

    def _schema_name(self, body: dict[str, Any]) -> str:
        schema = str(body.get("SchemaName", ""))
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{1,7}_[A-Za-z0-9_]+", schema):
            raise DataverseError(
                400,
                BAD_NAME,
                f"The schema name '{schema}' is not valid. A custom name must start with the "
                "customization prefix of a publisher followed by an underscore (e.g. new_).",
            )
        return schema

    def create_table(self, body: dict[str, Any]) -> EntityDef:
        """A custom table from EntityMetadata (with its primary name column)."""
        schema = self._schema_name(body)
        name = schema.lower()
        if name in self.store.tables:
            raise DataverseError(
                400,
                errors.METADATA_EXISTS,
                f"An entity with the specified name {schema} already exists. Specify a unique "
                "name.",
            )
        primary_id = f"{name}id"
        attributes = {
            primary_id: AttributeDef(primary_id, "Uniqueidentifier", valid_for_update=False),
            "createdon": AttributeDef(
                "createdon", "DateTime", valid_for_create=False, valid_for_update=False
            ),
            "modifiedon": AttributeDef(
                "modifiedon", "DateTime", valid_for_create=False, valid_for_update=False
            ),
            "versionnumber": AttributeDef(
                "versionnumber", "BigInt", valid_for_create=False, valid_for_update=False
            ),
            "ownerid": AttributeDef("ownerid", "Owner", targets=("systemuser", "team")),
            "statecode": AttributeDef(
                "statecode", "State", options=[Option(0, "Active"), Option(1, "Inactive")]
            ),
            "statuscode": AttributeDef(
                "statuscode", "Status", options=[Option(1, "Active", 0), Option(2, "Inactive", 1)]
            ),
        }
        primary_name = f"{schema.split('_', 1)[0].lower()}_name"
        for item in body.get("Attributes") or []:
            attribute = self._attribute(item)
            if item.get("IsPrimaryName"):
                primary_name = attribute.name
            attributes[attribute.name] = attribute
        if primary_name not in attributes:
            attributes[primary_name] = AttributeDef(primary_name, "String", 100, custom=True)
        table = EntityDef(
            name,
            plural(name),
            primary_id,
            primary_name,
            attributes,
            display=label_text(body.get("DisplayName")),
            custom=True,
            change_tracking=bool(body.get("ChangeTrackingEnabled", True)),
            is_activity=bool(body.get("IsActivity", False)),
            schema=schema,
        )
        self.store.create_table(table)
        for attribute in table.attributes.values():
            from abmsync.sandbox.dynamics.metadata import name_navigation

            name_navigation(name, attribute)
        return table

    def drop_table(self, table: EntityDef) -> Reply:
        if not table.custom:
            raise DataverseError(400, errors.ODATA, f"The entity {table.name} cannot be deleted.")
        with self.store.lock:
            self.store.db.execute(f'DROP TABLE "t_{table.name}"')
            del self.store.tables[table.name]
        return Reply(204)

    def _attribute(self, body: dict[str, Any]) -> AttributeDef:
        schema = self._schema_name(body)
        # CreateEntities sends the Complex* variants of the metadata types.
        kind_name = (
            str(body.get("@odata.type", ""))
            .removeprefix("#")
            .removeprefix("Microsoft.Dynamics.CRM.")
            .removeprefix("Complex")
        )
        kind = TYPE_BY_METADATA.get(kind_name)
        if kind is None or kind in ("Lookup", "State", "Status", "Uniqueidentifier", "BigInt"):
            raise DataverseError(
                400,
                errors.PAYLOAD,
                f"Attributes of type '{kind_name or body.get('AttributeType')}' cannot be created "
                "this way"
                + (" (create a lookup with RelationshipDefinitions)." if kind == "Lookup" else "."),
            )
        attribute = AttributeDef(
            schema.lower(),
            kind,
            int(body.get("MaxLength") or (2000 if kind == "Memo" else 100)),
            display=label_text(body.get("DisplayName")),
            description=label_text(body.get("Description")),
            custom=True,
            schema=schema,
            required=str((body.get("RequiredLevel") or {}).get("Value", "None")),
            precision=int(body.get("Precision") or 2),
        )
        if kind == "DateTime":
            attribute.date_only = body.get("Format") == "DateOnly" or (
                (body.get("DateTimeBehavior") or {}).get("Value") == "DateOnly"
            )
        if kind == "Picklist":
            options = (body.get("OptionSet") or {}).get("Options") or []
            next_value = 100_000_000
            for option in options:
                value = option.get("Value")
                value = int(value) if value is not None else next_value
                next_value = max(next_value, value + 1)
                attribute.options.append(Option(value, label_text(option.get("Label"))))
        return attribute

    def create_attribute(self, table: EntityDef, body: dict[str, Any]) -> AttributeDef:
        attribute = self._attribute(body)
        self.store.add_attribute(table.name, attribute)
        return attribute

    def relationship(self, request: ApiRequest, key: str | None) -> Reply:
        if request.method == "GET":
            items = list(self.relationships.values())
            if key:
                items = [i for i in items if i["MetadataId"] == key.lower()]
                if not items:
                    raise DataverseError(
                        404, errors.NOT_FOUND, f"Could not find relationship {key}."
                    )
                return Reply(200, self._one(request, "RelationshipDefinitions/$entity", items[0]))
            return self._listing(request, "RelationshipDefinitions", items)
        if request.method != "POST":
            raise DataverseError(405, errors.ODATA, "Method not allowed.")
        body = request.json()
        schema = self._schema_name(body)
        if any(r["SchemaName"].lower() == schema.lower() for r in self.relationships.values()):
            raise DataverseError(
                400,
                errors.METADATA_EXISTS,
                f"A relationship with the specified name {schema} already exists.",
            )
        referenced = self.store.table(str(body.get("ReferencedEntity", "")).lower())
        referencing = self.store.table(str(body.get("ReferencingEntity", "")).lower())
        lookup = body.get("Lookup") or {}
        lookup_schema = self._schema_name(lookup)
        attribute = AttributeDef(
            lookup_schema.lower(),
            "Lookup",
            targets=(referenced.name,),
            display=label_text(lookup.get("DisplayName")),
            description=label_text(lookup.get("Description")),
            custom=True,
            schema=lookup_schema,
        )
        nav = body.get("ReferencingEntityNavigationPropertyName")
        self.store.add_attribute(referencing.name, attribute)
        if nav:
            attribute.nav[referenced.name] = str(nav)
        identifier = metadata_id("relationship", schema.lower())
        self.relationships[identifier] = {
            "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "MetadataId": identifier,
            "SchemaName": schema,
            "ReferencedEntity": referenced.name,
            "ReferencedAttribute": referenced.primary_id,
            "ReferencingEntity": referencing.name,
            "ReferencingAttribute": attribute.name,
            "ReferencingEntityNavigationPropertyName": attribute.nav[referenced.name],
            "ReferencedEntityNavigationPropertyName": schema,
            "RelationshipType": "OneToManyRelationship",
            "IsCustomRelationship": True,
        }
        url = f"{request.base}/RelationshipDefinitions({identifier})"
        return Reply(204, None, {"OData-EntityId": url})


class MetadataFilter:
    """A small $filter evaluator over metadata JSON (``LogicalName eq 'lead'``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)

    def matches(self, item: dict[str, Any]) -> bool:
        self.at = 0
        result = self._or(item)
        if self.at != len(self.tokens):
            raise syntax_error(self.text, self.tokens[self.at].at)
        return result

    def _next(self) -> Token:
        if self.at >= len(self.tokens):
            raise syntax_error(self.text, len(self.text))
        self.at += 1
        return self.tokens[self.at - 1]

    def _is(self, word: str) -> bool:
        if self.at < len(self.tokens) and self.tokens[self.at].text.lower() == word:
            self.at += 1
            return True
        return False

    def _or(self, item: dict[str, Any]) -> bool:
        result = self._and(item)
        while self._is("or"):
            result = self._and(item) or result
        return result

    def _and(self, item: dict[str, Any]) -> bool:
        result = self._not(item)
        while self._is("and"):
            result = self._not(item) and result
        return result

    def _not(self, item: dict[str, Any]) -> bool:
        if self._is("not"):
            return not self._not(item)
        token = self._next()
        if token.text == "(":
            result = self._or(item)
            if self._next().text != ")":
                raise syntax_error(self.text, token.at)
            return result
        value: Any = item
        for part in token.text.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        operator = self._next().text.lower()
        literal = self._literal(self._next())
        if isinstance(value, str) and isinstance(literal, str):
            value, literal = value.lower(), literal.lower()
        comparisons: dict[str, Callable[[], bool]] = {
            "eq": lambda: value == literal,
            "ne": lambda: value != literal,
            "gt": lambda: value is not None and value > literal,
            "lt": lambda: value is not None and value < literal,
        }
        if operator not in comparisons:
            raise syntax_error(self.text, token.at)
        return bool(comparisons[operator]())

    def _literal(self, token: Token) -> Any:
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        if token.text.lower() == "null":
            return None
        if token.kind == "number":
            return int(token.text) if token.text.lstrip("-").isdigit() else float(token.text)
        if token.kind == "name" and token.text.startswith("Microsoft.Dynamics.CRM."):
            # enum literal: Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'
            return token.text.split("'")[-1]
        return token.text
