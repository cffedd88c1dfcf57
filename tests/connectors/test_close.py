"""Closing connectors: no keep-alive connection outlives the block that opened it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from abmsync.connectors.base import Connector, Connectors
from abmsync.connectors.files import FilesConnector
from abmsync.connectors.hubspot.connector import HubSpotConnector
from abmsync.connectors.salesforce.connector import SalesforceConnector
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.server import SandboxServer

TOKEN = "sandbox-token"


def test_closed_connectors_let_the_emulators_stop_at_once(tmp_path: Path) -> None:
    config = SandboxConfig()
    sf = SandboxServer(salesforce_app(config=config), tls=True).start()
    hs = SandboxServer(hubspot_app(token=TOKEN)).start()
    try:
        with Connectors(
            salesforce=SalesforceConnector(
                sf.url, config.client_id, SecretStr(config.client_secret), verify=str(sf.ca_file)
            ),
            hubspot=HubSpotConnector(SecretStr(TOKEN), host=hs.url),
            files=FilesConnector(tmp_path),
        ) as connectors:
            for connector in connectors.values():
                assert isinstance(connector, Connector)
                # The first line (login, token, directory) is a real call; it leaves
                # keep-alive connections in the pools.
                assert connector.check().items[0].ok
    finally:
        sf.stop()
        hs.stop()
    # An idle TLS connection left open would keep the Salesforce server running.
    assert not sf.serving and not hs.serving


def test_a_closed_hubspot_connector_opens_new_connections_when_used_again() -> None:
    with SandboxServer(hubspot_app(token=TOKEN)) as hs:
        connector = HubSpotConnector(SecretStr(TOKEN), host=hs.url)
        first = [(item.name, item.ok) for item in connector.check().items]
        connector.close()
        assert [(item.name, item.ok) for item in connector.check().items] == first
        connector.close()
    assert not hs.serving
