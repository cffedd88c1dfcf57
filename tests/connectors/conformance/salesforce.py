"""The Salesforce harness: a fresh emulated org behind the session's HTTPS server.

People are Leads. The org's clock is a settable :class:`~tests.connectors.serving.Clock`, so
records created together share a millisecond (as a data load's do) and time
moves only when a test says so.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import requests
from pydantic import SecretStr

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType, PatchValue
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.salesforce import SalesforceConnector
from abmsync.connectors.salesforce.connector import ABM_FIELDS
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.salesforce import SalesforceSandbox, SandboxConfig, create_app
from abmsync.sandbox.salesforce.store import ObjectDef, Store
from abmsync.sandbox.server import SandboxServer
from tests.connectors.conformance.harness import (
    BudgetedConnector,
    Expect,
    Harness,
)
from tests.connectors.serving import Clock, Switch

CLIENT_ID = "abmsync-conformance"
CLIENT_SECRET = "conformance-sf-secret-7d1e"
LEAD = "Lead"


@contextmanager
def serve() -> Iterator[tuple[SandboxServer, Switch]]:
    """The session's HTTPS server (simple-salesforce speaks only https)."""
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


class SalesforceHarness(Harness):
    """Leads in an emulated org; the org's store is changed directly."""

    name = "salesforce"
    person_object = LEAD
    id_column = "Id"
    email_field = "Email"
    name_field = "LastName"
    text_field = "Title"
    text_length = 128
    readonly_field = "CreatedDate"
    expected_fields: ClassVar[Mapping[str, Expect]] = {
        "Id": Expect(FieldType.ID, writable=False),
        "Email": Expect(FieldType.EMAIL, writable=True),
        "Title": Expect(FieldType.STRING, writable=True),
        "Description": Expect(FieldType.TEXT, writable=True),
        "Status": Expect(FieldType.PICKLIST, writable=True),
        "NumberOfEmployees": Expect(FieldType.INTEGER, writable=True),
        "AnnualRevenue": Expect(FieldType.NUMBER, writable=True),
        "HasOptedOutOfEmail": Expect(FieldType.BOOLEAN, writable=True),
        "CreatedDate": Expect(FieldType.DATETIME, writable=False),
        "ConvertedDate": Expect(FieldType.DATE, writable=False),
        "OwnerId": Expect(FieldType.REFERENCE, writable=True),
        "ConvertedAccountId": Expect(FieldType.REFERENCE, writable=False, reference_to="Account"),
    }
    upsert_key = FieldMeta(
        name="ABM_Key__c", label="ABM key", type=FieldType.STRING, length=80, external_id=True
    )
    check_fields = tuple(
        FieldSpec(obj=obj, fields=[FieldMeta(name=n, type=FieldType.STRING) for n in ABM_FIELDS])
        for obj in ("Lead", "Contact")
    )
    write_batch = 200  # sObject Collections
    secret = CLIENT_SECRET

    def __init__(self, server: tuple[SandboxServer, Switch], faults: Faults) -> None:
        super().__init__(faults)
        self.server, switch = server
        self.clock = Clock()
        config = SandboxConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        app = create_app(faults, config=config, clock=self.clock)
        switch.app = app
        self.sandbox: SalesforceSandbox = app.state.sandbox
        self.store: Store = self.sandbox.store
        self._sessions: list[requests.Session] = []

    def connector(
        self, *, budget: ApiBudget | None = None, secret: str | None = None
    ) -> BudgetedConnector:
        connector = SalesforceConnector(
            self.server.url,
            CLIENT_ID,
            SecretStr(secret or CLIENT_SECRET),
            verify=str(self.server.ca_file),
            timeout=5,
            budget=budget,
        )
        self._sessions.append(connector.client.session)
        return connector

    def create_people(self, count: int) -> list[str]:
        rows = [self.new_person_values() for _ in range(count)]
        return self.store.insert_many(LEAD, rows)

    def new_person_values(self) -> dict[str, PatchValue]:
        email = self.next_email()
        return {"LastName": email.split("@")[0].title(), "Company": "Acme", "Email": email}

    def update_person(
        self, record_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        values = {"Email": email, "LastName": name}
        self.store.update(LEAD, record_id, {k: v for k, v in values.items() if v is not None})

    def delete_person(self, record_id: str) -> None:
        self.store.delete(LEAD, record_id)

    def person(self, record_id: str) -> Mapping[str, Any] | None:
        return self.store.get(self._lead(), record_id)

    def find_people(self, field: str, value: str) -> list[str]:
        return self.store.find(self._lead(), field, value)

    def _lead(self) -> ObjectDef:
        found = self.store.get_object(LEAD)
        assert found is not None
        return found

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def expire_tokens(self) -> None:
        self.sandbox.expire_tokens()

    def set_page_size(self, size: int) -> int:
        self.sandbox.config.page_size = self.page_size = size
        return size

    def api_calls(self) -> int:
        return int(self.sandbox.api_used)

    def close(self) -> None:
        # Idle keep-alive TLS connections would hold up uvicorn's graceful shutdown.
        for session in self._sessions:
            session.close()
        gc.collect()  # and connections dropped mid-response, still referenced by tracebacks
