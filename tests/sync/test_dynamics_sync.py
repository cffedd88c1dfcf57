"""A sync over the Dataverse emulator: the stage as a choice, campaign names on touchpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from abmsync.connectors.base import Connectors
from abmsync.connectors.dynamics import DynamicsConnector
from abmsync.rules.loader import load_rules
from abmsync.sandbox.dynamics import DataverseSandbox, create_app
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.sources import load_sources
from abmsync.sync.store import Store
from abmsync.sync.touchpoint_names import touchpoint_title
from tests.connectors.serving import Switch
from tests.sync.crm_env import AS_OF, MAPPINGS, RULES


class DynamicsEnv:
    """One emulated org, served over HTTPS, and the state database of one test."""

    def __init__(self, server: SandboxServer, switch: Switch, database: str) -> None:
        app = create_app(Faults())
        switch.app = app
        self.sandbox: DataverseSandbox = app.state.sandbox
        self.server = server
        self.database = database
        self.loaded = load_rules(RULES)

    def connectors(self) -> Connectors:
        config = self.sandbox.config
        connector = DynamicsConnector(
            self.server.url,
            config.tenant_id,
            config.client_id,
            SecretStr(config.client_secret),
            authority_host=self.server.url,
            verify=str(self.server.ca_file),
        )
        return Connectors({"dynamics": connector})

    def install_fields(self) -> None:
        with self.connectors() as connectors:
            for spec in field_specs(self.loaded.ruleset, "dynamics"):
                connectors["dynamics"].ensure_fields(spec)

    def sync(self) -> SyncSummary:
        files = sorted(MAPPINGS.glob("dynamics-*.yaml"))
        with self.connectors() as connectors, Store.open(self.database) as store:
            sources = load_sources(files, list(connectors))
            run = SyncRun(self.loaded, sources, connectors, store, options=SyncOptions(as_of=AS_OF))
            return run.run()


@pytest.fixture(scope="module")
def dynamics_server() -> Iterator[tuple[SandboxServer, Switch]]:
    switch = Switch()
    with SandboxServer(switch, tls=True) as server:
        yield server, switch


@pytest.fixture
def env(tmp_path: Path, dynamics_server: tuple[SandboxServer, Switch]) -> DynamicsEnv:
    server, switch = dynamics_server
    made = DynamicsEnv(server, switch, f"sqlite:///{tmp_path / 'state.db'}")
    # the org's own choice column the example lead mapping reads (as numbers)
    made.sandbox.store.add_picklist_attribute("lead", "abm_rejectionreason", "Rejection Reason")
    made.install_fields()
    return made


def test_the_stage_lands_as_its_option_value_and_is_not_written_again(env: DynamicsEnv) -> None:
    store = env.sandbox.store
    lead = store.create(
        "lead",
        {
            "firstname": "Vera",
            "lastname": "Lang",
            "emailaddress1": "vera.lang@acme-robotics.com",
            "companyname": "Acme Robotics",
            "jobtitle": "VP Sales",
        },
    )
    campaign = store.create("campaign", {"name": "Q4 Webinar"})
    response = store.create(
        "campaignresponse",
        {
            "subject": "Registered",
            "regardingobjectid": ("campaign", campaign),
            "receivedon": "2026-11-27T10:00:00Z",
        },
    )
    store.insert_many(
        "activityparty",
        [{"activityid": response, "partyid": ("lead", lead), "participationtypemask": 11}],
    )
    stages = env.loaded.ruleset.lifecycle.stages if env.loaded.ruleset.lifecycle else []

    first = env.sync()

    assert first.status == "succeeded", first.message
    value = store.get_raw("lead", lead)["abm_stage"]
    column = store.table("lead").attributes["abm_stage"]
    assert column.type == "Picklist"
    option = column.option(int(value))
    assert option is not None and option.label in stages and value >= 100_000_000
    with Store.open(env.database) as state:
        responses = state.load_snapshot("touchpoints@dynamics/campaignresponse")
    assert responses["campaign_name"].to_list() == ["Q4 Webinar"]
    [title] = responses.select(touchpoint_title(responses.columns)).to_series().to_list()
    assert title == "Campaign: Q4 Webinar"  # the campaign's name, not its id

    second = env.sync()

    assert second.status == "succeeded", second.message
    assert [p for p in second.plans if p.obj == "lead" and p.patches] == []
    assert second.counts()["written"] == 0
