"""sObject and field definitions of the Salesforce emulator, and their describe answers.

The keys of ``describe`` follow a real ``GET sobjects/{Obj}/describe`` answer
(REST API Developer Guide, "sObject Describe"; DescribeSObjectResult and Field
in the SOAP API guide, e.g.
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm).
Values follow the field type: long text areas are neither filterable, sortable
nor groupable; datetimes and decimals cannot be grouped; compound fields
(``BillingAddress``, ``Name`` of a person) are named by their components'
``compoundFieldName``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Value = str | int | float | bool | None

TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "reference"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
# Types whose fields can appear in GROUP BY (describe's ``groupable``).
_GROUPABLE = frozenset(
    {"id", "string", "email", "phone", "url", "picklist", "reference", "boolean", "date", "int"}
)
_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}
MASTER_RECORD_TYPE = "012000000000000AAA"
# Component field suffix of a compound address (``BillingCity``) -> its key in the
# address value the REST API returns (``{"city": ...}``; SOAP API guide, "Address").
ADDRESS_PARTS = {
    "Street": "street",
    "City": "city",
    "State": "state",
    "PostalCode": "postalCode",
    "Country": "country",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "GeocodeAccuracy": "geocodeAccuracy",
}


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with what ``describe`` reports about it."""

    name: str
    type: str = "string"
    length: int = 0
    label: str = ""
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    external_id: bool = False
    default: Value = None
    reference_to: tuple[str, ...] = ()
    precision: int = 0
    scale: int = 0
    relationship: str = ""  # relationshipName of a reference field ("" derives it)
    compound: str = ""  # compoundFieldName: the compound field this one is part of
    name_field: bool = False
    cascade_delete: bool = False
    unique: bool = False

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def stored(self) -> bool:
        """Whether the field has a column (an address is assembled from its components)."""
        return self.type != "address"

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > 255

    @property
    def filterable(self) -> bool:
        return self.stored and not self.long_text

    @property
    def sortable(self) -> bool:
        return self.filterable and self.type != "multipicklist"

    @property
    def groupable(self) -> bool:
        return self.type in _GROUPABLE

    @property
    def aggregatable(self) -> bool:
        return self.filterable and self.type not in ("boolean", "multipicklist")

    @property
    def relationship_name(self) -> str | None:
        """``Account`` for ``AccountId``, ``Foo__r`` for ``Foo__c``; None if not a reference."""
        if self.type != "reference":
            return None
        if self.relationship:
            return self.relationship
        if self.custom:
            return self.name[:-3] + "__r"
        return self.name[:-2] if self.name.endswith("Id") else self.name

    @property
    def defaulted_on_create(self) -> bool:
        """Whether Salesforce fills the field on create when it is not given (OwnerId: you)."""
        return self.default is not None or self.type in ("boolean", "id") or self.name == "OwnerId"

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    def describe(self) -> dict[str, Any]:
        """The field as ``GET sobjects/{Obj}/describe`` lists it."""
        text = self.type in TEXT_TYPES
        length = self.length if text else 0
        return {
            "aggregatable": self.aggregatable,
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": length * 3 if self.type not in ("id", "reference") else length,
            "calculated": False,
            "calculatedFormula": None,
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": False,
            "compoundFieldName": self.compound or None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default if self.type == "boolean" else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.precision if self.type == "int" else 0,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": _extra_type_info(self),
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.groupable,
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.type == "id" or self.external_id or self.name_field or self.unique,
            "inlineHelpText": None,
            "label": self.label or _label(self.name),
            "length": length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.polymorphic,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.updateable and not self.compound,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": v == self.default,
                    "label": v,
                    "validFor": None,
                    "value": v,
                }
                for v in self.picklist
            ],
            "polymorphicForeignKey": self.polymorphic,
            "precision": 0 if self.type == "int" else self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": 0 if self.cascade_delete else None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "searchPrefilterable": self.type == "reference",
            "soapType": _soap_type(self.type),
            "sortable": self.sortable,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass(frozen=True)
class Traits:
    """What an object supports, as ``GET sobjects`` and describe report it."""

    queryable: bool = True
    retrieveable: bool = True
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    layoutable: bool = True
    searchable: bool = True
    replicateable: bool = True
    triggerable: bool = True
    mergeable: bool = False
    feed_enabled: bool = False
    associate_type: str | None = None  # History, Share, Feed, ChangeEvent
    associate_parent: str | None = None
    label_plural: str = ""


@dataclass(frozen=True)
class ChildRelationship:
    """A reference field of another object pointing here (describe's ``childRelationships``)."""

    child: str
    field: str
    name: str | None
    cascade_delete: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "cascadeDelete": self.cascade_delete,
            "childSObject": self.child,
            "deprecatedAndHidden": False,
            "field": self.field,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": self.name,
            "restrictedDelete": False,
        }


@dataclass
class ObjectDef:
    """An sObject: its key prefix (the first three characters of its ids) and fields."""

    name: str
    prefix: str | None
    label: str = ""
    fields: dict[str, FieldDef] = field(default_factory=dict)
    traits: Traits = field(default_factory=Traits)
    children: list[ChildRelationship] = field(default_factory=list)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def columns(self) -> list[str]:
        """Names of the stored fields, in table column order."""
        return [f.name for f in self.fields.values() if f.stored]

    def field(self, name: str) -> FieldDef | None:
        """A field by name; SOQL and the REST API ignore case."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lowered), None)

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationshipName is ``name`` (any case)."""
        lowered = name.lower()
        return next(
            (f for f in self.fields.values() if (f.relationship_name or "").lower() == lowered),
            None,
        )

    def child(self, name: str) -> ChildRelationship | None:
        """The child relationship called ``name`` (any case)."""
        lowered = name.lower()
        return next((c for c in self.children if (c.name or "").lower() == lowered), None)

    @property
    def plural(self) -> str:
        return self.traits.label_plural or _plural(self.label or self.name)

    def describe(self, version: str) -> dict[str, Any]:
        """The object as ``GET sobjects/{Obj}/describe`` returns it."""
        summary = self.summary(version)
        for key in ("associateEntityType", "associateParentEntity", "deepCloneable"):
            summary.pop(key)
        base = summary["urls"]["sobject"]
        if self.traits.layoutable:
            summary["urls"] |= {"uiDetailTemplate": None, "uiEditTemplate": None}
        owned = "OwnerId" in self.fields
        scopes = [("everything", f"All {self.plural.lower()}")]
        if owned:
            scopes += [("mine", f"My {self.plural.lower()}"), ("team", "My team's " + self.plural)]
        master = {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": True,
            "developerName": "Master",
            "master": True,
            "name": "Master",
            "recordTypeId": MASTER_RECORD_TYPE,
            "urls": {"layout": f"{base}/describe/layouts/{MASTER_RECORD_TYPE}"},
        }
        return {
            **summary,
            "actionOverrides": [],
            "childRelationships": [c.describe() for c in self.children],
            "compactLayoutable": self.traits.layoutable,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [f.describe() for f in self.fields.values()],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [master] if self.traits.layoutable else [],
            "searchLayoutable": self.traits.searchable,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": label, "name": name} for name, label in scopes],
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The object as the ``GET sobjects`` list shows it."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        traits = self.traits
        urls = {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}
        if traits.layoutable:
            urls |= {
                "compactLayouts": f"{base}/describe/compactLayouts",
                "approvalLayouts": f"{base}/describe/approvalLayouts",
                "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "listviews": f"{base}/listviews",
                "quickActions": f"{base}/quickActions",
                "layouts": f"{base}/describe/layouts",
            }
        return {
            "activateable": False,
            "associateEntityType": traits.associate_type,
            "associateParentEntity": traits.associate_parent,
            "createable": traits.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": traits.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": traits.feed_enabled,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.prefix,
            "label": self.label or self.name,
            "labelPlural": self.plural,
            "layoutable": traits.layoutable,
            "mergeable": traits.mergeable,
            "mruEnabled": traits.layoutable,
            "name": self.name,
            "queryable": traits.queryable,
            "replicateable": traits.replicateable,
            "retrieveable": traits.retrieveable,
            "searchable": traits.searchable,
            "triggerable": traits.triggerable,
            "undeletable": traits.deletable and traits.layoutable,
            "updateable": traits.updateable,
            "urls": urls,
        }

    def copy(self) -> ObjectDef:
        """A copy whose field and child lists can change without touching this one."""
        return ObjectDef(
            self.name, self.prefix, self.label, dict(self.fields), self.traits, list(self.children)
        )


def _soap_type(kind: str) -> str:
    return _SOAP.get(kind, "xsd:double" if kind in NUMBER_TYPES else "xsd:string")


def _extra_type_info(spec: FieldDef) -> str | None:
    if spec.type == "textarea":
        return "plaintextarea"
    if spec.name == "Name" and spec.compound == "" and not spec.createable:
        return "personname"
    return None


def _label(name: str) -> str:
    """``AnnualRevenue`` -> ``Annual Revenue``; ``AccountId`` -> ``Account ID``."""
    base = name.removesuffix("__c")
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    out = ""
    for i, char in enumerate(base):
        if char.isupper() and i and base[i - 1].islower():
            out += " "
        out += char
    return out.replace("_", " ")


def _plural(label: str) -> str:
    if label.endswith("y") and label[-2:-1] not in "aeiou":
        return label[:-1] + "ies"
    if label.endswith(("s", "x", "ch", "sh")):
        return label + "es"
    return label + "s"
