"""``DynamicsConnector``: the Connector Protocol over the Dataverse Web API (v9.2).

Objects are table logical names (``lead``, ``contact``, ``account``,
``opportunity``, ``campaign``, ``campaignresponse``, ``phonecall``,
``appointment``, ``systemuser``, ``abm_touchpoint``); columns are attribute
logical names, a lookup's id under the lookup's name (``ownerid``, not
``_ownerid_value``).

- ``describe`` reads the table's column definitions (:mod:`.metadata`);
- ``read_changes`` uses change tracking: delta links, deleted entities,
  merges and full listings after an expired token (:mod:`.reading`);
- ``write`` sends ``$batch`` calls of up to 1000 requests (:mod:`.writing`);
- ``ensure_fields`` creates missing columns, custom tables, lookups and
  alternate keys (:mod:`.metadata`);
- ``check`` signs in, asks ``WhoAmI``, reads a lead and a contact and reports
  the service protection headroom.

Service protection limits count requests per user in a 5-minute window
(6,000), not per day: the ``x-ms-ratelimit-*`` headers are reported by
``check`` and not fed to :meth:`ApiBudget.observe`, which takes a daily quota.
The budget still counts every request and enforces ``max_calls``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import SecretStr

from abmsync.connectors.base import (
    Batch,
    CheckItem,
    CheckReport,
    Cursor,
    FieldSpec,
    ObjectMeta,
    Patch,
    WriteResult,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.dynamics.client import MICROSOFT_AUTHORITY, DataverseClient
from abmsync.connectors.dynamics.metadata import Catalog
from abmsync.connectors.dynamics.reading import ChangeReader
from abmsync.connectors.dynamics.writing import RecordWriter
from abmsync.errors import AbmsyncError

CHECKED_TABLES = ("lead", "contact")


class DynamicsConnector:
    """Reads and writes one Dataverse org; see the module docstring."""

    name = "dynamics"

    def __init__(
        self,
        org_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        authority_host: str = MICROSOFT_AUTHORITY,
        verify: bool | str = True,
        budget: ApiBudget | None = None,
        page_size: int = 5000,
        api_version: str = "9.2",
        timeout: float = 60.0,
        attempts: int = 6,
    ) -> None:
        """``org_url`` like ``https://contoso.crm4.dynamics.com``; ``page_size`` at most 5000.

        ``budget`` counts every Web API request (default: no cap); it is :attr:`budget`.
        """
        self.client = DataverseClient(
            org_url,
            tenant_id,
            client_id,
            client_secret,
            authority_host=authority_host,
            verify=verify,
            budget=budget,
            api_version=api_version,
            timeout=timeout,
            attempts=attempts,
        )
        self.budget = self.client.budget
        self.catalog = Catalog(self.client)
        self.reader = ChangeReader(self.client, self.catalog, min(max(page_size, 1), 5000))
        self.writer = RecordWriter(self.client, self.catalog, rounds=attempts)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def check(self) -> CheckReport:
        """Sign-in, WhoAmI, read access to leads and contacts, headroom: one line each."""
        items: list[CheckItem] = []
        step = "sign-in"
        try:
            self.client.token()
            items.append(CheckItem(name=step, ok=True, detail=self.client.authority))
            step = "WhoAmI"
            who = self.client.get_json("WhoAmI", what="WhoAmI")
            items.append(
                CheckItem(
                    name=step,
                    ok=True,
                    detail=f"user {who.get('UserId')} in org {who.get('OrganizationId')}",
                )
            )
            for obj in CHECKED_TABLES:
                step = f"read {obj}"
                table = self.catalog.table(obj)
                self.client.get_json(
                    table.entity_set,
                    what=f"reading {obj}",
                    params={"$select": table.primary_id, "$top": "1"},
                )
                items.append(CheckItem(name=step, ok=True, detail=f"{table.entity_set} readable"))
        except AbmsyncError as error:
            items.append(CheckItem(name=step, ok=False, detail=str(error)))
            return CheckReport(connector=self.name, items=items)
        headroom = self.client.headroom
        if headroom is not None and headroom.requests is not None:
            detail = f"{headroom.requests:,} requests left in the 5-minute window"
            if headroom.execution_time is not None:
                detail += f", {headroom.execution_time:,.0f} ms of execution time"
            items.append(
                CheckItem(name="service protection", ok=headroom.requests > 0, detail=detail)
            )
        return CheckReport(connector=self.name, items=items)

    def describe(self, obj: str) -> ObjectMeta:
        """Columns of table ``obj`` with types, choice labels, writability and keys (cached)."""
        return self.catalog.describe(obj).meta

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read only ``fields`` of ``obj`` (plus its id, modifiedon and merge columns)."""
        self.reader.selected[obj] = set(fields)

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield pages of rows of ``obj`` changed since ``cursor`` (all on ``None``)."""
        return self.reader.read(obj, cursor)

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then send ``$batch`` calls of 1000; one result per patch, in order."""
        return self.writer.write(obj, patches)

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the columns (and custom table, lookups, keys) of ``spec`` that are missing."""
        return self.catalog.ensure(spec.obj, spec.fields)
