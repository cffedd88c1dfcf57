"""``abmsync demo``: the whole sync story on the built-in sandbox, in one command.

1. validates and unit-tests the example rules;
2. generates a realistic B2B data set and loads it into a CRM emulator
   (Salesforce, or Dynamics 365 with ``--crm dynamics``) and a marketing
   platform's (HubSpot, or Oracle Eloqua with ``--map eloqua``), served on
   loopback and spoken to over real HTTP by the real client libraries (httpx
   for Eloqua), then creates abmsync's fields there;
3. runs an initial sync: every lead, contact and marketing contact gets its
   score, grade, priority, stage and reasons; touchpoints cross over as
   CRM touchpoint records and HubSpot notes or Eloqua custom object records;
4. plays a week: new marketing activity (demo requests among it), sales
   feedback, a lead conversion, a merge, a deletion, web-form sign-ups that
   never reach Salesforce;
5. runs an incremental sync and shows what changed, then one more, which
   writes nothing because nothing changed;
6. says where to look: the CRM records as sales sees them, the state
   database, ``abmsync report``, ``accounts``, ``history``, ``status`` and
   ``deadletters list``; the CLI's demo leaves an ``abmsync.toml`` that points
   those commands at its state (when its ``--dir`` is in the working directory).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import SecretStr
from rich.console import Console

from abmsync.connectors.base import Connector, Connectors
from abmsync.demo_settings import next_commands, write_demo_settings
from abmsync.errors import AbmsyncError, ConfigError
from abmsync.render import render_sync, table
from abmsync.rules.loader import LoadedRules, load_rules
from abmsync.rules.testing import run_rule_tests
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.reach import (
    HUBSPOT_TOKEN,
    dynamics_settings,
    eloqua_settings,
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
    from abmsync.sandbox.eloqua.store import EloquaStore
    from abmsync.sandbox.hubspot.store import HubSpotStore

WEEK = timedelta(days=7)


CRM_NAMES = {"salesforce": "Salesforce", "dynamics": "Dynamics 365"}
CRMS = tuple(CRM_NAMES)
PLATFORM_NAMES = {"hubspot": "HubSpot", "eloqua": "Eloqua"}
PLATFORMS = tuple(PLATFORM_NAMES)


class ShiftedClock:
    """A marketing platform's clock: from ``start`` (default: now) in real time, plus ``offset``.

    Eloqua's activity exports select by activity date, so its clock starts at the
    data set's "now": activity played a week later is then newer than the last read.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.offset = timedelta(0)
        self._began = time.monotonic()

    def __call__(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC) + self.offset
        return self.start + timedelta(seconds=time.monotonic() - self._began) + self.offset


@dataclass
class Sandbox:
    """The running emulators (one CRM, one marketing platform) and connectors to them."""

    crm: str  # "salesforce" or "dynamics"
    crm_url: str
    ca_file: str
    platform: str  # "hubspot" or "eloqua"
    platform_url: str
    connectors: dict[str, Connector]
    settings: dict[str, str]  # ABMSYNC_* settings that reach the emulators
    clock: ShiftedClock  # the marketing platform's clock
    salesforce: SalesforceSandbox | None = None  # the emulated org, with --crm salesforce
    dynamics: DataverseSandbox | None = None  # the emulated org, with --crm dynamics
    hubspot: HubSpotStore | None = None  # the emulated portal, with --map hubspot
    eloqua: EloquaStore | None = None  # the emulated instance, with --map eloqua

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
def running_sandbox(crm: str = "salesforce", platform: str = "hubspot") -> Iterator[Sandbox]:
    """Start the CRM emulator (HTTPS) and the marketing platform's; stop them on exit."""
    clock = ShiftedClock(DEFAULT_AS_OF if platform == "eloqua" else None)
    crm_app, connect = _crm_app(crm)
    platform_app, tls, reach = _platform_app(platform, clock)
    with (
        SandboxServer(crm_app, tls=True) as served,
        SandboxServer(platform_app, tls=tls) as marketing,
    ):
        ca_file = str(served.ca_file)
        crm_settings, crm_connector = connect(served.url, ca_file)
        platform_settings, platform_connector = reach(
            marketing.url, str(marketing.ca_file) if tls else ""
        )
        try:
            yield Sandbox(
                crm=crm,
                crm_url=served.url,
                ca_file=ca_file,
                platform=platform,
                platform_url=marketing.url,
                connectors={crm: crm_connector, platform: platform_connector},
                settings={**crm_settings, **platform_settings},
                clock=clock,
                salesforce=crm_app.state.sandbox if crm == "salesforce" else None,
                dynamics=crm_app.state.sandbox if crm == "dynamics" else None,
                hubspot=platform_app.state.store if platform == "hubspot" else None,
                eloqua=platform_app.state.store if platform == "eloqua" else None,
            )
        finally:
            # Before the servers stop: an open TLS socket would be collected later, with a warning.
            Connectors({crm: crm_connector, platform: platform_connector}).close()


Connect = Callable[[str, str], tuple[dict[str, str], Connector]]


def _platform_app(platform: str, clock: ShiftedClock) -> tuple[Any, bool, Connect]:
    """The marketing platform's emulator app, whether it is served over TLS, and how to
    reach it once served (url, CA file): its settings and a connector to it."""
    from abmsync.sandbox.faults import Faults

    if platform == "eloqua":
        from abmsync.connectors.eloqua.connector import EloquaConnector
        from abmsync.sandbox.eloqua import EloquaConfig
        from abmsync.sandbox.eloqua import create_app as eloqua_app

        elq = EloquaConfig()

        def eloqua(url: str, ca: str) -> tuple[dict[str, str], Connector]:
            connector = EloquaConnector(
                elq.company,
                elq.username,
                SecretStr(elq.password),
                login_url=url,
                verify=ca,
            )
            return eloqua_settings(url, ca, elq), connector

        return eloqua_app(Faults(), config=elq, clock=clock), True, eloqua
    if platform != "hubspot":
        raise ConfigError(
            f"unknown marketing platform {platform!r} (use one of {', '.join(PLATFORMS)})"
        )
    from abmsync.connectors.hubspot.connector import HubSpotConnector
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app

    token = HUBSPOT_TOKEN
    app = hubspot_app(Faults(), token=token, burst_limit=1_000_000)

    def hubspot(url: str, ca: str) -> tuple[dict[str, str], Connector]:
        return hubspot_settings(url, token), HubSpotConnector(SecretStr(token), host=url)

    return app, False, hubspot


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
    platform: str = "hubspot",
    settings_file: Path | None = None,
) -> list[SyncSummary]:
    """Run the demo; returns the three syncs' summaries. See the module docstring.

    With ``settings_file`` (``abmsync.toml``), points settings at the demo's state there
    when ``directory`` lies beside it (:func:`abmsync.demo_settings.write_demo_settings`).
    """
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
    with running_sandbox(crm, platform) as sandbox, Store.open(url) as store:
        seeded = seed_sandbox(
            data, sandbox.salesforce, sandbox.hubspot, sandbox.dynamics, eloqua=sandbox.eloqua
        )
        loaded_rows = table("Loaded into the sandbox", ["system", "object", "records"])
        for system, obj, count in seeded.rows():
            loaded_rows.add_row(system, obj, f"{count:,}")
        console.print(loaded_rows)
        console.print(
            f"{CRM_NAMES[crm]} {sandbox.crm_url}   "
            f"{PLATFORM_NAMES[platform]} {sandbox.platform_url}",
            highlight=False,
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
        _show_account_brief(console, sandbox)
        if sandbox.platform == "eloqua":
            _show_eloqua_contacts(console, sandbox.connectors["eloqua"], loaded)

        console.rule("[bold]4. A week passes")
        # The platform's clock moves on a week too, as it would between two real syncs.
        # (The CRMs keep real time: Salesforce's deleted-records query asks up to now.)
        sandbox.clock.offset = WEEK
        if sandbox.hubspot is not None:
            sandbox.hubspot.set_clock(frozen_ms=None, offset_ms=int(WEEK.total_seconds() * 1000))
        week = simulate_week(
            data,
            sandbox.salesforce,
            sandbox.hubspot,
            seed=seed + 4,
            start=DEFAULT_AS_OF,
            dynamics=sandbox.dynamics.store if sandbox.dynamics is not None else None,
            eloqua=sandbox.eloqua,
        )
        _show_week(console, week, PLATFORM_NAMES[platform])
        sync("5. Incremental sync", 7)
        _show_record(console, sandbox, week)
        idle = sync("6. Nothing changed since: this sync writes nothing", 7)
        _check_idle(console, idle)

        console.rule("[bold]Where to look")
        not_written = (
            "not asked for"
            if settings_file is None
            else write_demo_settings(directory, url, rules_path, mappings, path=settings_file)
        )
        email = week.fast_tracks[0].email if week.fast_tracks else None
        for line in next_commands(
            url,
            rules_path,
            mappings,
            not_written=not_written,
            email=email,
            sandbox=f"--crm {crm} --map {platform}",
        ):
            console.print(line, highlight=False)
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


def _show_account_brief(console: Console, sandbox: Sandbox) -> None:
    """The best-scored account's brief as a rep opening the account sees it."""
    if sandbox.crm == "dynamics":
        accounts = _read_all(sandbox.connectors["dynamics"], "account")
        score, fields = "abm_accountscore", ("name", "abm_tier", "abm_mqa", "abm_engagedroles")
        committee = "abm_buyingcommittee"
    else:
        accounts = _read_all(sandbox.connectors["salesforce"], "Account")
        score = "ABM_Account_Score__c"
        fields = ("Name", "ABM_Tier__c", "ABM_MQA__c", "ABM_Engaged_Roles__c")
        committee = "ABM_Buying_Committee__c"
    if score not in accounts.columns or accounts[score].is_null().all():
        return
    top = accounts.with_columns(pl.col(score).cast(pl.Float64)).sort(
        score, descending=True, nulls_last=True
    )
    row = top.row(0, named=True)
    name, tier, mqa, roles = (row.get(f) for f in fields)
    console.print(
        f"Account brief on {name}: score {row[score]:g}, tier {tier}, "
        f"MQA {'yes' if mqa in (True, 1, 'true') else 'no'}, engaged roles {roles}",
        highlight=False,
    )
    lines = str(row.get(committee) or "").splitlines()
    for line in lines[:5]:
        console.print(f"  {line}", highlight=False)
    if len(lines) > 5:
        console.print(f"  … {len(lines) - 5} more in the buying committee", highlight=False)


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


def _show_eloqua_contacts(console: Console, connector: Connector, loaded: LoadedRules) -> None:
    """The best-scored Eloqua contacts with the fields abmsync wrote, read by a Bulk export."""
    owned = loaded.ruleset.writeback.objects("eloqua").get("contacts", {})
    score, grade, stage = (owned.get(k) for k in ("score", "grade", "stage"))
    contacts = _read_all(connector, "contacts")
    if score is None or score not in contacts.columns:
        return
    shown = table(
        "In Eloqua: the same scores on the marketing contacts",
        ["contact", "email", "score", "grade", "stage"],
    )
    top = contacts.with_columns(pl.col(score).cast(pl.Float64, strict=False)).sort(
        score, descending=True, nulls_last=True
    )
    for row in top.head(3).iter_rows(named=True):
        shown.add_row(
            str(row.get("ContactId")),
            row.get("C_EmailAddress") or "",
            f"{row[score] or 0:g}",
            str(row.get(grade or "") or ""),
            str(row.get(stage or "") or ""),
        )
    console.print(shown)


def _show_week(console: Console, week: ActivitySummary, platform: str) -> None:
    lines = [
        f"{len(week.touchpoints):,} new marketing touchpoints in {platform}, "
        f"{len(week.fast_tracks):,} of them demo or contact-sales requests",
        f"{len(week.new_contacts):,} web-form sign-ups that exist only in {platform}",
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
