"""HubSpot's legacy v1/v2 APIs, v3 association reads and custom object schemas, over HTTP.

Shapes and paging as the legacy references cited in
``abmsync/sandbox/hubspot/legacy.py`` and ``legacy_routes.py`` document them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from abmsync.sandbox.hubspot.records import to_ms
from tests.connectors.hubspot.conftest import TOKEN, Sandbox


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as client:
        yield client


def create(api: httpx.Client, obj: str, properties: dict[str, str]) -> dict[str, Any]:
    response = api.post(f"/crm/v3/objects/{obj}", json={"properties": properties})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def link(api: httpx.Client, obj: str, record_id: str, to: str, to_id: str) -> None:
    path = f"/crm/v4/objects/{obj}/{record_id}/associations/default/{to}/{to_id}"
    api.put(path).raise_for_status()


def ms(text: str) -> int:
    value = to_ms(text)
    assert value is not None
    return value


def test_companies_paged_pages_by_offset_until_has_more_is_false(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    first = sandbox.seed("companies", 7, {"name": "Co {i}"}, 1_000, 7_000)
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 3, "properties": ["name"]}
    while True:
        page = api.get("/companies/v2/companies/paged", params=params).json()
        pages.append(page)
        if not page["has-more"]:
            break
        params["offset"] = page["offset"]
    ids = [c["companyId"] for p in pages for c in p["companies"]]
    assert ids == list(range(first, first + 7))
    assert [len(p["companies"]) for p in pages] == [3, 3, 1]
    assert [p["offset"] for p in pages] == [first + 2, first + 5, first + 6]
    company = pages[0]["companies"][0]
    assert company["isDeleted"] is False and isinstance(company["portalId"], int)
    name = company["properties"]["name"]
    assert name["value"] == "Co 0" and name["timestamp"] == 1_000 and name["source"] == "API"
    assert name["versions"] == [
        {"name": "name", "value": "Co 0", "timestamp": 1_000, "source": "API", "sourceVid": []}
    ]
    assert set(company["properties"]) == {"name"}


def test_companies_paged_returns_no_properties_unless_asked(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sandbox.seed("companies", 2, {"name": "Co {i}"}, 1_000, 2_000)
    page = api.get("/companies/v2/companies/paged").json()
    assert [c["properties"] for c in page["companies"]] == [{}, {}]
    assert page["has-more"] is False


def test_company_detail_has_every_set_property_with_epoch_ms_dates(api: httpx.Client) -> None:
    created = create(api, "companies", {"name": "Acme", "domain": "acme.test"})
    company = api.get(f"/companies/v2/companies/{created['id']}").json()
    assert company["companyId"] == int(created["id"])
    props = company["properties"]
    assert props["name"]["value"] == "Acme" and props["domain"]["value"] == "acme.test"
    assert props["createdate"]["value"] == str(ms(created["createdAt"]))
    modified = props["hs_lastmodifieddate"]
    assert modified["timestamp"] == ms(created["updatedAt"])
    assert modified["source"] == "CALCULATED"
    assert "industry" not in props  # only properties with a value
    assert company["stateChanges"] == [] and company["mergeAudits"] == []


def test_missing_or_archived_company_is_404(api: httpx.Client) -> None:
    created = create(api, "companies", {"name": "Gone"})
    api.delete(f"/crm/v3/objects/companies/{created['id']}").raise_for_status()
    for company_id in (created["id"], "999999"):
        response = api.get(f"/companies/v2/companies/{company_id}")
        assert response.status_code == 404
        assert response.json()["status"] == "error"
    assert api.get("/companies/v2/companies/paged").json()["companies"] == []


def test_property_lists_are_v1_definitions(api: httpx.Client) -> None:
    paths = {
        "companies": "/companies/v2/properties",
        "deals": "/properties/v1/deals/properties",
        "contacts": "/properties/v1/contacts/properties",
    }
    found = {obj: {p["name"]: p for p in api.get(path).json()} for obj, path in paths.items()}
    revenue = found["companies"]["annualrevenue"]
    v3 = api.get("/crm/v3/properties/companies/annualrevenue").json()
    same = ("name", "label", "type", "fieldType", "groupName", "hubspotDefined")
    assert {k: revenue[k] for k in same} == {k: v3[k] for k in same}
    assert revenue["type"] == "number"
    assert revenue["createdAt"] == ms(v3["createdAt"]) and revenue["deleted"] is False
    stage = found["deals"]["dealstage"]
    assert stage["type"] == "enumeration"
    assert "closedwon" in [o["value"] for o in stage["options"]]
    assert found["contacts"]["email"]["readOnlyValue"] is False
    assert found["contacts"]["createdate"]["readOnlyValue"] is True
    assert api.get("/properties/v1/widgets/properties").status_code == 404


def test_deals_paged_uses_has_more_offset_and_asked_properties(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    first = sandbox.seed("deals", 3, {"dealname": "Deal {i}", "amount": "10{i}"}, 1_000, 3_000)
    page = api.get("/deals/v1/deal/paged", params={"limit": 2, "properties": "dealname"}).json()
    assert [d["dealId"] for d in page["deals"]] == [first, first + 1]
    assert page["hasMore"] is True and page["offset"] == first + 1
    assert set(page["deals"][0]["properties"]) == {"dealname"}
    rest = api.get("/deals/v1/deal/paged", params={"offset": page["offset"]}).json()
    assert [d["dealId"] for d in rest["deals"]] == [first + 2]
    assert rest["hasMore"] is False and rest["deals"][0]["properties"] == {}
    assert "associations" not in rest["deals"][0]


def test_deals_paged_with_all_properties_and_associations(api: httpx.Client) -> None:
    deal = create(api, "deals", {"dealname": "Big", "amount": "5000", "dealstage": "closedwon"})
    contact = create(api, "contacts", {"email": "buyer@example.com"})
    company = create(api, "companies", {"name": "Buyer Inc"})
    link(api, "deals", deal["id"], "contacts", contact["id"])
    link(api, "deals", deal["id"], "companies", company["id"])
    params = {"includeAllProperties": "true", "includeAssociations": "true"}
    (found,) = api.get("/deals/v1/deal/paged", params=params).json()["deals"]
    assert found["properties"]["amount"]["value"] == "5000"
    assert found["properties"]["dealstage"]["value"] == "closedwon"
    assert found["associations"]["associatedVids"] == [int(contact["id"])]
    assert found["associations"]["associatedCompanyIds"] == [int(company["id"])]
    detail = api.get(f"/deals/v1/deal/{deal['id']}").json()
    assert detail["properties"]["dealname"]["value"] == "Big"


def test_deal_pipelines_list_the_default_pipeline_with_its_stages(api: httpx.Client) -> None:
    (pipeline,) = api.get("/deals/v1/pipelines").json()
    assert pipeline["pipelineId"] == "default" and pipeline["active"] is True
    stages = {s["stageId"]: s for s in pipeline["stages"]}
    assert stages["closedwon"]["closedWon"] is True and stages["closedwon"]["probability"] == 1.0
    assert stages["closedlost"]["probability"] == 0.0
    assert [s["displayOrder"] for s in pipeline["stages"]] == sorted(
        s["displayOrder"] for s in pipeline["stages"]
    )


def test_all_contacts_pages_by_vid_offset_with_count_capped_at_100(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    first = sandbox.seed("contacts", 105, {"email": "p{i}@example.com"}, 1_000, 2_000)
    page = api.get("/contacts/v1/lists/all/contacts/all", params={"count": 500}).json()
    assert len(page["contacts"]) == 100 and page["has-more"] is True
    assert page["vid-offset"] == first + 99
    rest = api.get(
        "/contacts/v1/lists/all/contacts/all", params={"vidOffset": page["vid-offset"]}
    ).json()
    assert [c["vid"] for c in rest["contacts"]] == list(range(first + 100, first + 105))
    assert rest["has-more"] is False
    default = api.get("/contacts/v1/lists/all/contacts/all").json()
    assert len(default["contacts"]) == 20  # count defaults to 20


def test_all_contacts_properties_identities_and_history(api: httpx.Client) -> None:
    contact = create(api, "contacts", {"email": "ada@example.com", "firstname": "Ada"})
    (found,) = api.get("/contacts/v1/lists/all/contacts/all").json()["contacts"]
    assert found["vid"] == int(contact["id"]) and found["canonical-vid"] == found["vid"]
    assert found["properties"]["firstname"] == {"value": "Ada"}
    assert "email" not in found["properties"]  # not among the defaults
    assert found["properties"]["lastmodifieddate"]["value"] == str(ms(contact["updatedAt"]))
    (profile,) = found["identity-profiles"]
    emails = [i for i in profile["identities"] if i["type"] == "EMAIL"]
    assert emails[0]["value"] == "ada@example.com"
    params = {"property": "email", "propertyMode": "value_and_history"}
    (found,) = api.get("/contacts/v1/lists/all/contacts/all", params=params).json()["contacts"]
    assert set(found["properties"]) == {"email"}
    assert found["properties"]["email"]["versions"][0]["value"] == "ada@example.com"
    bad = api.get("/contacts/v1/lists/all/contacts/all", params={"propertyMode": "all"})
    assert bad.status_code == 400


def test_v3_association_batch_read_lists_links_and_reports_unlinked(api: httpx.Client) -> None:
    company = create(api, "companies", {"name": "Acme"})
    lonely = create(api, "companies", {"name": "Alone"})
    contacts = [create(api, "contacts", {"email": f"c{i}@acme.test"}) for i in range(2)]
    for contact in contacts:
        link(api, "companies", company["id"], "contacts", contact["id"])
    body = {"inputs": [{"id": company["id"]}]}
    response = api.post("/crm/v3/associations/company/contact/batch/read", json=body)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["from"] == {"id": company["id"]}
    assert result["to"] == [{"id": c["id"], "type": "company_to_contact"} for c in contacts]
    body = {"inputs": [{"id": company["id"]}, {"id": lonely["id"]}]}
    response = api.post("/crm/v3/associations/companies/contacts/batch/read", json=body)
    assert response.status_code == 207
    payload = response.json()
    assert [r["from"]["id"] for r in payload["results"]] == [company["id"]]
    assert payload["numErrors"] == 1
    assert payload["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"


def test_schemas_are_empty_in_a_portal_without_custom_objects(api: httpx.Client) -> None:
    for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
        response = api.get(prefix)
        assert response.status_code == 200 and response.json() == {"results": []}


def test_created_schema_has_the_documented_shape(api: httpx.Client) -> None:
    body = {
        "name": "machine",
        "labels": {"singular": "Machine", "plural": "Machines"},
        "primaryDisplayProperty": "serial",
        "requiredProperties": ["serial"],
        "properties": [
            {"name": "serial", "label": "Serial", "type": "string", "fieldType": "text"},
            {"name": "built", "label": "Built", "type": "date", "fieldType": "date"},
        ],
        "associatedObjects": ["CONTACT"],
    }
    response = api.post("/crm/v3/schemas", json=body)
    assert response.status_code == 201, response.text
    schema = response.json()
    assert schema["objectTypeId"].startswith("2-") and schema["name"] == "machine"
    assert schema["fullyQualifiedName"].endswith("_machine")
    assert [p["name"] for p in schema["properties"]] == ["serial", "built"]
    assert schema["properties"][1]["type"] == "date"
    (association,) = schema["associations"]
    assert association["fromObjectTypeId"] == schema["objectTypeId"]
    assert association["toObjectTypeId"] == "0-1"
    assert api.get("/crm/v3/schemas").json() == {"results": [schema]}
    for key in (schema["objectTypeId"], schema["fullyQualifiedName"], "machine"):
        assert api.get(f"/crm/v3/schemas/{key}").json() == schema
    assert api.get("/crm/v3/schemas/2-999").status_code == 404
    assert api.post("/crm/v3/schemas", json=body).status_code == 409


def test_schema_naming_an_undefined_required_property_is_rejected(api: httpx.Client) -> None:
    body = {
        "name": "gadget",
        "labels": {"singular": "Gadget", "plural": "Gadgets"},
        "requiredProperties": ["missing"],
        "properties": [{"name": "serial", "label": "Serial"}],
    }
    response = api.post("/crm/v3/schemas", json=body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_an_object_type_without_granted_scope_is_403_missing_scopes(api: httpx.Client) -> None:
    response = api.get("/crm/v3/properties/tickets")
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["tickets"]
    assert api.get("/crm/v3/properties/widgets").status_code == 400


@pytest.mark.parametrize(
    "path",
    ["/companies/v2/companies/paged", "/deals/v1/pipelines", "/crm/v3/schemas"],
)
def test_legacy_routes_need_the_token(sandbox: Sandbox, path: str) -> None:
    response = sandbox.http.get(path, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
