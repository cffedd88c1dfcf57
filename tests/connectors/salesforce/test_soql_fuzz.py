"""Generated SOQL, valid and broken, never gets a 5xx or a traceback from the emulator.

Every answer is 200 or a 400 with one of the error codes the REST API documents
for queries; forms Salesforce refuses are never accepted.
"""

from __future__ import annotations

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Org

DOCUMENTED = {
    "MALFORMED_QUERY",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "INVALID_TYPE_FOR_OPERATION",
    "INVALID_QUERY_FILTER_OPERATOR",
    "NUMBER_OUTSIDE_VALID_RANGE",
}
FIELDS = ["Id", "LastName", "Company", "CreatedDate", "NumberOfEmployees", "IsConverted",
          "Owner.Name", "Owner.Email", "ConvertedAccount.Name", "Description", "Address",
          "Nope__c", "Owner.Profile.Name"]  # fmt: skip
VALUES = ["'x'", "'X%'", "5", "-2.5", "true", "null", "2026-01-01", "2026-01-01T00:00:00Z",
          "'2026-01-01T00:00:00Z'", "TODAY", "LAST_N_DAYS:3", "'00Q5g0000000001'", "bogus",
          "('a', 'b')", "(SELECT Id FROM Account)", "(SELECT AccountId FROM Contact)"]  # fmt: skip
OPERATORS = ["=", "!=", "<", ">=", "LIKE", "IN", "NOT IN", "INCLUDES", "<>", "=="]
OBJECTS = ["Lead", "lead", "Account", "AccountHistory", "LeadChangeEvent", "Widget"]
JUNK = ["", ",", "(", ")", "'", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER BY", "LIMIT", ":"]


@st.composite
def _soql(draw: st.DrawFn) -> str:
    items = draw(st.lists(st.sampled_from([*FIELDS, "COUNT()", "COUNT(Id)", "MAX(CreatedDate)",
                                           "FIELDS(ALL)", "(SELECT Id FROM Tasks)"]),
                          min_size=0, max_size=3))  # fmt: skip
    text = f"SELECT {', '.join(items)} FROM {draw(st.sampled_from(OBJECTS))}"
    conditions = [
        f"{draw(st.sampled_from(FIELDS))} {draw(st.sampled_from(OPERATORS))} "
        f"{draw(st.sampled_from(VALUES))}"
        for _ in range(draw(st.integers(0, 3)))
    ]
    if conditions:
        text += " WHERE " + f" {draw(st.sampled_from(['AND', 'OR']))} ".join(conditions)
    if draw(st.booleans()):
        text += f" GROUP BY {draw(st.sampled_from(FIELDS))}"
    if draw(st.booleans()):
        text += f" ORDER BY {draw(st.sampled_from(FIELDS))} {draw(st.sampled_from(['', 'DESC']))}"
    if draw(st.booleans()):
        text += f" LIMIT {draw(st.integers(-1, 300))}"
    if draw(st.booleans()):
        text += f" OFFSET {draw(st.integers(0, 2500))}"
    if draw(st.booleans()):  # break it somewhere
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(JUNK)) + text[cut:]
    return text


def _ask(org: Org, session: requests.Session, soql: str) -> requests.Response:
    return session.get(f"{org.url}/services/data/v62.0/query", params={"q": soql})


def _session(org: Org) -> requests.Session:
    session = org.session()
    token = org.token().json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    org.sandbox.store.create("Lead", {"LastName": "Fuzz", "Company": "Co"})
    return session


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(soql=_soql())
def test_every_generated_query_gets_200_or_a_documented_400(org: Org, soql: str) -> None:
    answer = _ask(org, _session(org), soql)
    assert answer.status_code in (200, 400), (soql, answer.status_code, answer.text)
    if answer.status_code == 400:
        body = answer.json()
        assert body[0]["errorCode"] in DOCUMENTED, (soql, body)
        assert "Traceback" not in body[0]["message"]
    else:
        assert {"totalSize", "done", "records"} <= answer.json().keys()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    soql=st.sampled_from(
        [
            "SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01T00:00:00Z'",
            "SELECT Id FROM Lead WHERE CreatedDate > 2026-01-01",
            "SELECT Id FROM Lead WHERE NumberOfEmployees = '5'",
            "SELECT Id FROM Lead WHERE LastName = 'a' AND Company = 'b' OR City = 'c'",
            "SELECT Id FROM Lead LIMIT 10 OFFSET 2001",
            "SELECT FIELDS(ALL) FROM Lead",
            "SELECT LastName, COUNT(Id) FROM Lead",
            "SELECT Id, Id FROM Lead",
            "SELECT Id FROM Lead WHERE Description = 'x'",
            "SELECT Id FROM LeadChangeEvent",
            "SELECT Id FROM Lead WHERE Id = 'short'",
            'SELECT Id FROM Lead WHERE LastName = "x"',
        ]
    ),
    spacing=st.sampled_from([" ", "  ", "\n"]),
)
def test_forms_salesforce_refuses_are_never_accepted(org: Org, soql: str, spacing: str) -> None:
    answer = _ask(org, _session(org), soql.replace(" ", spacing))
    assert answer.status_code == 400, soql
    assert answer.json()[0]["errorCode"] in DOCUMENTED
