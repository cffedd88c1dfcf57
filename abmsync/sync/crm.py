"""Connect to the configured CRM and marketing platforms: check them, install abmsync's fields.

The service behind ``abmsync crm check`` and ``abmsync crm install-fields``.
Which systems are configured comes from settings (``ABMSYNC_SALESFORCE__*``,
``ABMSYNC_DYNAMICS__*``, ``ABMSYNC_HUBSPOT__*``, ``ABMSYNC_ELOQUA__*``); which
fields abmsync owns comes from the ``writeback:`` section of the rules file.
"""

from __future__ import annotations

from dataclasses import dataclass

from abmsync.connectors.base import (
    CheckItem,
    CheckReport,
    Connector,
    Connectors,
    FieldMeta,
    FieldSpec,
    FieldType,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.errors import AbmsyncError, ConfigError
from abmsync.rules.model import RuleSet
from abmsync.settings import Settings
from abmsync.sync.touchpoints import touchpoint_spec

# What each write-back key holds, as a field abmsync creates.
FIELD_KINDS: dict[str, tuple[FieldType, int | None, str]] = {
    "score": (FieldType.NUMBER, None, "ABM score"),
    "fit": (FieldType.NUMBER, None, "ABM fit"),
    "engagement": (FieldType.NUMBER, None, "ABM engagement"),
    "grade": (FieldType.STRING, 2, "ABM grade"),
    "priority": (FieldType.STRING, 4, "ABM priority"),
    "stage": (FieldType.STRING, 40, "ABM lifecycle stage"),
    "tier": (FieldType.STRING, 20, "ABM account tier"),
    # The account brief, on account objects (see abmsync.sync.account_writeback).
    "account_score": (FieldType.NUMBER, None, "ABM account score"),
    "account_fit": (FieldType.NUMBER, None, "ABM account fit"),
    "account_engagement": (FieldType.NUMBER, None, "ABM account engagement"),
    "mqa": (FieldType.BOOLEAN, None, "ABM marketing-qualified account"),
    "coverage": (FieldType.NUMBER, None, "ABM buying-centre coverage (%)"),
    "engaged_people": (FieldType.NUMBER, None, "ABM engaged people"),
    "engaged_roles": (FieldType.STRING, 255, "ABM engaged roles"),
    "buying_committee": (FieldType.TEXT, 4000, "ABM buying committee"),
    "recent_touchpoints": (FieldType.TEXT, 2000, "ABM recent touchpoints"),
    "last_touch": (FieldType.DATE, None, "ABM last touch"),
    "reasons": (FieldType.TEXT, 1000, "ABM score reasons"),
    "mql_date": (FieldType.DATETIME, None, "ABM MQL date"),
    "sla_due": (FieldType.DATETIME, None, "ABM SLA due"),
    "assignment_reason": (FieldType.STRING, 255, "ABM assignment reason"),
}
# Systems where the stage field is created as a picklist of the lifecycle's stages.
# A stage field that already exists as text stays text (``crm check`` says so).
STAGE_PICKLISTS = frozenset({"salesforce", "hubspot", "dynamics"})


@dataclass(frozen=True)
class Installed:
    """Fields created on one object of one system."""

    system: str
    obj: str
    created: list[str]


def configured(settings: Settings) -> Connectors:
    """A connector for every system with any setting; one lacking a credential is an error.

    Close them when done (``with configured(settings) as connectors:``).
    """
    connectors = Connectors()
    systems = settings.systems()
    sf = settings.salesforce
    if "salesforce" in systems and sf.instance_url and sf.client_id and sf.client_secret:
        from abmsync.connectors.salesforce.connector import SalesforceConnector

        connectors["salesforce"] = SalesforceConnector(
            sf.instance_url,
            sf.client_id,
            sf.client_secret,
            username=sf.username,
            password=sf.password,
            api_version=sf.api_version,
            verify=sf.verify,
            budget=ApiBudget(
                "salesforce", reserve_percent=sf.api_reserve_percent, max_calls=sf.max_calls_per_run
            ),
        )
    dyn = settings.dynamics
    if (
        "dynamics" in systems
        and dyn.org_url
        and dyn.tenant_id
        and dyn.client_id
        and dyn.client_secret
    ):
        from abmsync.connectors.dynamics.connector import DynamicsConnector

        connectors["dynamics"] = DynamicsConnector(
            dyn.org_url,
            dyn.tenant_id,
            dyn.client_id,
            dyn.client_secret,
            authority_host=dyn.authority_host,
            verify=dyn.verify,
            api_version=dyn.api_version,
            budget=ApiBudget("dynamics", max_calls=dyn.max_calls_per_run),
        )
    hs = settings.hubspot
    if "hubspot" in systems and hs.access_token:
        from abmsync.connectors.hubspot.connector import HubSpotConnector

        connectors["hubspot"] = HubSpotConnector(
            hs.access_token,
            host=hs.host,
            verify=hs.verify,
            search_per_second=hs.search_per_second,
            budget=ApiBudget(
                "hubspot", reserve_percent=hs.api_reserve_percent, max_calls=hs.max_calls_per_run
            ),
        )
    elq = settings.eloqua
    if "eloqua" in systems and elq.company and elq.username and elq.password:
        from abmsync.connectors.eloqua.connector import EloquaConnector

        connectors["eloqua"] = EloquaConnector(
            elq.company,
            elq.username,
            elq.password,
            login_url=elq.login_url,
            client_id=elq.client_id,
            client_secret=elq.client_secret,
            verify=elq.verify,
            site_time_zone=elq.site_time_zone,
            reconcile_every=elq.reconcile_every_seconds,
            budget=ApiBudget("eloqua", max_calls=elq.max_calls_per_run),
        )
    if not connectors:
        raise ConfigError(
            "no CRM or marketing platform is configured: set ABMSYNC_SALESFORCE__INSTANCE_URL, "
            "__CLIENT_ID and __CLIENT_SECRET, or ABMSYNC_DYNAMICS__ORG_URL, __TENANT_ID, "
            "__CLIENT_ID and __CLIENT_SECRET, or ABMSYNC_HUBSPOT__ACCESS_TOKEN, or "
            "ABMSYNC_ELOQUA__COMPANY, __USERNAME and __PASSWORD "
            "(`abmsync sandbox serve` prints values for the sandbox)"
        )
    return connectors


def field_specs(ruleset: RuleSet, system: str) -> list[FieldSpec]:
    """The fields the rules' ``writeback:`` section owns on each object of ``system``."""
    specs = []
    for obj, mapping in ruleset.writeback.objects(system).items():
        fields = []
        for key, name in mapping.items():
            if key not in FIELD_KINDS:
                continue  # the owner and HubSpot's lifecycle stage are standard fields
            kind, length, label = FIELD_KINDS[key]
            stages = ruleset.lifecycle.stages if ruleset.lifecycle else None
            if key == "stage" and stages and system in STAGE_PICKLISTS:
                fields.append(
                    FieldMeta(name=name, label=label, type=FieldType.PICKLIST, picklist=stages)
                )
                continue
            fields.append(FieldMeta(name=name, label=label, type=kind, length=length))
        if fields:
            specs.append(FieldSpec(obj=obj, fields=fields))
    target = ruleset.writeback.touchpoints(system)
    if target is not None:
        specs.append(touchpoint_spec(system, target.object, target.external_id))
    return specs


def check_all(settings: Settings, ruleset: RuleSet | None) -> list[CheckReport]:
    """Check every configured system: authentication, quota, abmsync's fields."""
    reports = []
    with configured(settings) as connectors:
        for system, connector in connectors.items():
            try:
                report = connector.check()
            except AbmsyncError as exc:
                report = CheckReport(
                    connector=system, items=[CheckItem(name="connect", ok=False, detail=str(exc))]
                )
            if ruleset is not None:
                missing = _missing_fields(connector, field_specs(ruleset, system))
                report = CheckReport(connector=report.connector, items=[*report.items, *missing])
            reports.append(report)
    return reports


def install_fields(settings: Settings, ruleset: RuleSet) -> list[Installed]:
    """Create the fields the rules write back to, where they are missing (idempotent)."""
    installed = []
    with configured(settings) as connectors:
        for system, connector in connectors.items():
            for spec in field_specs(ruleset, system):
                installed.append(Installed(system, spec.obj, connector.ensure_fields(spec)))
    return installed


def _missing_fields(connector: Connector, specs: list[FieldSpec]) -> list[CheckItem]:
    items = []
    for spec in specs:
        try:
            present = connector.describe(spec.obj).fields
        except AbmsyncError as exc:
            items.append(CheckItem(name=f"{spec.obj} fields", ok=False, detail=str(exc)))
            continue
        missing = [f.name for f in spec.fields if f.name not in present]
        detail = (
            f"missing {', '.join(missing)} (run abmsync crm install-fields)"
            if missing
            else f"{len(spec.fields)} abmsync fields present"
        )
        text = [
            f.name
            for f in spec.fields
            if f.type is FieldType.PICKLIST
            and f.name in present
            and present[f.name].type in (FieldType.STRING, FieldType.TEXT)
        ]
        if text:
            detail += f"; {', '.join(text)} stays a text field, not a picklist of the stages"
        items.append(CheckItem(name=f"{spec.obj} fields", ok=not missing, detail=detail))
    return items
