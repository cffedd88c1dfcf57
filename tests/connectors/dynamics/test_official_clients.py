"""Microsoft's own clients work against the emulator unmodified.

msal and azure-identity take the CA file directly (``verify=`` and
``connection_verify=``); PowerPlatform-Dataverse-Client uses ``requests``
without a verify option, so it trusts the emulator's CA through the
``REQUESTS_CA_BUNDLE`` environment variable. Instance discovery (a call to
login.microsoftonline.com) is switched off with ``instance_discovery=False`` /
``disable_instance_discovery=True``, as for any non-public cloud.

requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment
override a session's ``verify`` (psf/requests#3829), so every test here points
those at the emulator's CA.
"""

from __future__ import annotations

from collections.abc import Iterator

import msal
import pytest
from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient

from .conftest import Org


@pytest.fixture(autouse=True)
def trust_emulator(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_file)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def credential(org: Org) -> ClientSecretCredential:
    made = ClientSecretCredential(
        org.config.tenant_id,
        org.config.client_id,
        org.config.client_secret,
        authority=org.url,
        connection_verify=org.ca_file,
        disable_instance_discovery=True,
    )
    org.closers.append(made.close)  # idle keep-alive connections hold up server shutdown
    return made


def test_msal_confidential_client_gets_a_token(org: Org) -> None:
    app = msal.ConfidentialClientApplication(
        org.config.client_id,
        client_credential=org.config.client_secret,
        authority=f"{org.url}/{org.config.tenant_id}",
        instance_discovery=False,
        verify=org.ca_file,
    )
    org.closers.append(app.http_client.close)
    result = app.acquire_token_for_client(scopes=[f"{org.url}/.default"])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    api = org.raw()
    who = api.get(
        f"{org.api}/WhoAmI", headers={"Authorization": f"Bearer {result['access_token']}"}
    )
    assert who.status_code == 200


def test_msal_reports_a_bad_secret(org: Org) -> None:
    app = msal.ConfidentialClientApplication(
        org.config.client_id,
        client_credential="wrong",
        authority=f"{org.url}/{org.config.tenant_id}",
        instance_discovery=False,
        verify=org.ca_file,
    )
    org.closers.append(app.http_client.close)
    result = app.acquire_token_for_client(scopes=[f"{org.url}/.default"])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


def test_azure_identity_client_secret_credential(org: Org) -> None:
    token = credential(org).get_token(f"{org.url}/.default")
    assert token.token and token.expires_on > 0


@pytest.fixture
def dataverse(org: Org) -> Iterator[DataverseClient]:
    with DataverseClient(org.url, credential(org)) as client:
        yield client


def test_sdk_crud(org: Org, dataverse: DataverseClient) -> None:
    record_id = dataverse.records.create("account", {"name": "Contoso Ltd"})
    assert org.sandbox.store.get("account", record_id)["name"] == "Contoso Ltd"  # type: ignore[index]
    dataverse.records.update("account", record_id, {"telephone1": "555-0100"})
    fetched = dataverse.records.retrieve("account", record_id, select=["name", "telephone1"])
    assert fetched["telephone1"] == "555-0100"
    dataverse.records.delete("account", record_id)
    assert org.sandbox.store.get("account", record_id) is None


def test_sdk_query_pages(org: Org, dataverse: DataverseClient) -> None:
    org.sandbox.store.insert_many("account", [{"name": f"Acct {i:02}"} for i in range(7)])
    pages = list(
        dataverse.records.list_pages(
            "account",
            select=["name"],
            filter="startswith(name,'Acct')",
            orderby=["name asc"],
            page_size=3,
        )
    )
    assert [len(page) for page in pages] == [3, 3, 1]
    assert pages[0][0]["name"] == "Acct 00"


def test_sdk_creates_a_table_and_column(org: Org, dataverse: DataverseClient) -> None:
    info = dataverse.tables.create("abm_Touchpoint", {"abm_Kind": "string", "abm_Points": "int"})
    assert info is not None
    table = org.sandbox.store.tables["abm_touchpoint"]
    assert table.entity_set == "abm_touchpoints"
    assert {"abm_kind", "abm_points"} <= set(table.attributes)
    record_id = dataverse.records.create("abm_touchpoint", {"abm_kind": "webinar", "abm_points": 5})
    assert org.sandbox.store.get("abm_touchpoint", record_id)["abm_points"] == 5  # type: ignore[index]
