"""Valid inputs the bad-input corpus breaks: built once per session, copied per case."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.bad_input.helpers import invoke

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_RULES = ROOT / "examples" / "rules.yaml"
FORMATS = ("parquet", "csv", "jsonl")
PEOPLE = 50


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each case runs in its own empty directory, without any ABMSYNC_ setting of the machine."""
    for name in list(os.environ):
        if name.startswith("ABMSYNC_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``abmsync sandbox generate --people 50`` in each format it writes."""
    root = tmp_path_factory.mktemp("datasets")
    found = {}
    for fmt in FORMATS:
        out = root / fmt
        result = invoke(["sandbox", "generate", "--people", PEOPLE, "--format", fmt, "--out", out])
        assert result.exit_code == 0, result.output
        found[fmt] = out
    return found


@pytest.fixture(scope="session")
def empty_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty state database file to copy."""
    from abmsync.sync.store import Store

    path = tmp_path_factory.mktemp("state") / "state.db"
    with Store.open(f"sqlite:///{path}"):
        pass
    return path


def copy_data(datasets: dict[str, Path], fmt: str, target: Path) -> Path:
    """A private copy of one data set, to break."""
    shutil.copytree(datasets[fmt], target)
    return target
