"""TLS to Salesforce: a handshake cut short is retried, an untrusted certificate is not."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from abmsync.connectors.salesforce import SalesforceConnector
from abmsync.errors import TerminalError
from abmsync.sandbox.server import SandboxServer
from tests.connectors.handshake import Cut, HandshakeCutter
from tests.connectors.salesforce.conftest import CLIENT_ID, CLIENT_SECRET, Org, Switch


@pytest.mark.parametrize("how", ["eof", "reset"])
def test_a_handshake_cut_short_is_retried_until_it_goes_through(
    org: Org, salesforce_server: tuple[SandboxServer, Switch], how: Cut
) -> None:
    server, _ = salesforce_server
    with HandshakeCutter(server.port, cut=2, how=how) as cutter:
        connector = SalesforceConnector(
            cutter.url, CLIENT_ID, SecretStr(CLIENT_SECRET), verify=org.ca_file
        )
        try:
            connector.client.authenticate()
            answer = connector.client.call(lambda sf: sf.query("SELECT Id FROM Lead"))
        finally:
            connector.client.session.close()
    assert answer["totalSize"] == 0
    assert cutter.connections >= 3  # two cut, then the login and the query went through


def test_an_untrusted_certificate_stops_at_once_with_one_line(
    org: Org, salesforce_server: tuple[SandboxServer, Switch]
) -> None:
    server, _ = salesforce_server
    with HandshakeCutter(server.port, cut=0) as cutter:
        # The system's CAs do not know the sandbox's.
        connector = SalesforceConnector(cutter.url, CLIENT_ID, SecretStr(CLIENT_SECRET))
        with pytest.raises(TerminalError) as raised:
            connector.client.authenticate()
        connector.client.session.close()
    message = str(raised.value)
    assert message.startswith("TLS verification of Salesforce failed (")
    assert "set `verify` to the CA bundle to trust" in message
    assert "\n" not in message and CLIENT_SECRET not in message
    assert cutter.connections == 1  # not retried
