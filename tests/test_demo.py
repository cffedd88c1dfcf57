"""``abmsync demo``, the README's main command, end to end on a small data set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from abmsync.sync.store import Store
from tests.connectors.hubspot.contract import SPECS
from tests.connectors.hubspot.contract.child import child_env, read_log

ROOT = Path(__file__).resolve().parents[1]
# The ``abmsync`` command installed beside the interpreter running the tests:
# under scripts/test, that of a bare virtual environment made from pyproject.toml.
ABMSYNC = Path(sys.executable).with_name("abmsync")


def test_the_tests_run_in_a_bare_virtual_environment_when_scripts_test_says_so() -> None:
    venv = os.environ.get("ABMSYNC_TEST_BARE_VENV")
    if venv is None:
        pytest.skip("not run by scripts/test (ABMSYNC_TEST_BARE_VENV is not set)")
    assert Path(sys.prefix).resolve() == Path(venv).resolve()
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    assert re.search(r"include-system-site-packages\s*=\s*false", config), config
    assert ABMSYNC.exists()


@pytest.mark.parametrize(
    ("crm", "platform"),
    [
        ("salesforce", "hubspot"),
        ("dynamics", "hubspot"),
        ("salesforce", "eloqua"),
        ("dynamics", "eloqua"),
    ],
)
def test_the_demo_syncs_plays_a_week_syncs_again_and_then_writes_nothing(
    tmp_path: Path, crm: str, platform: str
) -> None:
    if not ABMSYNC.exists():
        pytest.skip(f"no abmsync command beside {sys.executable} (pip install -e . first)")
    # As a user runs it: the installed command, from the checkout, no settings of ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABMSYNC_")}
    # The emulated HubSpot's answers are checked against HubSpot's published specs.
    contract_log = tmp_path / "hubspot-contract.jsonl"
    if platform == "hubspot":
        env.update(child_env(contract_log))
    result = subprocess.run(
        [
            str(ABMSYNC),
            "demo",
            "--people",
            "300",
            "--crm",
            crm,
            "--map",
            platform,
            "--dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    checked, _, broken = read_log(contract_log)
    assert not broken, "\n".join(broken[:20])
    assert checked > 0 or platform != "hubspot" or not SPECS.is_dir()
    assert "Traceback" not in out
    assert "rule tests passed" in out
    name = {"salesforce": "Salesforce", "dynamics": "Dynamics 365"}[crm]
    assert f"In {name}: the top leads as sales sees them" in out
    assert f"Touchpoint history in {name}" in out
    assert "A week passes" in out and "converted to contact" in out
    if platform == "eloqua":
        assert "In Eloqua: the same scores on the marketing contacts" in out
        assert "new marketing touchpoints in Eloqua" in out
    assert re.search(r"run 3: succeeded", out)
    with Store.open(f"sqlite:///{tmp_path / 'demo' / 'abmsync.db'}") as store:
        runs = store.recent_runs()
    assert [r.status for r in runs] == ["succeeded"] * 3
    first, second, third = runs[2], runs[1], runs[0]
    assert first.counts["written"] > 300  # people and their touchpoint history
    assert 0 < second.counts["written"] < first.counts["written"]
    assert third.counts["written"] == 0 and third.counts["planned"] == 0
    # Right after a sync: our own writes were recognised, so nothing is read again either.
    assert third.counts["read"] == 0 and third.counts["deleted"] == 0
    assert "nothing read, nothing written" in out
    assert second.counts["deleted"] >= 2  # the merged and the deleted lead
