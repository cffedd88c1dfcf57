"""deploy/: the systemd unit and timer and the cron example are valid and run a real command."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sync.schedule import schedule_from_options

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED = "/opt/abmsync/venv/bin/abmsync"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser


def assert_abmsync_accepts(command: list[str]) -> None:
    """The options after the executable parse (``--help`` stops before anything runs)."""
    assert command[0] == INSTALLED
    result = CliRunner().invoke(main, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


def test_the_service_runs_every_tenant_once_and_the_timer_starts_it() -> None:
    service, timer = unit("abmsync-sync.service"), unit("abmsync-sync.timer")
    assert service["Service"]["Type"] == "oneshot"
    command = shlex.split(service["Service"]["ExecStart"])
    assert command[-2:] == ["sync", "--all-tenants"]
    assert_abmsync_accepts(command)
    assert timer["Timer"]["OnCalendar"] == "*:0/15"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit_and_the_timer(tmp_path: Path) -> None:
    # As installed, but with this environment's abmsync and no abmsync user or env file.
    text = (DEPLOY / "abmsync-sync.service").read_text(encoding="utf-8")
    text = text.replace(INSTALLED, str(Path(sys.executable).with_name("abmsync")))
    lines = [line for line in text.splitlines() if not line.startswith(("User=", "Group="))]
    text = "\n".join(lines).replace("EnvironmentFile=/", "EnvironmentFile=-/")
    (tmp_path / "abmsync-sync.service").write_text(text, encoding="utf-8")
    shutil.copy(DEPLOY / "abmsync-sync.timer", tmp_path)
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "abmsync-sync.service", "abmsync-sync.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    # systemd-analyze exits 0 on unknown keys too: any line it prints is a problem.
    assert verified.returncode == 0 and not (verified.stdout + verified.stderr).strip(), (
        verified.stdout + verified.stderr
    )


def test_the_cron_example_is_a_valid_cron_d_line_running_the_same_command() -> None:
    [line] = [
        row
        for row in (DEPLOY / "abmsync.cron").read_text(encoding="utf-8").splitlines()
        if row.strip() and not row.startswith("#") and "=" not in row.split()[0]
    ]
    fields = line.split(maxsplit=6)
    schedule = schedule_from_options(None, " ".join(fields[:5]), "UTC")
    assert schedule is not None and "15" in schedule.describe()
    assert fields[5] == "abmsync"  # the user, as /etc/cron.d wants
    exec_part = fields[6].split("exec ", 1)[1].split(">>", 1)[0]
    assert_abmsync_accepts(shlex.split(exec_part))
