"""The emulator's REST surface behaves as the Salesforce guides describe, step by step."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.connectors.salesforce.conftest import CLIENT_ID, CLIENT_SECRET, Org

V = "/services/data/v62.0"


def _authed(org: Org) -> requests.Session:
    session = org.session()
    token = org.token().json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _web_server_login(org: Org, scope: str) -> dict[str, Any]:
    """The web server flow: authorize, follow the redirect's code, trade it for tokens."""
    session = org.session()
    redirect = "https://localhost/oauth/callback"
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect}
    params |= {"scope": scope, "state": "s1"}
    answer = session.get(
        f"{org.url}/services/oauth2/authorize", params=params, allow_redirects=False
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["s1"]
    form = {"grant_type": "authorization_code", "code": query["code"][0]}
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": redirect}
    token = session.post(f"{org.url}/services/oauth2/token", data=form)
    assert token.status_code == 200, token.text
    return dict(token.json())


def test_token_signature_is_hmac_of_identity_url_and_issued_at(org: Org) -> None:
    answer = org.token().json()
    expected = hmac.new(
        CLIENT_SECRET.encode(), (answer["id"] + answer["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(answer["signature"]) == expected


def test_password_grant_answers_no_refresh_token(org: Org) -> None:
    answer = org.token(
        grant_type="password", username="admin@abmsync.sandbox", password="sandbox-password"
    ).json()
    assert "refresh_token" not in answer
    assert "scope" not in answer


def test_web_server_flow_with_refresh_scope_refreshes_after_expiry(org: Org) -> None:
    login = _web_server_login(org, "api refresh_token")
    assert login["scope"] == "api refresh_token"
    org.sandbox.expire_tokens()
    session = org.session()
    stale = {"Authorization": f"Bearer {login['access_token']}"}
    assert session.get(f"{org.url}{V}/limits", headers=stale).status_code == 401
    form = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    fresh = session.post(f"{org.url}/services/oauth2/token", data=form).json()
    assert "refresh_token" not in fresh
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert session.get(f"{org.url}{V}/limits", headers=headers).status_code == 200


def test_web_server_flow_without_refresh_scope_gets_no_refresh_token(org: Org) -> None:
    assert "refresh_token" not in _web_server_login(org, "api")


def test_authorization_code_is_good_once(org: Org) -> None:
    session = org.session()
    redirect = "https://localhost/oauth/callback"
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect}
    answer = session.get(
        f"{org.url}/services/oauth2/authorize", params=params, allow_redirects=False
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert session.post(f"{org.url}/services/oauth2/token", data=form).status_code == 200
    again = session.post(f"{org.url}/services/oauth2/token", data=form)
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "invalid authorization code",
    }


def test_revoking_a_refresh_token_revokes_its_access_tokens(org: Org) -> None:
    login = _web_server_login(org, "api refresh_token")
    session = org.session()
    revoked = session.post(
        f"{org.url}/services/oauth2/revoke", data={"token": login["refresh_token"]}
    )
    assert revoked.status_code == 200
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    assert session.get(f"{org.url}{V}/limits", headers=headers).status_code == 401


def test_identity_url_answers_the_user_for_a_bearer_token(org: Org) -> None:
    answer = org.token().json()
    session = org.session()
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    identity = session.get(answer["id"], headers=headers, params={"version": "62.0"}).json()
    assert identity["id"] == answer["id"]
    assert identity["urls"]["rest"].endswith("/services/data/v62.0/")
    assert session.get(answer["id"]).text == "Missing_OAuth_Token"
    bad = session.get(answer["id"], headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")


def test_urls_in_answers_carry_the_requested_version(org: Org) -> None:
    session = _authed(org)
    created = session.post(f"{org.url}/services/data/v58.0/sobjects/Account", json={"Name": "A"})
    rid = created.json()["id"]
    record = session.get(f"{org.url}/services/data/v58.0/sobjects/Account/{rid}").json()
    assert record["attributes"]["url"] == f"/services/data/v58.0/sobjects/Account/{rid}"
    rows = session.get(
        f"{org.url}/services/data/v58.0/composite/sobjects/Account",
        params={"ids": rid, "fields": "Name"},
    ).json()
    assert rows[0]["attributes"]["url"].startswith("/services/data/v58.0/")


def test_versions_list_ends_at_the_org_version_and_starts_after_retired_ones(org: Org) -> None:
    versions = org.session().get(f"{org.url}/services/data/").json()
    assert versions[-1] == {
        "label": "Winter '25",
        "url": "/services/data/v62.0",
        "version": "62.0",
    }
    assert versions[0]["version"] == "21.0"


def test_composite_all_or_none_rolls_back_earlier_writes(org: Org) -> None:
    session = _authed(org)
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "ok",
                "body": {"Name": "Kept?"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "bad",
                "body": {"Nope__c": 1},
            },
        ],
    }
    answer = session.post(f"{org.url}{V}/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [400, 400]
    assert answer[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    found = session.get(f"{org.url}{V}/query", params={"q": "SELECT Id FROM Account"}).json()
    assert found["totalSize"] == 0


def test_composite_reference_to_a_failed_subrequest_is_halted(org: Org) -> None:
    session = _authed(org)
    account = f"{V}/sobjects/Account"
    body = {
        "compositeRequest": [
            {"method": "POST", "url": account, "referenceId": "bad", "body": {"Nope__c": 1}},
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "child",
                "body": {"LastName": "C", "AccountId": "@{bad.id}"},
            },
            {"method": "POST", "url": account, "referenceId": "free", "body": {"Name": "F"}},
        ]
    }
    answer = session.post(f"{org.url}{V}/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [400, 400, 201]
    assert answer[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert answer[2]["httpHeaders"]["Location"].startswith(f"{V}/sobjects/Account/")


def test_composite_batch_halts_after_an_error_when_asked(org: Org) -> None:
    session = _authed(org)
    body = {
        "haltOnError": True,
        "batchRequests": [
            {"method": "GET", "url": "v62.0/sobjects/Nope__c/describe"},
            {"method": "GET", "url": "v62.0/limits"},
        ],
    }
    answer = session.post(f"{org.url}{V}/composite/batch", json=body).json()
    assert answer["hasErrors"] is True
    assert [r["statusCode"] for r in answer["results"]] == [404, 412]
    assert answer["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"


def test_sobject_tree_creates_children_or_nothing(org: Org) -> None:
    session = _authed(org)
    good = {
        "records": [
            {
                "attributes": {"type": "Account", "referenceId": "acc"},
                "Name": "Parent",
                "Contacts": {
                    "records": [
                        {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "Kid"}
                    ]
                },
            }
        ]
    }
    created = session.post(f"{org.url}{V}/composite/tree/Account", json=good)
    assert created.status_code == 201
    ids = {r["referenceId"]: r["id"] for r in created.json()["results"]}
    contact = session.get(f"{org.url}{V}/sobjects/Contact/{ids['c1']}").json()
    assert contact["AccountId"] == ids["acc"]
    bad = {
        "records": [
            {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": "Fine"},
            {"attributes": {"type": "Account", "referenceId": "broken"}, "Nope__c": 1},
        ]
    }
    failed = session.post(f"{org.url}{V}/composite/tree/Account", json=bad)
    assert failed.status_code == 400
    assert [r["referenceId"] for r in failed.json()["results"]] == ["broken"]
    names = session.get(f"{org.url}{V}/query", params={"q": "SELECT Name FROM Account"}).json()
    assert [r["Name"] for r in names["records"]] == ["Parent"]


def test_collections_retrieve_answers_null_for_a_missing_id(org: Org) -> None:
    session = _authed(org)
    rid = session.post(f"{org.url}{V}/sobjects/Account", json={"Name": "A"}).json()["id"]
    body = {"ids": [rid, "001000000000999AAA"], "fields": ["Name"]}
    rows = session.post(f"{org.url}{V}/composite/sobjects/Account", json=body).json()
    assert rows[0]["Name"] == "A"
    assert rows[1] is None


def test_delete_by_external_id_moves_the_record_to_the_recycle_bin(org: Org) -> None:
    from abmsync.sandbox.salesforce.validation import custom_field

    store = org.sandbox.store
    key = {"type": "Text", "label": "Key", "length": 40, "externalId": True}
    store.add_field(store.objects["Lead"], custom_field("Key__c", key))
    store.create("Lead", {"LastName": "L", "Company": "C", "Key__c": "k"})
    session = _authed(org)
    assert session.delete(f"{org.url}{V}/sobjects/Lead/Key__c/k").status_code == 204
    assert session.get(f"{org.url}{V}/sobjects/Lead/Key__c/k").status_code == 404
