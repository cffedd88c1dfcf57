"""The Dataverse emulator answers like the Web API: auth, queries, writes, errors, limits."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from abmsync.sandbox.dynamics import DynamicsConfig

from .conftest import Clock, MakeOrg, Org

ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def create(api: httpx.Client, entity_set: str, body: dict[str, Any]) -> str:
    response = api.post(entity_set, json=body)
    assert response.status_code == 204, response.text
    match = re.search(r"\(([0-9a-f-]{36})\)$", response.headers["OData-EntityId"])
    assert match
    return match.group(1)


# -- Entra ---------------------------------------------------------------------------


def test_token_has_the_entra_shape(org: Org) -> None:
    answer = org.token()
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["access_token"].count(".") == 2


def test_bad_secret_is_aadsts7000215(org: Org) -> None:
    answer = org.token(client_secret="wrong")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.json()["error_codes"] == [7000215]
    assert answer.json()["error_description"].startswith("AADSTS7000215: Invalid client secret")


def test_unknown_client_and_tenant(org: Org) -> None:
    unknown = org.token(client_id="00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unauthorized_client"
    assert unknown.json()["error_codes"] == [700016]
    tenant = org.raw().post(
        f"{org.url}/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token",
        data={"grant_type": "client_credentials"},
    )
    assert tenant.status_code == 400
    assert tenant.json()["error_codes"] == [90002]


def test_openid_configuration_points_at_this_host(org: Org) -> None:
    body = org.raw().get(
        f"{org.url}/{org.config.tenant_id}/v2.0/.well-known/openid-configuration"
    ).json()
    assert body["token_endpoint"] == org.token_url
    assert body["authorization_endpoint"].startswith(org.url)


def test_expired_or_missing_token_is_401_with_challenge(org: Org) -> None:
    api = org.client()
    assert api.get("WhoAmI").status_code == 200
    org.raw().post(f"{org.url}/__sandbox/expire_tokens")
    answer = api.get("WhoAmI")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert "error" in answer.json()
    assert org.raw().get(f"{org.api}/WhoAmI").status_code == 401


def test_token_lifetime_is_enforced(make_org: MakeOrg) -> None:
    org = make_org(config=DynamicsConfig(token_lifetime=0.0))
    api = org.client()
    assert api.get("WhoAmI").status_code == 401


# -- service documents ---------------------------------------------------------------


def test_whoami_is_the_application_user(org: Org, api: httpx.Client) -> None:
    body = api.get("WhoAmI").json()
    assert body["UserId"] == org.sandbox.store.admin_id
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")


def test_service_document_lists_entity_sets(api: httpx.Client) -> None:
    names = {item["name"] for item in api.get("").json()["value"]}
    assert {"leads", "contacts", "accounts", "opportunities", "campaignresponses"} <= names
    assert {"phonecalls", "appointments", "activityparties", "systemusers"} <= names


def test_metadata_is_csdl(api: httpx.Client) -> None:
    answer = api.get("$metadata")
    assert answer.status_code == 200
    assert '<EntitySet Name="leads" EntityType="Microsoft.Dynamics.CRM.lead"/>' in answer.text


def test_unknown_version_and_entity_set_are_404(org: Org, api: httpx.Client) -> None:
    version = api.get(f"{org.url}/api/data/v8.0/leads")
    assert version.status_code == 404
    assert error_code(version) == "0x80060888"
    missing = api.get("widgets")
    assert missing.status_code == 404
    assert "Resource not found for the segment 'widgets'" in missing.json()["error"]["message"]
    assert api.get(f"{org.url}/api/data/v9.0/WhoAmI").status_code == 200


# -- reading -------------------------------------------------------------------------


def test_lookups_read_as_value_with_annotations_only_when_asked(
    org: Org, api: httpx.Client
) -> None:
    account = create(api, "accounts", {"name": "Contoso"})
    contact = create(
        api,
        "contacts",
        {"lastname": "Ng", "parentcustomerid_account@odata.bind": f"/accounts({account})"},
    )
    plain = api.get(f"contacts({contact})?$select=_parentcustomerid_value,fullname").json()
    assert plain["_parentcustomerid_value"] == account
    assert not any("@" in key for key in plain if key != "@odata.etag" and key != "@odata.context")
    annotated = api.get(f"contacts({contact})", headers=ANNOTATIONS).json()
    prefix = "_parentcustomerid_value@"
    assert annotated[prefix + "OData.Community.Display.V1.FormattedValue"] == "Contoso"
    assert annotated[prefix + "Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    nav = annotated[prefix + "Microsoft.Dynamics.CRM.associatednavigationproperty"]
    assert nav == "parentcustomerid_account"
    assert annotated["_ownerid_value"] == org.sandbox.store.admin_id


def test_picklists_are_integers_with_formatted_labels(api: httpx.Client) -> None:
    lead = create(api, "leads", {"lastname": "Ada", "leadsourcecode": 7, "donotemail": True})
    body = api.get(f"leads({lead})", headers=ANNOTATIONS).json()
    assert body["leadsourcecode"] == 7
    assert body["leadsourcecode@OData.Community.Display.V1.FormattedValue"] == "Trade Show"
    assert body["statecode"] == 0 and body["statuscode"] == 1
    assert body["donotemail"] is True


def test_filter_operators_and_functions(api: httpx.Client) -> None:
    for name, employees in [("Alpha", 10), ("Beta", 200), ("Gamma", 5000), ("alphabet", None)]:
        create(api, "accounts", {"name": name, "numberofemployees": employees})

    def names(query: str) -> list[str]:
        answer = api.get(f"accounts?$select=name&$orderby=name asc&$filter={query}")
        assert answer.status_code == 200, answer.text
        return [row["name"] for row in answer.json()["value"]]

    assert names("numberofemployees ge 200") == ["Beta", "Gamma"]
    assert names("name eq 'ALPHA'") == ["Alpha"]  # case-insensitive as Dataverse
    assert names("startswith(name,'alpha')") == ["Alpha", "alphabet"]
    assert names("contains(name,'amm') or endswith(name,'eta')") == ["Beta", "Gamma"]
    assert names("numberofemployees eq null") == ["alphabet"]
    assert names("not (numberofemployees lt 300) and numberofemployees ne null") == ["Gamma"]
    query = "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['Beta','Gamma'])"
    assert names(query) == ["Beta", "Gamma"]


def test_filter_on_guid_and_datetime_literals(org: Org, api: httpx.Client) -> None:
    lead = create(api, "leads", {"lastname": "One"})
    admin = org.sandbox.store.admin_id
    rows = api.get(f"leads?$filter=_ownerid_value eq {admin} and leadid eq {lead}").json()
    assert [r["leadid"] for r in rows["value"]] == [lead]
    later = api.get("leads?$filter=createdon gt 2999-01-01T00:00:00Z").json()["value"]
    assert later == []
    earlier = api.get("leads?$filter=createdon gt 2000-01-01T00:00:00Z").json()["value"]
    assert len(earlier) == 1


def test_unknown_property_and_syntax_errors(api: httpx.Client) -> None:
    unknown = api.get("leads?$select=nosuchcolumn")
    assert unknown.status_code == 400
    assert error_code(unknown) == "0x80060888"
    message = unknown.json()["error"]["message"]
    assert message == (
        "Could not find a property named 'nosuchcolumn' on type 'Microsoft.Dynamics.CRM.lead'."
    )
    assert api.get("leads?$filter=nosuch eq 1").status_code == 400
    syntax = api.get("leads?$filter=lastname eq")
    assert syntax.status_code == 400
    assert "Syntax error" in syntax.json()["error"]["message"]
    lookup = api.get("contacts?$select=parentcustomerid")
    assert lookup.status_code == 400


def test_paging_with_maxpagesize_and_count(org: Org, api: httpx.Client) -> None:
    org.sandbox.store.insert_many("account", [{"name": f"A{i:02}"} for i in range(25)])
    prefer = {"Prefer": "odata.maxpagesize=10"}
    answer = api.get("accounts?$select=name&$orderby=name&$count=true", headers=prefer)
    assert answer.headers["Preference-Applied"] == "odata.maxpagesize=10"
    body = answer.json()
    assert body["@odata.count"] == 25
    seen = [r["name"] for r in body["value"]]
    pages = 1
    while "@odata.nextLink" in body:
        link = body["@odata.nextLink"]
        assert "$skiptoken=" in link
        token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
        assert token.startswith("<cookie pagenumber=")
        body = api.get(link, headers=prefer).json()
        seen += [r["name"] for r in body["value"]]
        pages += 1
    assert pages == 3
    assert seen == [f"A{i:02}" for i in range(25)]


def test_top_limits_across_pages(org: Org, api: httpx.Client) -> None:
    org.sandbox.store.insert_many("account", [{"name": f"A{i}"} for i in range(12)])
    body = api.get("accounts?$top=5", headers={"Prefer": "odata.maxpagesize=3"}).json()
    assert len(body["value"]) == 3
    rest = api.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=3"}).json()
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest


def test_expand_single_valued_lookup(api: httpx.Client) -> None:
    account = create(api, "accounts", {"name": "Fabrikam"})
    create(api, "contacts", {"lastname": "Li", "parentcustomerid_account@odata.bind":
                             f"accounts({account})"})
    rows = api.get("contacts?$select=fullname&$expand=parentcustomerid_account($select=name)")
    assert rows.status_code == 200, rows.text
    expanded = rows.json()["value"][0]["parentcustomerid_account"]
    assert expanded["name"] == "Fabrikam" and expanded["accountid"] == account


def test_get_by_id_and_alternate_key(org: Org, api: httpx.Client) -> None:
    missing = api.get("leads(00000000-0000-0000-0000-000000000001)")
    assert missing.status_code == 404
    assert error_code(missing) == "0x80040217"
    assert missing.json()["error"]["message"].endswith("Does Not Exist")
    store = org.sandbox.store
    store.add_picklist_attribute("lead", "abm_dummy", "Dummy")
    response = api.post(
        "EntityDefinitions(LogicalName='lead')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "SchemaName": "abm_Key",
            "MaxLength": 50,
            "DisplayName": {"LocalizedLabels": [{"Label": "Key", "LanguageCode": 1033}]},
        },
    )
    assert response.status_code == 204, response.text
    keyed = api.post(
        "EntityDefinitions(LogicalName='lead')/Keys",
        json={"SchemaName": "abm_leadkey", "KeyAttributes": ["abm_key"]},
    )
    assert keyed.status_code == 204, keyed.text
    lead = create(api, "leads", {"lastname": "K", "abm_key": "x-1"})
    found = api.get("leads(abm_key='x-1')?$select=lastname").json()
    assert found["leadid"] == lead
    absent = api.get("leads(abm_key='nope')")
    assert absent.status_code == 404 and error_code(absent) == "0x80040217"


# -- writing -------------------------------------------------------------------------


def test_create_returns_representation_when_preferred(api: httpx.Client) -> None:
    answer = api.post(
        "leads?$select=fullname",
        json={"firstname": "Grace", "lastname": "Hopper"},
        headers={"Prefer": "return=representation"},
    )
    assert answer.status_code == 201
    assert answer.json()["fullname"] == "Grace Hopper"
    assert answer.headers["Preference-Applied"] == "return=representation"


def test_type_validation_errors(api: httpx.Client) -> None:
    long = api.post("leads", json={"firstname": "x" * 51})
    assert long.status_code == 400 and error_code(long) == "0x80044331"
    assert "exceeded the maximum allowed length of '50'" in long.json()["error"]["message"]
    picklist = api.post("leads", json={"industrycode": 999})
    assert picklist.status_code == 400
    assert "outside the valid range" in picklist.json()["error"]["message"]
    wrong = api.post("leads", json={"numberofemployees": "many"})
    assert wrong.status_code == 400 and error_code(wrong) == "0x80048d19"
    unknown = api.post("leads", json={"nosuch": 1})
    assert unknown.status_code == 400 and error_code(unknown) == "0x80048d19"
    assert "The property 'nosuch' does not exist" in unknown.json()["error"]["message"]
    lookup = api.post("contacts", json={"parentcustomerid": "00000000-0000-0000-0000-000000000001"})
    assert lookup.status_code == 400
    bind = api.post(
        "contacts",
        json={"parentcustomerid_account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)"},
    )
    assert bind.status_code == 404 and error_code(bind) == "0x80040217"


def test_patch_upsert_rules(api: httpx.Client) -> None:
    record = "6b3f2a10-0000-4000-8000-000000000001"
    created = api.patch(f"leads({record})", json={"lastname": "Upserted"})
    assert created.status_code == 204
    assert api.get(f"leads({record})").json()["lastname"] == "Upserted"
    updated = api.patch(f"leads({record})", json={"lastname": "Again"}, headers={"If-Match": "*"})
    assert updated.status_code == 204
    absent = api.patch(
        "leads(6b3f2a10-0000-4000-8000-000000000002)", json={"lastname": "x"},
        headers={"If-Match": "*"},
    )
    assert absent.status_code == 404 and error_code(absent) == "0x80040217"
    exists = api.patch(f"leads({record})", json={"lastname": "x"}, headers={"If-None-Match": "*"})
    assert exists.status_code == 412 and error_code(exists) == "0x80040237"
    assert api.get(f"leads({record})").json()["lastname"] == "Again"
    assert api.delete(f"leads({record})").status_code == 204
    assert api.delete(f"leads({record})").status_code == 404


def test_upsert_by_alternate_key(org: Org, api: httpx.Client) -> None:
    from abmsync.sandbox.dynamics.metadata import AttributeDef, KeyDef

    store = org.sandbox.store
    store.add_attribute("contact", AttributeDef("abm_key", "String", 100, custom=True))
    store.add_key("contact", KeyDef("abm_contactkey", ("abm_key",)))
    first = api.patch("contacts(abm_key='k1')", json={"lastname": "First"})
    assert first.status_code == 204
    second = api.patch("contacts(abm_key='k1')", json={"lastname": "Second"})
    assert second.status_code == 204
    rows = store.rows("contact")
    assert [(r["abm_key"], r["lastname"]) for r in rows] == [("k1", "Second")]
    create_only = api.patch(
        "contacts(abm_key='k1')", json={"lastname": "x"}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412
    update_only = api.patch(
        "contacts(abm_key='k2')", json={"lastname": "x"}, headers={"If-Match": "*"}
    )
    assert update_only.status_code == 404
    duplicate = api.post("contacts", json={"lastname": "Dup", "abm_key": "k1"})
    assert duplicate.status_code == 412 and error_code(duplicate) == "0x80040237"


def test_create_multiple_and_upsert_multiple(org: Org, api: httpx.Client) -> None:
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"M{i}"} for i in range(3)]
    made = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert made.status_code == 200, made.text
    ids = made.json()["Ids"]
    assert len(ids) == 3
    bad = [*targets, {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "x" * 200}]
    failed = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": bad})
    assert failed.status_code == 400
    assert len(org.sandbox.store.rows("account")) == 3  # all or nothing
    upsert = [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": ids[0], "name": "Renamed"},
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "New"},
    ]
    answer = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": upsert})
    assert answer.status_code == 200, answer.text
    names = sorted(r["name"] for r in org.sandbox.store.rows("account"))
    assert names == ["M1", "M2", "New", "Renamed"]


# -- limits and faults ---------------------------------------------------------------


def test_service_protection_request_limit(make_org: MakeOrg) -> None:
    org = make_org(config=DynamicsConfig(requests_per_window=3, window_seconds=60))
    api = org.client()
    assert [api.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.get("WhoAmI")
    assert throttled.status_code == 429
    assert error_code(throttled) == "0x80072322"
    assert int(throttled.headers["Retry-After"]) >= 1
    message = throttled.json()["error"]["message"]
    assert message == "Number of requests exceeded the limit of 3 over time window of 60 seconds."


def test_service_protection_concurrency_limit(make_org: MakeOrg) -> None:
    org = make_org(config=DynamicsConfig(max_concurrent=1))
    api = org.client()
    user = org.config.client_id.lower()
    org.sandbox.throttle.enter(user)  # one request in flight
    try:
        throttled = api.get("WhoAmI")
    finally:
        org.sandbox.throttle.leave(user)
    assert throttled.status_code == 429 and error_code(throttled) == "0x80072326"
    assert "Retry-After" in throttled.headers
    assert api.get("WhoAmI").status_code == 200


def test_fault_middleware_renders_dataverse_bodies(make_org: MakeOrg) -> None:
    from abmsync.sandbox.faults import Faults

    org = make_org(Faults(rate_limit=1.0, retry_after=2))
    token = org.token()
    assert token.status_code == 200  # Entra is exempt
    api = httpx.Client(verify=org.ssl_context, trust_env=False,
                       headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    org.clients.append(api)
    answer = api.get(f"{org.api}/WhoAmI")
    assert answer.status_code == 429
    assert float(answer.headers["Retry-After"]) == 2
    assert error_code(answer) == "0x80072322"


def test_clock_stamps_createdon(make_org: MakeOrg, clock: Clock) -> None:
    org = make_org(clock=clock)
    api = org.client()
    lead = create(api, "leads", {"lastname": "T"})
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.get(f"leads({lead})").json()["createdon"] == stamp


@pytest.mark.parametrize("version", ["9.0", "9.1", "9.2"])
def test_versions_alias(org: Org, api: httpx.Client, version: str) -> None:
    assert api.get(f"{org.url}/api/data/v{version}/leads").status_code == 200
