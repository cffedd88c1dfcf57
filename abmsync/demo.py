"""``abmsync demo``: the whole sync story on the built-in sandbox, in one command.

1. validates and unit-tests the example rules;
2. generates a realistic B2B data set and loads it into the Salesforce and
   HubSpot emulators (served on loopback, spoken to over real HTTP by the
   real client libraries), then creates abmsync's fields there;
3. runs an initial sync: every lead, contact and HubSpot contact gets its
   score, grade, priority, stage and reasons; touchpoints cross over as
   Salesforce ``ABM_Touchpoint__c`` records and HubSpot notes;
4. plays a week: new marketing activity (demo requests among it), sales
   feedback, a lead conversion, a merge, a deletion, web-form sign-ups that
   never reach Salesforce;
5. runs an incremental sync and shows what changed, then one more, which
   writes nothing because nothing changed;
6. says where to look: the CRM records as sales sees them, the state
   database, ``abmsync status`` and ``abmsync deadletters list``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import SecretStr
from rich.console import Console

from abmsync.connectors.base import Connector
from abmsync.errors import AbmsyncError, ConfigError
from abmsync.render import render_sync, table
from abmsync.rules.loader import LoadedRules, load_rules
from abmsync.rules.testing import run_rule_tests
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.hubspot.store import HubSpotStore
from abmsync.sandbox.reach import (
    HUBSPOT_TOKEN,
    dynamics_settings,
    hubspot_settings,
    salesforce_settings,
)
from abmsync.sandbox.salesforce.app import SalesforceSandbox
from abmsync.sandbox.seed import seed_sandbox
from abmsync.sandbox.server import SandboxServer, wait_for_stop
from abmsync.sandbox.week import ActivitySummary, simulate_week
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.events import Progress
from abmsync.sync.schedule import StopSignal
from abmsync.sync.sources import load_sources
from abmsync.sync.store import Store
from abmsync.sync_progress import live_progress

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.app import DataverseSandbox

WEEK = timedelta(days=7)


CRM_NAMES = {"salesforce": "Salesforce", "dynamics": "Dynamics 365"}
CRMS = tuple(CRM_NAMES)


@dataclass
class Sandbox:
    """The running emulators (one CRM and HubSpot) and connectors to them."""

    crm: str  # "salesforce" or "dynamics"
    crm_url: str
    ca_file: str
    hubspot_url: str
    connectors: dict[str, Connector]
    hubspot: HubSpotStore  # the emulated portal
    settings: dict[str, str]  # ABMSYNC_* settings that reach the emulators
    salesforce: SalesforceSandbox | None = None  # the emulated org, with --crm salesforce
    dynamics: DataverseSandbox | None = None  # the emulated org, with --crm dynamics

    def env(self, database: str, rules: Path, mappings: Path) -> dict[str, str]:
        """Settings that point ``abmsync`` commands at this sandbox."""
        return {
            **self.settings,
            "ABMSYNC_DATABASE_URL": database,
            "ABMSYNC_RULES": str(rules),
            "ABMSYNC_MAPPINGS": str(mappings),
        }


class DemoCheckError(AbmsyncError):
    """The demo's own check of its last sync failed."""


@contextmanager
def running_sandbox(crm: str = "salesforce") -> Iterator[Sandbox]:
    """Start the CRM emulator (HTTPS) and the HubSpot one; stop them on exit."""
    from abmsync.connectors.hubspot.connector import HubSpotConnector
    from abmsync.sandbox.faults import Faults
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app

    token = HUBSPOT_TOKEN
    hs_app = hubspot_app(Faults(), token=token, burst_limit=1_000_000)
    crm_app, connect = _crm_app(crm)
    with SandboxServer(crm_app, tls=True) as served, SandboxServer(hs_app) as hs:
        ca_file = str(served.ca_file)
        crm_settings, crm_connector = connect(served.url, ca_file)
        settings = {**crm_settings, **hubspot_settings(hs.url, token)}
        connectors: dict[str, Connector] = {
            crm: crm_connector,
            "hubspot": HubSpotConnector(SecretStr(token), host=hs.url),
        }
        yield Sandbox(
            crm=crm,
            crm_url=served.url,
            ca_file=ca_file,
            hubspot_url=hs.url,
            connectors=connectors,
            hubspot=hs_app.state.store,
            settings=settings,
            salesforce=crm_app.state.sandbox if crm == "salesforce" else None,
            dynamics=crm_app.state.sandbox if crm == "dynamics" else None,
        )


Connect = Callable[[str, str], tuple[dict[str, str], Connector]]


def _crm_app(crm: str) -> tuple[Any, Connect]:
    """The CRM emulator's app, and how to reach it once served (url, CA file):
    the settings that point abmsync at it and a connector to it."""
    from abmsync.sandbox.faults import Faults

    if crm == "dynamics":
        from abmsync.connectors.dynamics.connector import DynamicsConnector
        from abmsync.sandbox.dynamics.app import DynamicsConfig
        from abmsync.sandbox.dynamics.app import create_app as dynamics_app

        dv = DynamicsConfig(requests_per_window=10_000_000)

        def dynamics(url: str, ca: str) -> tuple[dict[str, str], Connector]:
            connector = DynamicsConnector(
                url,
                dv.tenant_id,
                dv.client_id,
                SecretStr(dv.client_secret),
                authority_host=url,
                verify=ca,
            )
            return dynamics_settings(url, ca, dv), connector

        return dynamics_app(Faults(), config=dv), dynamics
    if crm != "salesforce":
        raise ConfigError(f"unknown CRM {crm!r} (use one of {', '.join(CRMS)})")
    from abmsync.connectors.salesforce.connector import SalesforceConnector
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.app import create_app as salesforce_app

    sf = SandboxConfig(daily_api_limit=10_000_000)

    def salesforce(url: str, ca: str) -> tuple[dict[str, str], Connector]:
        settings = salesforce_settings(url, ca, sf)
        connector = SalesforceConnector(url, sf.client_id, SecretStr(sf.client_secret), verify=ca)
        return settings, connector

    return salesforce_app(Faults(), config=sf), salesforce


def run_demo(
    console: Console,
    *,
    people: int,
    seed: int,
    directory: Path,
    rules_path: Path,
    mappings: Path,
    serve: bool = False,
    crm: str = "salesforce",
) -> list[SyncSummary]:
    """Run the demo; returns the three syncs' summaries. See the module docstring."""
    rules_path, mappings = _locate(rules_path, "rules file"), _locate(mappings, "mappings")
    console.rule("[bold]1. Rules")
    loaded = load_rules(rules_path)
    results = run_rule_tests(loaded)
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise ConfigError(f"{rules_path}: rule tests failed: {'; '.join(failed)}")
    console.print(f"{rules_path}: valid, {len(results)} rule tests passed", highlight=False)

    console.rule("[bold]2. Sandbox CRM and marketing platform")
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "abmsync.db"
    database.unlink(missing_ok=True)  # a demo starts from scratch
    url = f"sqlite:///{database}"
    data = generate_dataset(people, seed=seed, as_of=DEFAULT_AS_OF)
    summaries: list[SyncSummary] = []
    with running_sandbox(crm) as sandbox, Store.open(url) as store:
        seeded = seed_sandbox(data, sandbox.salesforce, sandbox.hubspot, sandbox.dynamics)
        loaded_rows = table("Loaded into the sandbox", ["system", "object", "records"])
        for system, obj, count in seeded.rows():
            loaded_rows.add_row(system, obj, f"{count:,}")
        console.print(loaded_rows)
        console.print(
            f"{CRM_NAMES[crm]} {sandbox.crm_url}   HubSpot {sandbox.hubspot_url}", highlight=False
        )
        for system, connector in sandbox.connectors.items():
            for spec in field_specs(loaded.ruleset, system):
                created = connector.ensure_fields(spec)
                if created:
                    console.print(
                        f"created {system} {spec.obj}: {', '.join(created)}", highlight=False
                    )

        def sync(title: str, as_of_days: int) -> SyncSummary:
            console.rule(f"[bold]{title}")
            with live_progress(console) as progress:
                run = _run(loaded, sandbox, store, mappings, as_of_days, progress)
            render_sync(console, run)
            summaries.append(run)
            return run

        sync("3. Initial sync", 0)
        _show_records(console, sandbox)

        console.rule("[bold]4. A week passes")
        # The portal's clock moves on a week too, as it would between two real syncs.
        # (The CRMs keep real time: Salesforce's deleted-records query asks up to now.)
        sandbox.hubspot.set_clock(frozen_ms=None, offset_ms=int(WEEK.total_seconds() * 1000))
        week = simulate_week(
            data,
            sandbox.salesforce,
            sandbox.hubspot,
            seed=seed + 4,
            start=DEFAULT_AS_OF,
            dynamics=sandbox.dynamics.store if sandbox.dynamics is not None else None,
        )
        _show_week(console, week)
        sync("5. Incremental sync", 7)
        _show_record(console, sandbox, week)
        idle = sync("6. Nothing changed since: this sync writes nothing", 7)
        _check_idle(console, idle)

        console.rule("[bold]Where to look")
        console.print(
            f"State database: {database}\n"
            f"  abmsync status --database sqlite:///{database}\n"
            f"  abmsync deadletters list --database sqlite:///{database}\n"
            f"  abmsync sandbox serve --crm {crm}   (emulators to point `abmsync sync` at)",
            highlight=False,
        )
        if serve:
            _serve(console, sandbox, url, rules_path, mappings)
    return summaries


def _check_idle(console: Console, run: SyncSummary) -> None:
    """The demo's promise: a sync right after a sync reads no record and writes none."""
    counts = run.counts()
    moved = {k: counts[k] for k in ("read", "deleted", "planned", "written") if counts[k]}
    if run.status != "succeeded" or moved:
        raise DemoCheckError(
            "the sync with nothing changed did not stay idle: "
            + (", ".join(f"{k} {v}" for k, v in moved.items()) or run.status)
        )
    calls = ", ".join(f"{name} {n}" for name, n in run.api_calls.items())
    console.print(
        f"[green]✓[/] nothing read, nothing written; {len(run.read)} objects checked "
        f"in {calls} API calls",
        highlight=False,
    )


def _locate(path: Path, what: str) -> Path:
    """``path`` as given, or else inside the abmsync checkout (for the default examples)."""
    if path.exists():
        return path
    checkout = Path(__file__).resolve().parents[1] / path
    if not path.is_absolute() and checkout.exists():
        return checkout
    raise ConfigError(f"{path}: {what} not found (run the demo from the abmsync checkout)")


def _run(
    loaded: LoadedRules,
    sandbox: Sandbox,
    store: Store,
    mappings: Path,
    days: int,
    progress: Progress,
) -> SyncSummary:
    sources = load_sources([mappings], list(sandbox.connectors))
    options = SyncOptions(as_of=DEFAULT_AS_OF + timedelta(days=days))
    run = SyncRun(loaded, sources, sandbox.connectors, store, options=options, progress=progress)
    return run.run()


def _show_records(console: Console, sandbox: Sandbox) -> None:
    """The best-scored leads as sales sees them in the CRM."""
    if sandbox.crm == "dynamics":
        _show_dynamics_records(console, sandbox.connectors["dynamics"])
        return
    sf = sandbox.connectors["salesforce"]
    client = sf.client  # type: ignore[attr-defined]
    answer = client.call(
        lambda api: api.query(
            "SELECT Id, FirstName, LastName, ABM_Score__c, ABM_Grade__c, ABM_Priority__c, "
            "ABM_Stage__c, "
            "ABM_Score_Reasons__c FROM Lead ORDER BY ABM_Score__c DESC NULLS LAST LIMIT 3"
        )
    )
    shown = table(
        "In Salesforce: the top leads as sales sees them",
        ["lead", "score", "grade", "priority", "stage", "reasons"],
    )
    for row in answer["records"]:
        shown.add_row(
            f"{row['FirstName'] or ''} {row['LastName']} ({row['Id']})".strip(),
            f"{row['ABM_Score__c'] or 0:g}",
            row["ABM_Grade__c"] or "",
            row["ABM_Priority__c"] or "",
            row["ABM_Stage__c"] or "",
            row["ABM_Score_Reasons__c"] or "",
        )
    console.print(shown)
    touch = client.call(
        lambda api: api.query(
            "SELECT Name, ABM_Type__c, ABM_Source__c, ABM_Lead__c, ABM_Contact__c "
            "FROM ABM_Touchpoint__c LIMIT 1"
        )
    )
    if touch["records"]:
        row = touch["records"][0]
        console.print(
            f"Touchpoint history in Salesforce, e.g. {row['Name']} from {row['ABM_Source__c']} "
            f"on {row['ABM_Lead__c'] or row['ABM_Contact__c']}",
            highlight=False,
        )


def _read_all(connector: Connector, obj: str) -> pl.DataFrame:
    """Every record of ``obj``, read through the connector as a sync reads it."""
    frames = [b.records for b in connector.read_changes(obj, None) if b.records.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _show_dynamics_records(console: Console, connector: Connector) -> None:
    """The best-scored leads as sales sees them in Dynamics 365, read over its Web API."""
    leads = _read_all(connector, "lead")
    shown = table(
        "In Dynamics 365: the top leads as sales sees them",
        ["lead", "score", "grade", "priority", "stage", "reasons"],
    )
    if "abm_score" in leads.columns:
        top = leads.sort("abm_score", descending=True, nulls_last=True).head(3)
        for row in top.iter_rows(named=True):
            shown.add_row(
                f"{row.get('firstname') or ''} {row.get('lastname')} ({row['leadid']})".strip(),
                f"{row['abm_score'] or 0:g}",
                row.get("abm_grade") or "",
                row.get("abm_priority") or "",
                row.get("abm_stage") or "",
                row.get("abm_scorereasons") or "",
            )
    console.print(shown)
    touch = _read_all(connector, "abm_touchpoint")
    if touch.height:
        row = touch.row(0, named=True)
        console.print(
            f"Touchpoint history in Dynamics 365, e.g. {row.get('abm_name')} from "
            f"{row.get('abm_source')} on {row.get('abm_lead') or row.get('abm_contact')}",
            highlight=False,
        )


def _show_week(console: Console, week: ActivitySummary) -> None:
    lines = [
        f"{len(week.touchpoints):,} new marketing touchpoints in HubSpot, "
        f"{len(week.fast_tracks):,} of them demo or contact-sales requests",
        f"{len(week.new_contacts):,} web-form sign-ups that exist only in HubSpot",
        f"{len(week.feedback):,} leads judged by sales "
        f"({', '.join(sorted({f.status for f in week.feedback}))})",
    ]
    if week.conversion is not None:
        lines.append(
            f"lead {week.conversion.lead_id} converted to contact {week.conversion.contact_id}"
        )
    if week.merge is not None:
        lines.append(f"lead {week.merge.duplicate_id} merged into {week.merge.master_id}")
    if week.deleted_lead_id is not None:
        lines.append(f"lead {week.deleted_lead_id} deleted")
    for line in lines:
        console.print(f"  {line}", highlight=False)


def _show_record(console: Console, sandbox: Sandbox, week: ActivitySummary) -> None:
    """Where the week's notable records ended up."""
    if sandbox.crm == "dynamics":
        if week.conversion is not None:
            contact = week.conversion.contact_id
            contacts = _read_all(sandbox.connectors["dynamics"], "contact")
            rows = contacts.filter(pl.col("contactid") == contact).to_dicts()
            if rows:
                console.print(
                    f"Qualified: contact {rows[0].get('lastname')} ({contact}) carries score "
                    f"{rows[0].get('abm_score')} and stage {rows[0].get('abm_stage')} "
                    "from its lead",
                    highlight=False,
                )
        return
    client = sandbox.connectors["salesforce"].client  # type: ignore[attr-defined]
    if week.conversion is not None:
        contact = week.conversion.contact_id
        row = client.call(
            lambda api: api.query(
                f"SELECT LastName, ABM_Score__c, ABM_Stage__c FROM Contact WHERE Id = '{contact}'"
            )
        )["records"]
        if row:
            console.print(
                f"Converted: contact {row[0]['LastName']} ({contact}) carries score "
                f"{row[0]['ABM_Score__c']} and stage {row[0]['ABM_Stage__c']} from its lead",
                highlight=False,
            )


def _serve(console: Console, sandbox: Sandbox, url: str, rules: Path, mappings: Path) -> None:
    with StopSignal() as stop:
        console.rule("[bold]Sandbox still running (Ctrl-C or SIGTERM stops)")
        for key, value in sandbox.env(url, rules, mappings).items():
            console.print(f"export {key}={value}", highlight=False)
        wait_for_stop(stop)
    console.print("stopped")
