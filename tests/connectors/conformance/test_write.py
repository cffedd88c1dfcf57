"""``write`` and ``ensure_fields``: a result per patch in order, good ones applied, upserts once."""

from __future__ import annotations

from abmsync.connectors.base import (
    INVALID_FIELD,
    INVALID_TYPE,
    NOT_WRITABLE,
    STRING_TOO_LONG,
    FieldSpec,
    Patch,
)
from tests.connectors.conformance.harness import TEXT_LENGTH, Harness


def test_write_reports_each_patch_in_order_and_applies_only_the_good_ones(
    harness: Harness,
) -> None:
    obj = harness.person_object
    a, b, c = harness.create_people(3)
    untouched = dict(harness.person(b) or {})
    new_email = harness.next_email()
    fresh = harness.new_person_values()
    patches = [
        Patch(obj=obj, record_id=a, values={harness.email_field: new_email}),
        Patch(obj=obj, record_id=b, values={harness.unknown_field: "x"}),
        Patch(obj=obj, record_id=b, values={harness.readonly_field: "2020-01-01T00:00:00Z"}),
        Patch(obj=obj, record_id=c, values={harness.text_field: 12345}),
        Patch(obj=obj, values=fresh),
        Patch(obj=obj, record_id=c, values={harness.name_field: "Renamed"}),
    ]
    results = harness.connector().write(obj, patches)

    assert [(r.ok, r.error_code) for r in results] == [
        (True, None),
        (False, INVALID_FIELD),
        (False, NOT_WRITABLE),
        (False, INVALID_TYPE),
        (True, None),
        (True, None),
    ]
    assert [r.record_id for r in results[:4]] == [a, b, b, c]
    assert results[5].record_id == c
    assert [r.created for r in results] == [False, False, False, False, True, False]
    assert (harness.person(a) or {})[harness.email_field] == new_email
    assert (harness.person(c) or {})[harness.name_field] == "Renamed"
    assert not (harness.person(c) or {}).get(harness.text_field)
    assert harness.person(b) == untouched
    created = results[4].record_id
    assert created is not None and harness.find_people(
        harness.email_field, str(fresh[harness.email_field])
    ) == [created]


def test_write_rejects_text_past_the_maximum_length(harness: Harness) -> None:
    harness.require(TEXT_LENGTH)
    length = harness.text_length
    assert length is not None
    obj, (a, b) = harness.person_object, harness.create_people(2)
    results = harness.connector().write(
        obj,
        [
            Patch(obj=obj, record_id=a, values={harness.text_field: "x" * (length + 1)}),
            Patch(obj=obj, record_id=b, values={harness.text_field: "y" * length}),
        ],
    )
    assert [(r.ok, r.error_code) for r in results] == [(False, STRING_TOO_LONG), (True, None)]
    assert not (harness.person(a) or {}).get(harness.text_field)
    assert (harness.person(b) or {})[harness.text_field] == "y" * length


def test_upsert_on_an_external_id_twice_makes_one_record(harness: Harness) -> None:
    obj, key = harness.person_object, harness.upsert_key.name
    spec = FieldSpec(obj=obj, fields=[harness.upsert_key])
    assert key in harness.connector().ensure_fields(spec)
    connector = harness.connector()
    assert connector.ensure_fields(spec) == []
    assert connector.describe(obj).fields[key].external_id

    values = harness.new_person_values()
    first = connector.write(obj, [Patch(obj=obj, external_id=(key, "conf-1"), values=values)])
    again = {**values, harness.name_field: "Upserted Again"}
    second = harness.connector().write(
        obj, [Patch(obj=obj, external_id=(key, "conf-1"), values=again)]
    )

    assert [(r.ok, r.created) for r in first + second] == [(True, True), (True, False)]
    record = first[0].record_id
    assert record is not None and second[0].record_id == record
    assert harness.find_people(key, "conf-1") == [record]
    assert (harness.person(record) or {})[harness.name_field] == "Upserted Again"


def test_a_patch_to_a_deleted_record_fails_alone(harness: Harness) -> None:
    obj = harness.person_object
    a, gone, c = harness.create_people(3)
    harness.delete_person(gone)
    patches = [
        Patch(obj=obj, record_id=record, values={harness.name_field: f"Kept{i}"})
        for i, record in enumerate((a, gone, c))
    ]
    results = harness.connector().write(obj, patches)
    assert [(r.ok, r.record_id) for r in results] == [(True, a), (False, gone), (True, c)]
    assert results[1].error_code
    assert (harness.person(a) or {})[harness.name_field] == "Kept0"
    assert (harness.person(c) or {})[harness.name_field] == "Kept2"
    assert harness.person(gone) is None


def test_ensure_fields_returns_the_names_of_the_fields_it_created(harness: Harness) -> None:
    obj, key = harness.person_object, harness.upsert_key.name
    spec = FieldSpec(obj=obj, fields=[harness.upsert_key])
    assert harness.connector().ensure_fields(spec) == [key]
