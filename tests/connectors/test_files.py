"""The files connector: formats, one-line errors, a Salesforce report, and the Protocol."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from abmsync.connectors.base import Connector, FieldMeta, FieldSpec, FieldType, Patch
from abmsync.connectors.files import FilesConnector, FilesError, read_entity, write_frame
from abmsync.connectors.mapping import Mapping, MappingError, load_mapping
from abmsync.errors import ConfigError
from abmsync.schema import PEOPLE_COLUMNS, conform

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples" / "mappings"


def people() -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "id": ["007", "008"],
            "email": ["a@x.com", None],
            "title": ["VP Sales, EMEA", 'Chief "Revenue" Officer'],
            "country": ["DE", "US"],
            "unsubscribed": [False, True],
            "created_at": [datetime(2024, 1, 15, 10, 30, tzinfo=UTC), None],
            "score": [42.5, None],
            "tags": [["abm", "mql"], []],
        }
    )
    return conform(frame, "people")


def read_error(path: Path, entity: str = "people", mapping: Mapping | None = None) -> str:
    with pytest.raises(FilesError) as caught:
        read_entity(path, entity, mapping)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson"])
def test_people_round_trip_through_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"people{suffix}"
    write_frame(people(), path)
    back = read_entity(path, "people")
    schema_columns = list(PEOPLE_COLUMNS)
    assert back.select(schema_columns).equals(people().select(schema_columns))
    assert back["score"].cast(pl.Float64).to_list() == [42.5, None]


def test_csv_keeps_leading_zeros_in_ids(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,email\n007,a@x.com\n", encoding="utf-8")
    assert read_entity(path, "people")["id"].to_list() == ["007"]


def test_csv_writes_lists_as_json_text(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    write_frame(people(), path)
    assert read_entity(path, "people")["tags"].to_list() == ['["abm","mql"]', "[]"]


def test_jsonl_keeps_lists_nested(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    write_frame(people(), path)
    assert read_entity(path, "people")["tags"].to_list() == [["abm", "mql"], []]


def test_gzipped_csv_is_compressed(tmp_path: Path) -> None:
    path = tmp_path / "people.csv.gz"
    write_frame(people(), path)
    assert gzip.decompress(path.read_bytes()).startswith(b"id,email,title")


def test_write_frame_replaces_the_file_and_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "out" / "scores.parquet"
    write_frame(people(), path)
    write_frame(people().head(1), path)
    assert pl.read_parquet(path).height == 1
    assert [p.name for p in path.parent.iterdir()] == ["scores.parquet"]


def test_write_frame_handles_structs_and_binary_in_text_formats(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["1"], "s": [{"a": 1}], "b": [b"\x01"]})
    write_frame(frame, tmp_path / "x.csv")
    write_frame(frame, tmp_path / "x.jsonl")
    assert (tmp_path / "x.csv").read_text(encoding="utf-8") == 'id,s,b\n1,"{""a"":1}",01\n'
    assert (tmp_path / "x.jsonl").read_text(encoding="utf-8") == '{"id":"1","s":{"a":1},"b":"01"}\n'


def test_schema_names_are_parsed_strictly_without_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "id,unsubscribed,created_at\n1,yes,2024-01-15T10:30:00Z\n2,no,1705314600000\n",
        encoding="utf-8",
    )
    frame = read_entity(path, "people")
    assert frame["unsubscribed"].to_list() == [True, False]
    assert frame["created_at"].to_list() == [datetime(2024, 1, 15, 10, 30, tzinfo=UTC)] * 2


# --------------------------------------------------------------------------- errors


def test_unsupported_format_says_which_to_use(tmp_path: Path) -> None:
    path = tmp_path / "scores.xlsx"
    path.write_bytes(b"PK")
    assert read_error(path) == f"{path}: unsupported format '.xlsx' (use .csv, .parquet or .jsonl)"
    with pytest.raises(FilesError, match=r"unsupported format '\.xlsx'"):
        write_frame(people(), path)


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\na@x.com\n", encoding="utf-8")
    assert read_error(path) == f"{path}: missing required column 'id'"


def test_bad_value_names_row_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,created_at\n1,2024-01-15\n2,\n3,last tuesday\n", encoding="utf-8")
    assert read_error(path) == (
        f"{path}: row 3: column 'created_at': 'last tuesday' is not a date-time"
    )


def test_bad_value_of_a_mapped_column_names_the_vendor_field(tmp_path: Path) -> None:
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(
        "entity: accounts\nsource: {system: files, object: a}\n"
        "fields: {id: Id, employees: Employees}\n",
        encoding="utf-8",
    )
    path = tmp_path / "accounts.csv"
    path.write_text("Id,Employees\na,12\nb,many\n", encoding="utf-8")
    message = read_error(path, "accounts", mapping=load_mapping(mapping_path))
    assert (
        message == f"{path}: row 2: column 'employees' (from 'Employees'): 'many' is not an integer"
    )


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("people.csv", b"", "file is empty"),
        ("people.csv", "id,name\n1,J\xf6rg\n".encode("latin-1"), "not UTF-8"),
        ("people.csv", b'id,name\n1,"open\n', "cannot read"),
        ("people.jsonl", b'{"id": "1"}\n{"id": \n', "line 2: invalid JSON"),
        ("people.jsonl", b'{"id": "1"}\n[1, 2]\n', "line 2: invalid JSON (not an object)"),
        ("people.parquet", b"not parquet at all", "cannot read"),
    ],
)
def test_unreadable_files_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = read_error(path)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    assert read_error(tmp_path / "nope.csv") == f"{tmp_path / 'nope.csv'}: no such file"


def test_files_errors_are_config_errors() -> None:
    assert issubclass(FilesError, ConfigError)


# --------------------------------------------------------------------------- Salesforce report


def test_salesforce_leads_report_maps_onto_people() -> None:
    mapping = load_mapping(EXAMPLES / "files-salesforce-report.yaml")
    leads = read_entity(FIXTURES / "salesforce-leads-report.csv", "people", mapping)
    assert leads.equals(conform(leads, "people"))
    assert leads["id"].to_list() == [
        "00Q5e00000AbCd1",
        "00Q5e00000AbCd2",
        "00Q5e00000AbCd3",
        "00Q5e00000AbCd4",
    ]
    assert leads["email"].to_list() == [
        "anna.schmidt@example.de",
        "john@acme.com",
        None,
        "li.wei@example.cn",
    ]
    assert leads["country"].to_list() == ["DE", "US", "FR", "CN"]
    assert leads["company"].to_list()[:2] == ["Beispiel GmbH", "Acme, Inc."]
    assert leads["title"].to_list()[3] == "Student"
    assert leads["unsubscribed"].to_list() == [False, True, False, False]
    assert leads["kind"].unique().to_list() == ["lead"]
    assert leads["created_at"].to_list() == [
        datetime(2024, 1, 15, 14, 5, tzinfo=UTC),  # 9:05 AM in New York (EST)
        datetime(2023, 7, 5, 3, 30, tzinfo=UTC),  # 11:30 PM (EDT) is the next day in UTC
        datetime(2023, 12, 31, 5, 0, tzinfo=UTC),
        datetime(2024, 3, 10, 18, 15, tzinfo=UTC),  # the day DST starts
    ]
    assert leads["crm_status"].to_list()[1] == "Working - Contacted"
    assert leads["employees"].to_list() == [1200, 250, None, None]
    assert leads["website_domain"].to_list() == ["beispiel.de", "acme.com", "exemple.fr", None]
    assert leads["industry"].to_list()[2] is None  # a blank CSV cell is null


def test_report_with_renamed_column_points_at_the_mapping(tmp_path: Path) -> None:
    report = tmp_path / "leads.csv"
    text = (FIXTURES / "salesforce-leads-report.csv").read_text(encoding="utf-8-sig")
    report.write_text(text.replace('"Email Opt Out"', '"Email Opt-Out"'), encoding="utf-8")
    mapping_path = EXAMPLES / "files-salesforce-report.yaml"
    with pytest.raises(MappingError) as caught:
        read_entity(report, "people", load_mapping(mapping_path))
    message = str(caught.value)
    assert message.startswith(f"{mapping_path}:")
    assert message.endswith(
        f"{report} has no column 'Email Opt Out' (did you mean 'Email Opt-Out'?)"
    )


def test_mapping_for_another_entity_is_refused(tmp_path: Path) -> None:
    mapping = load_mapping(EXAMPLES / "files-salesforce-report.yaml")
    message = read_error(FIXTURES / "salesforce-leads-report.csv", "accounts", mapping=mapping)
    assert message.endswith(f"the mapping {mapping.origin} makes people, not accounts")
    assert mapping.origin.endswith("files-salesforce-report.yaml")


# --------------------------------------------------------------------------- connector


def exports(tmp_path: Path) -> FilesConnector:
    leads = tmp_path / "leads"
    leads.mkdir()
    pl.DataFrame({"id": ["1", "2"], "email": ["a@x.com", "b@x.com"]}).write_csv(leads / "a.csv")
    pl.DataFrame({"id": ["3"], "email": ["c@x.com"]}).write_csv(leads / "b.csv")
    return FilesConnector(tmp_path, {"Lead": "leads/*.csv"})


def test_files_connector_implements_the_protocol(tmp_path: Path) -> None:
    connector: Connector = FilesConnector(tmp_path)
    assert isinstance(connector, Connector)
    assert connector.name == "files"


def test_read_changes_yields_one_batch_per_file(tmp_path: Path) -> None:
    batches = list(exports(tmp_path).read_changes("Lead", None))
    assert [b.records["id"].to_list() for b in batches] == [["1", "2"], ["3"]]
    assert [b.deleted_ids for b in batches] == [[], []]
    assert batches[0].cursor != batches[1].cursor


def test_read_changes_skips_files_unchanged_since_the_cursor(tmp_path: Path) -> None:
    connector = exports(tmp_path)
    cursor = list(connector.read_changes("Lead", None))[-1].cursor
    assert list(connector.read_changes("Lead", cursor)) == []


def test_read_changes_rereads_only_the_changed_file(tmp_path: Path) -> None:
    connector = exports(tmp_path)
    cursor = list(connector.read_changes("Lead", None))[-1].cursor
    changed = tmp_path / "leads" / "b.csv"
    changed.write_text("id,email\n3,c@x.com\n4,d@x.com\n", encoding="utf-8")
    batches = list(connector.read_changes("Lead", cursor))
    assert [b.records["id"].to_list() for b in batches] == [["3", "4"]]
    assert list(connector.read_changes("Lead", batches[-1].cursor)) == []


def test_cursor_of_an_early_batch_does_not_cover_later_files(tmp_path: Path) -> None:
    connector = exports(tmp_path)
    first = next(iter(connector.read_changes("Lead", None)))
    again = list(connector.read_changes("Lead", first.cursor))
    assert [b.records["id"].to_list() for b in again] == [["3"]]


def test_touched_file_with_same_content_is_read_again(tmp_path: Path) -> None:
    connector = exports(tmp_path)
    cursor = list(connector.read_changes("Lead", None))[-1].cursor
    path = tmp_path / "leads" / "a.csv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(list(connector.read_changes("Lead", cursor))) == 1


def test_describe_reports_csv_columns_as_untyped(tmp_path: Path) -> None:
    meta = exports(tmp_path).describe("Lead")
    assert list(meta.fields) == ["id", "email"]
    assert {f.type for f in meta.fields.values()} == {FieldType.OTHER}
    assert meta.fields["id"].external_id


def test_describe_reports_parquet_types(tmp_path: Path) -> None:
    write_frame(people(), tmp_path / "people.parquet")
    fields = FilesConnector(tmp_path).describe("people").fields
    assert fields["created_at"].type is FieldType.DATETIME
    assert fields["unsubscribed"].type is FieldType.BOOLEAN
    assert fields["score"].type is FieldType.NUMBER
    assert fields["email"].type is FieldType.STRING


def test_describe_of_an_object_without_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FilesError, match="no files for 'Contact'"):
        FilesConnector(tmp_path).describe("Contact")


def test_write_updates_upserts_and_creates(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["1", "2"], "key": ["k1", "k2"], "grade": ["B", "C"]}).write_csv(
        tmp_path / "scores.csv"
    )
    connector = FilesConnector(tmp_path)
    results = connector.write(
        "scores",
        [
            Patch(obj="scores", record_id="1", values={"grade": "A", "score": 61.5}),
            Patch(obj="scores", external_id=("key", "k2"), values={"grade": None}),
            Patch(obj="scores", external_id=("key", "k9"), values={"grade": "D"}),
            Patch(obj="scores", values={"id": "7", "grade": "B"}),
            Patch(obj="scores", record_id="404", values={"grade": "A"}),
        ],
    )
    assert [(r.ok, r.created, r.error_code) for r in results] == [
        (True, False, None),
        (True, False, None),
        (True, True, None),
        (True, True, None),
        (False, False, "NOT_FOUND"),
    ]
    assert results[3].record_id == "7"
    written = pl.read_csv(tmp_path / "scores.csv", infer_schema=False)
    rows = {r["id"]: r for r in written.iter_rows(named=True)}
    assert rows["1"]["grade"] == "A"
    assert rows["1"]["score"] == "61.5"
    assert rows["2"]["grade"] is None
    assert rows[results[2].record_id or ""]["key"] == "k9"
    assert rows["7"]["grade"] == "B"
    assert written.height == 4


def test_write_creates_the_file_of_a_new_object(tmp_path: Path) -> None:
    connector = FilesConnector(tmp_path, new_file_suffix=".jsonl")
    results = connector.write("touchpoints", [Patch(obj="touchpoints", values={"type": "call"})])
    assert results[0].created
    written = pl.read_ndjson(tmp_path / "touchpoints.jsonl")
    assert written.to_dicts() == [{"type": "call", "id": results[0].record_id}]


def test_write_validates_values_against_typed_files(tmp_path: Path) -> None:
    write_frame(pl.DataFrame({"id": ["1"], "score": [1.0]}), tmp_path / "scores.parquet")
    results = FilesConnector(tmp_path).write(
        "scores", [Patch(obj="scores", record_id="1", values={"score": "high"})]
    )
    assert results[0].error_code == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert pl.read_parquet(tmp_path / "scores.parquet")["score"].to_list() == [1.0]


def test_write_of_nothing_leaves_files_alone(tmp_path: Path) -> None:
    assert FilesConnector(tmp_path).write("scores", []) == []
    assert list(tmp_path.iterdir()) == []


def test_ensure_fields_creates_nothing(tmp_path: Path) -> None:
    spec = FieldSpec(obj="scores", fields=[FieldMeta(name="abm_score")])
    assert FilesConnector(tmp_path).ensure_fields(spec) == []


def test_check_reports_each_object(tmp_path: Path) -> None:
    report = exports(tmp_path).check()
    assert report.ok
    assert [i.name for i in report.items][-1] == "Lead"
    assert report.items[-1].detail == "2 file(s)"
    missing = FilesConnector(tmp_path / "nowhere", {"Lead": "*.csv"}).check()
    assert not missing.ok
