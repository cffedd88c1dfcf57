"""SOQL against the emulator answers as the SOQL and SOSL Reference says Salesforce answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.connectors.serving import Clock

from .conftest import MakeOrg, Org


def _refusal(sf: Salesforce, soql: str) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    body = caught.value.content
    assert isinstance(body, list)
    return dict(body[0])


@pytest.fixture
def crm(make_org: MakeOrg) -> tuple[Org, Salesforce, dict[str, str]]:
    """Two accounts (one with two contacts), a lead and an opportunity."""
    org = make_org()
    store = org.sandbox.store
    acme = store.create("Account", {"Name": "Acme", "Industry": "Software"})
    beta = store.create("Account", {"Name": "Beta", "Industry": "Software"})
    ada = store.create("Contact", {"FirstName": "Ada", "LastName": "Lovelace", "AccountId": acme})
    bob = store.create("Contact", {"LastName": "Babbage", "AccountId": acme, "Email": "B@X.io"})
    lone = store.create("Contact", {"LastName": "Loner"})
    store.create("Lead", {"LastName": "Turing", "Company": "ACME Labs", "City": "London"})
    store.create(
        "Opportunity",
        {"Name": "Big", "AccountId": acme, "StageName": "Prospecting", "CloseDate": "2026-05-01"},
    )
    ids = {"acme": acme, "beta": beta, "ada": ada, "bob": bob, "lone": lone}
    return org, org.simple_salesforce(), ids


def test_text_equality_in_and_like_ignore_case(crm: tuple[Org, Salesforce, dict[str, str]]) -> None:
    _, sf, _ = crm
    names = lambda where: sorted(  # noqa: E731
        r["LastName"]
        for r in sf.query_all(f"SELECT LastName FROM Contact WHERE {where}")["records"]
    )
    assert names("LastName = 'LOVELACE'") == ["Lovelace"]
    assert names("Email = 'b@x.IO'") == ["Babbage"]
    assert names("LastName IN ('babbage', 'LONER')") == ["Babbage", "Loner"]
    assert names("LastName LIKE 'love%'") == ["Lovelace"]
    assert names("LastName != 'lovelace'") == ["Babbage", "Loner"]


def test_fifteen_character_ids_match_everywhere_ids_are_compared(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    org, sf, ids = crm
    short = ids["acme"][:15]
    assert (
        sf.query(f"SELECT Name FROM Account WHERE Id = '{short}'")["records"][0]["Name"] == "Acme"
    )
    contacts = sf.query_all(f"SELECT LastName FROM Contact WHERE AccountId IN ('{short}')")
    assert contacts["totalSize"] == 2
    one = org.session().get(
        f"{org.url}/services/data/v62.0/sobjects/Contact/{ids['ada'][:15]}",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )
    assert one.status_code == 200 and one.json()["Id"] == ids["ada"]
    bad = _refusal(sf, "SELECT Id FROM Account WHERE Id = 'nope'")
    assert bad["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate > '2026-01-01T00:00:00Z'", "must be of type dateTime and should not be"),
        ("CreatedDate > 2026-01-01", "must be of type dateTime and should not be"),
        ("NumberOfEmployees = '5'", "must be of type int and should not be enclosed"),
        ("HasOptedOutOfEmail = 'true'", "must be of type boolean and should not be"),
        ("LastName = 5", "must be of type string and should be enclosed in quotes"),
    ],
)
def test_values_of_the_wrong_type_are_rejected_with_invalid_field(
    org: Org, where: str, expected: str
) -> None:
    error = _refusal(org.simple_salesforce(), f"SELECT Id FROM Lead WHERE {where}")
    assert error["errorCode"] == "INVALID_FIELD"
    assert expected in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_date_field_refuses_a_datetime_and_long_text_cannot_be_filtered(org: Org) -> None:
    sf = org.simple_salesforce()
    error = _refusal(sf, "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z")
    assert "field 'CloseDate' must be of type date" in error["message"]
    error = _refusal(sf, "SELECT Id FROM Lead WHERE Description = 'x'")
    assert "can not be filtered" in error["message"]


def test_offset_above_two_thousand_is_number_outside_valid_range(org: Org) -> None:
    sf = org.simple_salesforce()
    assert sf.query("SELECT Id FROM Lead LIMIT 5 OFFSET 2000")["totalSize"] == 0
    error = _refusal(sf, "SELECT Id FROM Lead LIMIT 5 OFFSET 2001")
    assert error["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert "Maximum SOQL offset allowed for apiName Lead is 2000" in error["message"]


def test_and_mixed_with_or_needs_parentheses(org: Org) -> None:
    sf = org.simple_salesforce()
    error = _refusal(sf, "SELECT Id FROM Lead WHERE LastName = 'a' AND City = 'b' OR City = 'c'")
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: OR" in error["message"]


def test_parent_fields_come_as_nested_records_and_a_missing_parent_as_null(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    _, sf, ids = crm
    soql = (
        "SELECT LastName, Account.Name, Account.Owner.Email, Owner.Name FROM Contact "
        "WHERE Account.Industry = 'software' OR AccountId = null ORDER BY Account.Name, LastName"
    )
    records = sf.query_all(soql)["records"]
    assert [r["LastName"] for r in records] == ["Loner", "Babbage", "Lovelace"]
    assert records[0]["Account"] is None
    account = records[1]["Account"]
    assert account["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v62.0/sobjects/Account/{ids['acme']}",
    }
    assert account["Name"] == "Acme"
    assert account["Owner"]["Email"] == "admin@abmsync.sandbox"
    # Owner is polymorphic (User or Group): its records are of the Name type.
    assert records[1]["Owner"]["attributes"]["type"] == "Name"
    assert records[1]["Owner"]["Name"] == "Admin"
    error = _refusal(sf, "SELECT Acount.Name FROM Contact")
    assert error["errorCode"] == "INVALID_FIELD"
    assert "Didn't understand relationship 'Acount'" in error["message"]


def test_child_subquery_answers_a_nested_query_result_or_null(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    _, sf, _ = crm
    soql = (
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name"
    )
    acme, beta = sf.query(soql)["records"]
    assert beta["Contacts"] is None
    nested = acme["Contacts"]
    assert (nested["totalSize"], nested["done"]) == (2, True)
    assert [c["LastName"] for c in nested["records"]] == ["Babbage", "Lovelace"]
    assert nested["records"][0]["attributes"]["type"] == "Contact"
    error = _refusal(sf, "SELECT Name, (SELECT Id FROM Contact) FROM Account")
    assert error["errorCode"] == "INVALID_TYPE"


def test_count_and_aggregates_answer_aggregate_results(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    _, sf, _ = crm
    counted = sf.query("SELECT COUNT() FROM Contact WHERE AccountId != null")
    assert (counted["totalSize"], counted["records"]) == (2, [])
    grouped = sf.query(
        "SELECT Account.Name, COUNT(Id), COUNT_DISTINCT(LastName) n FROM Contact "
        "GROUP BY Account.Name HAVING COUNT(Id) > 1"
    )
    assert grouped["records"] == [
        {"attributes": {"type": "AggregateResult"}, "Name": "Acme", "expr0": 2, "n": 2}
    ]
    error = _refusal(sf, "SELECT LastName, COUNT(Id) FROM Contact")
    assert "Field must be grouped or aggregated: LastName" in error["message"]
    error = _refusal(sf, "SELECT SUM(LastName) FROM Contact")
    assert "does not support aggregate operator SUM" in error["message"]
    error = _refusal(sf, "SELECT CreatedDate, COUNT(Id) FROM Contact GROUP BY CreatedDate")
    assert "can not be grouped" in error["message"]


def test_date_literals_are_ranges_on_the_org_clock(make_org: MakeOrg) -> None:
    clock = Clock()
    clock.now = datetime(2026, 3, 18, 12, tzinfo=UTC)  # a Wednesday
    org = make_org(clock=clock)
    store = org.sandbox.store
    for days in (0, 1, 3, 10, 40, 400):
        moment = clock.now - timedelta(days=days)
        store.create(
            "Lead", {"LastName": f"d{days}", "Company": "c", "CreatedDate": moment}, trusted=True
        )
    sf = org.simple_salesforce()

    def ages(where: str) -> list[str]:
        rows = sf.query_all(f"SELECT LastName FROM Lead WHERE {where}")["records"]
        return sorted((r["LastName"] for r in rows), key=lambda n: int(n[1:]))

    assert ages("CreatedDate = TODAY") == ["d0"]
    assert ages("CreatedDate = YESTERDAY") == ["d1"]
    assert ages("CreatedDate = LAST_N_DAYS:3") == ["d0", "d1", "d3"]
    assert ages("CreatedDate = N_DAYS_AGO:10") == ["d10"]
    assert ages("CreatedDate = THIS_WEEK") == ["d0", "d1", "d3"]  # Sunday the 15th on
    assert ages("CreatedDate = LAST_MONTH") == ["d40"]
    assert ages("CreatedDate < THIS_YEAR") == ["d400"]
    assert ages("CreatedDate = LAST_90_DAYS AND CreatedDate != TODAY") == ["d1", "d3", "d10", "d40"]


def test_semi_and_anti_joins_filter_by_another_objects_ids(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    _, sf, _ = crm
    with_contacts = sf.query("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)")
    assert [r["Name"] for r in with_contacts["records"]] == ["Acme"]
    without = sf.query(
        "SELECT Name FROM Account "
        "WHERE Id NOT IN (SELECT AccountId FROM Contact WHERE LastName = 'x')"
    )
    assert sorted(r["Name"] for r in without["records"]) == ["Acme", "Beta"]
    error = _refusal(sf, "SELECT Id FROM Account WHERE Name IN (SELECT AccountId FROM Contact)")
    assert error["errorCode"] == "INVALID_FIELD"
    three = " AND ".join(["Id IN (SELECT AccountId FROM Contact)"] * 3)
    assert "Maximum of 2" in _refusal(sf, f"SELECT Id FROM Account WHERE {three}")["message"]


def test_fields_all_needs_a_limit_of_at_most_200(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    _, sf, _ = crm
    error = _refusal(sf, "SELECT FIELDS(ALL) FROM Account")
    assert "must have a LIMIT of at most 200" in error["message"]
    record = sf.query("SELECT FIELDS(ALL) FROM Account LIMIT 1")["records"][0]
    assert {"Id", "Name", "BillingAddress", "SystemModstamp"} <= record.keys()
    standard = sf.query("SELECT FIELDS(STANDARD) FROM Account")["records"][0]
    assert "Name" in standard
    error = _refusal(sf, "SELECT Id, FIELDS(STANDARD) FROM Account")
    assert "duplicate field selected: Id" in error["message"]


def test_non_queryable_object_answers_invalid_type_for_operation(org: Org) -> None:
    error = _refusal(org.simple_salesforce(), "SELECT Id FROM AccountChangeEvent")
    assert error["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    assert "does not support query" in error["message"]


def test_bulk_query_writes_relationship_columns_and_refuses_what_bulk_refuses(
    crm: tuple[Org, Salesforce, dict[str, str]],
) -> None:
    org, sf, _ = crm
    session = org.session()
    session.headers["Authorization"] = f"Bearer {sf.session_id}"
    jobs = f"{org.url}/services/data/v62.0/jobs/query"

    def create(soql: str) -> requests.Response:
        return session.post(jobs, json={"operation": "query", "query": soql})

    job = create("SELECT LastName, Account.Name FROM Contact ORDER BY LastName").json()
    for _ in range(3):
        session.get(f"{jobs}/{job['id']}")
    text = session.get(f"{jobs}/{job['id']}/results").text
    assert text.splitlines() == [
        '"LastName","Account.Name"',
        '"Babbage","Acme"',
        '"Loner",""',
        '"Lovelace","Acme"',
    ]
    for soql in (
        "SELECT Name, (SELECT Id FROM Contacts) FROM Account",
        "SELECT COUNT() FROM Contact",
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry",
        "SELECT Id FROM Contact LIMIT 5 OFFSET 1",
        "SELECT BillingAddress FROM Account",
    ):
        refused = create(soql)
        assert refused.status_code == 400, soql
        assert refused.json()[0]["errorCode"]
