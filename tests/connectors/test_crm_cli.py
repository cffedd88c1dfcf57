"""abmsync crm check and install-fields against both sandbox emulators, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.server import SandboxServer

RULES = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"


@pytest.fixture
def sandboxes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no abmsync.toml or .env from elsewhere
    config = SandboxConfig()
    with (
        SandboxServer(salesforce_app(config=config), tls=True) as sf,
        SandboxServer(hubspot_app()) as hs,
    ):
        monkeypatch.setenv("ABMSYNC_SALESFORCE__INSTANCE_URL", sf.url)
        monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_ID", config.client_id)
        monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_SECRET", config.client_secret)
        monkeypatch.setenv("ABMSYNC_SALESFORCE__VERIFY", str(sf.ca_file))
        monkeypatch.setenv("ABMSYNC_HUBSPOT__HOST", hs.url)
        monkeypatch.setenv("ABMSYNC_HUBSPOT__ACCESS_TOKEN", "sandbox-token")
        yield


def test_check_reports_missing_fields_until_they_are_installed(sandboxes: None) -> None:
    runner = CliRunner()
    before = runner.invoke(main, ["crm", "check", "--rules", str(RULES)])
    assert before.exit_code == 1, before.output
    assert "ABM_Score__c" in before.output and "abm_score" in before.output
    installed = runner.invoke(main, ["crm", "install-fields", "--rules", str(RULES)])
    assert installed.exit_code == 0, installed.output
    assert "ABM_Score__c" in installed.output and "abm_score_reasons" in installed.output
    after = runner.invoke(main, ["crm", "check", "--rules", str(RULES)])
    assert after.exit_code == 0, after.output
    again = runner.invoke(main, ["crm", "install-fields", "--rules", str(RULES)])
    # Lead, Contact, Account, the touchpoint object, HubSpot contacts, companies and notes
    assert again.output.count("nothing to create") == 7
    assert "ABM_Touchpoint__c" in installed.output
    assert "ABM_Buying_Committee__c" in installed.output  # the account brief's fields too


def test_a_wrong_secret_is_one_line_that_does_not_show_it(
    sandboxes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_SECRET", "not-the-s3cret")
    monkeypatch.setenv("ABMSYNC_HUBSPOT__ACCESS_TOKEN", "wrong-t0ken")
    result = CliRunner().invoke(main, ["crm", "check"])
    assert result.exit_code == 1
    assert "not-the-s3cret" not in result.output
    assert "wrong-t0ken" not in result.output
    assert "Traceback" not in result.output


def test_nothing_configured_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("INSTANCE_URL", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"ABMSYNC_SALESFORCE__{name}", raising=False)
    monkeypatch.delenv("ABMSYNC_HUBSPOT__ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["crm", "check"])
    assert result.exit_code == 1
    assert "ABMSYNC_HUBSPOT__ACCESS_TOKEN" in result.output
