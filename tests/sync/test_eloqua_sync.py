"""Salesforce + Eloqua: Eloqua activity becomes CRM history, scores reach both systems.

The sandbox the demo runs (served emulators, real HTTP), a small data set, an
initial sync, a week of activity and sales work, an incremental sync and an
idle one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from abmsync.demo import Sandbox, running_sandbox
from abmsync.rules.loader import LoadedRules, load_rules
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.seed import seed_sandbox
from abmsync.sandbox.week import ActivitySummary, simulate_week
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.sources import load_sources
from abmsync.sync.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES, MAPPINGS = ROOT / "examples" / "rules.yaml", ROOT / "examples" / "mappings"
SCORE, STAGE = "C_ABM_Score1", "C_ABM_Stage1"


@dataclass
class Played:
    sandbox: Sandbox
    database: str
    week: ActivitySummary
    runs: list[SyncSummary]


def _sync(loaded: LoadedRules, sandbox: Sandbox, database: str, days: int) -> SyncSummary:
    sources = load_sources([MAPPINGS], list(sandbox.connectors))
    with Store.open(database) as store:
        options = SyncOptions(as_of=DEFAULT_AS_OF + timedelta(days=days))
        run = SyncRun(loaded, sources, sandbox.connectors, store, options=options).run()
    assert run.status == "succeeded", run.message
    return run


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    loaded = load_rules(RULES)
    data = generate_dataset(250, seed=5, as_of=DEFAULT_AS_OF, touchpoints_per_person=8)
    database = f"sqlite:///{tmp_path_factory.mktemp('eloqua') / 'abmsync.db'}"
    with running_sandbox("salesforce", "eloqua") as sandbox:
        seed_sandbox(data, sandbox.salesforce, None, None, eloqua=sandbox.eloqua)
        for system, connector in sandbox.connectors.items():
            for spec in field_specs(loaded.ruleset, system):
                connector.ensure_fields(spec)
        runs = [_sync(loaded, sandbox, database, 0)]
        sandbox.clock.offset = timedelta(days=7)
        week = simulate_week(
            data, sandbox.salesforce, None, seed=2, start=DEFAULT_AS_OF, eloqua=sandbox.eloqua
        )
        runs += [_sync(loaded, sandbox, database, 7), _sync(loaded, sandbox, database, 7)]
        yield Played(sandbox, database, week, runs)


def test_every_eloqua_contact_holds_its_score_and_stage(played: Played) -> None:
    store = played.sandbox.eloqua
    assert store is not None
    with store.locked():
        contacts = [dict(r.values) for r in store.contacts.values()]
    scored = [c for c in contacts if c.get(SCORE) is not None]
    assert len(scored) == len(contacts)
    assert all(c.get(STAGE) for c in contacts)
    lifecycle = load_rules(RULES).ruleset.lifecycle
    assert lifecycle is not None
    assert {c[STAGE] for c in contacts} <= set(lifecycle.stages)


def test_eloqua_activity_becomes_salesforce_touchpoint_history(played: Played) -> None:
    salesforce = played.sandbox.salesforce
    assert salesforce is not None
    rows = salesforce.store.select(
        'SELECT "ABM_Type__c", "ABM_Touchpoint_Key__c" FROM "ABM_Touchpoint__c" '
        "WHERE \"ABM_Source__c\" = 'eloqua'"
    )
    types = {row[0] for row in rows}
    assert {"email_open", "email_click", "page_view", "form_submit"} <= types
    assert "email_send" not in types  # excluded: a record per send would bury the rest
    keys = [row[1] for row in rows]
    assert len(keys) == len(set(keys))
    assert all(key.startswith("eloqua:activities:") for key in keys)


def test_crm_activity_reaches_eloqua_as_custom_object_records_linked_to_contacts(
    played: Played,
) -> None:
    store = played.sandbox.eloqua
    assert store is not None
    object_id = store.custom_object_id("ABM_Touchpoint")
    assert object_id is not None
    records = store.custom_object_instances(object_id)
    assert records
    assert {r.get("ABM_Source1") for r in records} == {"salesforce"}
    assert all(r["ContactId"] in store.contacts for r in records)
    keys = [r["ABM_Touchpoint_Key1"] for r in records]
    assert len(keys) == len(set(keys))  # upserted by key: never twice


def test_the_week_is_read_and_the_last_sync_writes_nothing(played: Played) -> None:
    first, second, idle = (run.counts() for run in played.runs)
    assert first["written"] > 0
    assert second["read"] > 0 and 0 < second["written"] < first["written"]
    assert idle["read"] == 0 and idle["deleted"] == 0
    assert idle["planned"] == 0 and idle["written"] == 0
    late = [t for t in played.week.touchpoints if t.occurred_at < DEFAULT_AS_OF]
    assert late, "the week has a bounceback dated before it"
    with Store.open(played.database) as store:
        ids = set(store.load_snapshot("touchpoints@eloqua/activities")["id"].to_list())
    assert late[0].note_id in ids  # the overlap caught the late bounceback
