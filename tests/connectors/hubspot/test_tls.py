"""TLS to HubSpot: a handshake cut short is retried, an untrusted certificate is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from abmsync.connectors.hubspot.client import HubSpotClient
from abmsync.errors import TerminalError
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer
from tests.connectors.handshake import Cut, HandshakeCutter
from tests.connectors.hubspot.conftest import TOKEN


@pytest.fixture(scope="module")
def https_server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app(Faults(), token=TOKEN), tls=True) as server:
        yield server


def _owners(client: HubSpotClient) -> object:
    return client.call("list owners", "owners.owners_api", "get_page")


@pytest.mark.parametrize("how", ["eof", "reset"])
def test_a_handshake_cut_short_is_retried_until_it_goes_through(
    https_server: SandboxServer, how: Cut
) -> None:
    with HandshakeCutter(https_server.port, cut=2, how=how) as cutter:
        client = HubSpotClient(
            SecretStr(TOKEN), host=cutter.url, verify=str(https_server.ca_file), timeout=5
        )
        page = _owners(client)
    assert page.results is not None  # type: ignore[attr-defined]
    assert cutter.connections == 3


def test_an_untrusted_certificate_stops_at_once_with_one_line(
    https_server: SandboxServer,
) -> None:
    with HandshakeCutter(https_server.port, cut=0) as cutter:
        client = HubSpotClient(SecretStr(TOKEN), host=cutter.url, timeout=5)
        with pytest.raises(TerminalError) as raised:
            _owners(client)
    message = str(raised.value)
    assert message.startswith(f"TLS verification of HubSpot at {cutter.url} failed (")
    assert "\n" not in message and TOKEN not in message
    assert cutter.connections == 1  # not retried
