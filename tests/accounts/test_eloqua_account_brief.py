"""The account brief on Eloqua accounts, as ``examples/rules.yaml`` configures it.

Eloqua's API creates contact fields (``POST /api/REST/1.0/assets/contact/field``)
but no account fields: an admin adds them under Settings > Fields & Views >
Account Fields, as the seeded instance has them. The Eloqua account of a
company then carries the brief its Salesforce account carries, written by
Bulk account imports on ``{{Account.Id}}``, and an idle sync writes nothing.
Eloqua fields are text, large text, numeric or date, with no checkbox, so the
MQA flag (a boolean) is written to a text field as "true" / "false" and read
back as the same boolean, so it is not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from abmsync.connectors.base import Connector
from abmsync.demo import Sandbox, running_sandbox
from abmsync.rules.loader import load_rules
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.seed import seed_sandbox
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun, SyncSummary
from abmsync.sync.sources import load_sources
from abmsync.sync.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES, MAPPINGS = ROOT / "examples" / "rules.yaml", ROOT / "examples" / "mappings"
# Eloqua account field -> the Salesforce account field of the same brief key
SAME = {
    "M_ABM_Tier1": "ABM_Tier__c",
    "M_ABM_Engaged_Roles1": "ABM_Engaged_Roles__c",
    "M_ABM_Buying_Committee1": "ABM_Buying_Committee__c",
    "M_ABM_Recent_Touchpoints1": "ABM_Recent_Touchpoints__c",
}


@dataclass
class Synced:
    sandbox: Sandbox
    runs: list[SyncSummary]


MQA = 'mqa: "account_engagement >= 100 AND engaged_roles >= 3"'


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    # A lower MQA bar than the example's, so this small data set has MQAs and others.
    text = RULES.read_text()
    assert text.count(MQA) == 1
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(text.replace(MQA, 'mqa: "account_engagement >= 30"'))
    loaded = load_rules(rules)
    data = generate_dataset(250, seed=5, as_of=DEFAULT_AS_OF, touchpoints_per_person=8)
    database = f"sqlite:///{tmp_path_factory.mktemp('eloqua-accounts') / 'abmsync.db'}"
    with running_sandbox("salesforce", "eloqua") as sandbox:
        seed_sandbox(data, sandbox.salesforce, None, None, eloqua=sandbox.eloqua)
        for system, connector in sandbox.connectors.items():
            for spec in field_specs(loaded.ruleset, system):
                connector.ensure_fields(spec)  # Eloqua's account fields exist: nothing to create
        sources = load_sources([MAPPINGS], list(sandbox.connectors))
        runs = []
        with Store.open(database) as store:
            for _ in range(2):
                options = SyncOptions(as_of=DEFAULT_AS_OF + timedelta(days=1))
                runs.append(
                    SyncRun(loaded, sources, sandbox.connectors, store, options=options).run()
                )
        yield Synced(sandbox, runs)


def _read_all(connector: Connector, obj: str) -> pl.DataFrame:
    frames = [b.records for b in connector.read_changes(obj, None) if b.records.height]
    return pl.concat(frames, how="diagonal_relaxed")


def _domain(column: str) -> pl.Expr:
    """A website as its bare domain (the seeded CRM keeps URLs, Eloqua bare domains)."""
    return (
        pl.col(column)
        .str.to_lowercase()
        .str.replace(r"^https?://", "")
        .str.replace(r"^www\.", "")
        .str.strip_chars("/")
    )


def test_eloqua_accounts_carry_the_brief_of_their_salesforce_account(synced: Synced) -> None:
    assert [r.status for r in synced.runs] == ["succeeded", "succeeded"], synced.runs[0].message
    eloqua = _read_all(synced.sandbox.connectors["eloqua"], "accounts")
    salesforce = _read_all(synced.sandbox.connectors["salesforce"], "Account")
    pairs = eloqua.with_columns(_domain("M_Website1").alias("__domain")).join(
        salesforce.with_columns(_domain("Website").alias("__domain")), on="__domain"
    )
    assert pairs.height > 0
    briefed = pairs.filter(pl.col("ABM_Account_Score__c").is_not_null())
    assert briefed.height > 0
    for row in briefed.iter_rows(named=True):
        assert float(row["M_ABM_Account_Score1"]) == pytest.approx(row["ABM_Account_Score__c"])
        for eloqua_field, salesforce_field in SAME.items():
            assert (row[eloqua_field] or None) == row[salesforce_field], eloqua_field
        assert row["M_ABM_MQA1"] == ("true" if row["ABM_MQA__c"] else "false")
    assert {r["M_ABM_MQA1"] for r in briefed.iter_rows(named=True)} == {"true", "false"}


def test_a_sync_with_nothing_changed_writes_no_eloqua_account(synced: Synced) -> None:
    first, idle = synced.runs
    written = {(p.system, p.obj): p.records for p in first.plans}
    assert written.get(("eloqua", "accounts"), 0) > 0
    again = {(p.system, p.obj): p.records for p in idle.plans}
    assert again.get(("eloqua", "accounts"), 0) == 0, again
