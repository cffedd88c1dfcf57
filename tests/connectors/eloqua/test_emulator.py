"""The Eloqua emulator answers like Eloqua: login, discovery, REST, Bulk exports/imports, limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from abmsync.sandbox.eloqua import EloquaConfig
from abmsync.sandbox.eloqua.fields import ACTIVITY_FIELDS
from abmsync.sandbox.faults import Faults
from tests.connectors.serving import Clock

from .conftest import MakeSite, Site

NEW_YORK = ZoneInfo("America/New_York")


def export_contacts(site: Site, bulk: httpx.Client, **definition: object) -> list[dict[str, str]]:
    body = {"name": "contacts", "fields": {"Id": "{{Contact.Id}}"}, **definition}
    return site.export(bulk, "contacts", body)


# -- login and discovery ---------------------------------------------------------------


def test_id_answers_the_site_the_user_and_versioned_urls(site: Site) -> None:
    body = site.raw(Authorization=site.basic_auth).get(f"{site.url}/id").json()
    assert body["site"] == {"id": site.config.site_id, "name": site.config.company}
    assert body["user"]["username"] == site.config.username
    assert body["urls"]["base"] == site.url
    assert body["urls"]["apis"]["rest"]["standard"] == f"{site.url}/API/REST/{{version}}/"
    assert body["urls"]["apis"]["rest"]["bulk"] == f"{site.url}/API/Bulk/{{version}}/"


def test_id_with_bad_credentials_is_200_not_authenticated(site: Site) -> None:
    wrong = "Basic " + base64.b64encode(b"AbmsyncDemo\\Sync.User:nope").decode()
    for headers in ({"Authorization": wrong}, {}):
        answer = site.raw(**headers).get(f"{site.url}/id")
        assert answer.status_code == 200
        assert answer.json() == "Not authenticated."


def test_oauth_password_grant_then_refresh_gives_working_bearer_tokens(site: Site) -> None:
    first = site.oauth()
    assert first.status_code == 200
    token = first.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 28_800
    bearer = site.rest(authorization=f"Bearer {token['access_token']}")
    assert bearer.get("data/contacts").status_code == 200
    refreshed = site.oauth(
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "scope": "full",
            "redirect_uri": "https://example.com/cb",
        }
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != token["access_token"]
    again = site.oauth({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}


def test_oauth_refuses_a_bad_app_or_user(site: Site) -> None:
    assert site.oauth(client_secret="wrong").json() == {"error": "invalid_client"}
    bad_user = {"grant_type": "password", "username": "AbmsyncDemo\\Sync.User", "password": "x"}
    answer = site.oauth(bad_user)
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant"}


def test_api_calls_without_valid_credentials_are_401(site: Site, clock: Clock) -> None:
    assert site.rest(authorization="Basic bm9wZTpub3Bl").get("data/contacts").status_code == 401
    token = site.oauth().json()["access_token"]
    bearer = site.bulk(authorization=f"Bearer {token}")
    assert bearer.get("contacts/fields").status_code == 200
    clock.advance(seconds=28_800)
    expired = bearer.get("contacts/fields")
    assert expired.status_code == 401 and expired.json() == "Not authenticated."


def test_token_expiry_faults_hit_the_api_but_not_login(make_site: MakeSite) -> None:
    site = make_site(Faults(token_expiry=1.0))
    assert site.rest().get("data/contacts").status_code == 401
    assert site.raw(Authorization=site.basic_auth).get(f"{site.url}/id").json()["site"]
    assert site.oauth().status_code == 200


def test_gate_counts_api_requests_but_not_login(site: Site) -> None:
    site.raw(Authorization=site.basic_auth).get(f"{site.url}/id")
    site.oauth()
    rest = site.rest()
    rest.get("data/contacts")
    rest.get("data/contact/99")
    assert site.gate.api_calls == 2


def test_paths_are_case_insensitive(site: Site) -> None:
    site.store.add_contacts([{"C_EmailAddress": "a@example.com"}])
    raw = site.raw(Authorization=site.basic_auth)
    for path in (
        "/API/REST/1.0/data/contacts",
        "/api/rest/1.0/DATA/Contacts",
        "/api/REST/2.0/data/contacts",
    ):
        assert raw.get(site.url + path).json()["total"] == 1
    for path in ("/API/Bulk/2.0/contacts/fields", "/api/bulk/2.0/Contacts/Fields"):
        assert raw.get(site.url + path).json()["totalResults"] > 10


# -- REST --------------------------------------------------------------------------------


def test_contacts_at_each_depth(site: Site, rest: httpx.Client) -> None:
    [contact_id] = site.store.add_contacts(
        [{"C_EmailAddress": "ann@acme.example", "C_FirstName": "Ann"}]
    )
    minimal = rest.get("data/contacts").json()["elements"][0]
    assert minimal == {
        "type": "Contact",
        "id": str(contact_id),
        "createdAt": minimal["createdAt"],
        "depth": "minimal",
        "name": "ann@acme.example",
        "updatedAt": minimal["updatedAt"],
        "emailAddress": "ann@acme.example",
    }
    assert minimal["createdAt"].isdigit()
    partial = rest.get("data/contacts", params={"depth": "partial"}).json()["elements"][0]
    assert (
        partial["firstName"] == "Ann" and "fieldValues" not in partial and "lastName" not in partial
    )
    complete = rest.get(f"data/contact/{contact_id}").json()
    values = {v["id"]: v.get("value") for v in complete["fieldValues"]}
    assert values["100001"] == "ann@acme.example" and values["100003"] is None
    assert all(v["type"] == "FieldValue" for v in complete["fieldValues"])


def test_contact_search_and_paging(site: Site, rest: httpx.Client) -> None:
    site.store.add_contacts(
        [{"C_EmailAddress": f"p{i}@acme.example", "C_LastName": f"L{i}"} for i in range(5)]
    )
    site.store.add_contacts([{"C_EmailAddress": "ann@other.example"}])
    exact = rest.get("data/contacts", params={"search": "C_EmailAddress='P3@acme.example'"}).json()
    assert [e["emailAddress"] for e in exact["elements"]] == ["p3@acme.example"]
    wild = rest.get(
        "data/contacts", params={"search": "emailAddress=*@acme.example", "count": 2, "page": 2}
    )
    assert wild.json()["total"] == 5 and wild.json()["pageSize"] == 2 and wild.json()["page"] == 2
    assert [e["emailAddress"] for e in wild.json()["elements"]] == [
        "p2@acme.example",
        "p3@acme.example",
    ]
    assert rest.get("data/contacts", params={"search": "ann*"}).json()["total"] == 1
    too_many = rest.get("data/contacts", params={"count": 1001})
    assert too_many.status_code == 400
    assert too_many.json()[0]["type"] == "EndpointParameterError"
    unknown = rest.get("data/contacts", params={"search": "C_Nope='x'"})
    assert unknown.status_code == 400


def test_bad_and_unknown_ids(rest: httpx.Client) -> None:
    bad = rest.get("data/contact/sandwich")
    assert bad.status_code == 400
    assert bad.json()[0]["requirement"] == {"type": "IdRequirement", "isRelativeAllowed": False}
    assert rest.get("data/contact/12345").status_code == 404
    assert rest.get("data/account/12345").status_code == 404


def test_accounts_and_contact_account_link(site: Site, rest: httpx.Client) -> None:
    [account_id] = site.store.add_accounts([{"M_CompanyName": "Acme", "M_Country": "US"}])
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "ann@acme.example"}])
    site.store.link_contact_to_account(contact_id, account_id)
    account = rest.get(f"data/account/{account_id}").json()
    assert account["type"] == "Account" and account["name"] == "Acme" and account["country"] == "US"
    listed = rest.get("data/accounts", params={"search": "name=Acme"}).json()
    assert listed["total"] == 1
    contact = rest.get(f"data/contact/{contact_id}").json()
    assert contact["accountId"] == str(account_id) and contact["accountName"] == "Acme"


def test_rest_create_update_delete_contact(site: Site, rest: httpx.Client) -> None:
    created = rest.post("data/contact", json={"emailAddress": "new@acme.example", "firstName": "N"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    duplicate = rest.post("data/contact", json={"emailAddress": "NEW@acme.example"})
    assert duplicate.status_code == 409
    assert rest.put(f"data/contact/{contact_id}", json={"title": "CTO"}).json()["title"] == "CTO"
    assert rest.delete(f"data/contact/{contact_id}").status_code == 204
    assert site.store.contact(int(contact_id)) is None


def test_contact_field_create_derives_the_internal_name(
    site: Site, rest: httpx.Client, bulk: httpx.Client
) -> None:
    created = rest.post("assets/contact/field", json={"name": "ABM Score", "dataType": "numeric"})
    assert created.status_code == 201
    body = created.json()
    assert body["internalName"] == "C_ABM_Score1" and body["dataType"] == "numeric"
    assert body["isStandard"] == "false" and body["type"] == "ContactField"
    other = rest.post("assets/contact/field", json={"name": "ABM-Score", "dataType": "text"}).json()
    assert other["internalName"] == "C_ABM_Score2"
    assert (
        rest.post(
            "assets/contact/field", json={"name": "abm score", "dataType": "text"}
        ).status_code
        == 400
    )
    assert (
        rest.post("assets/contact/field", json={"name": "X", "dataType": "blob"}).status_code == 400
    )
    fields = bulk.get("contacts/fields", params={"q": "name='ABM*'"}).json()["items"]
    assert [f["statement"] for f in fields] == [
        "{{Contact.Field(C_ABM_Score1)}}",
        "{{Contact.Field(C_ABM_Score2)}}",
    ]
    assert fields[0]["dataType"] == "number"
    listed = rest.get(
        "assets/contact/fields", params={"search": "name='ABM*'", "depth": "complete"}
    )
    assert listed.json()["total"] == 2


def test_custom_objects_and_instances_over_rest(site: Site) -> None:
    rest2 = site.rest("2.0")
    created = rest2.post(
        "assets/customObject",
        json={"name": "ABM_Touchpoint", "fields": [{"name": "Touchpoint Key", "dataType": "text"}]},
    )
    assert created.status_code == 201
    made = created.json()
    assert made["fields"][0]["internalName"] == "Touchpoint_Key1"
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "ann@acme.example"}])
    field_id = made["fields"][0]["id"]
    instance = rest2.post(
        f"data/customObject/{made['id']}/instance",
        json={"contactId": str(contact_id), "fieldValues": [{"id": field_id, "value": "k-1"}]},
    )
    assert instance.status_code == 201
    listed = rest2.get(
        f"data/customObject/{made['id']}/instances", params={"depth": "complete"}
    ).json()
    assert listed["total"] == 1
    assert listed["elements"][0]["contactId"] == str(contact_id)
    assert listed["elements"][0]["fieldValues"] == [
        {"type": "FieldValue", "id": field_id, "value": "k-1"}
    ]
    assert rest2.get("assets/customObjects").json()["elements"][0]["name"] == "ABM_Touchpoint"


# -- Bulk exports ------------------------------------------------------------------------


def test_contact_export_filters_on_date_modified(
    site: Site, bulk: httpx.Client, clock: Clock
) -> None:
    old, new = site.store.add_contacts(
        [{"C_EmailAddress": "old@a.example"}, {"C_EmailAddress": "new@a.example"}]
    )
    clock.advance(minutes=10)
    cutoff = clock.now.strftime("%Y-%m-%d %H:%M:%S")
    clock.advance(minutes=1)
    site.store.update_contact(new, {"C_Title": "CTO"})
    rows = export_contacts(
        site,
        bulk,
        fields={
            "Id": "{{Contact.Id}}",
            "Email": "{{Contact.Field(C_EmailAddress)}}",
            "Modified": "{{Contact.Field(C_DateModified)}}",
            "Title": "{{Contact.Field(C_Title)}}",
            "FirstName": "{{Contact.Field(C_FirstName)}}",
        },
        filter=f"'{{{{Contact.Field(C_DateModified)}}}}' > '{cutoff}'",
        areSystemTimestampsInUTC=True,
    )
    assert rows == [
        {
            "Id": str(new),
            "Email": "new@a.example",
            "Modified": clock.now.strftime("%Y-%m-%d %H:%M:%S.000"),
            "Title": "CTO",
            "FirstName": "",
        }
    ]
    assert old != new


def test_system_timestamps_in_site_time_zone_unless_utc(
    site: Site, bulk: httpx.Client, clock: Clock
) -> None:
    site.store.add_contacts([{"C_EmailAddress": "a@a.example"}])
    fields = {"Created": "{{Contact.CreatedAt}}"}
    local = export_contacts(site, bulk, fields=fields)
    utc = export_contacts(site, bulk, fields=fields, areSystemTimestampsInUTC=True)
    expected_local = clock.now.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S.000")
    assert local == [{"Created": expected_local}]
    assert utc == [{"Created": clock.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.000")}]


def test_export_data_is_a_snapshot_taken_by_the_sync(site: Site, bulk: httpx.Client) -> None:
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "a@a.example", "C_Title": "Before"}])
    definition = bulk.post(
        "contacts/exports", json={"name": "snap", "fields": {"Title": "{{Contact.Field(C_Title)}}"}}
    ).json()
    sync = site.run_sync(bulk, definition["uri"])
    site.store.update_contact(contact_id, {"C_Title": "After"})
    site.store.add_contacts([{"C_EmailAddress": "b@a.example"}])
    assert bulk.get(sync["uri"].lstrip("/") + "/data").json()["items"] == [{"Title": "Before"}]
    again = site.run_sync(bulk, definition["uri"])
    assert [r["Title"] for r in bulk.get(again["uri"].lstrip("/") + "/data").json()["items"]] == [
        "After",
        "",
    ]


def test_sync_data_pages_with_limit_offset_and_has_more(site: Site, bulk: httpx.Client) -> None:
    site.store.add_contacts([{"C_EmailAddress": f"c{i}@a.example"} for i in range(5)])
    definition = bulk.post(
        "contacts/exports", json={"name": "p", "fields": {"Id": "{{Contact.Id}}"}}
    ).json()
    sync = site.run_sync(bulk, definition["uri"])
    data = sync["uri"].lstrip("/") + "/data"
    first = bulk.get(data, params={"limit": 2}).json()
    assert (first["totalResults"], first["count"], first["hasMore"], first["limit"]) == (
        5,
        2,
        True,
        2,
    )
    last = bulk.get(data, params={"limit": 2, "offset": 4}).json()
    assert (last["count"], last["hasMore"], last["items"]) == (1, False, [{"Id": "5"}])
    empty = bulk.get(data, params={"offset": 5}).json()
    assert "items" not in empty and empty["count"] == 0
    assert "totalResults" not in bulk.get(data, params={"totalResults": "false"}).json()
    assert bulk.get(data, params={"limit": 50_000}).status_code == 200
    over = bulk.get(data, params={"limit": 50_001})
    assert over.status_code == 400
    assert (
        over.json()[0]["type"] == "EndpointParameterError"
        and over.json()[0]["parameter"] == "limit"
    )


def test_account_export_with_and_or_filters(site: Site, bulk: httpx.Client) -> None:
    site.store.add_accounts(
        [
            {"M_CompanyName": "Acme", "M_Country": "US", "M_Revenue": 1500},
            {"M_CompanyName": "Globex", "M_Country": "DE", "M_Revenue": 20},
            {"M_CompanyName": "Initech", "M_Country": "US", "M_Revenue": 10.5},
        ]
    )
    body = {
        "name": "accounts",
        "fields": {
            "Id": "{{Account.Id}}",
            "Name": "{{Account.Field(M_CompanyName)}}",
            "Revenue": "{{Account.Field(M_Revenue)}}",
        },
        "filter": "('{{Account.Field(M_Country)}}' = 'us' "
        "AND '{{Account.Field(M_Revenue)}}' > '100') "
        "OR '{{Account.Field(M_CompanyName)}}' ~ 'Glo%'",
    }
    rows = site.export(bulk, "accounts", body)
    assert [(r["Name"], r["Revenue"]) for r in rows] == [("Acme", "1500"), ("Globex", "20")]


ACTIVITY_CASES = [
    ("EmailSend", {"SubjectLine": "Hello"}, "SubjectLine", "{{Activity.Field(SubjectLine)}}"),
    ("EmailOpen", {"SubjectLine": "Hello"}, "IpAddress", "{{Activity.Field(IpAddress)}}"),
    (
        "EmailClickthrough",
        {"EmailClickedThruLink": "https://x.example"},
        "EmailClickedThruLink",
        "{{Activity.Field(EmailClickedThruLink)}}",
    ),
    ("Bounceback", {"SmtpErrorCode": "550"}, "SmtpErrorCode", "{{Activity.Field(SmtpErrorCode)}}"),
    ("FormSubmit", {"RawData": "a=1"}, "RawData", "{{Activity.Field(RawData)}}"),
    ("PageView", {"Url": "https://x.example/p"}, "Url", "{{Activity.Field(Url)}}"),
    (
        "WebVisit",
        {"FirstPageViewUrl": "https://x.example/"},
        "FirstPageViewUrl",
        "{{Activity.Field(FirstPageViewUrl)}}",
    ),
    (
        "Subscribe",
        {"EmailAddress": "a@a.example"},
        "EmailAddress",
        "{{Activity.Field(EmailAddress)}}",
    ),
    (
        "Unsubscribe",
        {"EmailAddress": "a@a.example"},
        "EmailAddress",
        "{{Activity.Field(EmailAddress)}}",
    ),
]


@pytest.mark.parametrize(("activity_type", "row", "column", "statement"), ACTIVITY_CASES)
def test_activity_exports_per_type(
    site: Site,
    bulk: httpx.Client,
    clock: Clock,
    activity_type: str,
    row: dict[str, str],
    column: str,
    statement: str,
) -> None:
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "a@a.example", "C_Title": "CTO"}])
    campaign = site.store.add_campaign("Spring")
    early = clock.now - timedelta(days=2)
    site.store.add_activities(
        activity_type, [{"ContactId": contact_id, "ActivityDate": early, **row}]
    )
    has_campaign = "CampaignId" in ACTIVITY_FIELDS[activity_type]  # web visits have none
    linked = {"CampaignId": campaign} if has_campaign else {}
    [recent] = site.store.add_activities(
        activity_type, [{"ContactId": contact_id, **linked, **row}]
    )
    site.store.add_activities(
        "EmailSend" if activity_type != "EmailSend" else "EmailOpen", [{"ContactId": contact_id}]
    )
    since = (clock.now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    fields = {
        "ActivityId": "{{Activity.Id}}",
        "ActivityType": "{{Activity.Type}}",
        "ActivityDate": "{{Activity.CreatedAt}}",
        "ContactId": "{{Activity.Contact.Id}}",
        "Title": "{{Activity.Contact.Field(C_Title)}}",
        column: statement,
    }
    if has_campaign:
        fields["CampaignId"] = "{{Activity.Campaign.Id}}"
    body = {
        "name": activity_type,
        "fields": fields,
        "filter": f"'{{{{Activity.Type}}}}' = '{activity_type}' "
        f"AND '{{{{Activity.CreatedAt}}}}' >= '{since}'",
        "areSystemTimestampsInUTC": True,
    }
    rows = site.export(bulk, "activities", body)
    assert rows == [
        {
            "ActivityId": str(recent),
            "ActivityType": activity_type,
            "ActivityDate": clock.now.strftime("%Y-%m-%d %H:%M:%S.000"),
            "ContactId": str(contact_id),
            "Title": "CTO",
            column: row.get(column, ""),
            **({"CampaignId": str(campaign)} if has_campaign else {}),
        }
    ]


def test_activity_fields_are_listed_per_type(bulk: httpx.Client) -> None:
    items = bulk.get("activities/fields", params={"activityType": "PageView"}).json()["items"]
    by_name = {i["internalName"]: i for i in items}
    assert by_name["Url"]["statement"] == "{{Activity.Field(Url)}}"
    assert by_name["ActivityDate"]["dataType"] == "date"
    assert "SubjectLine" not in by_name
    assert bulk.get("activities/fields", params={"activityType": "Nope"}).status_code == 400


@pytest.mark.parametrize(
    "filter_text",
    [
        None,
        "'{{Activity.CreatedAt}}' > '2026-01-01'",
        "'{{Activity.Type}}' = 'EmailOpen' OR '{{Activity.Type}}' = 'EmailSend'",
        "'{{Activity.Type}}' = 'EmailOpen' AND '{{Activity.Type}}' = 'EmailSend'",
        "NOT '{{Activity.Type}}' = 'EmailOpen'",
        "'{{Activity.Type}}' = 'EmailOpen' AND '{{Activity.Contact.Field(C_Title)}}' = 'CTO'",
    ],
)
def test_activity_exports_must_name_exactly_one_type(
    bulk: httpx.Client, filter_text: str | None
) -> None:
    body: dict[str, object] = {"name": "a", "fields": {"Id": "{{Activity.Id}}"}}
    if filter_text is not None:
        body["filter"] = filter_text
    answer = bulk.post("activities/exports", json=body)
    assert answer.status_code == 400
    assert answer.json()["failures"][0]["field"] == "filter"


def test_custom_object_export_and_fields(site: Site, bulk: httpx.Client) -> None:
    object_id = site.store.add_custom_object(
        "ABM_Touchpoint", [("Touchpoint Key", "text"), ("Score", "numeric")]
    )
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "a@a.example"}])
    fields = bulk.get(f"customObjects/{object_id}/fields").json()["items"]
    key, score = fields
    assert key["internalName"] == "Touchpoint_Key1"
    assert key["statement"].startswith(f"{{{{CustomObject[{object_id}].Field[")
    assert score["dataType"] == "number"
    imported = bulk.post(
        f"customObjects/{object_id}/imports",
        json={
            "name": "tp",
            "fields": {
                "Key": key["statement"],
                "Score": score["statement"],
                "ContactID": key["statement"],
            },
            "identifierFieldName": "Key",
        },
    )
    assert imported.status_code == 201
    site.store.create_instance(object_id, {int(key["uri"].rsplit("/", 1)[1]): "k-1"}, contact_id)
    rows = site.export(
        bulk,
        f"customObjects/{object_id}",
        {
            "name": "tp",
            "fields": {
                "Id": f"{{{{CustomObject[{object_id}].Id}}}}",
                "Key": key["statement"],
                "ContactId": f"{{{{CustomObject[{object_id}].Contact.Id}}}}",
                "Email": f"{{{{CustomObject[{object_id}].Contact.Field(C_EmailAddress)}}}}",
            },
            "filter": f"'{key['statement']}' = 'K-1'",
        },
    )
    assert rows == [{"Id": "1", "Key": "k-1", "ContactId": str(contact_id), "Email": "a@a.example"}]
    assert bulk.get("customObjects").json()["items"][0]["uri"] == f"/customObjects/{object_id}"


def test_lead_scores_are_exported_from_scoring_models(site: Site, bulk: httpx.Client) -> None:
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "a@a.example"}])
    site.store.set_lead_score(contact_id, model_id=1, rating="A1", profile="90", engagement="80")
    [model] = bulk.get("contacts/scoring/models").json()["items"]
    assert model["status"] == "Active" and model["uri"] == "/contacts/scoring/models/1"
    statements = {f["name"]: f["statement"] for f in model["fields"]}
    assert statements["Rating"] == "{{Contact.LeadScore.Model[1].Rating}}"
    rows = export_contacts(
        site,
        bulk,
        fields={"Rating": statements["Rating"], "Profile": statements["ProfileScore"]},
    )
    assert rows == [{"Rating": "A1", "Profile": "90"}]
    missing = bulk.post(
        "contacts/exports",
        json={"name": "x", "fields": {"R": "{{Contact.LeadScore.Model[9].Rating}}"}},
    )
    assert missing.status_code == 400


# -- Bulk imports ------------------------------------------------------------------------


def test_import_applies_good_records_and_rejects_bad_ones(site: Site, bulk: httpx.Client) -> None:
    site.store.add_contact_field("ABM Score", "numeric")
    site.store.add_contact_field("ABM Seen", "date")
    a, b = site.store.add_contacts(
        [{"C_EmailAddress": "a@a.example"}, {"C_EmailAddress": "b@a.example"}]
    )
    definition = bulk.post(
        "contacts/imports",
        json={
            "name": "scores",
            "fields": {
                "ContactID": "{{Contact.Id}}",
                "Score": "{{Contact.Field(C_ABM_Score1)}}",
                "Seen": "{{Contact.Field(C_ABM_Seen1)}}",
                "Title": "{{Contact.Field(C_Title)}}",
                "Email": "{{Contact.Field(C_EmailAddress)}}",
            },
            "identifierFieldName": "ContactID",
            "isSyncTriggeredOnImport": False,
        },
    ).json()
    rows = [
        {"ContactID": str(a), "Score": "12.5", "Seen": "2026-03-01 10:00:00"},
        {"ContactID": "999999", "Score": "1"},
        {"ContactID": str(b), "Score": "lots"},
        {"ContactID": str(b), "Seen": "not a date"},
        {"ContactID": str(b), "Title": "x" * 101},
        {"ContactID": str(b), "Email": "not-an-email"},
        {"ContactID": str(a), "Score": "3"},
    ]
    assert bulk.post(definition["uri"].lstrip("/") + "/data", json=rows).status_code == 204
    sync = site.run_sync(bulk, definition["uri"])
    assert sync["status"] == "warning"
    rejects = bulk.get(sync["uri"].lstrip("/") + "/rejects").json()
    codes = [(r["recordIndex"], r["statusCode"], r["invalidFields"]) for r in rejects["items"]]
    assert codes == [
        (2, "ELQ-00085", ["ContactID"]),
        (3, "ELQ-00144", ["Score"]),
        (4, "ELQ-00144", ["Seen"]),
        (5, "ELQ-00144", ["Title"]),
        (6, "ELQ-00002", ["Email"]),
        (7, "ELQ-00026", ["ContactID"]),
    ]
    assert rejects["items"][0]["fieldValues"] == {"ContactID": "999999", "Score": "1"}
    assert rejects["items"][4]["message"] == "Invalid email address."
    contact = site.store.contact(a)
    assert contact is not None and contact["C_ABM_Score1"] == 12.5
    assert contact["C_ABM_Seen1"] == datetime(2026, 3, 1, 10, tzinfo=NEW_YORK)
    assert site.store.find_contacts("C_EmailAddress", "999999") == []
    assert len(site.store.contacts) == 2  # an unknown id is never created
    logs = {
        i["statusCode"]: i["count"]
        for i in bulk.get(sync["uri"].lstrip("/") + "/logs").json()["items"]
    }
    assert logs["ELQ-00130"] == 7 and logs["ELQ-00022"] == 1 and logs["ELQ-00060"] == 6
    assert logs["ELQ-00004"] == 0


def test_import_by_email_creates_and_updates_with_update_rules(
    site: Site, bulk: httpx.Client
) -> None:
    [existing] = site.store.add_contacts(
        [{"C_EmailAddress": "Ann@A.example", "C_Title": "CEO", "C_City": "Oslo"}]
    )
    definition = bulk.post(
        "contacts/imports",
        json={
            "name": "by email",
            "fields": {
                "Email": "{{Contact.Field(C_EmailAddress)}}",
                "Title": "{{Contact.Field(C_Title)}}",
                "City": "{{Contact.Field(C_City)}}",
            },
            "identifierFieldName": "Email",
            "updateRule": "ifNewIsNotNull",
            "syncActions": [
                {"action": "add", "destination": "{{ContactList[7]}}"},
                {
                    "action": "setStatus",
                    "destination": "{{GlobalSubscribe}}",
                    "status": "unsubscribed",
                },
            ],
        },
    ).json()
    rows = [
        {"Email": "ann@a.example", "Title": "CTO", "City": ""},
        {"Email": "new@a.example", "Title": "VP"},
    ]
    bulk.post(definition["uri"].lstrip("/") + "/data", json=rows)
    assert site.run_sync(bulk, definition["uri"])["status"] == "success"
    updated = site.store.contact(existing)
    assert updated is not None and (updated["C_Title"], updated["C_City"]) == ("CTO", "Oslo")
    [created] = site.store.find_contacts("C_EmailAddress", "new@a.example")
    assert site.store.list_members["{{ContactList[7]}}"] == {existing, created}
    assert not site.store.contacts[created].subscribed
    members = export_contacts(
        site,
        bulk,
        fields={"Id": "{{Contact.Id}}", "Subscribed": "{{Contact.Email.IsSubscribed}}"},
        filter="EXISTS('{{ContactList[7]}}')",
    )
    assert members == [
        {"Id": str(existing), "Subscribed": "false"},
        {"Id": str(created), "Subscribed": "false"},
    ]


def test_custom_object_import_links_to_contacts_and_upserts(site: Site, bulk: httpx.Client) -> None:
    object_id = site.store.add_custom_object(
        "ABM_Touchpoint", [("Touchpoint Key", "text"), ("Contact ID", "text")]
    )
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "a@a.example"}])
    key, contact = (
        f["statement"] for f in bulk.get(f"customObjects/{object_id}/fields").json()["items"]
    )
    definition = bulk.post(
        f"customObjects/{object_id}/imports",
        json={
            "name": "tp",
            "fields": {"Key": key, "ContactId": contact},
            "identifierFieldName": "Key",
            "mapDataCards": True,
            "mapDataCardsEntityType": "Contact",
            "mapDataCardsSourceField": "ContactId",
            "mapDataCardsEntityField": "{{Contact.Id}}",
            "mapDataCardsCaseSensitiveMatch": False,
        },
    ).json()
    rows = [{"Key": "k-1", "ContactId": str(contact_id)}, {"Key": "k-2", "ContactId": "424242"}]
    for _ in range(2):  # the same import twice: upserted, not duplicated
        bulk.post(definition["uri"].lstrip("/") + "/data", json=rows)
        sync = site.run_sync(bulk, definition["uri"])
        assert sync["status"] == "success"
    instances = site.store.custom_object_instances(object_id)
    assert [(i["Touchpoint_Key1"], i["ContactId"]) for i in instances] == [
        ("k-1", contact_id),
        ("k-2", None),
    ]
    logs = {
        i["statusCode"]: i["count"]
        for i in bulk.get(sync["uri"].lstrip("/") + "/logs").json()["items"]
    }
    assert logs["ELQ-00012"] == 2 and logs["ELQ-00025"] == 1 and logs["ELQ-00034"] == 1


def test_import_definition_checks(bulk: httpx.Client) -> None:
    fields = {"Email": "{{Contact.Field(C_EmailAddress)}}"}
    missing = bulk.post(
        "contacts/imports", json={"name": "x", "fields": fields, "identifierFieldName": "Nope"}
    )
    assert missing.status_code == 400
    assert missing.json()["failures"][0]["field"] == "identifierFieldName"
    read_only = bulk.post(
        "contacts/imports", json={"name": "x", "fields": {"M": "{{Contact.Field(C_DateModified)}}"}}
    )
    assert read_only.status_code == 400
    rule = bulk.post(
        "contacts/imports", json={"name": "x", "fields": fields, "updateRule": "sometimes"}
    )
    assert rule.status_code == 400


# -- sync status, logs, errors and limits -------------------------------------------------


def test_sync_status_moves_pending_active_success(make_site: MakeSite) -> None:
    site = make_site(config=EloquaConfig(sync_polls=2))
    bulk = site.bulk()
    site.store.add_contacts([{"C_EmailAddress": "a@a.example"}])
    definition = bulk.post(
        "contacts/exports", json={"name": "s", "fields": {"Id": "{{Contact.Id}}"}}
    ).json()
    created = bulk.post("syncs", json={"syncedInstanceUri": definition["uri"]}).json()
    assert created["status"] == "pending" and created["syncedInstanceUri"] == definition["uri"]
    sync = created["uri"].lstrip("/")
    assert bulk.get(sync + "/data").json()["count"] == 0
    seen = [bulk.get(sync).json()["status"] for _ in range(3)]
    assert seen == ["active", "active", "success"]
    done = bulk.get(sync).json()
    assert "syncStartedAt" in done and "syncEndedAt" in done
    assert bulk.get(sync + "/data").json()["count"] == 1


def test_failed_sync_reports_error_and_elq_code(site: Site, bulk: httpx.Client) -> None:
    definition = bulk.post(
        "contacts/exports", json={"name": "s", "fields": {"Id": "{{Contact.Id}}"}}
    ).json()
    site.bulk_api.fail_next_syncs()
    sync = site.run_sync(bulk, definition["uri"])
    assert sync["status"] == "error"
    logs = bulk.get(sync["uri"].lstrip("/") + "/logs").json()["items"]
    assert logs[0]["statusCode"] == "ELQ-00146" and logs[0]["severity"] == "error"


def test_export_definition_errors(bulk: httpx.Client) -> None:
    too_many = {f"F{i}": "{{Contact.Id}}" for i in range(251)}
    answer = bulk.post("contacts/exports", json={"name": "x", "fields": too_many})
    assert answer.status_code == 400 and answer.json()["failures"][0]["field"] == "fields"
    ok = {f"F{i}": "{{Contact.Id}}" for i in range(250)}
    assert bulk.post("contacts/exports", json={"name": "x", "fields": ok}).status_code == 201
    unknown = bulk.post(
        "contacts/exports", json={"name": "x", "fields": {"A": "{{Contact.Field(C_Nope)}}"}}
    )
    assert unknown.status_code == 400
    assert unknown.json()["failures"][0] == {
        "field": "fields.A",
        "constraint": "Must be a valid Eloqua Markup Language statement for this export.",
        "value": "{{Contact.Field(C_Nope)}}",
    }
    for bad_filter in (
        "'{{Contact.Field(C_Nope)}}' = 'x'",
        "'{{Contact.Id}}' =",
        "'{{Contact.Field(C_DateModified)}}' > 'soon'",
    ):
        answer = bulk.post(
            "contacts/exports",
            json={"name": "x", "fields": {"Id": "{{Contact.Id}}"}, "filter": bad_filter},
        )
        assert answer.status_code == 400, bad_filter
        assert answer.json()["failures"][0]["field"] == "filter"
    nameless = bulk.post("contacts/exports", json={"fields": {"Id": "{{Contact.Id}}"}})
    assert nameless.json()["failures"][0]["field"] == "name"
    retention = bulk.post(
        "contacts/exports",
        json={"name": "x", "fields": {"Id": "{{Contact.Id}}"}, "dataRetentionDuration": "P30D"},
    )
    assert retention.status_code == 400


def test_unknown_definitions_and_syncs_are_404(bulk: httpx.Client) -> None:
    assert bulk.get("contacts/exports/999").status_code == 404
    assert bulk.get("syncs/999").status_code == 404
    assert bulk.get("syncs/999/data").status_code == 404
    assert bulk.get("customObjects/999/fields").status_code == 404
    answer = bulk.post("syncs", json={"syncedInstanceUri": "/contacts/exports/999"})
    assert (
        answer.status_code == 400 and answer.json()["failures"][0]["field"] == "syncedInstanceUri"
    )


def test_import_sync_has_no_data_and_export_ids_do_not_cross(
    site: Site, bulk: httpx.Client
) -> None:
    definition = bulk.post(
        "contacts/imports",
        json={"name": "i", "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"}},
    ).json()
    assert bulk.get(definition["uri"].replace("imports", "exports").lstrip("/")).status_code == 404
    bulk.post(definition["uri"].lstrip("/") + "/data", json=[{"Email": "a@a.example"}])
    sync = site.run_sync(bulk, definition["uri"])
    assert bulk.get(sync["uri"].lstrip("/") + "/data").status_code == 400


def test_staged_data_expires_and_definitions_auto_delete(
    site: Site, bulk: httpx.Client, clock: Clock
) -> None:
    definition = bulk.post(
        "contacts/exports",
        json={
            "name": "short",
            "fields": {"Id": "{{Contact.Id}}"},
            "dataRetentionDuration": "PT1H",
            "autoDeleteDuration": "PT2H",
        },
    ).json()
    sync = site.run_sync(bulk, definition["uri"])
    clock.advance(minutes=61)
    assert bulk.get(sync["uri"].lstrip("/") + "/data").status_code == 410
    assert bulk.get(definition["uri"].lstrip("/")).status_code == 200
    clock.advance(hours=1)
    assert bulk.get(definition["uri"].lstrip("/")).status_code == 404


def test_rate_limit_answers_429_with_retry_after(make_site: MakeSite) -> None:
    site = make_site(config=EloquaConfig(requests_per_second=3))
    rest = site.rest()
    statuses = [rest.get("data/contacts") for _ in range(5)]
    limited = [a for a in statuses if a.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    assert site.raw(Authorization=site.basic_auth).get(f"{site.url}/id").status_code == 200


def test_concurrent_sync_limit_answers_429(make_site: MakeSite) -> None:
    site = make_site(config=EloquaConfig(max_concurrent_syncs=1, sync_polls=1))
    bulk = site.bulk()
    definition = bulk.post(
        "contacts/exports", json={"name": "s", "fields": {"Id": "{{Contact.Id}}"}}
    ).json()
    first = bulk.post("syncs", json={"syncedInstanceUri": definition["uri"]})
    assert first.status_code == 201
    assert bulk.post("syncs", json={"syncedInstanceUri": definition["uri"]}).status_code == 429
    for _ in range(2):
        bulk.get(first.json()["uri"].lstrip("/"))
    assert bulk.post("syncs", json={"syncedInstanceUri": definition["uri"]}).status_code == 201


def test_server_error_and_rate_limit_faults_have_eloqua_answers(make_site: MakeSite) -> None:
    site = make_site(Faults(server_error=1.0))
    answer = site.rest().get("data/contacts")
    assert answer.status_code == 503 and answer.text == "Service Unavailable"
    site = make_site(Faults(rate_limit=1.0, retry_after=0.5))
    answer = site.bulk().get("contacts/fields")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "0.5"
    assert site.oauth().status_code == 200


def test_closed_window_and_id_filters(site: Site, bulk: httpx.Client, clock: Clock) -> None:
    first, second, third = (_advance_then_add(site, clock, f"w{i}@a.example") for i in range(3))
    start = (clock.now - timedelta(seconds=90)).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")
    end = clock.now.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")
    window = (
        f"'{{{{Contact.Field(C_DateModified)}}}}' >= '{start}' "
        f"AND '{{{{Contact.Field(C_DateModified)}}}}' < '{end}'"
    )
    assert export_contacts(site, bulk, filter=window) == [{"Id": str(second)}]
    by_id = export_contacts(
        site,
        bulk,
        filter=f"'{{{{Contact.Id}}}}' <= '{second}' AND '{{{{Contact.Id}}}}' != '{first}'",
    )
    assert by_id == [{"Id": str(second)}]
    assert third > second


def test_custom_object_import_links_by_email_and_takes_csv(site: Site, bulk: httpx.Client) -> None:
    object_id = site.store.add_custom_object("Webinar", [("Email", "text"), ("Topic", "text")])
    [contact_id] = site.store.add_contacts([{"C_EmailAddress": "Ann@A.example"}])
    email, topic = (
        f["statement"] for f in bulk.get(f"customObjects/{object_id}/fields").json()["items"]
    )
    definition = bulk.post(
        f"customObjects/{object_id}/imports",
        json={
            "name": "webinar",
            "fields": {"Email": email, "Topic": topic},
            "mapDataCards": True,
            "mapDataCardsSourceField": "Email",
            "mapDataCardsEntityField": "{{Contact.Field(C_EmailAddress)}}",
        },
    ).json()
    csv_body = "Email,Topic\nann@a.example,ABM\nnobody@a.example,Ops\n"
    staged = bulk.post(
        definition["uri"].lstrip("/") + "/data",
        content=csv_body,
        headers={"Content-Type": "text/csv"},
    )
    assert staged.status_code == 204
    assert site.run_sync(bulk, definition["uri"])["status"] == "success"
    instances = site.store.custom_object_instances(object_id)
    assert [(i["Topic1"], i["ContactId"]) for i in instances] == [
        ("ABM", contact_id),
        ("Ops", None),
    ]


def test_import_refuses_another_contacts_email(site: Site, bulk: httpx.Client) -> None:
    a, _ = site.store.add_contacts(
        [{"C_EmailAddress": "a@a.example"}, {"C_EmailAddress": "b@a.example"}]
    )
    definition = bulk.post(
        "contacts/imports",
        json={
            "name": "emails",
            "fields": {"Id": "{{Contact.Id}}", "Email": "{{Contact.Field(C_EmailAddress)}}"},
            "identifierFieldName": "Id",
        },
    ).json()
    bulk.post(
        definition["uri"].lstrip("/") + "/data", json=[{"Id": str(a), "Email": "B@a.example"}]
    )
    sync = site.run_sync(bulk, definition["uri"])
    [reject] = bulk.get(sync["uri"].lstrip("/") + "/rejects").json()["items"]
    assert reject["statusCode"] == "ELQ-00011"
    assert site.store.find_contacts("C_EmailAddress", "a@a.example") == [a]


def test_custom_object_update_adds_fields(site: Site) -> None:
    rest2 = site.rest("2.0")
    made = rest2.post(
        "assets/customObject", json={"name": "T", "fields": [{"name": "Key", "dataType": "text"}]}
    )
    object_id = made.json()["id"]
    body = {
        "name": "T",
        "fields": [*made.json()["fields"], {"name": "Score", "dataType": "numeric"}],
    }
    updated = rest2.put(f"assets/customObject/{object_id}", json=body).json()
    assert [f["internalName"] for f in updated["fields"]] == ["Key1", "Score1"]


def _advance_then_add(site: Site, clock: Clock, email: str) -> int:
    clock.advance(60)
    return site.store.add_contacts([{"C_EmailAddress": email}])[0]


def test_partial_failure_fault_rejects_single_import_records(make_site: MakeSite) -> None:
    site = make_site(Faults(partial_failure=0.5, seed=3))
    bulk = site.bulk()
    definition = bulk.post(
        "contacts/imports",
        json={
            "name": "p",
            "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"},
            "identifierFieldName": "Email",
        },
    ).json()
    rows = [{"Email": f"p{i}@a.example"} for i in range(20)]
    bulk.post(definition["uri"].lstrip("/") + "/data", json=rows)
    sync = site.run_sync(bulk, definition["uri"])
    rejects = bulk.get(sync["uri"].lstrip("/") + "/rejects").json()["items"]
    assert sync["status"] == "warning" and 0 < len(rejects) < 20
    assert {r["statusCode"] for r in rejects} == {"ELQ-00107"}
    assert len(site.store.contacts) == 20 - len(rejects)


@pytest.mark.parametrize(
    ("rule", "applied", "rejected"),
    [
        ("createAndUpdate", ["ann@a.example", "new@a.example"], []),
        ("updateOnly", ["ann@a.example"], [("new@a.example", "ELQ-00034")]),
        ("createOnly", ["new@a.example"], [("ann@a.example", "ELQ-00048")]),
    ],
)
def test_import_rule_limits_an_import_to_updates_or_creates(
    site: Site,
    bulk: httpx.Client,
    rule: str,
    applied: list[str],
    rejected: list[tuple[str, str]],
) -> None:
    site.store.add_contacts([{"C_EmailAddress": "ann@a.example", "C_Title": "CEO"}])
    definition = bulk.post(
        "contacts/imports",
        json={
            "name": f"rule {rule}",
            "fields": {
                "Email": "{{Contact.Field(C_EmailAddress)}}",
                "Title": "{{Contact.Field(C_Title)}}",
            },
            "identifierFieldName": "Email",
            "importRule": rule,
        },
    ).json()
    assert definition["importRule"] == rule
    rows = [{"Email": "ann@a.example", "Title": "CTO"}, {"Email": "new@a.example", "Title": "VP"}]
    bulk.post(definition["uri"].lstrip("/") + "/data", json=rows)
    sync = site.run_sync(bulk, definition["uri"])
    assert sync["status"] == ("warning" if rejected else "success")
    titled = {
        email
        for email, title in (("ann@a.example", "CTO"), ("new@a.example", "VP"))
        if any(
            (site.store.contact(i) or {}).get("C_Title") == title
            for i in site.store.find_contacts("C_EmailAddress", email)
        )
    }
    assert titled == set(applied)
    rejects = bulk.get(sync["uri"].lstrip("/") + "/rejects").json().get("items", [])
    assert [(r["fieldValues"]["Email"], r["statusCode"]) for r in rejects] == rejected


def test_an_unknown_import_rule_is_refused(site: Site, bulk: httpx.Client) -> None:
    answer = bulk.post(
        "contacts/imports",
        json={
            "name": "bad rule",
            "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"},
            "identifierFieldName": "Email",
            "importRule": "sometimes",
        },
    )
    assert answer.status_code == 400
    assert "importRule" in answer.text


def test_an_import_takes_at_most_100_fields_where_an_export_takes_250(
    site: Site, bulk: httpx.Client
) -> None:
    for n in range(101):
        site.store.add_contact_field(f"Extra {n}", "text")
    statements = {f"F{n}": f"{{{{Contact.Field(C_Extra_{n}1)}}}}" for n in range(101)}
    too_many = bulk.post(
        "contacts/imports", json={"name": "wide", "fields": statements, "identifierFieldName": "F0"}
    )
    assert too_many.status_code == 400
    assert "100" in too_many.text
    hundred = dict(list(statements.items())[:100])
    fits = bulk.post(
        "contacts/imports", json={"name": "wide", "fields": hundred, "identifierFieldName": "F0"}
    )
    assert fits.status_code == 201, fits.text
    export = bulk.post("contacts/exports", json={"name": "wide", "fields": statements})
    assert export.status_code == 201, export.text
