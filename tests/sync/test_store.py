"""The state store, specified by behaviour; every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from polars.testing import assert_frame_equal

from abmsync.schema import SchemaError, SourceRef, conform
from abmsync.sync.database import current_revision, head_revision, parse_url
from abmsync.sync.store import Store, StoreError
from abmsync.sync.tables import TABLE_NAMES, metadata, runs, xrefs

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def scores(*rows: tuple[str, float, str, str, str]) -> pl.DataFrame:
    """A scores frame from (person_id, total, grade, priority, reasons) rows."""
    return pl.DataFrame(
        {
            "person_id": [row[0] for row in rows],
            "fit": [row[1] / 2 for row in rows],
            "engagement": [row[1] / 2 for row in rows],
            "total": [row[1] for row in rows],
            "grade": [row[2] for row in rows],
            "band": [int(row[3][-1]) for row in rows],
            "priority": [row[3] for row in rows],
            "reasons": [row[4] for row in rows],
        }
    )


def people(*rows: tuple[str, str | None]) -> pl.DataFrame:
    """A people frame from (id, title) rows."""
    return pl.DataFrame(
        {"id": [row[0] for row in rows], "title": [row[1] for row in rows]},
        schema={"id": pl.String(), "title": pl.String()},
    )


# Opening and migrating ------------------------------------------------------


def test_migrations_create_the_schema_from_empty(state_db_url: str) -> None:
    with Store.open(state_db_url) as store, store.engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        revision = current_revision(connection)
    assert tables == {*TABLE_NAMES, "alembic_version"}
    assert revision == head_revision()


def test_table_definitions_match_the_migrated_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_reopening_a_migrated_database_keeps_its_data(state_db_url: str) -> None:
    with Store.open(state_db_url) as store:
        store.set_cursor("hubspot", "contacts", "2025-03-01T09:00:00Z")
    with Store.open(state_db_url) as store:
        assert store.get_cursor("hubspot", "contacts") == "2025-03-01T09:00:00Z"


def test_open_refuses_a_database_migrated_by_a_newer_abmsync(state_db_url: str) -> None:
    with Store.open(state_db_url) as store, store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match="schema is newer than this abmsync knows"):
        Store.open(state_db_url)


def test_open_says_in_one_line_why_the_database_cannot_be_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'state.db'}"
    with pytest.raises(StoreError) as raised:
        Store.open(url)
    assert str(raised.value) == f"cannot open state database {url}: unable to open database file"


def test_open_never_shows_the_password() -> None:
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql+psycopg://abmsync:s3cr3t-pw@127.0.0.1:1/state")
    message = str(raised.value)
    assert message.startswith("cannot open state database postgresql+psycopg://abmsync:***@")
    assert "s3cr3t-pw" not in message
    assert "\n" not in message


def test_open_refuses_databases_other_than_sqlite_and_postgresql() -> None:
    with pytest.raises(StoreError, match=r"unsupported state database mysql://u:\*\*\*@h/db"):
        Store.open("mysql://u:secret@h/db")


def test_a_postgresql_url_without_a_driver_uses_psycopg() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_a_closed_store_refuses_to_work(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.get_cursor("hubspot", "contacts")


# Cursors ----------------------------------------------------------------------


def test_cursor_is_none_until_it_is_set(store: Store) -> None:
    assert store.get_cursor("salesforce", "Lead") is None


def test_setting_a_cursor_moves_only_that_objects_cursor(store: Store) -> None:
    store.set_cursor("salesforce", "Lead", "1")
    store.set_cursor("salesforce", "Contact", "7")
    store.set_cursor("salesforce", "Lead", "2", run_id=store.start_run())
    assert store.get_cursor("salesforce", "Lead") == "2"
    assert store.get_cursor("salesforce", "Contact") == "7"


def test_cursor_does_not_move_when_the_transaction_fails(store: Store) -> None:
    store.set_cursor("hubspot", "contacts", "before")

    def store_then_fail() -> None:
        with store.transaction() as tx:
            store.save_snapshot("people", people(("p1", "CTO")), tx=tx)
            store.set_cursor("hubspot", "contacts", "after", tx=tx)
            raise RuntimeError("write failed")

    with pytest.raises(RuntimeError, match="write failed"):
        store_then_fail()
    assert store.get_cursor("hubspot", "contacts") == "before"
    assert store.load_snapshot("people").is_empty()


def test_cursor_and_the_data_it_covers_commit_together(store: Store) -> None:
    with store.transaction() as tx:
        store.save_snapshot("people", people(("p1", "CTO")), tx=tx)
        store.set_cursor("hubspot", "contacts", "after", tx=tx)
        # Not visible to anyone else until the transaction commits.
        assert store.get_cursor("hubspot", "contacts") is None
        assert store.get_cursor("hubspot", "contacts", tx=tx) == "after"
    assert store.get_cursor("hubspot", "contacts") == "after"
    assert store.load_snapshot("people")["id"].to_list() == ["p1"]


def test_a_finished_transaction_cannot_be_reused(store: Store) -> None:
    with store.transaction() as tx:
        pass
    with pytest.raises(StoreError, match="already finished"):
        store.set_cursor("hubspot", "contacts", "x", tx=tx)


# Timestamps ---------------------------------------------------------------------


def test_timestamps_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    paris_morning = datetime(2025, 3, 1, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.start_run(now=paris_morning)
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(runs.c.started_at)).scalar_one()
    for started in (stored, store.recent_runs()[0].started_at):
        assert started == paris_morning
        assert started.tzinfo == UTC
        assert (started.hour, started.microsecond) == (8, 123456)


def test_naive_timestamps_are_taken_as_utc(store: Store) -> None:
    change = {
        "person_id": ["p1"],
        "to_stage": ["mql"],
        "rule": ["engaged"],
        "rules_version": ["v1"],
        "changed_at": [datetime(2025, 3, 1, 9, 0)],
    }
    store.record_stage_changes(pl.DataFrame(change))
    assert store.stage_changes()["changed_at"].to_list() == [T0]


# Cross-references -------------------------------------------------------------------


def test_linking_the_same_vendor_record_twice_keeps_one_link(store: Store) -> None:
    store.link("people", "p1", "salesforce", "Lead", "00Q1")
    store.link("people", "p1", "salesforce", "Lead", "00Q1")
    with store.engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(xrefs)).scalar()
    assert count == 1
    assert store.refs_of("people", "p1") == [
        SourceRef(system="salesforce", object="Lead", id="00Q1")
    ]


def test_find_local_returns_the_local_id_of_a_linked_vendor_record(store: Store) -> None:
    store.link("people", "p1", "hubspot", "contacts", "501")
    assert store.find_local("hubspot", "contacts", "501") == "p1"
    assert store.find_local("hubspot", "contacts", "502") is None
    assert store.find_local("salesforce", "contacts", "501") is None


def test_refs_of_lists_every_system_holding_the_record(store: Store) -> None:
    store.link("people", "p1", "salesforce", "Lead", "00Q1")
    store.link("people", "p1", "hubspot", "contacts", "501")
    store.link("people", "p2", "hubspot", "contacts", "502")
    assert store.refs_of("people", "p1") == [
        SourceRef(system="hubspot", object="contacts", id="501"),
        SourceRef(system="salesforce", object="Lead", id="00Q1"),
    ]
    assert store.refs_of("accounts", "p1") == []


def test_linking_a_vendor_record_to_another_local_record_moves_the_link(store: Store) -> None:
    store.link("people", "p1", "hubspot", "contacts", "501")
    store.link("people", "p9", "hubspot", "contacts", "501")  # p1 was merged into p9
    assert store.find_local("hubspot", "contacts", "501") == "p9"
    assert store.refs_of("people", "p1") == []


# Snapshot -------------------------------------------------------------------------------


def test_saving_a_snapshot_again_overwrites_rows_with_the_same_id(store: Store) -> None:
    store.save_snapshot("people", people(("p1", "Engineer"), ("p2", "CFO")))
    store.save_snapshot("people", people(("p1", "VP Engineering"), ("p3", None)))
    loaded = store.load_snapshot("people").select("id", "title")
    assert loaded.rows() == [("p1", "VP Engineering"), ("p2", "CFO"), ("p3", None)]


def test_snapshot_keeps_the_column_types_of_shared_entities(store: Store) -> None:
    frame = pl.DataFrame(
        {
            "id": ["p2", "p1"],
            "email": ["b@example.com", None],
            "consent": [True, None],
            "created_at": [T0, T0 + timedelta(microseconds=7)],
            "lifetime_value": [12, 30],  # a custom field
        }
    )
    store.save_snapshot("people", frame)
    expected = conform(frame, "people").sort("id")
    assert_frame_equal(store.load_snapshot("people"), expected)


def test_snapshot_of_other_entities_keeps_json_types(store: Store) -> None:
    owners = pl.DataFrame({"id": ["u1"], "name": ["Ada"], "max_open": [40], "available": [True]})
    store.save_snapshot("owners", owners)
    assert_frame_equal(store.load_snapshot("owners"), owners)


def test_a_snapshot_row_changes_its_updated_at_only_when_its_content_changes(store: Store) -> None:
    store.save_snapshot("people", people(("p1", "Engineer"), ("p2", "CFO")), now=T0)
    store.save_snapshot("people", people(("p1", "CTO"), ("p2", "CFO")), now=T0 + HOUR)
    changed = store.load_snapshot("people", changed_since=T0 + HOUR)
    assert changed["id"].to_list() == ["p1"]
    assert store.load_snapshot("people", changed_since=T0)["id"].to_list() == ["p1", "p2"]


def test_a_snapshot_loads_just_the_rows_asked_for_by_id(store: Store) -> None:
    store.save_snapshot("people", people(("p1", "Engineer"), ("p2", "CFO"), ("p3", None)))
    store.save_snapshot("owners", pl.DataFrame({"id": ["p1"], "name": ["Ada"]}))
    picked = store.load_snapshot("people", ids=["p3", "p1", "p404"])
    assert picked.select("id", "title").rows() == [("p1", "Engineer"), ("p3", None)]
    assert store.load_snapshot("people", ids=[]).is_empty()


def test_deleted_records_leave_the_snapshot(store: Store) -> None:
    store.save_snapshot("people", people(("p1", None), ("p2", None), ("p3", None)))
    assert store.delete_snapshot("people", ["p1", "p3", "p404"]) == 2
    assert store.load_snapshot("people")["id"].to_list() == ["p2"]


def test_snapshot_of_an_entity_never_saved_is_empty(store: Store) -> None:
    assert store.load_snapshot("accounts").is_empty()
    assert "domain" in store.load_snapshot("accounts").columns


def test_snapshot_rows_need_an_id(store: Store) -> None:
    with pytest.raises(SchemaError, match="'id' is null"):
        store.save_snapshot("owners", pl.DataFrame({"id": [None, "u2"], "name": ["a", "b"]}))


def test_snapshot_of_100k_rows_saves_and_loads_in_seconds(store: Store) -> None:
    n = 100_000
    frame = pl.DataFrame(
        {
            "id": [f"p{i:06d}" for i in range(n)],
            "email": [f"person{i}@example.com" for i in range(n)],
            "title": ["VP Sales"] * n,
            "created_at": [T0] * n,
        }
    )
    started = time.perf_counter()
    store.save_snapshot("people", frame)
    store.save_snapshot("people", frame.with_columns(pl.lit("CRO").alias("title")))
    loaded = store.load_snapshot("people")
    elapsed = time.perf_counter() - started
    assert loaded.height == n
    assert loaded.row(n - 1, named=True)["title"] == "CRO"
    assert elapsed < 20, f"took {elapsed:.1f} s"


# Score ledger -----------------------------------------------------------------------------


def test_recording_scores_adds_a_row_per_new_person(store: Store) -> None:
    added = store.record_scores(
        scores(("p1", 55.0, "A", "A1", '["pricing page"]'), ("p2", 12.5, "C", "C3", "[]")),
        rules_version="v1",
        as_of=T0,
    )
    assert added == 2
    assert [entry.total for entry in store.score_history("p1")] == [55.0]


def test_recording_identical_scores_twice_adds_no_rows(store: Store) -> None:
    frame = scores(("p1", 55.0, "A", "A1", '["pricing page"]'), ("p2", 12.5, "C", "C3", "[]"))
    store.record_scores(frame, rules_version="v1", as_of=T0)
    assert store.record_scores(frame, rules_version="v1", as_of=T0 + HOUR) == 0
    assert len(store.score_history("p1")) == 1


def test_only_people_whose_score_changed_get_a_new_row(store: Store) -> None:
    store.record_scores(
        scores(
            ("p1", 50.0, "A", "A1", "[]"),
            ("p2", 40.0, "B", "B1", "[]"),
            ("p3", 30.0, "B", "B2", '["webinar"]'),
            ("p4", 20.0, "C", "C2", "[]"),
        ),
        rules_version="v1",
        as_of=T0,
    )
    added = store.record_scores(
        scores(
            ("p1", 55.0, "A", "A1", "[]"),  # total changed
            ("p2", 40.001, "B", "B1", "[]"),  # same to 2 decimals
            ("p3", 30.0, "B", "B2", '["webinar", "demo"]'),  # reasons changed
            ("p4", 20.0, "C", "C1", "[]"),  # priority changed
            ("p5", 5.0, "D", "D3", "[]"),  # new person
        ),
        rules_version="v1",
        as_of=T0 + HOUR,
    )
    assert added == 4
    assert [len(store.score_history(p)) for p in ("p1", "p2", "p3", "p4", "p5")] == [2, 1, 2, 2, 1]


def test_a_new_rules_version_records_everyone_again(store: Store) -> None:
    frame = scores(("p1", 50.0, "A", "A1", "[]"), ("p2", 40.0, "B", "B1", "[]"))
    store.record_scores(frame, rules_version="v1", as_of=T0)
    assert store.record_scores(frame, rules_version="v2", as_of=T0 + HOUR) == 2
    assert [e.rules_version for e in store.score_history("p1")] == ["v1", "v2"]


def test_scores_as_of_returns_the_score_valid_at_that_time(store: Store) -> None:
    store.record_scores(scores(("p1", 10.0, "C", "C3", "[]")), rules_version="v1", as_of=T0)
    store.record_scores(
        scores(("p1", 20.0, "B", "B2", "[]"), ("p2", 5.0, "D", "D3", "[]")),
        rules_version="v1",
        as_of=T0 + 2 * HOUR,
    )
    before = store.scores_as_of(T0 - HOUR)
    between = store.scores_as_of(T0 + HOUR)
    after = store.scores_as_of(T0 + 2 * HOUR)
    assert before.is_empty()
    assert between.select("person_id", "total", "as_of").rows() == [("p1", 10.0, T0)]
    assert after.select("person_id", "total").rows() == [("p1", 20.0), ("p2", 5.0)]


def test_scores_as_of_can_be_limited_to_some_people(store: Store) -> None:
    store.record_scores(
        scores(("p1", 10.0, "C", "C3", "[]"), ("p2", 20.0, "B", "B2", "[]")),
        rules_version="v1",
        as_of=T0,
    )
    assert store.scores_as_of(T0, ["p2", "p404"])["person_id"].to_list() == ["p2"]
    many = ["p2", *(f"x{i}" for i in range(20_000))]
    assert store.scores_as_of(T0, many)["person_id"].to_list() == ["p2"]


def test_score_history_lists_each_change_oldest_first(store: Store) -> None:
    for hours, total in ((0, 10.0), (1, 10.0), (2, 30.0), (3, 20.0)):
        store.record_scores(
            scores(("p1", total, "B", "B2", "[]")), rules_version="v1", as_of=T0 + hours * HOUR
        )
    history = store.score_history("p1")
    assert [(e.total, e.as_of) for e in history] == [
        (10.0, T0),
        (30.0, T0 + 2 * HOUR),
        (20.0, T0 + 3 * HOUR),
    ]
    assert history[0].reasons == "[]"
    assert store.score_history("p404") == []


def test_record_scores_refuses_a_person_listed_twice(store: Store) -> None:
    frame = scores(("p1", 10.0, "C", "C3", "[]"), ("p1", 20.0, "B", "B2", "[]"))
    with pytest.raises(SchemaError, match="'p1' appears more than once"):
        store.record_scores(frame, rules_version="v1", as_of=T0)


def test_record_scores_names_a_missing_column(store: Store) -> None:
    frame = scores(("p1", 10.0, "C", "C3", "[]")).drop("priority")
    with pytest.raises(SchemaError, match=r"missing column.*priority"):
        store.record_scores(frame, rules_version="v1", as_of=T0)


def test_recording_100k_unchanged_scores_is_fast_and_adds_nothing(store: Store) -> None:
    n = 100_000
    frame = pl.DataFrame(
        {
            "person_id": [f"p{i:06d}" for i in range(n)],
            "fit": [20.0] * n,
            "engagement": [float(i % 97) for i in range(n)],
            "total": [20.0 + i % 97 for i in range(n)],
            "grade": ["B"] * n,
            "band": [2] * n,
            "priority": ["B2"] * n,
            "reasons": ['[{"rule": "target industry", "points": 15}]'] * n,
        }
    )
    started = time.perf_counter()
    first = store.record_scores(frame, rules_version="v1", as_of=T0)
    second = store.record_scores(frame, rules_version="v1", as_of=T0 + HOUR)
    elapsed = time.perf_counter() - started
    assert (first, second) == (n, 0)
    assert store.scores_as_of(T0 + HOUR).height == n
    assert elapsed < 20, f"took {elapsed:.1f} s"


# Stage, assignment and SLA ledgers --------------------------------------------------------


def test_stage_changes_are_appended_and_read_back_per_person(store: Store) -> None:
    frame = pl.DataFrame(
        {
            "person_id": ["p1", "p2", "p1"],
            "from_stage": ["lead", None, "mql"],
            "to_stage": ["mql", "lead", "sal"],
            "rule": ["engaged", "new", "accepted"],
            "reason": ["engagement 45 >= 40", None, None],
            "rules_version": ["v1", "v1", "v1"],
            "changed_at": [T0, T0, T0 + HOUR],
            "recorded_at": [T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR],
        }
    )
    assert store.record_stage_changes(frame) == 3
    assert store.stage_changes("p1")["to_stage"].to_list() == ["mql", "sal"]
    assert store.stage_changes().height == 3
    assert_frame_equal(
        store.stage_changes().sort("person_id", "changed_at"), frame.sort("person_id", "changed_at")
    )


def test_assignments_are_appended_and_read_back_per_person(store: Store) -> None:
    frame = pl.DataFrame(
        {
            "person_id": ["p1", "p1"],
            "owner_id": ["0055e000001AAAA", "0055e000001BBBB"],
            "rule": ["DACH", "DACH"],
            "reason": ["round robin dach", "SLA breached: reassigned"],
            "rules_version": ["v1", "v1"],
            "assigned_at": [T0, T0 + 48 * HOUR],
        }
    )
    store.record_assignments(frame)
    assert store.assignments("p1")["owner_id"].to_list() == ["0055e000001AAAA", "0055e000001BBBB"]
    assert store.assignments("p2").is_empty()


def test_sla_events_are_appended_and_read_back_per_person(store: Store) -> None:
    frame = pl.DataFrame(
        {
            "person_id": ["p1", "p1"],
            "stage": ["mql", "mql"],
            "kind": ["started", "breached"],
            "due_at": [T0 + 48 * HOUR, T0 + 48 * HOUR],
            "occurred_at": [T0, T0 + 49 * HOUR],
            "action": [None, "reassign"],
        }
    )
    store.record_sla_events(frame)
    events = store.sla_events("p1")
    assert events.select("kind", "action", "owner_id").rows() == [
        ("started", None, None),
        ("breached", "reassign", None),
    ]
    assert events["due_at"].to_list() == [T0 + 48 * HOUR] * 2


def test_ledger_rows_need_their_required_values(store: Store) -> None:
    frame = pl.DataFrame(
        {"person_id": ["p1"], "owner_id": [None], "rule": ["r"], "reason": ["x"]},
        schema_overrides={"owner_id": pl.String()},
    )
    frame = frame.with_columns(rules_version=pl.lit("v1"), assigned_at=pl.lit(T0))
    with pytest.raises(SchemaError, match=r"null values in required column.*owner_id"):
        store.record_assignments(frame)


# Runs and dead letters --------------------------------------------------------------------


def test_a_run_is_recorded_from_start_to_finish(store: Store) -> None:
    run_id = store.start_run(now=T0)
    assert store.recent_runs()[0].status == "running"
    store.finish_run(
        run_id,
        "partial",
        {"read": 120, "written": 118},
        "2 records rejected",
        api_calls={"salesforce": 7},
        now=T0 + HOUR,
    )
    run = store.recent_runs()[0]
    assert (run.id, run.status, run.error) == (run_id, "partial", "2 records rejected")
    assert (run.started_at, run.finished_at) == (T0, T0 + HOUR)
    assert run.counts == {"read": 120, "written": 118}
    assert run.api_calls == {"salesforce": 7}


def test_recent_runs_lists_the_newest_first_up_to_the_limit(store: Store) -> None:
    ids = [store.start_run(now=T0 + i * HOUR) for i in range(5)]
    assert [run.id for run in store.recent_runs(limit=3)] == ids[::-1][:3]


def test_finishing_a_run_that_was_never_started_fails(store: Store) -> None:
    with pytest.raises(StoreError, match="no run 404"):
        store.finish_run(404, "succeeded", {})


def test_a_record_rejected_again_counts_another_attempt(store: Store) -> None:
    store.add_dead_letter(
        "salesforce",
        "Lead",
        "00Q1",
        {"Email": "x"},
        "INVALID_EMAIL_ADDRESS",
        "Email: invalid email address",
        now=T0,
    )
    store.add_dead_letter(
        "salesforce",
        "Lead",
        "00Q1",
        {"Email": "y"},
        "FIELD_CUSTOM_VALIDATION",
        "Score must be positive",
        now=T0 + HOUR,
    )
    [letter] = store.list_dead_letters()
    assert letter.attempts == 2
    assert (letter.first_seen, letter.last_tried) == (T0, T0 + HOUR)
    assert (letter.error_code, letter.payload) == ("FIELD_CUSTOM_VALIDATION", {"Email": "y"})


def test_resolved_dead_letters_are_listed_only_on_request(store: Store) -> None:
    store.add_dead_letter("hubspot", "contacts", "501", {}, None, "rejected", now=T0)
    store.add_dead_letter("hubspot", "contacts", "502", {}, None, "rejected", now=T0)
    assert store.resolve_dead_letter("hubspot", "contacts", "501")
    assert not store.resolve_dead_letter("hubspot", "contacts", "501")
    assert [d.record_id for d in store.list_dead_letters()] == ["502"]
    listed = store.list_dead_letters(include_resolved=True)
    assert sorted((d.record_id, d.resolved) for d in listed) == [("501", True), ("502", False)]


def test_dead_letters_can_be_listed_per_connector_and_object(store: Store) -> None:
    store.add_dead_letter("hubspot", "contacts", "501", {}, None, "rejected")
    store.add_dead_letter("salesforce", "Lead", "00Q1", {}, None, "rejected")
    store.add_dead_letter("salesforce", "Contact", "0031", {}, None, "rejected")
    assert [d.record_id for d in store.list_dead_letters("salesforce", "Lead")] == ["00Q1"]
    assert len(store.list_dead_letters("salesforce")) == 2


# Locks ----------------------------------------------------------------------------------


def test_lock_is_exclusive_until_it_expires(store: Store) -> None:
    ttl = timedelta(minutes=10)
    assert store.try_lock("tenant-a", "worker-1", ttl, now=T0)
    assert not store.try_lock("tenant-a", "worker-2", ttl, now=T0 + timedelta(minutes=9))
    assert store.try_lock("tenant-b", "worker-2", ttl, now=T0)  # another lock is free
    assert store.try_lock("tenant-a", "worker-2", ttl, now=T0 + timedelta(minutes=10))
    assert not store.try_lock("tenant-a", "worker-1", ttl, now=T0 + timedelta(minutes=11))


def test_the_holder_renews_its_lock_by_taking_it_again(store: Store) -> None:
    ttl = timedelta(minutes=10)
    assert store.try_lock("tenant-a", "worker-1", ttl, now=T0)
    assert store.try_lock("tenant-a", "worker-1", ttl, now=T0 + timedelta(minutes=8))
    assert not store.try_lock("tenant-a", "worker-2", ttl, now=T0 + timedelta(minutes=12))


def test_only_the_holder_can_release_a_lock(store: Store) -> None:
    ttl = timedelta(minutes=10)
    store.try_lock("tenant-a", "worker-1", ttl, now=T0)
    assert not store.release_lock("tenant-a", "worker-2")
    assert not store.try_lock("tenant-a", "worker-2", ttl, now=T0)
    assert store.release_lock("tenant-a", "worker-1")
    assert store.try_lock("tenant-a", "worker-2", ttl, now=T0)


def test_only_one_of_many_simultaneous_takers_gets_the_lock(state_db_url: str) -> None:
    takers = 6
    stores = [Store.open(state_db_url) for _ in range(takers)]
    start = threading.Barrier(takers)
    won: list[bool] = [False] * takers

    def take(index: int) -> None:
        start.wait()
        won[index] = stores[index].try_lock("tenant-a", f"worker-{index}", timedelta(minutes=5))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
    assert won.count(True) == 1
