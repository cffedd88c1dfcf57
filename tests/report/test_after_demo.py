"""What the README says to do after ``abmsync demo`` works as written, from a checkout's
layout in a fresh directory: ``abmsync report``, ``abmsync accounts --mqa`` and
``abmsync history EMAIL`` find the demo's state without options."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.conftest import ROOT

ABMSYNC = Path(sys.executable).with_name("abmsync")


def _abmsync(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command in ``cwd`` with no ``ABMSYNC_*`` settings from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABMSYNC_")}
    env["COLUMNS"] = "250"  # the demo's hints on one line each
    return subprocess.run(
        [str(ABMSYNC), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A directory laid out like a checkout (``examples/``) after ``abmsync demo``; its output."""
    if not ABMSYNC.exists():
        pytest.skip(f"no abmsync command beside {sys.executable}")
    clone = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "examples", clone / "examples")
    demo = _abmsync(clone, "demo", "--people", "300")
    assert demo.returncode in (0, 3), demo.stderr
    return clone, demo.stdout


def test_the_demo_leaves_settings_that_name_its_state(after_demo: tuple[Path, str]) -> None:
    clone, out = after_demo
    settings = (clone / "abmsync.toml").read_text(encoding="utf-8")
    assert 'database_url = "sqlite:///abmsync-demo/abmsync.db"' in settings
    assert 'rules = "examples/rules.yaml"' in settings
    assert 'mappings = "examples/mappings"' in settings
    assert re.search(r"^  abmsync report   \(", out, re.MULTILINE), out[-2000:]


def test_report_accounts_and_history_run_without_options(after_demo: tuple[Path, str]) -> None:
    clone, out = after_demo
    report = _abmsync(clone, "report")
    assert report.returncode == 0, report.stderr
    assert (clone / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert re.match(r"wrote report\.html \(\d[\d,]* people, \d[\d,]* accounts\)", report.stdout)

    mqas = _abmsync(clone, "accounts", "--mqa", "--json")
    assert mqas.returncode == 0, mqas.stderr
    rows = json.loads(mqas.stdout)
    assert rows and all(row["mqa"] for row in rows)
    table = _abmsync(clone, "accounts", "--mqa")
    assert table.returncode == 0 and f"MQA accounts ({len(rows)})" in table.stdout

    email = re.search(r"^  abmsync history (\S+@\S+)   \(", out, re.MULTILINE)
    assert email is not None, out[-2000:]
    history = _abmsync(clone, "history", email[1], "--json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["timeline"]


def test_options_still_win_over_the_demos_settings(after_demo: tuple[Path, str]) -> None:
    clone, _ = after_demo
    spelled = (
        "--database",
        f"sqlite:///{clone / 'abmsync-demo' / 'abmsync.db'}",
        "--rules",
        str(ROOT / "examples" / "rules.yaml"),
        "--mappings",
        str(ROOT / "examples" / "mappings"),
    )
    default = _abmsync(clone, "accounts", "--json")
    explicit = _abmsync(clone, "accounts", "--json", *spelled)
    assert default.returncode == explicit.returncode == 0
    assert json.loads(default.stdout) == json.loads(explicit.stdout) != []

    for command in ("accounts", "report"):
        other = _abmsync(clone, command, "--database", f"sqlite:///{clone / 'other.db'}")
        assert other.returncode == 1, other.stderr
        assert "holds no people" in other.stderr and "other.db" in other.stderr
        assert len(other.stderr.strip().splitlines()) == 1
    missing = _abmsync(clone, "accounts", "--rules", "nowhere.yaml")
    assert missing.returncode == 1
    assert "nowhere.yaml" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
