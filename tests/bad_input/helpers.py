"""What every bad-input case asserts: one clear line, the right exit code, nothing written."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from abmsync.cli import main

FAILED = 1  # a failed run or bad data
USAGE = 2  # click's usage errors

Tree = dict[str, str]


def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> Result:
    """Run ``abmsync ARGS`` in-process; any exception escaping the CLI fails the test."""
    return CliRunner().invoke(
        main, [str(a) for a in args], env=dict(env or {}), catch_exceptions=False
    )


def snapshot(*roots: Path) -> Tree:
    """Every file and directory under ``roots`` with a hash of its bytes (hidden ones too)."""
    tree: Tree = {}
    for root in roots:
        if not root.exists():
            tree[str(root)] = "<absent>"
            continue
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            if path.is_dir():
                tree[str(path)] = "<dir>"
            else:
                tree[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


@dataclass(frozen=True)
class Expect:
    """The one error line a case must print: where its text must contain each of ``needles``."""

    code: int
    needles: tuple[str, ...]
    diagnostic: str | None = None  # a file whose ``file:line:col:`` must start the line
    line: int | None = None
    column: int | None = None


def error_lines(result: Result, expect: Expect) -> list[str]:
    """The lines of the output that report an error."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    if expect.diagnostic is not None:
        pattern = re.compile(rf"^(error: )?{re.escape(expect.diagnostic)}:\d+:\d+: ")
        return [line for line in lines if pattern.match(line)]
    return [line for line in lines if line.startswith(("error:", "Error:"))]


def assert_one_error(result: Result, expect: Expect) -> str:
    """Exit code, no traceback, exactly one error line holding every needle; returns the line."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == expect.code, (
        f"exit {result.exit_code}, expected {expect.code}:\n{output}"
    )
    found = error_lines(result, expect)
    assert len(found) == 1, f"expected one error line, got {len(found)}:\n{output}"
    line = found[0]
    for needle in expect.needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    if expect.code == FAILED:
        others = [x for x in output.splitlines() if x.strip() and x != line]
        assert not others, f"more than the error line was printed:\n{output}"
    if expect.line is not None:
        position = re.search(r":(\d+):(\d+): ", line)
        assert position, line
        assert int(position.group(1)) == expect.line, line
        if expect.column is not None:
            assert int(position.group(2)) == expect.column, line
    return line


def assert_unchanged(before: Tree, *roots: Path) -> None:
    """Nothing was created, changed or removed under ``roots`` (no output, no temp file)."""
    after = snapshot(*roots)
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert not (created or removed or changed), (
        f"created {created}, removed {removed}, changed {changed}"
    )


def position_of(text: str, marker: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the ``occurrence``-th ``marker`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(marker, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column
