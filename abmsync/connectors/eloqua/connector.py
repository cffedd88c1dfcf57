"""``EloquaConnector``: the Connector Protocol over Oracle Eloqua's Bulk API 2.0.

Objects: ``contacts``, ``accounts``, ``activities`` and custom objects by name
(``ABM_Touchpoint``). Columns are field internal names (``C_EmailAddress``)
for contacts and accounts, field names for custom objects, and the pseudo
fields :mod:`.catalog` lists (``ContactId``, ``AccountId``, lead scores...).

- ``check`` signs in and discovers the pod, reads the contact fields and
  reports abmsync's contact fields that are missing;
- ``describe`` reads the Bulk fields endpoints (:mod:`.catalog`);
- ``read_changes`` exports changes, reconciles ids for deletions and reads
  activities type by type (:mod:`.reading`);
- ``write`` imports patches (:mod:`.writing`);
- ``ensure_fields`` creates contact fields and the touchpoint custom object;
- ``select_fields`` limits the columns read (an export holds 250 at most).

API calls are counted by the connector's :class:`ApiBudget`, sign-in and
discovery included. Eloqua publishes no daily quota to observe (its Bulk API
has soft limits of 2,000 export and 2,000 import syncs an hour:
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/bulk-limits.htm),
so the budget enforces ``max_calls`` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from abmsync.connectors.base import (
    Batch,
    CheckItem,
    CheckReport,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    ObjectMeta,
    Patch,
    WriteResult,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.eloqua.bulk import MAX_PAGE, Bulk
from abmsync.connectors.eloqua.catalog import CONTACTS, Catalog
from abmsync.connectors.eloqua.client import LOGIN_URL, EloquaClient
from abmsync.connectors.eloqua.reading import ChangeReader
from abmsync.connectors.eloqua.writing import RecordWriter
from abmsync.errors import AbmsyncError, ConfigError

SITE_TIME_ZONE = "America/New_York"  # Eloqua's servers keep Eastern time unless told otherwise
DAY = 86_400.0
# The contact fields abmsync writes (examples/rules.yaml); ``check`` reports missing ones.
ABMSYNC_CONTACT_FIELDS = (
    FieldMeta(name="C_ABM_Score1", label="ABM score", type=FieldType.NUMBER),
    FieldMeta(name="C_ABM_Grade1", label="ABM grade", type=FieldType.STRING, length=2),
    FieldMeta(name="C_ABM_Stage1", label="ABM lifecycle stage", type=FieldType.STRING, length=40),
    FieldMeta(
        name="C_ABM_Score_Reasons1", label="ABM score reasons", type=FieldType.TEXT, length=1000
    ),
)


class EloquaConnector:
    """Reads and writes one Eloqua instance; see the module docstring."""

    name = "eloqua"

    def __init__(
        self,
        company: str,
        username: str,
        password: SecretStr,
        *,
        login_url: str = LOGIN_URL,
        client_id: str | None = None,
        client_secret: SecretStr | None = None,
        verify: bool | str = True,
        timeout: float = 60.0,
        budget: ApiBudget | None = None,
        overlap_seconds: float = 60.0,
        bounceback_overlap_seconds: float = 3 * DAY,
        reconcile_every: float = 0.0,
        page_size: int = MAX_PAGE,
        site_time_zone: str = SITE_TIME_ZONE,
        attempts: int = 6,
        poll_seconds: float = 0.5,
    ) -> None:
        """HTTP Basic as ``company\\username``, or OAuth 2.0 with ``client_id`` and secret.

        ``reconcile_every`` is how often (seconds of server time) deletions
        are looked for, 0 for every run; ``page_size`` is at most 50,000.
        """
        try:
            zone = ZoneInfo(site_time_zone)
        except (ValueError, KeyError) as error:
            raise ConfigError(f"unknown Eloqua site time zone {site_time_zone!r}") from error
        self.client = EloquaClient(
            company,
            username,
            password,
            login_url=login_url,
            client_id=client_id,
            client_secret=client_secret,
            verify=verify,
            timeout=timeout,
            budget=budget,
            attempts=attempts,
        )
        self.budget = self.client.budget
        self.bulk = Bulk(self.client, poll_seconds=poll_seconds)
        self.catalog = Catalog(self.client, self.bulk)
        self.reader = ChangeReader(
            self.bulk,
            self.catalog,
            page_size=min(max(page_size, 1), MAX_PAGE),
            overlap_seconds=overlap_seconds,
            bounceback_overlap_seconds=bounceback_overlap_seconds,
            reconcile_every=reconcile_every,
            site_zone=zone,
        )
        self.writer = RecordWriter(self.bulk, self.catalog, self.budget, zone)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def check(self) -> CheckReport:
        """Sign-in and discovery, contact fields readable, abmsync's contact fields present."""
        items: list[CheckItem] = []
        step = "sign-in"
        try:
            found = self.client.discovery()
            how = "OAuth 2.0" if self.client.oauth else "HTTP Basic"
            site = found.site_name or self.client.company
            items.append(CheckItem(name=step, ok=True, detail=f"{site} at {found.base} ({how})"))
            step = "contact fields"
            fields = self.catalog.describe(CONTACTS).meta.fields
            items.append(CheckItem(name=step, ok=True, detail=f"{len(fields)} fields readable"))
        except AbmsyncError as error:
            items.append(CheckItem(name=step, ok=False, detail=str(error)))
            return CheckReport(connector=self.name, items=items)
        missing = [f.name for f in ABMSYNC_CONTACT_FIELDS if f.name not in fields]
        detail = (
            "abmsync's contact fields are present"
            if not missing
            else f"missing contact fields: {', '.join(missing)} (run abmsync crm install-fields)"
        )
        items.append(CheckItem(name="abmsync fields", ok=not missing, detail=detail))
        return CheckReport(connector=self.name, items=items)

    def describe(self, obj: str) -> ObjectMeta:
        """Fields of ``obj`` with types, lengths and writability (cached)."""
        return self.catalog.describe(obj).meta

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read only ``fields`` of ``obj`` (those that exist) plus its id and pseudo fields."""
        described = self.catalog.describe(obj)
        names = [described.resolve(f) for f in fields]
        known = described.meta.fields
        self.reader.selected[obj] = [f for f in dict.fromkeys(names) if f in known]

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield pages of records of ``obj`` changed since ``cursor``, then deletions."""
        return self.reader.read(obj, cursor)

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then import in chunks; one result per patch, in order."""
        return self.writer.write(obj, patches)

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the fields of ``spec`` that are missing; the names Eloqua gave them."""
        return self.catalog.ensure(spec.obj, spec.fields)
