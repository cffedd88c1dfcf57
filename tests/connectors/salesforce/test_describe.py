"""describe and the object list carry what a real org's describe answers carry."""

from __future__ import annotations

from typing import Any

from .conftest import Org

# Keys of a real field describe (SOAP/REST API "Field"; e.g. iabuhilal/php-salesforce-kit
# src/Models/Fields.php mirrors a captured answer).
FIELD_KEYS = {
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated",
    "calculatedFormula", "cascadeDelete", "caseSensitive", "compoundFieldName",
    "controllerName", "createable", "custom", "defaultValue", "defaultValueFormula",
    "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits",
    "displayLocationInDecimal", "encrypted", "externalId", "extraTypeInfo", "filterable",
    "filteredLookupInfo", "formulaTreatNullNumberAsZero", "groupable", "highScaleNumber",
    "htmlFormatted", "idLookup", "inlineHelpText", "label", "length", "mask", "maskType",
    "name", "nameField", "namePointing", "nillable", "permissionable", "picklistValues",
    "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField",
    "referenceTo", "relationshipName", "relationshipOrder", "restrictedDelete",
    "restrictedPicklist", "scale", "searchPrefilterable", "soapType", "sortable", "type",
    "unique", "updateable", "writeRequiresMasterRead",
}  # fmt: skip
OBJECT_KEYS = {
    "actionOverrides", "activateable", "childRelationships", "compactLayoutable", "createable",
    "custom", "customSetting", "deletable", "deprecatedAndHidden", "feedEnabled", "fields",
    "hasSubtypes", "isSubtype", "keyPrefix", "label", "labelPlural", "layoutable",
    "listviewable", "lookupLayoutable", "mergeable", "mruEnabled", "name", "namedLayoutInfos",
    "networkScopeFieldName", "queryable", "recordTypeInfos", "replicateable", "retrieveable",
    "searchLayoutable", "searchable", "sobjectDescribeOption", "supportedScopes",
    "triggerable", "undeletable", "updateable", "urls",
}  # fmt: skip


def _fields(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


def test_field_and_object_describes_carry_every_key_of_a_real_answer(org: Org) -> None:
    account = org.simple_salesforce().Account.describe()
    assert account.keys() >= OBJECT_KEYS
    for spec in account["fields"]:
        assert spec.keys() >= FIELD_KEYS, spec["name"]


def test_field_flags_follow_the_field_type(org: Org) -> None:
    fields = _fields(org.simple_salesforce().Lead.describe())
    description = fields["Description"]
    assert (description["filterable"], description["sortable"], description["groupable"]) == (
        False,
        False,
        False,
    )
    assert fields["CreatedDate"]["groupable"] is False and fields["CreatedDate"]["sortable"]
    assert fields["AnnualRevenue"]["aggregatable"] and not fields["AnnualRevenue"]["groupable"]
    owner = fields["OwnerId"]
    assert owner["relationshipName"] == "Owner"
    assert owner["polymorphicForeignKey"] and owner["referenceTo"] == ["User", "Group"]
    assert fields["Name"]["nameField"] and fields["FirstName"]["compoundFieldName"] == "Name"
    assert fields["City"]["compoundFieldName"] == "Address"
    assert fields["Address"]["type"] == "address" and not fields["Address"]["filterable"]
    assert fields["HasOptedOutOfEmail"]["defaultValue"] is False
    assert fields["Id"]["nillable"] is False and fields["Email"]["nillable"] is True


def test_child_relationships_and_master_record_type_are_described(org: Org) -> None:
    account = org.simple_salesforce().Account.describe()
    children = {(c["childSObject"], c["field"]): c for c in account["childRelationships"]}
    assert children[("Contact", "AccountId")]["relationshipName"] == "Contacts"
    assert children[("Opportunity", "AccountId")]["relationshipName"] == "Opportunities"
    assert children[("AccountHistory", "AccountId")]["cascadeDelete"] is True
    master = account["recordTypeInfos"][0]
    assert (master["master"], master["name"], master["recordTypeId"]) == (
        True,
        "Master",
        "012000000000000AAA",
    )
    assert {s["name"] for s in account["supportedScopes"]} >= {"everything", "mine"}


def test_the_org_lists_hundreds_of_objects_some_not_queryable(org: Org) -> None:
    objects = {o["name"]: o for o in org.simple_salesforce().describe()["sobjects"]}
    assert len(objects) >= 200
    assert objects["Case"]["keyPrefix"] == "500"
    history = objects["AccountHistory"]
    assert history["queryable"] and not history["createable"] and not history["layoutable"]
    change = objects["LeadChangeEvent"]
    assert not change["queryable"] and not change["retrieveable"]
    assert objects["AccountShare"]["associateEntityType"] == "Share"


def test_a_thin_object_can_be_queried_and_described(org: Org) -> None:
    sf = org.simple_salesforce()
    assert sf.query("SELECT Id, Name FROM Product2")["totalSize"] == 0
    assert "Name" in _fields(sf.Product2.describe())
