"""``read_changes``: full, then incremental after a cursor, never losing nor repeating a change."""

from __future__ import annotations

from collections import Counter

from tests.connectors.conformance.harness import Harness, drain


def test_incremental_read_returns_exactly_the_changes_after_the_cursor(harness: Harness) -> None:
    obj, key = harness.person_object, harness.id_column
    people = harness.create_people(5)
    harness.advance_clock()
    full = drain(harness.connector().read_changes(obj, None), key)
    assert sorted(full.ids) == sorted(people)
    assert full.deleted == []

    harness.advance_clock(2)
    new_email = harness.next_email()
    harness.update_person(people[0], email=new_email)
    harness.advance_clock()
    harness.update_person(people[1], name="Renamed")
    harness.delete_person(people[2])
    created = harness.create_people(2)
    harness.advance_clock()

    changes = drain(harness.connector().read_changes(obj, full.cursor), key)
    assert Counter(changes.ids) == Counter([people[0], people[1], *created])
    assert changes.row(people[0], key)[harness.email_field] == new_email
    assert changes.row(people[1], key)[harness.name_field] == "Renamed"
    assert set(changes.deleted) == {people[2]}
    assert people[2] not in changes.ids

    harness.advance_clock()
    again = drain(harness.connector().read_changes(obj, changes.cursor), key)
    assert again.ids == []
    assert set(again.deleted) <= {people[2]}  # repeats: test_a_deletion_is_reported_once


def test_a_deletion_is_reported_once(harness: Harness) -> None:
    obj, key = harness.person_object, harness.id_column
    harness.set_page_size(2)
    people = harness.create_people(5)
    harness.advance_clock()
    full = drain(harness.connector().read_changes(obj, None), key)
    harness.advance_clock()
    harness.delete_person(people[0])
    harness.advance_clock()
    changes = drain(harness.connector().read_changes(obj, full.cursor), key)
    harness.advance_clock()
    again = drain(harness.connector().read_changes(obj, changes.cursor), key)
    assert changes.deleted + again.deleted == [people[0]]


def test_a_record_changed_while_paging_is_not_lost(harness: Harness) -> None:
    obj, key = harness.person_object, harness.id_column
    size = harness.set_page_size(5)
    people = harness.create_people(size * 3)
    harness.advance_clock()
    batches = iter(harness.connector().read_changes(obj, None))
    first = drain([next(batches)], key)
    assert first.ids, "the first batch of a full read holds records"
    early, late = first.ids[0], people[-1]
    assert late not in first.ids

    harness.advance_clock()
    early_email, late_email = harness.next_email(), harness.next_email()
    harness.update_person(early, email=early_email)
    harness.update_person(late, email=late_email)
    created = harness.create_people(1)
    harness.advance_clock()

    rest = drain(batches, key)
    assert rest.cursor is not None
    harness.advance_clock()
    following = drain(harness.connector().read_changes(obj, rest.cursor), key)

    rows = first.rows + rest.rows + following.rows
    latest = {str(r[key]): r[harness.email_field] for r in rows}
    assert latest[early] == early_email
    assert latest[late] == late_email
    assert set(created) <= set(latest)
    unchanged = set(people) - {early, late}
    counts = Counter(first.ids + rest.ids + following.ids)
    assert {i: counts[i] for i in unchanged} == dict.fromkeys(unchanged, 1)
