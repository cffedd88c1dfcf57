"""A Salesforce and a HubSpot emulator on loopback, a state database, and sync runs over them.

Shared by the sync engine tests: each test gets fresh emulators (real HTTP,
the real client libraries) seeded with a small hand-made data set whose
scores are easy to reason about, plus helpers to read the CRMs' end state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from abmsync.connectors.base import Connectors
from abmsync.connectors.hubspot.connector import HubSpotConnector
from abmsync.connectors.salesforce.connector import SalesforceConnector
from abmsync.rules.loader import LoadedRules, load_rules
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.generate import Dataset
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.hubspot.store import HubSpotStore
from abmsync.sandbox.salesforce.app import SalesforceSandbox, SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.seed import seed_sandbox
from abmsync.sandbox.server import SandboxServer
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.sources import Source, load_sources
from abmsync.sync.store import Store
from tests.connectors.hubspot.contract import watch

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules.yaml"
MAPPINGS = ROOT / "examples" / "mappings"
AS_OF = datetime(2026, 11, 29, 12, tzinfo=UTC)
TOKEN = "sandbox-token"

ACCOUNTS = [
    {
        "Name": "Acme Robotics",
        "Website": "https://www.acme-robotics.com",
        "Industry": "Software",
        "NumberOfEmployees": 800,
        "AnnualRevenue": 90_000_000,
        "BillingCountry": "Germany",
    },
]
LEADS = [
    # An A-grade VP: target industry, mid-market, core region, executive.
    {
        "FirstName": "Vera",
        "LastName": "Lang",
        "Company": "Acme Robotics",
        "Title": "VP Sales",
        "Email": "vera.lang@acme-robotics.com",
        "Industry": "Software",
        "NumberOfEmployees": 800,
        "Country": "DE",
    },
    {
        "FirstName": "Sam",
        "LastName": "Student",
        "Company": "Uni",
        "Title": "Student Assistant",
        "Email": "sam@uni.edu",
        "Industry": "Education",
        "NumberOfEmployees": 20000,
        "Country": "US",
    },
    {
        "FirstName": "Otto",
        "LastName": "Ops",
        "Company": "Globex",
        "Title": "Head of Operations",
        "Email": "otto@globex.com",
        "Industry": "Manufacturing",
        "NumberOfEmployees": 900,
        "Country": "US",
        "State": "NY",
    },
    {
        "FirstName": "Ana",
        "LastName": "Analyst",
        "Company": "Initech",
        "Title": "Analyst",
        "Email": "ana@initech.com",
        "Industry": "Retail",
        "NumberOfEmployees": 50,
        "Country": "FR",
    },
]
CONTACTS = [
    {
        "FirstName": "Carl",
        "LastName": "Chief",
        "Title": "CTO",
        "Email": "carl@acme-robotics.com",
        "MailingCountry": "Germany",
    },
]
HUBSPOT_CONTACTS = [
    {
        "email": "vera.lang@acme-robotics.com",
        "firstname": "Vera",
        "lastname": "Lang",
        "jobtitle": "VP Sales",
        "company": "Acme Robotics",
        "country": "Germany",
    },
    {
        "email": "otto@globex.com",
        "firstname": "Otto",
        "lastname": "Ops",
        "jobtitle": "Head of Operations",
        "company": "Globex",
        "country": "United States",
    },
    # Only in HubSpot: never reached Salesforce.
    {
        "email": "web.form@hooli.com",
        "firstname": "Wendy",
        "lastname": "Web",
        "jobtitle": "CEO",
        "company": "Hooli",
        "country": "United States",
    },
]


@dataclass
class CrmEnv:
    """The emulators, connectors to them, and the state database of one test."""

    salesforce: SalesforceSandbox
    hubspot: HubSpotStore
    sf_faults: Faults
    hs_faults: Faults
    sf_url: str
    sf_ca: str
    hs_url: str
    database: str
    loaded: LoadedRules

    def connectors(self, **options: Any) -> Connectors:
        """Connectors to the emulators; close them (``with``) when done."""
        config = SandboxConfig()
        return Connectors(
            {
                "salesforce": SalesforceConnector(
                    self.sf_url,
                    config.client_id,
                    SecretStr(config.client_secret),
                    verify=self.sf_ca,
                    timeout=options.get("timeout", 10),
                    budget=options.get("salesforce_budget"),
                ),
                "hubspot": HubSpotConnector(
                    SecretStr(TOKEN),
                    host=self.hs_url,
                    timeout=options.get("timeout", 10),
                    budget=options.get("hubspot_budget"),
                ),
            }
        )

    def sources(self, connectors: Connectors) -> list[Source]:
        files = [p for p in MAPPINGS.glob("*.yaml") if not p.name.startswith("files-")]
        return load_sources(files, list(connectors))

    def install_fields(self) -> None:
        with self.connectors() as connectors:
            for system, connector in connectors.items():
                for spec in field_specs(self.loaded.ruleset, system):
                    connector.ensure_fields(spec)

    def sync(
        self, *, as_of: datetime = AS_OF, budgets: dict[str, Any] | None = None, **options: Any
    ) -> SyncSummary:
        connectors = self.connectors(**{f"{k}_budget": v for k, v in (budgets or {}).items()})
        stop = options.pop("stop", lambda: False)
        progress = options.pop("progress", None)
        with connectors, Store.open(self.database) as store:
            run = SyncRun(
                self.loaded,
                self.sources(connectors),
                connectors,
                store,
                # Every plan whole, so tests can look at every patch sent.
                options=SyncOptions(as_of=as_of, **{"keep_plans": True, **options}),
                stop=stop,
                progress=progress,
            )
            return run.run()

    def env(self) -> dict[str, str]:
        """Environment variables that point the ``abmsync`` CLI at these emulators."""
        config = SandboxConfig()
        return {
            "ABMSYNC_SALESFORCE__INSTANCE_URL": self.sf_url,
            "ABMSYNC_SALESFORCE__CLIENT_ID": config.client_id,
            "ABMSYNC_SALESFORCE__CLIENT_SECRET": config.client_secret,
            "ABMSYNC_SALESFORCE__VERIFY": self.sf_ca,
            "ABMSYNC_HUBSPOT__HOST": self.hs_url,
            "ABMSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "ABMSYNC_DATABASE_URL": self.database,
            "ABMSYNC_RULES": str(RULES),
        }

    # -- end state -----------------------------------------------------------------

    def sf_rows(self, obj: str, *fields: str) -> list[dict[str, Any]]:
        names = ", ".join(f'"{f}"' for f in ("Id", *fields))
        rows = self.salesforce.store.select(
            f'SELECT {names} FROM "{obj}" WHERE "IsDeleted" = 0 ORDER BY "Id"'
        )
        return [dict(zip(("Id", *fields), row, strict=True)) for row in rows]

    def hs_rows(self, obj: str) -> list[dict[str, Any]]:
        return [
            {"id": record.id, **record.properties}
            for record in sorted(self.hubspot.records[obj].values(), key=lambda r: r.id)
            if record.archived_ms is None
        ]

    def end_state(self) -> dict[str, Any]:
        """Everything abmsync wrote, comparable across runs (no timestamps, no new ids)."""
        fields = (
            "ABM_Score__c",
            "ABM_Grade__c",
            "ABM_Priority__c",
            "ABM_Stage__c",
            "ABM_Score_Reasons__c",
        )
        leads = [{k: r[k] for k in ("Id", *fields)} for r in self.sf_rows("Lead", *fields)]
        contacts = [{k: r[k] for k in ("Id", *fields)} for r in self.sf_rows("Contact", *fields)]
        names = ("abm_score", "abm_grade", "abm_priority", "abm_stage", "abm_score_reasons")
        hubspot = [
            {"email": r.get("email"), **{n: r.get(n) for n in names}}
            for r in self.hs_rows("contacts")
        ]
        touchpoints = sorted(
            (r["ABM_Touchpoint_Key__c"], r["ABM_Type__c"], r["ABM_Lead__c"], r["ABM_Contact__c"])
            for r in self.sf_rows(
                "ABM_Touchpoint__c",
                "ABM_Touchpoint_Key__c",
                "ABM_Type__c",
                "ABM_Lead__c",
                "ABM_Contact__c",
            )
        )
        notes = sorted(
            (
                r["abm_touchpoint_key"],
                r.get("hs_note_body"),
                tuple(
                    str(a["toObjectId"])
                    for a in self.hubspot.associations_of("notes", str(r["id"]), "contacts")
                ),
            )
            for r in self.hs_rows("notes")
            if r.get("abm_touchpoint_key")
        )
        return {
            "leads": leads,
            "contacts": contacts,
            "hubspot": hubspot,
            "touchpoints": touchpoints,
            "notes": notes,
        }


class Switch:
    """An ASGI app forwarding to whichever emulator the current test installed.

    Servers start once per module (certificates and uvicorn take a moment);
    each test swaps in fresh emulator apps behind them.
    """

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class Servers:
    salesforce: SandboxServer
    hubspot: SandboxServer
    sf_switch: Switch
    hs_switch: Switch


@contextmanager
def crm_servers() -> Iterator[Servers]:
    sf_switch, hs_switch = Switch(), Switch()
    with SandboxServer(sf_switch, tls=True) as sf, SandboxServer(hs_switch) as hs:
        yield Servers(sf, hs, sf_switch, hs_switch)


@contextmanager
def crm_env(
    tmp_path: Path, servers: Servers, *, seed: bool = True, dataset: Dataset | None = None
) -> Iterator[CrmEnv]:
    """Fresh emulators seeded with the small data set above (or ``dataset``), fields installed."""
    sf_faults, hs_faults = Faults(seed=3), Faults(seed=4)
    sf_faults.retry_after = hs_faults.retry_after = 0.01
    seed_data: dict[str, list[dict[str, Any]]] = {}
    if seed and dataset is None:
        seed_data = {"Account": ACCOUNTS, "Lead": LEADS}
    sf_app = salesforce_app(sf_faults, config=SandboxConfig(), seed_data=seed_data)
    hs_app = hubspot_app(hs_faults, token=TOKEN, burst_limit=1_000_000)
    servers.sf_switch.app, servers.hs_switch.app = sf_app, watch(hs_app)
    sf, hs = servers.salesforce, servers.hubspot
    env = CrmEnv(
        salesforce=sf_app.state.sandbox,
        hubspot=hs_app.state.store,
        sf_faults=sf_faults,
        hs_faults=hs_faults,
        sf_url=sf.url,
        sf_ca=str(sf.ca_file),
        hs_url=hs.url,
        database=f"sqlite:///{tmp_path / 'state.db'}",
        loaded=load_rules(RULES),
    )
    if dataset is not None:
        seed_sandbox(dataset, env.salesforce, env.hubspot)
    elif seed:
        account = env.sf_rows("Account")[0]["Id"]
        for contact in CONTACTS:
            env.salesforce.store.create("Contact", {**contact, "AccountId": account})
        for values in HUBSPOT_CONTACTS:
            env.hubspot.create("contacts", values)
    env.install_fields()
    yield env


def later(days: float) -> datetime:
    return AS_OF + timedelta(days=days)
