"""The Eloqua harness: a fresh emulated Eloqua instance behind the session's HTTPS server.

People are contacts (``ContactId``, fields by internal name). One server
plays Eloqua's login host (``/id``, ``/auth/oauth2/token``) and the pod; the
connectors sign in with OAuth 2.0, so :meth:`expire_tokens` expires the
access tokens and the connector must refresh. The instance's clock is a
settable :class:`~tests.connectors.serving.Clock`; the emulator counts the
API calls it answers (login excluded).

Eloqua's text fields hold 100 characters (large text 32,000), which
``describe`` reports from the application API. Contacts have one reference,
their account (``AccountId``), read-only: Eloqua links a contact to an
account by the account's name, not by a writable id field.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import SecretStr

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType, PatchValue
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.eloqua import EloquaConnector
from abmsync.connectors.eloqua.connector import ABMSYNC_CONTACT_FIELDS
from abmsync.connectors.eloqua.writing import WRITE_BATCH
from abmsync.sandbox.eloqua import EloquaConfig, EloquaStore, create_app
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from tests.connectors.conformance.harness import BudgetedConnector, Expect, Harness
from tests.connectors.serving import Clock, Switch

CONTACTS = "contacts"
PASSWORD = "conformance-eloqua-password-3e1d"
CLIENT_SECRET = "conformance-eloqua-app-secret-77b2"


@contextmanager
def serve() -> Iterator[tuple[SandboxServer, Switch]]:
    """The session's HTTPS server; each test installs its own instance behind the switch."""
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


class EloquaHarness(Harness):
    """Contacts of an emulated Eloqua instance; the instance's store is changed directly."""

    name = "eloqua"
    person_object = CONTACTS
    id_column = "ContactId"
    email_field = "C_EmailAddress"
    name_field = "C_LastName"
    text_field = "C_Title"
    text_length = 100
    readonly_field = "C_DateModified"
    expected_fields: ClassVar[Mapping[str, Expect]] = {
        "C_EmailAddress": Expect(FieldType.EMAIL, writable=True),
        "C_Title": Expect(FieldType.STRING, writable=True),
        "C_Country": Expect(FieldType.STRING, writable=True),
        "C_DateCreated": Expect(FieldType.DATETIME, writable=False),
        "C_DateModified": Expect(FieldType.DATETIME, writable=False),
        "ContactId": Expect(FieldType.ID, writable=False),
        "AccountId": Expect(FieldType.REFERENCE, writable=False, reference_to="accounts"),
        "LeadScoreRating": Expect(FieldType.STRING, writable=False),
    }
    upsert_key = FieldMeta(
        name="C_ABM_Key1", label="ABM key", type=FieldType.STRING, length=80, external_id=True
    )
    check_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(obj=CONTACTS, fields=list(ABMSYNC_CONTACT_FIELDS)),
    )
    write_batch = WRITE_BATCH
    secret = PASSWORD

    def __init__(self, server: tuple[SandboxServer, Switch], faults: Faults) -> None:
        super().__init__(faults)
        self.server, switch = server
        self.clock = Clock()
        self.config = EloquaConfig(password=PASSWORD, client_secret=CLIENT_SECRET)
        app = create_app(faults, config=self.config, clock=self.clock)
        self.app = app
        self.store: EloquaStore = app.state.store
        switch.app = app
        self._connectors: list[EloquaConnector] = []

    def connector(
        self, *, budget: ApiBudget | None = None, secret: str | None = None
    ) -> BudgetedConnector:
        connector = EloquaConnector(
            self.config.company,
            self.config.username,
            SecretStr(secret or PASSWORD),
            login_url=self.server.url,
            client_id=self.config.client_id,
            client_secret=SecretStr(CLIENT_SECRET),
            verify=str(self.server.ca_file),
            budget=budget,
            page_size=self.page_size,
            poll_seconds=0.01,
        )
        self._connectors.append(connector)
        return connector

    def create_people(self, count: int) -> list[str]:
        rows = [self.new_person_values() for _ in range(count)]
        return [str(i) for i in self.store.add_contacts(rows)]

    def new_person_values(self) -> dict[str, PatchValue]:
        email = self.next_email()
        name = email.split("@")[0].title()
        return {"C_LastName": name, "C_Company": "Acme", "C_EmailAddress": email}

    def update_person(
        self, record_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        values = {"C_EmailAddress": email, "C_LastName": name}
        self.store.update_contact(
            int(record_id), {k: v for k, v in values.items() if v is not None}
        )

    def delete_person(self, record_id: str) -> None:
        self.store.delete_contact(int(record_id))

    def person(self, record_id: str) -> Mapping[str, Any] | None:
        return self.store.contact(int(record_id))

    def find_people(self, field: str, value: str) -> list[str]:
        return [str(i) for i in self.store.find_contacts(field, value)]

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def expire_tokens(self) -> None:
        self.app.state.auth.expire_all()

    def default_page_size(self) -> int:
        return 50_000

    def set_page_size(self, size: int) -> int:
        self.page_size = size
        return size

    def api_calls(self) -> int:
        return int(self.app.state.gate.api_calls)

    def close(self) -> None:
        for connector in self._connectors:
            connector.close()
        gc.collect()
