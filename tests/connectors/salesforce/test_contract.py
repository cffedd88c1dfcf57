"""Documented Salesforce request -> answer pairs, checked against the served emulator.

Each row is one request the REST API Developer Guide (or the OAuth help) documents,
with the status, key headers and body shape the page shows, and the page itself.
``{account}``/``{lead}`` in a path or body stand for records the org is seeded with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from abmsync.sandbox.salesforce.validation import custom_field
from tests.connectors.salesforce.conftest import CLIENT_ID, CLIENT_SECRET, MakeOrg

GUIDE = "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/"
HELP = "https://help.salesforce.com/s/articleView?type=5&id=sf."
V = "/services/data/v62.0"


def error(code: str) -> dict[str, Any]:
    """The REST error body: ``[{"message", "errorCode"}]`` with ``code``."""
    return {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["message", "errorCode"],
            "properties": {"errorCode": {"const": code}, "message": {"type": "string"}},
        },
    }


def oauth_error(code: str) -> dict[str, Any]:
    """The OAuth error body: ``{"error", "error_description"}`` with ``code``."""
    return {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {"error": {"const": code}},
    }


def keys(*names: str, **properties: Any) -> dict[str, Any]:
    """An object with at least ``names`` (and ``properties`` as sub-schemas)."""
    return {"type": "object", "required": list(names), "properties": properties}


SAVE_RESULT = keys("id", "success", "errors", success={"const": True})
TOKEN = keys("access_token", "instance_url", "id", "token_type", "issued_at", "signature")
RECORD = keys("attributes", "Id", attributes=keys("type", "url"))


@dataclass(frozen=True)
class Row:
    """One documented request and the answer it gets."""

    name: str
    doc: str
    method: str
    path: str
    status: int
    shape: dict[str, Any] | None = None
    json: Any = None
    form: dict[str, str] | None = None
    auth: bool = True
    headers: dict[str, str] = field(default_factory=dict)


ROWS = [
    # -- OAuth ------------------------------------------------------------------------
    Row("password grant", HELP + "remoteaccess_oauth_username_password_flow.htm", "POST",
        "/services/oauth2/token", 200, TOKEN, auth=False,
        form={"grant_type": "password", "username": "admin@abmsync.sandbox",
              "password": "sandbox-password"}),
    Row("client credentials grant", HELP + "remoteaccess_oauth_client_credentials_flow.htm",
        "POST", "/services/oauth2/token", 200, keys("scope", *TOKEN["required"]), auth=False,
        form={"grant_type": "client_credentials"}),
    Row("unknown client id", HELP + "remoteaccess_oauth_flow_errors.htm", "POST",
        "/services/oauth2/token", 400, oauth_error("invalid_client_id"), auth=False,
        form={"grant_type": "client_credentials", "client_id": "nobody"}),
    Row("wrong client secret", HELP + "remoteaccess_oauth_flow_errors.htm", "POST",
        "/services/oauth2/token", 400, oauth_error("invalid_client"), auth=False,
        form={"grant_type": "client_credentials", "client_secret": "wrong"}),
    Row("wrong password", HELP + "remoteaccess_oauth_flow_errors.htm", "POST",
        "/services/oauth2/token", 400, oauth_error("invalid_grant"), auth=False,
        form={"grant_type": "password", "username": "admin@abmsync.sandbox", "password": "x"}),
    Row("unknown grant type", HELP + "remoteaccess_oauth_flow_errors.htm", "POST",
        "/services/oauth2/token", 400, oauth_error("unsupported_grant_type"), auth=False,
        form={"grant_type": "magic"}),
    Row("unknown refresh token", HELP + "remoteaccess_oauth_refresh_token_flow.htm", "POST",
        "/services/oauth2/token", 400, oauth_error("invalid_grant"), auth=False,
        form={"grant_type": "refresh_token", "refresh_token": "5Aep-made-up"}),
    Row("revoke an unknown token", HELP + "remoteaccess_revoke_token.htm", "POST",
        "/services/oauth2/revoke", 400, oauth_error("unsupported_token_type"), auth=False,
        form={"token": "not-a-token"}),
    Row("userinfo", HELP + "remoteaccess_using_userinfo_endpoint.htm", "GET",
        "/services/oauth2/userinfo", 200,
        keys("sub", "user_id", "organization_id", "preferred_username", "urls")),
    # -- versions ---------------------------------------------------------------------
    Row("versions list", GUIDE + "resources_versions.htm", "GET", "/services/data/", 200,
        {"type": "array", "minItems": 1, "items": keys("label", "url", "version")}, auth=False),
    Row("resources by version", GUIDE + "resources_discoveryresource.htm", "GET", V + "/", 200,
        keys("sobjects", "query", "limits", "composite")),
    Row("retired version", GUIDE + "resources_versions.htm", "GET",
        "/services/data/v12.0/sobjects", 404, error("NOT_FOUND")),
    Row("future version", GUIDE + "resources_versions.htm", "GET",
        "/services/data/v999.0/sobjects", 404, error("NOT_FOUND")),
    Row("not a version", GUIDE + "resources_versions.htm", "GET", "/services/data/vabc/limits",
        404, error("NOT_FOUND")),
    # -- limits -----------------------------------------------------------------------
    Row("limits", GUIDE + "resources_limits.htm", "GET", V + "/limits", 200,
        keys("DailyApiRequests", "DailyBulkApiBatches", "DailyBulkV2QueryJobs",
             "DataStorageMB", DailyApiRequests=keys("Max", "Remaining"))),
    # -- sObjects and describe ----------------------------------------------------------
    Row("describe global", GUIDE + "resources_describeGlobal.htm", "GET", V + "/sobjects", 200,
        keys("encoding", "maxBatchSize", "sobjects"), headers={"Sforce-Limit-Info": "api-usage="}),
    Row("sobject basic information", GUIDE + "resources_sobject_basic_info.htm", "GET",
        V + "/sobjects/Account", 200, keys("objectDescribe", "recentItems")),
    Row("describe", GUIDE + "resources_sobject_describe.htm", "GET",
        V + "/sobjects/Account/describe", 200, keys("name", "fields", "urls")),
    Row("unknown sobject", GUIDE + "errorcodes.htm", "GET", V + "/sobjects/Nope__c/describe",
        404, error("NOT_FOUND")),
    # -- query ------------------------------------------------------------------------
    Row("query", GUIDE + "resources_query.htm", "GET", V + "/query?q=SELECT+Id+FROM+Account",
        200, keys("totalSize", "done", "records")),
    Row("query with a bad field", GUIDE + "resources_query.htm", "GET",
        V + "/query?q=SELECT+Nope+FROM+Account", 400, error("INVALID_FIELD")),
    Row("query without a session", GUIDE + "errorcodes.htm", "GET",
        V + "/query?q=SELECT+Id+FROM+Account", 401, error("INVALID_SESSION_ID"), auth=False),
    # -- CRUD -------------------------------------------------------------------------
    Row("create", GUIDE + "dome_sobject_create.htm", "POST", V + "/sobjects/Account", 201,
        SAVE_RESULT, json={"Name": "Created"}),
    Row("create with an unknown field", GUIDE + "dome_sobject_create.htm", "POST",
        V + "/sobjects/Account", 400, error("INVALID_FIELD"), json={"Nope__c": 1}),
    Row("retrieve", GUIDE + "resources_sobject_retrieve.htm", "GET",
        V + "/sobjects/Account/{account}", 200, RECORD),
    Row("retrieve some fields", GUIDE + "resources_sobject_retrieve.htm", "GET",
        V + "/sobjects/Account/{account}?fields=Name", 200, keys("attributes", "Name")),
    Row("update", GUIDE + "dome_update_fields.htm", "PATCH", V + "/sobjects/Account/{account}",
        204, json={"Name": "Renamed"}),
    Row("delete", GUIDE + "dome_delete_record.htm", "DELETE", V + "/sobjects/Account/{account}",
        204),
    Row("retrieve a missing record", GUIDE + "resources_sobject_retrieve.htm", "GET",
        V + "/sobjects/Account/001000000000000AAA", 404, error("NOT_FOUND")),
    Row("wrong method on a record", GUIDE + "errorcodes.htm", "POST",
        V + "/sobjects/Account/{account}", 405, error("METHOD_NOT_ALLOWED"), json={}),
    Row("body that is not JSON", GUIDE + "errorcodes.htm", "POST", V + "/sobjects/Account",
        400, error("JSON_PARSER_ERROR"), json="{not json"),
    # -- upsert -----------------------------------------------------------------------
    Row("upsert creates", GUIDE + "dome_upsert.htm", "PATCH",
        V + "/sobjects/Lead/Abm_Key__c/new-key", 201, keys("id", "success", "created",
        created={"const": True}), json={"LastName": "New", "Company": "Co"}),
    Row("upsert updates (v62.0: 200 with a body)", GUIDE + "dome_upsert.htm", "PATCH",
        V + "/sobjects/Lead/Abm_Key__c/seed-key", 200, keys("id", "created",
        created={"const": False}), json={"Company": "Renamed"}),
    Row("upsert updates (v45.0: 204)", GUIDE + "dome_upsert.htm", "PATCH",
        "/services/data/v45.0/sobjects/Lead/Abm_Key__c/seed-key", 204,
        json={"Company": "Renamed"}),
    Row("upsert on a field that is no external id", GUIDE + "dome_upsert.htm", "PATCH",
        V + "/sobjects/Lead/Company/x", 404, error("NOT_FOUND"), json={}),
    # -- updated / deleted --------------------------------------------------------------
    Row("updated", GUIDE + "resources_getupdated.htm", "GET",
        V + "/sobjects/Account/updated/?start={hour_ago}&end={hour_ahead}", 200,
        keys("ids", "latestDateCovered")),
    Row("deleted", GUIDE + "resources_getdeleted.htm", "GET",
        V + "/sobjects/Account/deleted/?start={hour_ago}&end={hour_ahead}", 200,
        keys("deletedRecords", "earliestDateAvailable", "latestDateCovered")),
    Row("deleted from 40 days ago", GUIDE + "resources_getdeleted.htm", "GET",
        V + "/sobjects/Account/deleted/?start={days_ago_40}&end={hour_ahead}", 400,
        error("INVALID_REPLICATION_DATE")),
    Row("updated from 40 days ago", GUIDE + "resources_getupdated.htm", "GET",
        V + "/sobjects/Account/updated/?start={days_ago_40}&end={hour_ahead}", 400,
        error("INVALID_REPLICATION_DATE")),
    Row("updated with end before start", GUIDE + "resources_getupdated.htm", "GET",
        V + "/sobjects/Account/updated/?start={hour_ahead}&end={hour_ago}", 400,
        error("INVALID_REPLICATION_DATE")),
    # -- composite --------------------------------------------------------------------
    Row("composite with a reference", GUIDE + "resources_composite_composite.htm", "POST",
        V + "/composite", 200, keys("compositeResponse"), json={"compositeRequest": [
            {"method": "POST", "url": V + "/sobjects/Account", "referenceId": "acct",
             "body": {"Name": "Parent"}},
            {"method": "GET", "url": V + "/sobjects/Account/@{acct.id}", "referenceId": "read"},
        ]}),
    Row("composite over 25 subrequests", GUIDE + "resources_composite_composite.htm", "POST",
        V + "/composite", 400, error("LIMIT_EXCEEDED"), json={"compositeRequest": [
            {"method": "GET", "url": V + "/limits", "referenceId": f"r{i}"} for i in range(26)]}),
    Row("composite batch", GUIDE + "resources_composite_batch.htm", "POST",
        V + "/composite/batch", 200, keys("hasErrors", "results"),
        json={"batchRequests": [{"method": "GET", "url": "v62.0/limits"}]}),
    Row("sobject tree", GUIDE + "resources_composite_sobject_tree.htm", "POST",
        V + "/composite/tree/Account", 201, keys("hasErrors", "results",
        hasErrors={"const": False}), json={"records": [
            {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree"}]}),
    # -- collections ------------------------------------------------------------------
    Row("collections retrieve", GUIDE + "resources_composite_sobjects_collections_retrieve.htm",
        "GET", V + "/composite/sobjects/Account?ids={account}&fields=Name", 200,
        {"type": "array", "items": RECORD}),
    Row("collections create", GUIDE + "resources_composite_sobjects_collections_create.htm",
        "POST", V + "/composite/sobjects", 200, {"type": "array", "items": SAVE_RESULT},
        json={"records": [{"attributes": {"type": "Account"}, "Name": "Bulkish"}]}),
    # -- errors -----------------------------------------------------------------------
    Row("unknown resource", GUIDE + "errorcodes.htm", "GET", V + "/nowhere", 404,
        error("NOT_FOUND")),
    Row("unknown path under /services", GUIDE + "errorcodes.htm", "GET", "/services/nowhere",
        404, error("NOT_FOUND")),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_documented_request_gets_documented_answer(make_org: MakeOrg, row: Row) -> None:
    org = make_org(seed_data={"Account": [{"Name": "Seeded"}]})
    store = org.sandbox.store
    key = {"type": "Text", "label": "Key", "length": 40, "externalId": True}
    store.add_field(store.objects["Lead"], custom_field("Abm_Key__c", key))
    store.create("Lead", {"LastName": "Seed", "Company": "Co", "Abm_Key__c": "seed-key"})
    now = store.clock()
    account = store.find(store.objects["Account"], "Name", "Seeded")[0]
    values = {
        "account": account,
        "hour_ago": _stamp(now.timestamp() - 3600),
        "hour_ahead": _stamp(now.timestamp() + 3600),
        "days_ago_40": _stamp(now.timestamp() - 40 * 86400),
    }
    session = org.session()
    headers = {}
    if row.auth:
        token = org.token().json()["access_token"]
        headers["Authorization"] = f"Bearer {token}"
    form = None
    if row.form is not None:
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **row.form}
    data: Any = form
    if isinstance(row.json, str):
        data, headers["Content-Type"] = row.json, "application/json"
    elif row.json is not None:
        data = json.dumps(row.json).replace("{account}", account)
        headers["Content-Type"] = "application/json"
    url = org.url + row.path.format(**values)
    answer = session.request(row.method, url, data=data, headers=headers)

    assert answer.status_code == row.status, (row.doc, answer.text)
    for name, prefix in row.headers.items():
        assert answer.headers.get(name, "").startswith(prefix), row.doc
    if row.shape is None:
        assert answer.content == b"", row.doc
    else:
        jsonschema.validate(answer.json(), row.shape)


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S%%2B00:00")


def test_the_table_covers_forty_documented_requests() -> None:
    assert len(ROWS) >= 40
    assert all(row.doc.startswith("https://") for row in ROWS)
