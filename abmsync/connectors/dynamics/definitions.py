"""Definitions abmsync creates in Dataverse: tables, columns, lookups and alternate keys.

Bodies as "Create and update column definitions"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api),
"Create and update table definitions", "Create and update table relationships"
(a lookup is created with its one-to-many relationship) and "Define alternate
keys" (https://learn.microsoft.com/power-apps/developer/data-platform/define-alternate-keys-entity)
document them. Custom names are lower case with a publisher prefix (``abm_``);
labels are English (LanguageCode 1033).
"""

from __future__ import annotations

from typing import Any, Protocol

from abmsync.connectors.base import FieldMeta, FieldType
from abmsync.errors import ConfigError

LANGUAGE = 1033  # English labels
CRM = "Microsoft.Dynamics.CRM"
PRIMARY_NAME = "abm_name"
# The first value of a choice abmsync creates: the default publisher's option value
# prefix (10000) followed by five digits, as Dataverse numbers custom options.
FIRST_OPTION = 100_000_000
# Ends the Description of every column abmsync creates: how ``describe`` tells them apart.
CREATED_MARK = "(abmsync)"


class Referenced(Protocol):
    """The table a new lookup points to."""

    @property
    def logical(self) -> str: ...

    @property
    def primary_id(self) -> str: ...


def label(text: str) -> dict[str, Any]:
    """A ``Label`` with one English ``LocalizedLabel``."""
    return {
        "@odata.type": f"{CRM}.Label",
        "LocalizedLabels": [
            {"@odata.type": f"{CRM}.LocalizedLabel", "Label": text, "LanguageCode": LANGUAGE}
        ],
    }


def check_custom_name(obj: str, name: str) -> None:
    """Refuse a name without a publisher prefix (``abm_score``) before Dataverse does."""
    prefix, sep, rest = name.partition("_")
    if not (sep and prefix and rest) or name != name.lower():
        raise ConfigError(
            f"cannot create {obj}.{name}: custom Dataverse names are lower case and carry "
            "a publisher prefix, like abm_score"
        )


def title(name: str) -> str:
    return name.partition("_")[2].replace("_", " ").capitalize() or name


def typed(base: dict[str, Any], kind: str) -> dict[str, Any]:
    """``base`` as a ``<kind>AttributeMetadata`` (``String``, ``Memo``, ``Integer``...)."""
    return {
        **base,
        "@odata.type": f"{CRM}.{kind}AttributeMetadata",
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
    }


def attribute_body(spec: FieldMeta) -> dict[str, Any]:
    """The ``...AttributeMetadata`` that creates ``spec`` (any type but REFERENCE)."""
    base: dict[str, Any] = {
        "SchemaName": spec.name,
        "DisplayName": label(spec.label or title(spec.name)),
        "Description": label(f"{spec.label or title(spec.name)} {CREATED_MARK}"),
        "RequiredLevel": {"Value": "None", "CanBeChanged": True},
    }
    kind = spec.type
    if kind is FieldType.PICKLIST and spec.picklist:
        # A local choice ("Create a choice column" in the article above).
        return {
            **typed(base, "Picklist"),
            "OptionSet": {
                "@odata.type": f"{CRM}.OptionSetMetadata",
                "IsGlobal": False,
                "OptionSetType": "Picklist",
                "Options": [
                    {"Value": FIRST_OPTION + i, "Label": label(text)}
                    for i, text in enumerate(spec.picklist)
                ],
            },
        }
    strings = {
        FieldType.STRING: "Text",
        FieldType.EMAIL: "Email",
        FieldType.URL: "Url",
        FieldType.PHONE: "Phone",
        FieldType.ID: "Text",
    }
    if kind in strings:
        return {
            **typed(base, "String"),
            "MaxLength": spec.length or 100,
            "FormatName": {"Value": strings[kind]},
        }
    if kind is FieldType.TEXT:
        return {
            **typed(base, "Memo"),
            "Format": "TextArea",
            "MaxLength": spec.length or 2000,
        }
    if kind is FieldType.INTEGER:
        return {
            **typed(base, "Integer"),
            "Format": "None",
            "MinValue": -2147483648,
            "MaxValue": 2147483647,
        }
    if kind is FieldType.NUMBER:
        return {
            **typed(base, "Double"),
            "Precision": 2,
            "MinValue": -100000000000.0,
            "MaxValue": 100000000000.0,
        }
    if kind is FieldType.BOOLEAN:
        return {
            **typed(base, "Boolean"),
            "DefaultValue": False,
            "OptionSet": {
                "TrueOption": {"Value": 1, "Label": label("Yes")},
                "FalseOption": {"Value": 0, "Label": label("No")},
                "OptionSetType": "Boolean",
            },
        }
    if kind in (FieldType.DATETIME, FieldType.DATE):
        date_only = kind is FieldType.DATE
        return {
            **typed(base, "DateTime"),
            "Format": "DateOnly" if date_only else "DateAndTime",
            "DateTimeBehavior": {"Value": "DateOnly" if date_only else "UserLocal"},
        }
    raise ConfigError(f"abmsync cannot create a {kind.value} column in Dataverse ({spec.name})")


def table_body(logical: str, display: str) -> dict[str, Any]:
    """``EntityMetadata`` for a custom, user-owned table with change tracking on."""
    return {
        "@odata.type": f"{CRM}.EntityMetadata",
        "SchemaName": logical,
        "DisplayName": label(display),
        "DisplayCollectionName": label(f"{display}s"),
        "Description": label(f"{display} (created by abmsync)"),
        "OwnershipType": "UserOwned",
        "IsActivity": False,
        "HasActivities": False,
        "HasNotes": False,
        # read_changes needs change tracking on every table it reads
        "ChangeTrackingEnabled": True,
        "Attributes": [
            {
                **attribute_body(FieldMeta(name=PRIMARY_NAME, label="Name", length=200)),
                "IsPrimaryName": True,
            }
        ],
    }


def relationship_body(referencing: str, spec: FieldMeta, referenced: Referenced) -> dict[str, Any]:
    """``OneToManyRelationshipMetadata`` that creates the lookup ``spec`` on ``referencing``."""
    prefix = spec.name.partition("_")[0]
    schema = f"{prefix}_{referenced.logical}_{referencing}_{spec.name.partition('_')[2]}"
    text = spec.label or title(spec.name)
    return {
        "@odata.type": f"{CRM}.OneToManyRelationshipMetadata",
        "SchemaName": schema[:100],
        "ReferencedEntity": referenced.logical,
        "ReferencedAttribute": referenced.primary_id,
        "ReferencingEntity": referencing,
        "CascadeConfiguration": {
            "Assign": "NoCascade",
            "Delete": "RemoveLink",
            "Merge": "NoCascade",
            "Reparent": "NoCascade",
            "Share": "NoCascade",
            "Unshare": "NoCascade",
        },
        "Lookup": {
            "@odata.type": f"{CRM}.LookupAttributeMetadata",
            "AttributeType": "Lookup",
            "AttributeTypeName": {"Value": "LookupType"},
            "SchemaName": spec.name,
            "DisplayName": label(text),
            "Description": label(f"{text} {CREATED_MARK}"),
            "RequiredLevel": {"Value": "None", "CanBeChanged": True},
        },
    }


def key_body(name: str) -> dict[str, Any]:
    """``EntityKeyMetadata`` of a one-column alternate key on ``name``."""
    return {
        "SchemaName": f"{name}_key",
        "DisplayName": label(f"{title(name)} key"),
        "KeyAttributes": [name],
    }
