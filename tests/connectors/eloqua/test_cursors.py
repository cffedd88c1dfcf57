"""The Eloqua connector's pure parts: cursors, packed ids, values, paging, error kinds."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from abmsync.connectors.base import Cursor, FieldMeta, FieldType
from abmsync.connectors.eloqua.bulk import OffsetPaginator, Page
from abmsync.connectors.eloqua.catalog import _field, create_type, display_name
from abmsync.connectors.eloqua.cursors import (
    ActivityCursor,
    PendingExport,
    RecordCursor,
    Window,
    pack_ids,
    unpack_ids,
)
from abmsync.connectors.eloqua.errors import (
    STATUS_KINDS,
    EloquaGoneError,
    EloquaTerminalError,
    EloquaTransientError,
    Kind,
    SessionRejectedError,
    classify,
    describe_body,
    kind_of,
)
from abmsync.connectors.eloqua.values import (
    Column,
    filter_time,
    frame,
    import_value,
    iso,
    parse_time,
    typed,
)
from abmsync.connectors.eloqua.writing import _by_row, _key_filters
from abmsync.connectors.retry import RateLimitedError
from abmsync.errors import ConfigError, TerminalError

NEW_YORK = ZoneInfo("America/New_York")

# -- packed ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [set(), {7}, {1, 2, 3}, {5, 1_000_000_000}, set(range(100, 5000, 7)), set(range(1, 20_000))],
    ids=["empty", "one", "run", "far-apart", "strided", "dense"],
)
def test_packed_ids_come_back_the_same(ids: set[int]) -> None:
    assert unpack_ids(pack_ids(ids)) == ids


def test_a_million_contiguous_ids_pack_into_a_few_hundred_bytes() -> None:
    packed = pack_ids(range(1, 1_000_001))
    assert len(packed) < 1_000
    assert len(unpack_ids(packed)) == 1_000_000


def test_a_million_ids_with_one_in_ten_deleted_stay_small_and_quick() -> None:
    rng = random.Random(4)
    ids = [i for i in range(1, 1_111_112) if rng.random() >= 0.1]
    started = time.monotonic()
    packed = pack_ids(ids)
    assert unpack_ids(packed) == set(ids)
    assert len(packed) < 120_000  # about 80 KB of base64: the holes' entropy
    assert time.monotonic() - started < 10


def test_damaged_known_ids_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="known ids"):
        unpack_ids("not base64 zlib!")


# -- windows ---------------------------------------------------------------------------


def test_a_window_emits_an_id_and_stamp_pair_once() -> None:
    window = Window()
    assert window.observe("1", "2026-01-01T10:00:00.000Z")
    assert not window.observe("1", "2026-01-01T10:00:00.000Z")
    assert window.observe("1", "2026-01-01T10:05:00.000Z")  # changed again: emitted again


def test_a_pair_older_than_the_floor_is_emitted_but_not_kept() -> None:
    window = Window()
    assert window.observe("1", "2020-01-01T00:00:00.000Z", floor="2026-01-01T00:00:00.000Z")
    assert window.seen == {}
    assert window.observe("2", "2026-01-02T00:00:00.000Z", floor="2026-01-01T00:00:00.000Z")
    assert window.seen == {"2": "2026-01-02T00:00:00.000Z"}


def test_closing_a_window_moves_the_mark_and_forgets_pairs_out_of_the_overlap() -> None:
    window = Window(mark="2026-01-01T10:00:00.000Z")
    window.observe("old", "2026-01-01T09:00:00.000Z")
    window.observe("near", "2026-01-01T10:59:30.000Z")
    window.export = PendingExport("/syncs/9", 10, "2026-01-01T11:00:00.000Z", "abc")
    window.close("2026-01-01T11:00:00.000Z", overlap_seconds=60)
    assert window.mark == "2026-01-01T11:00:00.000Z"
    assert window.export is None
    assert set(window.seen) == {"near"}
    lower = window.lower_bound(60)
    assert lower == datetime(2026, 1, 1, 10, 59, tzinfo=UTC)


def test_a_window_never_moves_its_mark_back() -> None:
    window = Window(mark="2026-01-01T11:00:00.000Z")
    window.close("2026-01-01T10:00:00.000Z", overlap_seconds=60)
    assert window.mark == "2026-01-01T11:00:00.000Z"


def test_a_record_cursor_round_trips_through_json() -> None:
    state = RecordCursor()
    state.window.mark = "2026-01-01T10:00:00.000Z"
    state.window.observe("5", "2026-01-01T09:59:59.000Z")
    state.window.export = PendingExport("/syncs/4", 5000, "2026-01-01T10:00:00.000Z", "f1")
    state.remember([1, 2, 3, 5])
    state.reconciled_at = "2026-01-01T09:00:00.000Z"
    cursor = state.to_cursor(4)
    again = RecordCursor.parse(cursor)
    assert again.window == state.window
    assert again.known == {1, 2, 3, 5}
    assert again.reconciled_at == state.reconciled_at
    assert cursor.records == 4
    assert cursor.observed_at == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_a_large_seen_map_is_stored_compressed() -> None:
    state = RecordCursor()
    for i in range(1000):
        state.window.observe(str(i), "2026-01-01T10:00:00.000Z")
    data = json.loads(state.to_cursor(0).value)
    assert "seen_z" in data and "seen" not in data
    assert RecordCursor.parse(state.to_cursor(0)).window.seen == state.window.seen


def test_forgetting_ids_removes_them_from_the_known_set() -> None:
    state = RecordCursor(known={1, 2, 3})
    state.to_cursor(0)
    state.forget([2])
    assert RecordCursor.parse(state.to_cursor(0)).known == {1, 3}


def test_each_activity_type_keeps_its_own_window() -> None:
    state = ActivityCursor()
    state.window("EmailOpen").mark = "2026-01-02T00:00:00.000Z"
    state.window("Bounceback").observe("77", "2025-12-30T00:00:00.000Z")
    again = ActivityCursor.parse(state.to_cursor(1))
    assert again.window("EmailOpen").mark == "2026-01-02T00:00:00.000Z"
    assert again.window("Bounceback").seen == {"77": "2025-12-30T00:00:00.000Z"}
    assert again.window("PageView").mark is None


@pytest.mark.parametrize("value", ["not json", "[1, 2]", '{"types": 3}'])
def test_an_unreadable_cursor_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError):
        ActivityCursor.parse(Cursor(value=value))


# -- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-12 14:23:05.910",
        "2026-05-12T14:23:05.9100000Z",
        "2026-05-12T10:23:05.91-04:00",
        "05/12/2026 02:23:05.910 PM".replace(".910", ""),
    ],
)
def test_eloqua_timestamps_parse_to_one_utc_moment(text: str) -> None:
    moment = parse_time(text)
    assert moment is not None
    assert moment.replace(microsecond=0) == datetime(2026, 5, 12, 14, 23, 5, tzinfo=UTC)


def test_unix_seconds_parse_too() -> None:
    assert parse_time("1410193024") == datetime(2014, 9, 8, 16, 17, 4, tzinfo=UTC)


def test_dates_are_written_in_one_shape_with_milliseconds() -> None:
    assert iso(datetime(2026, 5, 12, 14, 23, 5, 910_000, tzinfo=UTC)) == "2026-05-12T14:23:05.910Z"
    assert iso(datetime(2026, 5, 12, 14, 23, 5, tzinfo=UTC)) == "2026-05-12T14:23:05.000Z"


def test_a_site_date_without_offset_is_read_in_the_site_time_zone() -> None:
    assert typed(FieldType.DATETIME, "2026-01-15 09:00:00.000", NEW_YORK) == (
        "2026-01-15T14:00:00.000Z"
    )
    assert typed(FieldType.DATETIME, "2026-01-15 09:00:00.000") == "2026-01-15T09:00:00.000Z"


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (FieldType.NUMBER, "12.5", 12.5),
        (FieldType.NUMBER, "12", 12.0),
        (FieldType.NUMBER, "", None),
        (FieldType.STRING, "", None),
        (FieldType.STRING, "x", "x"),
        (FieldType.BOOLEAN, "true", True),
        (FieldType.NUMBER, "abc", None),
    ],
)
def test_exported_text_is_typed_per_column(kind: FieldType, raw: str, expected: object) -> None:
    assert typed(kind, raw) == expected


def test_a_frame_has_every_column_typed_even_without_rows() -> None:
    columns = [
        Column("ContactId", "{{Contact.Id}}"),
        Column("Score", "{{Contact.Field(C_Score1)}}", FieldType.NUMBER),
        Column("C_DateModified", "{{Contact.Field(C_DateModified)}}", FieldType.DATETIME),
    ]
    empty = frame(columns, [])
    assert empty.columns == ["ContactId", "Score", "C_DateModified"]
    full = frame(
        columns, [{"ContactId": "7", "Score": "3", "C_DateModified": "2026-01-01 00:00:00"}]
    )
    assert full.row(0) == ("7", 3.0, "2026-01-01T00:00:00.000Z")


def test_filter_literals_are_wall_clock_seconds() -> None:
    moment = datetime(2026, 1, 15, 14, 0, 0, 999_000, tzinfo=UTC)
    assert filter_time(moment) == "2026-01-15 14:00:00"
    assert filter_time(moment, NEW_YORK) == "2026-01-15 09:00:00"


def test_import_values_blank_cleared_fields_and_write_dates_in_the_site_zone() -> None:
    assert import_value(FieldType.STRING, None, NEW_YORK) == ""
    assert import_value(FieldType.DATETIME, "2026-01-15T14:00:00Z", NEW_YORK) == (
        "2026-01-15 09:00:00"
    )
    assert import_value(FieldType.DATETIME, "2026-01-15", NEW_YORK) == "2026-01-15"
    assert import_value(FieldType.BOOLEAN, True, NEW_YORK) == "true"
    assert import_value(FieldType.NUMBER, 3.5, NEW_YORK) == 3.5


# -- paging and errors -------------------------------------------------------------------


def test_the_paginator_moves_on_by_the_rows_served_and_stops_without_more() -> None:
    paginator = OffsetPaginator(2)
    paginator.take(Page([{}, {}], 0, True, 3))
    assert (paginator.offset, paginator.done) == (2, False)
    paginator.take(Page([{}], 2, False, 3))
    assert (paginator.offset, paginator.done) == (3, True)


def test_the_paginator_refuses_an_offset_it_did_not_ask_for_or_already_served() -> None:
    paginator = OffsetPaginator(2)
    with pytest.raises(TerminalError, match="offset"):
        paginator.take(Page([{}], 5, True, None))
    again = OffsetPaginator(2)
    again.take(Page([], 0, True, None))  # an empty page that claims more
    assert again.done


def test_status_codes_map_to_kinds_through_one_table() -> None:
    assert kind_of(401) is Kind.SESSION
    assert kind_of(429) is Kind.RATE_LIMITED
    assert kind_of(503) is Kind.TRANSIENT
    assert kind_of(599) is Kind.TRANSIENT
    assert kind_of(404) is Kind.GONE
    assert kind_of(418) is Kind.TERMINAL
    assert set(STATUS_KINDS) >= {400, 401, 403, 404, 410, 429, 500, 502, 503, 504}


def test_error_answers_become_abmsync_errors_of_one_line() -> None:
    body = {"failures": [{"field": "filter", "constraint": "Must be valid.", "value": "x\ny"}]}
    error = classify(400, body, "creating a contacts export")
    assert isinstance(error, EloquaTerminalError)
    assert "filter: Must be valid." in str(error) and "\n" not in str(error)
    assert isinstance(classify(429, None, "x", 2.0), RateLimitedError)
    assert isinstance(classify(500, "boom", "x"), EloquaTransientError)
    assert isinstance(classify(401, "Not authenticated.", "x"), SessionRejectedError)
    assert isinstance(classify(410, None, "x"), EloquaGoneError)


def test_rest_validation_bodies_are_summarized() -> None:
    body = [{"type": "EndpointParameterError", "parameter": "limit", "value": "60000"}]
    assert describe_body(body) == "limit: EndpointParameterError ('60000')"


# -- describe helpers ----------------------------------------------------------------------


def test_a_wanted_internal_name_is_created_under_the_display_name_that_gives_it() -> None:
    assert display_name(FieldMeta(name="C_ABM_Score1", label="ABM score")) == "ABM Score"
    assert display_name(FieldMeta(name="C_ABM_Score_Reasons1")) == "ABM Score Reasons"
    assert display_name(FieldMeta(name="abm_score", label="ABM score")) == "ABM score"


def test_long_or_free_text_fields_are_created_as_large_text() -> None:
    assert create_type(FieldMeta(name="a", type=FieldType.TEXT), 100) == ("largeText", "textArea")
    assert create_type(FieldMeta(name="a", length=1000), 100) == ("largeText", "textArea")
    assert create_type(FieldMeta(name="a", length=80), 100) == ("text", "text")
    assert create_type(FieldMeta(name="a", type=FieldType.NUMBER), 100) == ("numeric", "text")


def test_bulk_fields_are_typed_with_lengths_from_the_application_api() -> None:
    item = {"name": "Notes", "dataType": "string", "hasReadOnlyConstraint": False}
    assert _field(item, "C_Notes1", "largeText", 100).length == 32_000
    short = _field(item, "C_Code1", "text", 100)
    assert (short.type, short.length, short.external_id) == (FieldType.STRING, 100, True)
    stamp = _field({"dataType": "date", "hasReadOnlyConstraint": True}, "C_DateModified", None, 100)
    assert (stamp.type, stamp.writable, stamp.external_id) == (FieldType.DATETIME, False, False)


# -- writing helpers ------------------------------------------------------------------------


def test_rejects_map_to_rows_by_record_index_counted_from_one() -> None:
    rows = [{"Id": "1"}, {"Id": "2"}, {"Id": "3"}]
    rejects = [
        {"recordIndex": 2, "statusCode": "ELQ-00085", "message": "Contact\ndoes not exist."},
        {"recordIndex": 3, "statusCode": "ELQ-00002", "fieldValues": {"Id": "3"}, "message": "x"},
    ]
    assert _by_row(rejects, rows, "Id") == {
        1: ("ELQ-00085", "Contact does not exist."),
        2: ("ELQ-00002", "x"),
    }


def test_a_reject_whose_index_disagrees_with_its_values_is_matched_on_the_key() -> None:
    rows = [{"Key": "a"}, {"Key": "b"}]
    rejects = [{"recordIndex": 0, "statusCode": "ELQ-1", "fieldValues": {"Key": "B"}}]
    assert _by_row(rejects, rows, "Key") == {1: ("ELQ-1", "rejected by Eloqua")}


def test_key_lookups_are_split_into_filters_of_at_most_1000_characters() -> None:
    statement = "{{CustomObject[9].Field[103]}}"
    keys = [f"salesforce:Task:{i:05d}" for i in range(60)] + ["it's"]
    filters = _key_filters(statement, keys)
    assert len(filters) > 1 and all(len(f) <= 1000 for f in filters)
    joined = " OR ".join(filters)
    assert joined.count(statement) == len(keys)
    assert "'it''s'" in joined


def test_a_form_submission_reads_its_page_from_the_hidden_page_field() -> None:
    import polars as pl

    from abmsync.connectors.eloqua.activities import activity_key

    raw = "elqFormName=ContactSales&elqSiteID=1&elqPageURL=https%3A%2F%2Fx.example%2Fcontact-sales"
    activities = pl.DataFrame(
        {
            "ActivityId": ["7", "8", "7"],
            "ActivityType": ["FormSubmit", "FormSubmit", "PageView"],
            "Url": [None, None, "https://x/p"],
            "RawData": [raw, "a=b", None],
            "ActivityKey": [None, None, None],
        },
        schema_overrides={"Url": pl.String, "ActivityKey": pl.String},
    )
    done = activity_key(activities)
    assert done["ActivityKey"].to_list() == ["FormSubmit:7", "FormSubmit:8", "PageView:7"]
    assert done["Url"].to_list() == ["https://x.example/contact-sales", None, "https://x/p"]
