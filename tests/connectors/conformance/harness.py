"""What the conformance suite needs from a vendor: one :class:`Harness` per connector.

A harness owns a fresh emulated tenant (the session's server, a new app per
test), builds connectors on it, and changes the tenant's records *in process*
through the emulator's store, the way a user in the vendor's UI would. The
tests speak only this vocabulary, so adding a vendor (Eloqua next) is one
module: subclass :class:`Harness`, fill in the class attributes and the
abstract methods, and add the module's ``make_harness`` fixture to
``conftest.VENDORS``.

The interface, in one place:

============================  =================================================
``name``                      pytest id (``salesforce``, ``hubspot``, ...)
``person_object``             the object people live in (``Lead``, ``contacts``)
``id_column``                 the column of read frames holding the record id
``email_field``               an email-like field, set on every created person
``name_field``                a writable text field ``update_person`` can set
``text_field``/``text_length`` a writable text field and its maximum length
                              (``None``: the vendor reports none)
``readonly_field``            a field ``describe`` must mark not writable
``unknown_field``             a field name no vendor has
``expected_fields``           name -> :class:`Expect` (type and writability)
``upsert_key``                the external-id field ``ensure_fields`` creates
``check_fields``              the fields ``check`` wants present
``exemptions``                capability -> why this vendor cannot do it
``page_size``                 records per read page (see :meth:`set_page_size`)
``write_batch``               patches the connector sends in one write call
============================  =================================================

Methods: :meth:`connector`, :meth:`create_people`, :meth:`new_person_values`,
:meth:`update_person`, :meth:`delete_person`, :meth:`person`,
:meth:`find_people`, :meth:`advance_clock`, :meth:`set_faults`,
:meth:`expire_tokens`, :meth:`set_page_size`, :meth:`api_calls`, :meth:`close`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, TypeVar

import pytest

from abmsync.connectors.base import (
    Batch,
    Connector,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    PatchValue,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.sandbox.faults import Faults

# Capabilities a vendor may honestly lack; a test needing one is skipped with the reason.
TEXT_LENGTH = "text_length"  # describe reports a maximum length for text fields
REFERENCE_FIELDS = "reference_fields"  # the person object has lookup (reference) fields


@dataclass(frozen=True)
class Expect:
    """What ``describe`` must say about one field of the person object."""

    type: FieldType
    writable: bool
    reference_to: str | None = None


class BudgetedConnector(Connector, Protocol):
    """A connector that counts its calls: every connector abmsync ships has one."""

    budget: ApiBudget


class Harness(ABC):
    """One vendor's emulated tenant and the vendor-neutral operations the tests use."""

    name: ClassVar[str]
    person_object: ClassVar[str]
    id_column: ClassVar[str]
    email_field: ClassVar[str]
    name_field: ClassVar[str]
    text_field: ClassVar[str]
    text_length: ClassVar[int | None]
    readonly_field: ClassVar[str]
    unknown_field: ClassVar[str] = "abmsync_no_such_field__c"
    expected_fields: ClassVar[Mapping[str, Expect]]
    upsert_key: ClassVar[FieldMeta]
    check_fields: ClassVar[Sequence[FieldSpec]]
    exemptions: ClassVar[Mapping[str, str]] = {}
    write_batch: ClassVar[int]  # patches the connector sends per write call
    secret: ClassVar[str]  # the credential connectors use; no message may contain it

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.page_size = self.default_page_size()
        self._numbers = itertools.count(1)

    # -- connectors ---------------------------------------------------------------

    @abstractmethod
    def connector(
        self, *, budget: ApiBudget | None = None, secret: str | None = None
    ) -> BudgetedConnector:
        """A connector on this tenant (``secret`` replaces the right credential)."""

    # -- the tenant's records, changed in process -------------------------------------

    @abstractmethod
    def create_people(self, count: int) -> list[str]:
        """Create ``count`` people with distinct emails, as an import does; their ids."""

    @abstractmethod
    def new_person_values(self) -> dict[str, PatchValue]:
        """Values a create (or upsert) patch needs for a valid new person."""

    @abstractmethod
    def update_person(
        self, record_id: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        """Change a person's email and/or name, as a user does in the vendor's UI."""

    @abstractmethod
    def delete_person(self, record_id: str) -> None:
        """Delete (recycle-bin, archive) a person."""

    @abstractmethod
    def person(self, record_id: str) -> Mapping[str, Any] | None:
        """A live person's stored values by field name, or None if gone."""

    @abstractmethod
    def find_people(self, field: str, value: str) -> list[str]:
        """Ids of live people whose ``field`` equals ``value``."""

    # -- the tenant's weather ---------------------------------------------------------

    @abstractmethod
    def advance_clock(self, seconds: float = 1.0) -> None:
        """Move the emulator's clock on (changes made next get later stamps)."""

    def set_faults(self, faults: Faults) -> None:
        """Inflict ``faults`` from now on: rates, waits and seed copied onto the tenant's.

        The tenant keeps its own ``exempt_paths`` (its login endpoint differs per vendor).
        """
        for spec in fields(Faults):
            if spec.init and spec.name not in ("seed", "exempt_paths"):
                setattr(self.faults, spec.name, getattr(faults, spec.name))
        self.faults.reseed(faults.seed)

    @abstractmethod
    def expire_tokens(self) -> None:
        """Expire every access token issued so far; the next call must log in again."""

    def default_page_size(self) -> int:
        """Records per page before :meth:`set_page_size`."""
        return 2000

    def set_page_size(self, size: int) -> int:
        """Ask for read pages of ``size``; return the size the vendor will really use."""
        return self.page_size

    @abstractmethod
    def api_calls(self) -> int:
        """API calls the emulator has answered (its own count, not the connector's)."""

    def close(self) -> None:  # noqa: B027 - most vendors have nothing to release
        """Release connections made during the test (the server outlives it)."""

    # -- helpers ----------------------------------------------------------------------

    def next_email(self) -> str:
        """A fresh, lowercase email address."""
        return f"person{next(self._numbers)}@conformance.example"

    def require(self, capability: str) -> None:
        """Skip the calling test if this vendor declares it cannot do ``capability``."""
        reason = self.exemptions.get(capability)
        if reason is not None:
            pytest.skip(f"{self.name}: {reason}")


class CallCounter:
    """ASGI middleware counting the requests whose path starts with ``prefix``.

    For emulators that keep no count of the API calls they answered.
    """

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            self.calls += 1
        await self.app(scope, receive, send)


def quiet_faults() -> Faults:
    """A tenant's fault switchboard, all off, with short waits for retries."""
    return Faults(seed=7, retry_after=0.01, slow_seconds=0.5)


@dataclass
class Read:
    """Everything one run of ``read_changes`` yielded, batch after batch."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cursor: Cursor | None = None
    batches: int = 0

    def add(self, batch: Batch, id_column: str) -> None:
        """Take in one batch; its cursor becomes the run's latest."""
        rows = batch.records.to_dicts()
        self.rows += rows
        self.ids += [str(row[id_column]) for row in rows]
        self.deleted += batch.deleted_ids
        self.cursor = batch.cursor
        self.batches += 1

    def row(self, record_id: str, id_column: str) -> dict[str, Any]:
        """The last row read for ``record_id``."""
        return [r for r in self.rows if str(r[id_column]) == record_id][-1]


def drain(batches: Iterable[Batch], id_column: str) -> Read:
    """Read every batch of a run."""
    read = Read()
    for batch in batches:
        read.add(batch, id_column)
    return read


Test = TypeVar("Test", bound=Callable[..., None])


def known_bug(vendor: str, reason: str, *, case: str | None = None) -> Callable[[Test], Test]:
    """Mark a test as failing for ``vendor`` because of a real bug (a strict xfail).

    ``conftest.pytest_collection_modifyitems`` turns it into the marker on that
    vendor's cases only (those whose id contains ``case``, when given); once the
    bug is fixed the case passes and strictness makes the suite say so.
    """

    def mark(test: Test) -> Test:
        bugs: list[tuple[str, str | None, str]] = test.__dict__.setdefault("known_bugs", [])
        bugs.append((vendor, case, reason))
        return test

    return mark
