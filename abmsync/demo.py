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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from abmsync.connectors.base import Connector
from abmsync.errors import AbmsyncError, ConfigError
from abmsync.render import render_sync, table
from abmsync.rules.loader import LoadedRules, load_rules
from abmsync.rules.testing import run_rule_tests
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.hubspot.store import HubSpotStore
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

WEEK = timedelta(days=7)


@dataclass
class Sandbox:
    """The two running emulators and connectors to them."""

    salesforce_url: str
    ca_file: str
    hubspot_url: str
    connectors: dict[str, Connector]
    salesforce: SalesforceSandbox  # the emulated org
    hubspot: HubSpotStore  # the emulated portal
    token: str
    client_id: str
    client_secret: str

    def env(self, database: str, rules: Path, mappings: Path) -> dict[str, str]:
        """Settings that point ``abmsync`` commands at this sandbox."""
        return {
            "ABMSYNC_SALESFORCE__INSTANCE_URL": self.salesforce_url,
            "ABMSYNC_SALESFORCE__CLIENT_ID": self.client_id,
            "ABMSYNC_SALESFORCE__CLIENT_SECRET": self.client_secret,
            "ABMSYNC_SALESFORCE__VERIFY": self.ca_file,
            "ABMSYNC_HUBSPOT__HOST": self.hubspot_url,
            "ABMSYNC_HUBSPOT__ACCESS_TOKEN": self.token,
            "ABMSYNC_DATABASE_URL": database,
            "ABMSYNC_RULES": str(rules),
            "ABMSYNC_MAPPINGS": str(mappings),
        }


class DemoCheckError(AbmsyncError):
    """The demo's own check of its last sync failed."""


@contextmanager
def running_sandbox() -> Iterator[Sandbox]:
    """Start the Salesforce (HTTPS) and HubSpot emulators; stop them on exit."""
    from abmsync.connectors.hubspot.connector import HubSpotConnector
    from abmsync.connectors.salesforce.connector import SalesforceConnector
    from abmsync.sandbox.faults import Faults
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.app import create_app as salesforce_app

    config = SandboxConfig(daily_api_limit=10_000_000)
    token = "sandbox-token"
    sf_app = salesforce_app(Faults(), config=config)
    hs_app = hubspot_app(Faults(), token=token, burst_limit=1_000_000)
    with SandboxServer(sf_app, tls=True) as sf, SandboxServer(hs_app) as hs:
        ca_file = str(sf.ca_file)
        connectors: dict[str, Connector] = {
            "salesforce": SalesforceConnector(
                sf.url, config.client_id, SecretStr(config.client_secret), verify=ca_file
            ),
            "hubspot": HubSpotConnector(SecretStr(token), host=hs.url),
        }
        yield Sandbox(
            salesforce_url=sf.url,
            ca_file=ca_file,
            hubspot_url=hs.url,
            connectors=connectors,
            salesforce=sf_app.state.sandbox,
            hubspot=hs_app.state.store,
            token=token,
            client_id=config.client_id,
            client_secret=config.client_secret,
        )


def run_demo(
    console: Console,
    *,
    people: int,
    seed: int,
    directory: Path,
    rules_path: Path,
    mappings: Path,
    serve: bool = False,
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
    with running_sandbox() as sandbox, Store.open(url) as store:
        seeded = seed_sandbox(data, sandbox.salesforce, sandbox.hubspot)
        loaded_rows = table("Loaded into the sandbox", ["system", "object", "records"])
        for system, obj, count in seeded.rows():
            loaded_rows.add_row(system, obj, f"{count:,}")
        console.print(loaded_rows)
        console.print(
            f"Salesforce {sandbox.salesforce_url}   HubSpot {sandbox.hubspot_url}", highlight=False
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
        # (Salesforce keeps real time: its deleted-records query asks up to now.)
        sandbox.hubspot.set_clock(frozen_ms=None, offset_ms=int(WEEK.total_seconds() * 1000))
        week = simulate_week(
            data,
            sandbox.salesforce,
            sandbox.hubspot,
            seed=seed + 4,
            start=DEFAULT_AS_OF,
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
            "  abmsync sandbox serve   (emulators to point `abmsync sync` at)",
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
    """The best-scored leads as sales sees them in Salesforce."""
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
