"""A state database file that is not one abmsync can use: one line, exit 1, the file untouched."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_input.conftest import EXAMPLE_RULES
from tests.bad_input.helpers import (
    FAILED,
    Expect,
    assert_one_error,
    assert_unchanged,
    invoke,
    snapshot,
)


def _read_only(path: Path, empty: Path) -> None:
    shutil.copy(empty, path)
    path.chmod(0o444)


def _corrupt(path: Path, empty: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _text(path: Path, empty: Path) -> None:
    path.write_text("these are my notes, not a database\n")


def _zero_bytes(path: Path, empty: Path) -> None:
    path.write_bytes(b"")


def _newer(path: Path, empty: Path) -> None:
    shutil.copy(empty, path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()


def _foreign(path: Path, empty: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoices (total) VALUES (9.5)")
    connection.close()


def _sqlite_header_then_garbage(path: Path, empty: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xde\xad\xbe\xef" * 256)


def _directory(path: Path, empty: Path) -> None:
    path.mkdir()


KINDS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "read-only": (_read_only, "the file is read-only"),
    "random-bytes": (_corrupt, "not an SQLite database file"),
    "text-file": (_text, "not an SQLite database file"),
    "zero-bytes": (_zero_bytes, "the file is empty, not an abmsync state database"),
    "newer-revision": (_newer, "its schema is newer than this abmsync knows"),
    "another-application": (_foreign, "holds tables but no abmsync schema"),
    "header-then-garbage": (_sqlite_header_then_garbage, "file is not a database"),
    "directory": (_directory, "is a directory"),
}


def _commands(url: str, data: Path, work: Path) -> dict[str, list[object]]:
    return {
        "status": ["status", "--database", url],
        "sla": ["sla", "--database", url],
        "deadletters": ["deadletters", "list", "--database", url],
        "score": ["score", "--rules", EXAMPLE_RULES, "--data", data, "--database", url,
                  "--out", work / "scores.parquet"],
        "run": ["run", "--rules", EXAMPLE_RULES, "--data", data, "--database", url],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["status", "sla", "deadletters", "score", "run"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_an_unusable_state_database_is_refused_and_left_as_it_was(
    kind: str, command: str, isolated: Path, datasets: dict[str, Path], empty_state: Path
) -> None:
    make, message = KINDS[kind]
    path = isolated / "state.db"
    make(path, empty_state)
    url = f"sqlite:///{path}"
    before = snapshot(isolated)
    try:
        result = invoke(_commands(url, datasets["parquet"], isolated)[command])
        assert_one_error(result, Expect(FAILED, (f"cannot open state database {url}", message)))
        assert_unchanged(before, isolated)  # the file, and no -wal, -shm or output beside it
    finally:
        if path.is_file():
            path.chmod(0o644)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_database_url_from_the_environment_is_checked_the_same_way(
    kind: str, isolated: Path, empty_state: Path
) -> None:
    make, message = KINDS[kind]
    path = isolated / "state.db"
    make(path, empty_state)
    before = snapshot(isolated)
    try:
        result = invoke(["status"], env={"ABMSYNC_DATABASE_URL": f"sqlite:///{path}"})
        assert_one_error(result, Expect(FAILED, (message,)))
        assert_unchanged(before, isolated)
    finally:
        if path.is_file():
            path.chmod(0o644)


def test_a_new_database_file_is_still_created(isolated: Path) -> None:
    path = isolated / "new.db"
    result = invoke(["status", "--database", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0
