"""Bad data files and mappings: one line naming the file (and row or mapping line), nothing written.

A failed ``score`` or ``run`` leaves no output file, no temporary file and no
state database behind; ``--out`` with an unsupported extension fails before
any work, naming the path the user gave.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.bad_input.conftest import EXAMPLE_RULES, FORMATS, copy_data
from tests.bad_input.helpers import (
    FAILED,
    Expect,
    assert_one_error,
    assert_unchanged,
    invoke,
    position_of,
    snapshot,
)

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_ndjson(path, infer_schema_length=None)


def _write(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.write_csv(path)
    elif path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_ndjson(path)


def _command(command: str, data: Path, work: Path, *extra: object) -> list[object]:
    database = f"sqlite:///{work / 'state.db'}"
    if command == "score":
        return ["score", "--rules", EXAMPLE_RULES, "--data", data, "--out", work / "scores.csv",
                "--database", database, *extra]  # fmt: skip
    return ["run", "--rules", EXAMPLE_RULES, "--data", data, "--database", database, *extra]


def _fails_cleanly(args: list[object], expect: Expect, *roots: Path) -> str:
    before = snapshot(*roots)
    result = invoke(args)
    line = assert_one_error(result, expect)
    assert_unchanged(before, *roots)
    return line


@pytest.mark.parametrize("command", ["score", "run"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_person_ids_are_rejected_with_their_rows(
    fmt: str, command: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    data = copy_data(datasets, fmt, isolated / "data")
    people = data / f"people{EXTENSIONS[fmt]}"
    frame = _read(people)
    _write(pl.concat([frame, frame.head(1)]), people)
    expect = Expect(FAILED, (f"{people}: row {frame.height + 1}: duplicate id", "(also on row 1)"))
    _fails_cleanly(_command(command, data, isolated), expect, isolated)


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_account_ids_are_rejected(
    fmt: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    data = copy_data(datasets, fmt, isolated / "data")
    accounts = data / f"accounts{EXTENSIONS[fmt]}"
    frame = _read(accounts)
    _write(pl.concat([frame, frame.tail(1)]), accounts)
    expect = Expect(FAILED, (f"{accounts}: row {frame.height + 1}: duplicate id",))
    _fails_cleanly(_command("score", data, isolated), expect, isolated)


@pytest.mark.parametrize("command", ["score", "run"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_people_without_an_id_column_name_the_file_and_column(
    fmt: str, command: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    data = copy_data(datasets, fmt, isolated / "data")
    people = data / f"people{EXTENSIONS[fmt]}"
    _write(_read(people).drop("id"), people)
    expect = Expect(FAILED, (f"{people}: missing required column", "id"))
    _fails_cleanly(_command(command, data, isolated), expect, isolated)


@pytest.mark.parametrize("column", ["person_id", "type", "occurred_at"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_touchpoints_without_a_required_column_fail_the_run(
    fmt: str, column: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    data = copy_data(datasets, fmt, isolated / "data")
    touchpoints = data / f"touchpoints{EXTENSIONS[fmt]}"
    _write(_read(touchpoints).drop(column), touchpoints)
    expect = Expect(FAILED, (f"{touchpoints}: missing required column", column))
    _fails_cleanly(_command("run", data, isolated), expect, isolated)


BAD_VALUES = [
    ("people", "created_at", "yesterday", "score", "is not a date-time"),
    ("people", "created_at", "yesterday", "run", "is not a date-time"),
    ("people", "unsubscribed", "perhaps", "score", "is not a boolean"),
    ("touchpoints", "occurred_at", "soon", "run", "is not a date-time"),
    ("accounts", "employees", "many", "score", "is not an integer"),
    ("accounts", "annual_revenue", "lots", "run", "is not a number"),
    ("owners", "max_open", "lots", "run", "is not an integer"),
    ("owners", "available", "maybe", "run", "is not a boolean"),
]


@pytest.mark.parametrize(
    ("entity", "column", "value", "command", "message"),
    BAD_VALUES,
    ids=[f"{c[0]}.{c[1]}-{c[3]}" for c in BAD_VALUES],
)
def test_an_unreadable_value_names_file_row_and_column(
    entity: str, column: str, value: str, command: str, message: str,
    isolated: Path, datasets: dict[str, Path],
) -> None:  # fmt: skip
    data = copy_data(datasets, "csv", isolated / "data")
    path = data / f"{entity}.csv"
    frame = _read(path)
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit(value)).otherwise(pl.col(column))
        .alias(column)
    )  # fmt: skip
    _write(bad, path)
    expect = Expect(FAILED, (f"{path}: row 3: column {column!r}", f"{value!r} {message}"))
    _fails_cleanly(_command(command, data, isolated), expect, isolated)


def test_owners_without_an_id_column_fail_the_run(
    isolated: Path, datasets: dict[str, Path]
) -> None:
    data = copy_data(datasets, "csv", isolated / "data")
    owners = data / "owners.csv"
    _write(_read(owners).drop("id"), owners)
    expect = Expect(FAILED, (f"{owners}: missing required column 'id'",))
    _fails_cleanly(_command("run", data, isolated), expect, isolated)


TOUCHPOINTS_MAPPING = """\
entity: touchpoints
source: {system: files, object: touchpoints}
fields:
  id: id
  person_id: person_id
  type: TYPE
  occurred_at: OCCURRED
"""

DATETIME = "{field: occurred_at, transform: datetime, format: FORMAT}"
MAP = "{field: type, transform: map, values: VALUES}"
MAPPINGS = [
    ("format-does-not-match", "type", DATETIME.replace("FORMAT", "'%d/%m/%Y'"),
     "does not match format '%d/%m/%Y'", True),
    ("format-invalid", "type", DATETIME.replace("FORMAT", "'%Y-%m-%d %H'"),
     "is not a valid date-time format", False),
    ("format-without-directive", "type", DATETIME.replace("FORMAT", "DD.MM.YYYY"),
     "has no %-directive", False),
    ("map-misses-values", MAP.replace("VALUES", "{page_view: page_view}"), "occurred_at",
     "is not among the map's values", True),
    ("map-default-not-boolean", MAP.replace("VALUES", "{page_view: true}, default: x"),
     "occurred_at", "must be true or false", False),
]  # fmt: skip


@pytest.mark.parametrize("command", ["score", "run"])
@pytest.mark.parametrize(
    ("type_rule", "occurred_rule", "message", "names_row"),
    [m[1:] for m in MAPPINGS],
    ids=[m[0] for m in MAPPINGS],
)
def test_a_mapping_that_cannot_read_the_data_names_its_line(
    type_rule: str, occurred_rule: str, message: str, names_row: bool, command: str,
    isolated: Path, datasets: dict[str, Path],
) -> None:  # fmt: skip
    text = TOUCHPOINTS_MAPPING.replace("TYPE", type_rule).replace("OCCURRED", occurred_rule)
    mapping = isolated / "touchpoints.yaml"
    mapping.write_text(text)
    data = datasets["csv"]
    needles = (f"{mapping}:", message, *(["touchpoints.csv: row 1:"] if names_row else []))
    args = _command(command, data, isolated, "--mapping", mapping)
    line = _fails_cleanly(args, Expect(FAILED, needles), isolated, data)
    assert line.startswith(f"error: {mapping}:6:") or line.startswith(f"error: {mapping}:7:")


@pytest.mark.parametrize(
    "name",
    ["out.xls", "out.txt", "out.json", "out", "out.parquet.zip", "out.csv.bz2", "sub/dir/out.xlsx"],
)
def test_an_unsupported_output_extension_fails_before_any_work(
    name: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    out = isolated / name
    data = datasets["parquet"]
    args = ["score", "--rules", EXAMPLE_RULES, "--data", data, "--out", out,
            "--database", f"sqlite:///{isolated / 'state.db'}"]  # fmt: skip
    problem = "no file extension" if "." not in name else "unsupported format"
    line = _fails_cleanly(args, Expect(FAILED, (f"error: {out}: {problem}",)), isolated, data)
    assert ".partial" not in line and ".tmp" not in line


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_no_output_file_is_left_when_recording_the_ledger_fails(
    suffix: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    state = isolated / "state.db"
    state.write_bytes(b"\x00garbage, not a database" * 100)
    out = isolated / f"scores{suffix}"
    args = ["score", "--rules", EXAMPLE_RULES, "--data", datasets["parquet"], "--out", out,
            "--database", f"sqlite:///{state}"]  # fmt: skip
    _fails_cleanly(args, Expect(FAILED, ("not an SQLite database file",)), isolated)


def test_an_existing_output_file_survives_a_failed_run(
    isolated: Path, datasets: dict[str, Path]
) -> None:
    out = isolated / "scores.csv"
    out.write_text("id\nprevious\n")
    state = isolated / "state.db"
    state.write_bytes(b"")
    args = ["score", "--rules", EXAMPLE_RULES, "--data", datasets["csv"], "--out", out,
            "--database", f"sqlite:///{state}"]  # fmt: skip
    _fails_cleanly(args, Expect(FAILED, ("the file is empty",)), isolated)


HOSTILE_MAPPINGS = [
    ("custom-tag", "entity: !people people\n", "!people", "YAML tag '!people'"),
    ("python-object", "entity: people\nsource: !!python/object:os.system {}\n", "!!python",
     "python/object:os.system"),
    ("deep", "entity: people\nfields: " + "[" * 100 + "]" * 100 + "\n", None, "nested more than"),
    ("aliases", "entity: people\nx: &a 1\nys: [" + ", ".join(["*a"] * 101) + "]\n", None,
     "more than 100 alias uses"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "marker", "message"), [m[1:] for m in HOSTILE_MAPPINGS],
                         ids=[m[0] for m in HOSTILE_MAPPINGS])  # fmt: skip
def test_a_hostile_mapping_file_is_refused_at_its_position(
    text: str, marker: str | None, message: str, isolated: Path, datasets: dict[str, Path]
) -> None:
    mapping = isolated / "people.yaml"
    mapping.write_text(text)
    expect = Expect(FAILED, (f"error: {mapping}:", message))
    line = _fails_cleanly(_command("score", datasets["csv"], isolated, "--mapping", mapping),
                          expect, isolated, datasets["csv"])  # fmt: skip
    if marker is not None:
        row, column = position_of(text, marker)
        assert line.startswith(f"error: {mapping}:{row}:{column}:"), line
