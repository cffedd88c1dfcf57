"""The HubSpot harness: a fresh emulated portal behind the session's server.

People are contacts. The portal's clock is frozen an hour ago and moved on by
the tests. HubSpot private-app tokens never expire, but OAuth access tokens
do, and HubSpot then answers ``401 EXPIRED_AUTHENTICATION``;
:class:`TokenRotation` plays that part in front of the emulator, and the
connectors get a ``token_provider`` that hands out the current token (the
OAuth refresh).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import SecretStr

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType, PatchValue
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.hubspot import HubSpotConnector
from abmsync.connectors.hubspot.connector import ABMSYNC_CONTACT_FIELDS
from abmsync.connectors.hubspot.reading import LIST_PAGE
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.hubspot import create_app
from abmsync.sandbox.server import SandboxServer
from tests.connectors.conformance.harness import (
    REFERENCE_FIELDS,
    TEXT_LENGTH,
    BudgetedConnector,
    Expect,
    Harness,
)
from tests.connectors.hubspot.contract import watch
from tests.connectors.serving import Switch

TOKEN = "pat-na1-conformance-secret-9f3a"
CONTACTS = "contacts"


@contextmanager
def serve() -> Iterator[tuple[SandboxServer, Switch]]:
    """The session's server; each test installs its own portal behind the switch."""
    switch = Switch()
    with SandboxServer(switch) as server:
        yield server, switch


class TokenRotation:
    """ASGI middleware: tokens retired by :meth:`rotate` get HubSpot's expired-token 401."""

    def __init__(self, app: Any, gate: Any) -> None:
        self.app = app
        self.gate = gate
        self.retired: set[str] = set()

    def rotate(self) -> None:
        """Retire the current token and accept a new one from now on."""
        self.retired.add(self.gate.token)
        self.gate.token = f"{TOKEN}-{len(self.retired)}"

    def current(self) -> SecretStr:
        """The token an OAuth refresh would return now."""
        return SecretStr(self.gate.token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if header.decode("latin-1").removeprefix("Bearer ") in self.retired:
                await _expired(send)
                return
        await self.app(scope, receive, send)


async def _expired(send: Any) -> None:
    body = json.dumps(
        {
            "status": "error",
            "message": "The OAuth token used to make this call expired 1 second(s) ago.",
            "correlationId": "00000000-0000-0000-0000-000000000000",
            "category": "EXPIRED_AUTHENTICATION",
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HubSpotHarness(Harness):
    """Contacts in an emulated portal; the portal's store is changed directly."""

    name = "hubspot"
    person_object = CONTACTS
    id_column = "id"
    email_field = "email"
    name_field = "lastname"
    text_field = "jobtitle"
    text_length = None
    readonly_field = "createdate"
    expected_fields: ClassVar[Mapping[str, Expect]] = {
        # HubSpot describes the record id as a number and email as a plain string.
        "hs_object_id": Expect(FieldType.NUMBER, writable=False),
        "email": Expect(FieldType.STRING, writable=True),
        "jobtitle": Expect(FieldType.STRING, writable=True),
        "lifecyclestage": Expect(FieldType.PICKLIST, writable=True),
        "hs_email_optout": Expect(FieldType.BOOLEAN, writable=True),
        "createdate": Expect(FieldType.DATETIME, writable=False),
        "hs_lastmodifieddate": Expect(FieldType.DATETIME, writable=False),
    }
    upsert_key = FieldMeta(name="abm_key", label="ABM key", type=FieldType.STRING, external_id=True)
    check_fields = (
        FieldSpec(
            obj=CONTACTS,
            fields=[FieldMeta(name=n, type=FieldType.STRING) for n in ABMSYNC_CONTACT_FIELDS],
        ),
    )
    exemptions: ClassVar[Mapping[str, str]] = {
        TEXT_LENGTH: "the properties API states no maximum length for string properties",
        REFERENCE_FIELDS: "HubSpot links records by associations, not by reference properties",
    }
    write_batch = 100  # batch update, upsert and create
    secret = TOKEN

    def __init__(self, server: tuple[SandboxServer, Switch], faults: Faults) -> None:
        super().__init__(faults)
        self.server, switch = server
        app = create_app(faults, token=TOKEN, burst_limit=1_000_000)
        self.store = app.state.store
        self.gate = app.state.gate
        self.tokens = TokenRotation(app, self.gate)
        switch.app = watch(self.tokens)
        self.now_ms = int(time.time() * 1000) - 3_600_000
        self.store.set_clock(frozen_ms=self.now_ms)
        self._connectors: list[HubSpotConnector] = []

    def connector(
        self, *, budget: ApiBudget | None = None, secret: str | None = None
    ) -> BudgetedConnector:
        connector = HubSpotConnector(
            SecretStr(secret) if secret is not None else self.tokens.current(),
            host=self.server.url,
            timeout=5,
            budget=budget,
            token_provider=None if secret is not None else self.tokens.current,
        )
        self._connectors.append(connector)
        return connector

    def create_people(self, count: int) -> list[str]:
        rows = [self.new_person_values() for _ in range(count)]
        return [str(i) for i in self.store.insert_many(CONTACTS, rows)]

    def new_person_values(self) -> dict[str, PatchValue]:
        email = self.next_email()
        return {"email": email, "lastname": email.split("@")[0].title()}

    def update_person(
        self, record_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        values = {k: v for k, v in {"email": email, "lastname": name}.items() if v is not None}
        self.store.update(CONTACTS, self._live(record_id), values)

    def delete_person(self, record_id: str) -> None:
        self.store.archive(CONTACTS, self._live(record_id))

    def _live(self, record_id: str) -> Any:
        record = self.store.get(CONTACTS, record_id)
        if record is None:
            raise KeyError(f"no live contact {record_id}")
        return record

    def person(self, record_id: str) -> Mapping[str, Any] | None:
        record = self.store.get(CONTACTS, record_id)
        return None if record is None else dict(record.properties)

    def find_people(self, field: str, value: str) -> list[str]:
        with self.store._lock:
            records = list(self.store.records[CONTACTS].values())
        return [
            str(r.id) for r in records if r.archived_ms is None and r.properties.get(field) == value
        ]

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.now_ms += round(seconds * 1000)
        self.store.set_clock(frozen_ms=self.now_ms)

    def expire_tokens(self) -> None:
        self.tokens.rotate()

    def default_page_size(self) -> int:
        return LIST_PAGE  # fixed by the connector: list pages of 100, search pages of 200

    def api_calls(self) -> int:
        return int(self.gate.daily_used)

    def close(self) -> None:
        for connector in self._connectors:
            for api in connector.client._apis.values():
                api.api_client.rest_client.pool_manager.clear()
