"""Faults, expired tokens and spent budgets: a run completes as without them, or stops cleanly."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from abmsync.connectors.base import Patch, WriteResult
from abmsync.connectors.budget import ApiBudget
from abmsync.errors import BudgetExhaustedError
from abmsync.sandbox.faults import Faults
from tests.connectors.conformance.harness import (
    Harness,
    Read,
    drain,
    quiet_faults,
)

FAULTS = {
    "rate_limit+server_error": Faults(seed=11, rate_limit=0.1, server_error=0.1, retry_after=0.01),
    "drop": Faults(seed=5, drop=0.1),
    "token_expiry": Faults(seed=3, token_expiry=0.1),
}


def outcome(results: list[WriteResult]) -> list[tuple[bool, str | None, str | None, bool]]:
    """What a write result says, without its free-text message."""
    return [(r.ok, r.record_id, r.error_code, r.created) for r in results]


def frame(read: Read, key: str) -> pl.DataFrame:
    """A run's rows in id order, for comparing two runs."""
    return pl.DataFrame(read.rows).sort(key) if read.rows else pl.DataFrame()


def renames(harness: Harness, people: list[str], prefix: str) -> list[Patch]:
    """A rename per person, then one patch that must fail (an unknown field)."""
    obj = harness.person_object
    patches = [
        Patch(obj=obj, record_id=p, values={harness.name_field: f"{prefix}{i}"})
        for i, p in enumerate(people)
    ]
    return [*patches, Patch(obj=obj, record_id=people[0], values={harness.unknown_field: "x"})]


@pytest.mark.parametrize("faults", list(FAULTS.values()), ids=list(FAULTS))
def test_reads_and_writes_under_faults_end_as_without_them(
    harness: Harness, faults: Faults
) -> None:
    obj, key = harness.person_object, harness.id_column
    harness.set_page_size(5)
    people = harness.create_people(16)
    harness.advance_clock()
    base = drain(harness.connector().read_changes(obj, None), key)
    harness.advance_clock()
    harness.update_person(people[0], email=harness.next_email())
    harness.delete_person(people[1])
    harness.advance_clock()

    clean_full = drain(harness.connector().read_changes(obj, None), key)
    clean_changes = drain(harness.connector().read_changes(obj, base.cursor), key)
    injected = sum(harness.faults.counts.values())
    harness.set_faults(faults)
    faulted_full = drain(harness.connector().read_changes(obj, None), key)
    faulted_changes = drain(harness.connector().read_changes(obj, base.cursor), key)

    harness.set_faults(quiet_faults())
    clean_results = harness.connector().write(obj, renames(harness, people[2:], "clean"))
    harness.set_faults(faults)
    faulted_results = harness.connector().write(obj, renames(harness, people[2:], "faulted"))
    assert sum(harness.faults.counts.values()) > injected, "no fault was injected"

    assert sorted(faulted_full.ids) == sorted(set(people) - {people[1]})
    assert_frame_equal(frame(faulted_full, key), frame(clean_full, key))
    assert sorted(faulted_changes.deleted) == sorted(clean_changes.deleted)
    assert set(clean_changes.deleted) == {people[1]}
    assert_frame_equal(frame(faulted_changes, key), frame(clean_changes, key))
    assert outcome(faulted_results) == outcome(clean_results)
    for i, person in enumerate(people[2:]):
        assert (harness.person(person) or {})[harness.name_field] == f"faulted{i}"


def test_an_expired_token_is_renewed_between_pages_and_between_writes(harness: Harness) -> None:
    obj, key = harness.person_object, harness.id_column
    size = harness.set_page_size(5)
    people = harness.create_people(size * 3)
    harness.advance_clock()
    connector = harness.connector()
    batches = iter(connector.read_changes(obj, None))
    read = drain([next(batches)], key)
    harness.expire_tokens()
    for batch in batches:
        read.add(batch, key)
    assert sorted(read.ids) == sorted(people)

    first = connector.write(obj, renames(harness, people[:2], "before"))
    harness.expire_tokens()
    second = connector.write(obj, renames(harness, people[2:4], "after"))
    assert [r.ok for r in first + second] == [True, True, False, True, True, False]
    assert (harness.person(people[1]) or {})[harness.name_field] == "before1"
    assert (harness.person(people[3]) or {})[harness.name_field] == "after1"


def describe_cost(harness: Harness) -> int:
    """API calls a connector spends before its first read or write (describe)."""
    probe = harness.connector()
    probe.describe(harness.person_object)
    return probe.budget.calls


def test_a_read_stops_within_its_budget_and_the_next_run_resumes(harness: Harness) -> None:
    obj, key = harness.person_object, harness.id_column
    size = harness.set_page_size(5)
    people = harness.create_people(size * 5)
    harness.advance_clock()
    cap = describe_cost(harness) + 2
    capped = harness.connector(budget=ApiBudget(harness.name, max_calls=cap))
    answered = harness.api_calls()
    stopped = Read()

    def read_until_stopped() -> None:
        for batch in capped.read_changes(obj, None):
            stopped.add(batch, key)

    with pytest.raises(BudgetExhaustedError):
        read_until_stopped()
    assert capped.budget.calls <= cap
    assert harness.api_calls() - answered <= cap
    assert len(stopped.ids) < len(people)

    rest = drain(harness.connector().read_changes(obj, stopped.cursor), key)
    assert sorted(stopped.ids + rest.ids) == sorted(people)


def test_a_write_stops_within_its_budget_having_applied_whole_calls_only(
    harness: Harness,
) -> None:
    obj = harness.person_object
    people = harness.create_people(harness.write_batch * 2 + 1)
    cap = describe_cost(harness) + 1
    capped = harness.connector(budget=ApiBudget(harness.name, max_calls=cap))
    answered = harness.api_calls()
    patches = [
        Patch(obj=obj, record_id=p, values={harness.name_field: f"Budget{i}"})
        for i, p in enumerate(people)
    ]
    with pytest.raises(BudgetExhaustedError):
        capped.write(obj, patches)
    assert capped.budget.calls <= cap
    assert harness.api_calls() - answered <= cap
    applied = [
        i
        for i, p in enumerate(people)
        if (harness.person(p) or {}).get(harness.name_field) == f"Budget{i}"
    ]
    assert applied == list(range(len(applied)))  # the first calls' patches, nothing after
    assert len(applied) in (0, harness.write_batch)
