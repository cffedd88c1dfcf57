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
    body = (
        org.raw()
        .get(f"{org.url}/{org.config.tenant_id}/v2.0/.well-known/openid-configuration")
        .json()
    )
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
    create(
        api,
        "contacts",
        {"lastname": "Li", "parentcustomerid_account@odata.bind": f"accounts({account})"},
    )
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
        json={
            "parentcustomerid_account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)"
        },
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
        "leads(6b3f2a10-0000-4000-8000-000000000002)",
        json={"lastname": "x"},
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
    api = httpx.Client(
        verify=org.ssl_context,
        trust_env=False,
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
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


# -- change tracking -----------------------------------------------------------------

TRACK = {"Prefer": "odata.track-changes,odata.maxpagesize=2"}


def read_all(api: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    """Every item of a change-tracking read, following nextLinks; and the deltaLink."""
    items: list[dict[str, Any]] = []
    while True:
        answer = api.get(url, headers=TRACK)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["value"]
        if "@odata.nextLink" in body:
            assert "@odata.deltaLink" not in body
            url = body["@odata.nextLink"]
            continue
        return items, body["@odata.deltaLink"]


def test_change_tracking_full_then_delta_with_updates_and_deletes(
    org: Org, api: httpx.Client
) -> None:
    store = org.sandbox.store
    ids = store.insert_many("lead", [{"lastname": f"L{i}"} for i in range(5)])
    rows, delta = read_all(api, "leads?$select=lastname")
    assert sorted(r["leadid"] for r in rows) == sorted(ids)
    token = parse_qs(urlsplit(delta).query)["$deltatoken"][0]
    assert re.fullmatch(r"\d+!\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", token)
    store.update("lead", ids[0], {"lastname": "Changed"})
    store.update("lead", ids[0], {"lastname": "Changed twice"})
    store.delete("lead", ids[1])
    created = store.create("lead", {"lastname": "New"})
    changes, next_delta = read_all(api, delta)
    updated = [c for c in changes if "reason" not in c]
    deleted = [c for c in changes if c.get("reason") == "deleted"]
    assert [(c["leadid"], c["lastname"]) for c in updated] == [
        (ids[0], "Changed twice"),
        (created, "New"),
    ]
    assert [d["id"] for d in deleted] == [ids[1]]
    assert deleted[0]["@odata.context"].endswith("$metadata#leads/$deletedEntity")
    nothing, _ = read_all(api, next_delta)
    assert nothing == []


def test_change_tracking_sees_a_row_changed_while_paging(org: Org, api: httpx.Client) -> None:
    store = org.sandbox.store
    ids = store.insert_many("account", [{"name": f"A{i}"} for i in range(4)])
    first = api.get("accounts?$select=name", headers=TRACK).json()
    seen = {r["accountid"] for r in first["value"]}
    store.update("account", next(iter(seen)), {"name": "edited mid-read"})
    rest, delta = read_all(api, first["@odata.nextLink"])
    assert seen | {r["accountid"] for r in rest} == set(ids)
    changes, _ = read_all(api, delta)
    assert [c["name"] for c in changes] == ["edited mid-read"]


def test_change_tracking_sees_qualify_and_merge(org: Org, api: httpx.Client) -> None:
    store = org.sandbox.store
    lead = store.create("lead", {"firstname": "Q", "lastname": "Lead", "companyname": "Qco"})
    a, b = store.insert_many("account", [{"name": "Keep"}, {"name": "Dupe"}])
    _, lead_delta = read_all(api, "leads?$select=statecode")
    _, account_delta = read_all(api, "accounts?$select=name,merged")
    made = store.qualify_lead(lead)
    store.merge("account", a, b)
    leads, _ = read_all(api, lead_delta)
    assert [(r["leadid"], r["statecode"]) for r in leads] == [(lead, 1)]
    accounts, _ = read_all(api, account_delta)
    by_id = {r["accountid"]: r for r in accounts}
    assert by_id[b]["merged"] is True
    assert made["account"] in by_id


def test_change_tracking_rejects_query_options_and_expired_tokens(
    make_org: MakeOrg, clock: Clock
) -> None:
    org = make_org(clock=clock)
    api = org.client()
    for option in ("$filter=lastname eq 'x'", "$orderby=lastname", "$top=1"):
        answer = api.get(f"leads?{option}", headers={"Prefer": "odata.track-changes"})
        assert answer.status_code == 400
        assert (
            "isn't supported when Change Tracking is enabled" in answer.json()["error"]["message"]
        )
    _, delta = read_all(api, "leads")
    clock.advance(days=8)
    expired = api.get(delta, headers={"Prefer": "odata.track-changes"})
    assert expired.status_code == 400 and error_code(expired) == "0x80044352"
    garbage = api.get("leads?$deltatoken=nonsense", headers={"Prefer": "odata.track-changes"})
    assert garbage.status_code == 400 and error_code(garbage) == "0x80044352"
    disabled = api.get("activityparties", headers={"Prefer": "odata.track-changes"})
    assert disabled.status_code == 400


# -- qualify and merge over the Web API ----------------------------------------------


def test_qualify_lead_action(org: Org, api: httpx.Client) -> None:
    lead = create(api, "leads", {"firstname": "Ann", "lastname": "Lee", "companyname": "Lee Co"})
    answer = api.post(
        f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3},
    )
    assert answer.status_code == 200, answer.text
    kinds = {item["@odata.type"] for item in answer.json()["value"]}
    assert kinds == {
        "#Microsoft.Dynamics.CRM.account",
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    }
    body = api.get(f"leads({lead})").json()
    assert (body["statecode"], body["statuscode"]) == (1, 3)
    contact = api.get(f"contacts({body['_parentcontactid_value']})").json()
    assert contact["_originatingleadid_value"] == lead
    assert contact["_parentcustomerid_value"] == body["_parentaccountid_value"]
    opportunity = api.get(f"opportunities({body['_qualifyingopportunityid_value']})").json()
    assert opportunity["_originatingleadid_value"] == lead
    again = api.post(
        f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": False,
            "CreateContact": False,
            "CreateOpportunity": False,
            "Status": 3,
        },
    )
    assert again.status_code == 400


def test_merge_keeps_the_subordinate_inactive_and_reparents_children(
    org: Org, api: httpx.Client
) -> None:
    keep = create(api, "accounts", {"name": "Keep"})
    dupe = create(api, "accounts", {"name": "Dupe"})
    child = create(
        api,
        "contacts",
        {"lastname": "C", "parentcustomerid_account@odata.bind": f"/accounts({dupe})"},
    )
    answer = api.post(
        "Merge",
        json={
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": keep},
            "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": dupe},
            "UpdateContent": {
                "@odata.type": "Microsoft.Dynamics.CRM.account",
                "websiteurl": "https://keep.example",
            },
            "PerformParentingChecks": False,
        },
    )
    assert answer.status_code == 204, answer.text
    merged = api.get(f"accounts({dupe})").json()
    assert merged["merged"] is True and merged["_masterid_value"] == keep
    assert merged["statecode"] == 1
    assert api.get(f"contacts({child})").json()["_parentcustomerid_value"] == keep
    assert api.get(f"accounts({keep})").json()["websiteurl"] == "https://keep.example"


# -- $batch --------------------------------------------------------------------------


def batch_body(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"


def http_part(request: str, content_id: str | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    return head + "\r\n" + request


def changeset(boundary: str, parts: list[str]) -> str:
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n" + batch_body(
        boundary, parts
    ).rstrip("\r\n")


def post_batch(api: httpx.Client, body: str, **headers: str) -> httpx.Response:
    return api.post(
        "$batch",
        content=body.encode(),
        headers={"Content-Type": "multipart/mixed; boundary=batch_1", **headers},
    )


def test_batch_changeset_with_content_id_reference(org: Org, api: httpx.Client) -> None:
    create_account = http_part(
        'POST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name": "Batch Co"}', "1"
    )
    create_contact = http_part(
        "POST contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname": "B", "parentcustomerid_account@odata.bind": "$1"}',
        "2",
    )
    read = http_part("GET accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n")
    body = batch_body("batch_1", [changeset("changeset_1", [create_account, create_contact]), read])
    answer = post_batch(api, body)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert answer.text.count("HTTP/1.1 204 No Content") == 2
    assert "HTTP/1.1 200 OK" in answer.text and '"Batch Co"' in answer.text
    contact = org.sandbox.store.rows("contact")[0]
    assert contact["parentcustomerid"] == org.sandbox.store.rows("account")[0]["accountid"]


def test_batch_changeset_is_atomic(org: Org, api: httpx.Client) -> None:
    good = http_part(
        'POST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name": "Rolled back"}',
        "1",
    )
    bad = http_part(
        'POST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"nosuch": 1}', "2"
    )
    answer = post_batch(api, batch_body("batch_1", [changeset("cs", [good, bad])]))
    assert answer.status_code == 200
    assert "HTTP/1.1 400 Bad Request" in answer.text
    assert "HTTP/1.1 204" not in answer.text  # one error answers the whole changeset
    assert org.sandbox.store.rows("account") == []


def test_batch_stops_at_first_error_unless_continue_on_error(org: Org, api: httpx.Client) -> None:
    bad = http_part("GET leads(00000000-0000-0000-0000-000000000001) HTTP/1.1\r\n")
    good = http_part(
        'POST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name": "After"}'
    )
    stopped = post_batch(api, batch_body("batch_1", [bad, good]))
    assert "404" in stopped.text and org.sandbox.store.rows("account") == []
    kept = post_batch(api, batch_body("batch_1", [bad, good]), Prefer="odata.continue-on-error")
    assert "HTTP/1.1 204" in kept.text
    assert [r["name"] for r in org.sandbox.store.rows("account")] == ["After"]


def test_batch_over_1000_requests_is_refused(api: httpx.Client) -> None:
    parts = [http_part("GET WhoAmI HTTP/1.1\r\n")] * 1001
    answer = post_batch(api, batch_body("batch_1", parts))
    assert answer.status_code == 400
    assert "1000" in answer.json()["error"]["message"]


# -- metadata ------------------------------------------------------------------------


def test_entity_definitions_lookup_as_the_sdk_asks(api: httpx.Client) -> None:
    answer = api.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
        "&$filter=LogicalName eq 'opportunity'"
    )
    assert answer.status_code == 200
    [item] = answer.json()["value"]
    assert item["EntitySetName"] == "opportunities"
    assert item["PrimaryIdAttribute"] == "opportunityid"
    assert set(item) == {
        "LogicalName",
        "EntitySetName",
        "PrimaryIdAttribute",
        "MetadataId",
        "@odata.type",
    }
    by_id = api.get(f"EntityDefinitions({item['MetadataId']})").json()
    assert by_id["LogicalName"] == "opportunity"


def test_attribute_metadata_with_option_sets(api: httpx.Client) -> None:
    attrs = api.get("EntityDefinitions(LogicalName='lead')/Attributes").json()["value"]
    by_name = {a["LogicalName"]: a for a in attrs}
    assert by_name["firstname"]["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert by_name["firstname"]["MaxLength"] == 50
    assert by_name["parentaccountid"]["Targets"] == ["account"]
    assert by_name["createdon"]["IsValidForCreate"] is False
    picklists = api.get(
        "EntityDefinitions(LogicalName='lead')/Attributes/"
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet"
    ).json()["value"]
    source = next(p for p in picklists if p["LogicalName"] == "leadsourcecode")
    labels = {
        o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"]
        for o in source["OptionSet"]["Options"]
    }
    assert labels[7] == "Trade Show"


def test_create_table_column_relationship_and_key(org: Org, api: httpx.Client) -> None:
    label = {"LocalizedLabels": [{"Label": "Touchpoint", "LanguageCode": 1033}]}
    table = api.post(
        "EntityDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
            "SchemaName": "abm_Touchpoint",
            "DisplayName": label,
            "HasActivities": False,
            "OwnershipType": "UserOwned",
            "Attributes": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                    "SchemaName": "abm_Name",
                    "IsPrimaryName": True,
                    "MaxLength": 200,
                    "DisplayName": label,
                }
            ],
        },
    )
    assert table.status_code == 204, table.text
    assert "EntityDefinitions(" in table.headers["OData-EntityId"]
    again = api.post("EntityDefinitions", json={"SchemaName": "abm_Touchpoint"})
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    no_prefix = api.post(
        "EntityDefinitions(LogicalName='abm_touchpoint')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            "SchemaName": "Points",
        },
    )
    assert no_prefix.status_code == 400
    column = api.post(
        "EntityDefinitions(LogicalName='abm_touchpoint')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "SchemaName": "abm_Kind",
            "DisplayName": label,
            "OptionSet": {
                "IsGlobal": False,
                "OptionSetType": "Picklist",
                "Options": [
                    {"Value": 100000000, "Label": {"LocalizedLabels": [{"Label": "Webinar"}]}}
                ],
            },
        },
    )
    assert column.status_code == 204, column.text
    relationship = api.post(
        "RelationshipDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "SchemaName": "abm_lead_touchpoint",
            "ReferencedEntity": "lead",
            "ReferencedAttribute": "leadid",
            "ReferencingEntity": "abm_touchpoint",
            "Lookup": {
                "@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                "SchemaName": "abm_LeadId",
                "DisplayName": label,
            },
        },
    )
    assert relationship.status_code == 204, relationship.text
    keyed = api.post(
        "EntityDefinitions(LogicalName='abm_touchpoint')/Keys",
        json={"SchemaName": "abm_touchkey", "KeyAttributes": ["abm_name"]},
    )
    assert keyed.status_code == 204
    keys = api.get("EntityDefinitions(LogicalName='abm_touchpoint')/Keys").json()["value"]
    assert keys[0]["KeyAttributes"] == ["abm_name"]
    assert keys[0]["EntityKeyIndexStatus"] == "Active"
    lead = create(api, "leads", {"lastname": "T"})
    upsert = api.patch(
        "abm_touchpoints(abm_name='tp-1')",
        json={"abm_kind": 100000000, "abm_LeadId@odata.bind": f"/leads({lead})"},
    )
    assert upsert.status_code == 204, upsert.text
    row = api.get("abm_touchpoints(abm_name='tp-1')").json()
    assert row["_abm_leadid_value"] == lead and row["abm_kind"] == 100000000


# -- the store as the seeder uses it -------------------------------------------------


def test_store_seeding_api(org: Org) -> None:
    store = org.sandbox.store
    value = store.add_option("lead", "industrycode", "Software")
    assert value == 100000000 and store.add_option("lead", "industrycode", "Software") == value
    assert store.option_value("lead", "industrycode", "Software") == value
    rejected = store.add_option("lead", "statuscode", "Rejected", state=2)
    assert store.table("lead").attributes["statuscode"].option(rejected).state == 2  # type: ignore[union-attr]
    [user] = store.insert_many("systemuser", [{"fullname": "Rep", "nickname": "own-001"}])
    [account] = store.insert_many("account", [{"name": "A", "ownerid": user}])
    [contact] = store.insert_many("contact", [{"lastname": "C", "parentcustomerid": account}])
    assert store.reference("contact", contact, "parentcustomerid") == ("account", account)
    [campaign] = store.insert_many("campaign", [{"name": "Webinar"}])
    [response] = store.insert_many(
        "campaignresponse",
        [{"subject": "R", "regardingobjectid": campaign, "createdon": "2024-01-02T03:04:05Z"}],
    )
    store.insert_many(
        "activityparty",
        [{"activityid": response, "partyid": ("contact", contact), "participationtypemask": 11}],
    )
    assert store.get("campaignresponse", response)["createdon"] == "2024-01-02T03:04:05Z"  # type: ignore[index]
    assert store.get("lead", "00000000-0000-0000-0000-000000000000") is None


def test_seeding_100k_rows_takes_seconds(org: Org) -> None:
    import time

    started = time.monotonic()
    org.sandbox.store.insert_many(
        "lead", [{"firstname": "F", "lastname": f"L{i}", "industrycode": 1} for i in range(100_000)]
    )
    assert time.monotonic() - started < 20
    assert org.sandbox.store.count("lead") == 100_000
