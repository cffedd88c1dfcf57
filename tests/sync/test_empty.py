"""Syncs over CRMs with nothing in them, or nothing of one kind: they succeed and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abmsync.sync.store import Store
from tests.sync.crm_env import LEADS, CrmEnv, Servers, crm_env, later


@pytest.fixture
def empty(tmp_path: Path, servers: Servers) -> Iterator[CrmEnv]:
    with crm_env(tmp_path, servers, seed=False) as made:
        yield made


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "sync"])
def test_a_sync_of_empty_crms_succeeds_and_writes_nothing(empty: CrmEnv, dry_run: bool) -> None:
    run = empty.sync(dry_run=dry_run)
    assert run.status == ("dry-run" if dry_run else "succeeded"), run.message
    counts = run.counts()
    assert counts["people"] == 0
    assert counts["planned"] == 0
    assert counts["written"] == 0
    again = empty.sync(as_of=later(1))
    assert again.status == "succeeded", again.message
    assert again.counts()["written"] == 0


def test_leads_alone_without_contacts_accounts_or_activity_are_scored_and_written(
    empty: CrmEnv,
) -> None:
    empty.salesforce.store.insert_many("Lead", LEADS)
    run = empty.sync()
    assert run.status == "succeeded", run.message
    assert run.counts()["people"] == len(LEADS)
    assert run.counts()["written"] == len(LEADS)
    scores = [r["ABM_Grade__c"] for r in empty.sf_rows("Lead", "ABM_Grade__c")]
    assert all(scores), scores
    with Store.open(empty.database) as store:
        assert store.get_cursor("salesforce", "Lead") is not None


def test_a_later_sync_after_everything_was_deleted_succeeds(empty: CrmEnv) -> None:
    empty.salesforce.store.insert_many("Lead", LEADS)
    assert empty.sync().status == "succeeded"
    for row in empty.sf_rows("Lead"):
        empty.salesforce.store.delete("Lead", row["Id"])
    run = empty.sync(as_of=later(1))
    assert run.status == "succeeded", run.message
    assert run.counts()["deleted"] == len(LEADS)
    assert run.counts()["written"] == 0
