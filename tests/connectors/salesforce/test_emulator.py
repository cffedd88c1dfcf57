"""The Salesforce emulator answers real simple-salesforce calls the way Salesforce does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from abmsync.sandbox.faults import Faults
from abmsync.sandbox.salesforce import SandboxConfig

from .conftest import PASSWORD, USERNAME, MakeOrg, Org


def _leads(count: int) -> list[dict[str, object]]:
    return [{"LastName": f"Lead {i}", "Company": f"Co {i % 7}"} for i in range(count)]


def test_token_flows_return_the_servers_own_instance_url(org: Org) -> None:
    for form in ({}, {"grant_type": "password", "username": USERNAME, "password": PASSWORD}):
        answer = org.token(**form)
        assert answer.status_code == 200
        body = answer.json()
        assert body["instance_url"] == org.url
        assert body["token_type"] == "Bearer"
        assert {"access_token", "issued_at", "signature", "id"} <= body.keys()


def test_bad_credentials_get_invalid_grant(org: Org) -> None:
    answer = org.token(grant_type="password", username=USERNAME, password="wrong")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }
    assert org.token(client_secret="nope").json()["error"] == "invalid_client"


def test_expired_token_is_refused_with_invalid_session_id(make_org: MakeOrg) -> None:
    org = make_org(config=SandboxConfig(token_lifetime=0.0))
    sf = org.simple_salesforce()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_query_pages_2000_records_with_next_records_url(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(4500)})
    sf = org.simple_salesforce()
    first = sf.query("SELECT Id, LastName FROM Lead")
    assert (first["totalSize"], first["done"], len(first["records"])) == (4500, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/")
    assert first["records"][0]["attributes"]["type"] == "Lead"
    everything = sf.query_all("SELECT Id FROM Lead")["records"]
    ids = [r["Id"] for r in everything]
    assert len(ids) == len(set(ids)) == 4500
    assert all(len(i) == 18 and i.startswith("00Q") for i in ids)


def test_a_query_locator_pages_the_rows_as_of_the_query(make_org: MakeOrg) -> None:
    org = make_org(seed_data={"Lead": _leads(4500)})
    sf = org.simple_salesforce()
    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY LastName, Id")
    every = sf.query_all("SELECT Id FROM Lead ORDER BY LastName, Id")["records"]
    expected = [r["Id"] for r in every]
    # After the first page: a record of a later page deleted, one added before it.
    sf.Lead.delete(expected[2500])
    sf.Lead.create({"LastName": "AAA new", "Company": "Co"})
    page = first
    ids = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        ids += [r["Id"] for r in page["records"]]
    assert ids == expected  # no record skipped or handed out twice as the rows moved


def test_an_old_query_locator_is_refused_once_100_newer_ones_are_open(make_org: MakeOrg) -> None:
    sf = make_org(seed_data={"Lead": _leads(2500)}).simple_salesforce()
    old = sf.query("SELECT Id FROM Lead")["nextRecordsUrl"]
    for _ in range(100):
        sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query_more(old, identifier_is_url=True)
    assert refused.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_soql_filters_order_and_limit(make_org: MakeOrg) -> None:
    seed = [
        {"LastName": "Ada", "Company": "Acme", "NumberOfEmployees": 500, "Rating": "Hot"},
        {"LastName": "Bob", "Company": "Beta", "NumberOfEmployees": 50, "Email": "b@beta.io"},
        {"LastName": "Cy", "Company": "acme labs", "NumberOfEmployees": 5000, "Rating": "Cold"},
        {"LastName": "O'Neil", "Company": "Delta", "HasOptedOutOfEmail": True},
    ]
    sf = make_org(seed_data={"Lead": seed}).simple_salesforce()

    def names(where: str, tail: str = " ORDER BY LastName") -> list[str]:
        rows = sf.query_all(f"SELECT LastName FROM Lead WHERE {where}{tail}")["records"]
        return [r["LastName"] for r in rows]

    assert names("Company LIKE 'acme%'") == ["Ada", "Cy"]
    assert names("NumberOfEmployees >= 100 AND (Rating = 'Hot' OR Rating = 'Cold')") == [
        "Ada",
        "Cy",
    ]
    assert names("NOT Rating IN ('Hot', 'Cold')") == ["Bob", "O'Neil"]
    assert names("Rating NOT IN ('Hot') AND Email != null") == ["Bob"]
    assert names("Email = null AND HasOptedOutOfEmail = true") == ["O'Neil"]
    assert names("LastName = 'O\\'Neil'") == ["O'Neil"]
    assert names("CreatedDate > 2020-01-01T00:00:00Z") == ["Ada", "Bob", "Cy", "O'Neil"]
    assert names("CreatedDate < 2020-01-01T00:00:00+01:00") == []
    assert names("NumberOfEmployees > 10", " ORDER BY NumberOfEmployees DESC LIMIT 2") == [
        "Cy",
        "Ada",
    ]


def test_soql_errors_are_invalid_field_and_malformed_query(org: Org) -> None:
    sf = org.simple_salesforce()
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.query("SELECT Id, Nope__c FROM Lead")
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Lead'" in unknown.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as syntax:
        sf.query("SELECT Id FROM Lead WHERE")
    assert syntax.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as no_object:
        sf.query("SELECT Id FROM Widget")
    assert no_object.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_describe_reports_types_picklists_and_writability(org: Org) -> None:
    sf = org.simple_salesforce()
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["Id"]["type"] == "id" and not fields["Id"]["updateable"]
    assert fields["Status"]["restrictedPicklist"]
    assert "Open - Not Contacted" in [v["value"] for v in fields["Status"]["picklistValues"]]
    assert (fields["LastName"]["length"], fields["LastName"]["nillable"]) == (80, False)
    assert fields["IsConverted"]["type"] == "boolean"
    assert fields["ConvertedContactId"]["referenceTo"] == ["Contact"]
    names = {o["name"] for o in sf.describe()["sobjects"]}
    expected = {"Lead", "Contact", "Account", "Opportunity", "Campaign", "CampaignMember"}
    assert expected | {"Task", "User"} <= names


def test_crud_by_id(make_org: MakeOrg) -> None:
    sf = make_org().simple_salesforce()
    created = sf.Lead.create({"LastName": "Lovelace", "Company": "Engines"})
    assert created["success"] and created["id"].startswith("00Q")
    assert sf.Lead.update(created["id"], {"Title": "Countess"}) == 204
    record = sf.Lead.get(created["id"])
    assert (record["Title"], record["Status"], record["IsDeleted"]) == (
        "Countess",
        "Open - Not Contacted",
        False,
    )
    assert record["SystemModstamp"].endswith("+0000")
    assert sf.Lead.delete(created["id"]) == 204
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 1


def test_tooling_custom_field_then_upsert_by_external_id(org: Org) -> None:
    sf = org.simple_salesforce()
    metadata = {"type": "Text", "label": "Key", "length": 40, "externalId": True}
    body = {"FullName": "Lead.ABM_Key__c", "Metadata": metadata}
    created = sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
    assert created["success"]
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    assert sf.Lead.upsert("ABM_Key__c/k-1", {"LastName": "A", "Company": "B"}) == 201
    assert sf.Lead.upsert("ABM_Key__c/k-1", {"LastName": "A2"}) == 200
    rows = sf.query_all("SELECT LastName, ABM_Key__c FROM Lead")["records"]
    assert [(r["LastName"], r["ABM_Key__c"]) for r in rows] == [("A2", "k-1")]


def test_composite_reports_errors_record_by_record(org: Org) -> None:
    sf = org.simple_salesforce()
    records = [
        {"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "C"},
        {"attributes": {"type": "Lead"}, "LastName": "Bad", "Company": "C", "Status": "Hot"},
        {"attributes": {"type": "Lead"}, "LastName": "x" * 81, "Company": "C"},
        {"attributes": {"type": "Lead"}, "LastName": "Odd", "Company": "C", "Nope__c": 1},
    ]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert results[0]["success"] and results[0]["id"].startswith("00Q")
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "STRING_TOO_LONG", "INVALID_FIELD"]
    assert results[2]["errors"][0]["fields"] == ["LastName"]
    rolled = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records[:2]}
    )
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 1


def test_composite_refuses_more_than_200_records(org: Org) -> None:
    sf = org.simple_salesforce()
    records = [{"attributes": {"type": "Lead"}, "LastName": "x", "Company": "C"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_partial_failure_fault_locks_some_rows(make_org: MakeOrg) -> None:
    sf = make_org(Faults(seed=1, partial_failure=0.5)).simple_salesforce()
    records = [{"attributes": {"type": "Lead"}, "LastName": "x", "Company": "C"}] * 20
    results = sf.restful("composite/sobjects", method="POST", json={"records": records})
    codes = {r["errors"][0]["statusCode"] for r in results if not r["success"]}
    assert codes == {"UNABLE_TO_LOCK_ROW"}
    assert 0 < sum(r["success"] for r in results) < 20


def test_limits_count_calls_and_refuse_when_used_up(make_org: MakeOrg) -> None:
    org = make_org(config=SandboxConfig(daily_api_limit=3))
    sf = org.simple_salesforce()
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_updated_and_deleted_resources(org: Org) -> None:
    sf = org.simple_salesforce()
    start = datetime.now(UTC) - timedelta(minutes=1)
    kept = sf.Lead.create({"LastName": "Keep", "Company": "C"})["id"]
    gone = sf.Lead.create({"LastName": "Gone", "Company": "C"})["id"]
    sf.Lead.delete(gone)
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert sf.Lead.updated(start, end)["ids"] == [kept]
    deleted = sf.Lead.deleted(start, end)["deletedRecords"]
    assert [d["id"] for d in deleted] == [gone]


def test_sandbox_helpers_convert_and_merge(org: Org) -> None:
    sf = org.simple_salesforce()
    lead = sf.Lead.create({"LastName": "Lee", "Company": "Lee Corp", "Email": "l@lee.io"})["id"]
    converted = org.post("/__sandbox/convert_lead", {"leadId": lead})
    row = sf.Lead.get(lead)
    assert row["IsConverted"] and row["ConvertedContactId"] == converted["contactId"]
    assert sf.Contact.get(converted["contactId"])["AccountId"] == converted["accountId"]
    one = sf.Contact.create({"LastName": "Dup"})["id"]
    org.post(
        "/__sandbox/merge",
        {"object": "Contact", "masterId": converted["contactId"], "duplicateIds": [one]},
    )
    loser = sf.query_all(
        f"SELECT IsDeleted, MasterRecordId FROM Contact WHERE Id = '{one}'", include_deleted=True
    )["records"][0]
    assert loser["IsDeleted"] and loser["MasterRecordId"] == converted["contactId"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("rate_limit", 429, "REQUEST_LIMIT_EXCEEDED"), ("server_error", 503, "SERVER_UNAVAILABLE")],
)
def test_faults_answer_in_salesforce_shapes(
    make_org: MakeOrg, kind: str, status: int, code: str
) -> None:
    org = make_org(Faults(**{kind: 1.0}))
    token = org.token().json()["access_token"]
    answer = org.session().get(
        f"{org.url}/services/data/v62.0/limits", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == status
    assert answer.json()[0]["errorCode"] == code
    assert ("retry-after" in answer.headers) == (kind == "rate_limit")
