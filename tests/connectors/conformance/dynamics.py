"""The Dynamics 365 harness: a fresh emulated Dataverse org behind the session's HTTPS server.

People are leads (logical name ``lead``, primary id ``leadid``). One server
answers Microsoft Entra (``/{tenant}/oauth2/v2.0/token``) and the Web API;
the org's clock is a settable :class:`~tests.connectors.serving.Clock`. The emulator keeps no
count of the calls it answered, so :class:`~.harness.CallCounter` counts the
Web API requests in front of it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import SecretStr

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType, PatchValue
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.dynamics import DynamicsConnector
from abmsync.connectors.dynamics.batch import MAX_REQUESTS
from abmsync.sandbox.dynamics import DynamicsConfig, create_app
from abmsync.sandbox.dynamics.app import DataverseSandbox
from abmsync.sandbox.dynamics.store import DataverseStore
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from tests.connectors.conformance.harness import (
    BudgetedConnector,
    CallCounter,
    Expect,
    Harness,
)
from tests.connectors.serving import Clock, Switch

TENANT_ID = "0c7a5e1f-2b3d-4c8e-9f6a-1d2e3f4a5b6c"
CLIENT_ID = "6b1e9d2c-7a4f-4e3b-8c5d-2f1a0e9d8c7b"
CLIENT_SECRET = "conformance-dyn-secret-5c2b"
LEAD = "lead"
API = "/api/data/"


@contextmanager
def serve() -> Iterator[tuple[SandboxServer, Switch]]:
    """The session's HTTPS server (Entra and Dataverse speak only https)."""
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


class DynamicsHarness(Harness):
    """Leads in an emulated Dataverse org; the org's store is changed directly."""

    name = "dynamics"
    person_object = LEAD
    id_column = "leadid"
    email_field = "emailaddress1"
    name_field = "lastname"
    text_field = "jobtitle"
    text_length = 100
    readonly_field = "createdon"
    expected_fields: ClassVar[Mapping[str, Expect]] = {
        "emailaddress1": Expect(FieldType.EMAIL, writable=True),
        "jobtitle": Expect(FieldType.STRING, writable=True),
        "industrycode": Expect(FieldType.PICKLIST, writable=True),
        "numberofemployees": Expect(FieldType.INTEGER, writable=True),
        "revenue": Expect(FieldType.NUMBER, writable=True),
        "donotemail": Expect(FieldType.BOOLEAN, writable=True),
        "createdon": Expect(FieldType.DATETIME, writable=False),
        "modifiedon": Expect(FieldType.DATETIME, writable=False),
        "ownerid": Expect(FieldType.REFERENCE, writable=True),
        "parentcontactid": Expect(FieldType.REFERENCE, writable=True, reference_to="contact"),
    }
    upsert_key = FieldMeta(
        name="abm_key", label="ABM key", type=FieldType.STRING, length=80, external_id=True
    )
    check_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    write_batch = MAX_REQUESTS  # requests per $batch
    secret = CLIENT_SECRET

    def __init__(self, server: tuple[SandboxServer, Switch], faults: Faults) -> None:
        super().__init__(faults)
        self.server, switch = server
        self.clock = Clock()
        self.config = DynamicsConfig(
            tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        app = create_app(faults, config=self.config, clock=self.clock)
        self.sandbox: DataverseSandbox = app.state.sandbox
        self.store: DataverseStore = self.sandbox.store
        self.counter = CallCounter(app, API)
        switch.app = self.counter
        self._connectors: list[Any] = []

    def connector(
        self, *, budget: ApiBudget | None = None, secret: str | None = None
    ) -> BudgetedConnector:
        connector = DynamicsConnector(
            self.server.url,
            TENANT_ID,
            CLIENT_ID,
            SecretStr(secret or CLIENT_SECRET),
            authority_host=self.server.url,
            verify=str(self.server.ca_file),
            budget=budget,
            page_size=self.page_size,
        )
        self._connectors.append(connector)
        return connector

    def create_people(self, count: int) -> list[str]:
        rows = [self.new_person_values() for _ in range(count)]
        return [str(i) for i in self.store.insert_many(LEAD, rows)]

    def new_person_values(self) -> dict[str, PatchValue]:
        email = self.next_email()
        name = email.split("@")[0].title()
        return {"lastname": name, "companyname": "Acme", "emailaddress1": email}

    def update_person(
        self, record_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        values = {"emailaddress1": email, "lastname": name}
        self.store.update(LEAD, record_id, {k: v for k, v in values.items() if v is not None})

    def delete_person(self, record_id: str) -> None:
        self.store.delete(LEAD, record_id)

    def person(self, record_id: str) -> Mapping[str, Any] | None:
        return self.store.get(LEAD, record_id)

    def find_people(self, field: str, value: str) -> list[str]:
        return [str(r[self.id_column]) for r in self.store.rows(LEAD) if r.get(field) == value]

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def expire_tokens(self) -> None:
        self.sandbox.tokens.expire_all()

    def default_page_size(self) -> int:
        return 5000

    def set_page_size(self, size: int) -> int:
        self.page_size = size
        return size

    def api_calls(self) -> int:
        return self.counter.calls

    def close(self) -> None:
        for connector in self._connectors:
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        gc.collect()
