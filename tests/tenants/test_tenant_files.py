"""Tenant files: what they may hold, where values come from, and ``abmsync tenants list|check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.clikit import ExitCode
from abmsync.settings import SettingsError
from abmsync.tenant_settings import TenantSettings
from abmsync.tenants import TenantError, find_tenant, load_tenants, scan_tenants
from tests.sync.crm_env import MAPPINGS, RULES

SHARED = "postgresql+psycopg://abmsync@db.internal/abmsync"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty tenants folder; the deployment's database is a shared PostgreSQL one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", SHARED)
    monkeypatch.setenv("ABMSYNC_TENANTS", str(tmp_path / "tenants"))
    (tmp_path / "tenants").mkdir()
    return tmp_path / "tenants"


def tenant(folder: Path, stem: str, text: str = "") -> Path:
    """A valid HubSpot tenant file, with ``text`` added at the top."""
    file = folder / f"{stem}.toml"
    file.write_text(
        f'{text}\nrules = "{RULES}"\nmappings = "{MAPPINGS}"\n'
        '[hubspot]\naccess_token = { env = "HS_TOKEN" }\n',
        encoding="utf-8",
    )
    return file


def check() -> tuple[int, str]:
    result = CliRunner().invoke(main, ["tenants", "check"])
    return result.exit_code, result.output


def test_secrets_come_from_the_named_variables_and_stay_secret(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-na1-acme")
    settings = TenantSettings.from_file(tenant(folder, "acme"))
    assert settings.hubspot.access_token is not None
    assert settings.hubspot.access_token.get_secret_value() == "pat-na1-acme"
    assert "pat-na1-acme" not in repr(settings) and "pat-na1-acme" not in str(settings)
    monkeypatch.delenv("HS_TOKEN")
    with pytest.raises(
        SettingsError,
        match=r"acme.toml: hubspot.access_token: environment "
        r"variable HS_TOKEN is not set",
    ):
        TenantSettings.from_file(folder / "acme.toml")


def test_the_file_wins_over_the_deployment_and_global_credentials_never_leak_in(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "acme-token")
    monkeypatch.setenv("ABMSYNC_HUBSPOT__ACCESS_TOKEN", "deployment-token")
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_ID", "deployment-app")
    monkeypatch.setenv("ABMSYNC_RULES", "/elsewhere/rules.yaml")
    inherits = TenantSettings.from_file(tenant(folder, "acme"))
    assert inherits.database_url.get_secret_value() == SHARED  # the deployment's
    assert inherits.hubspot.access_token.get_secret_value() == "acme-token"  # type: ignore[union-attr]
    assert not inherits.salesforce.is_configured  # nothing from ABMSYNC_SALESFORCE__*
    assert inherits.rules == RULES
    own = TenantSettings.from_file(tenant(folder, "beta", 'database_url = "sqlite:///beta.db"'))
    assert own.database_url.get_secret_value() == "sqlite:///beta.db"  # the file's


def test_name_and_namespace_default_to_the_file_name_and_paths_to_its_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "t")
    file = folder / "north-wind.toml"
    file.write_text('rules = "rules/nw.yaml"\n[hubspot]\naccess_token = "t"\n')
    settings = TenantSettings.from_file(file)
    assert (settings.name, settings.namespace) == ("north-wind", "north_wind")
    assert settings.rules == folder / "rules" / "nw.yaml"
    with pytest.raises(SettingsError, match=r"x\.toml: namespace: must be a lower-case letter"):
        TenantSettings.from_file(tenant(folder, "x", 'namespace = "Public; drop"'))


def test_check_names_every_problem_in_one_line_each(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "t")
    tenant(folder, "acme")
    tenant(folder, "typo", "[salesforce]\nclient_idd = 'x'\n")
    (folder / "norules.toml").write_text("[hubspot]\naccess_token = 'x'\n")
    tenant(folder, "one", 'name = "twin"')
    tenant(folder, "two", 'name = "twin"\nnamespace = "twin_b"')
    tenant(folder, "left", 'namespace = "shared"')
    tenant(folder, "right", 'namespace = "shared"')
    (folder / "broken.toml").write_text("rules = \n")
    code, out = check()
    assert code == ExitCode.FAILED
    lines = out.strip().splitlines()
    assert lines[0].startswith("ok acme (")
    expected = [
        "broken.toml:1:9: TOML syntax:",
        "norules.toml: rules: missing (every tenant names its own rules file)",
        "typo.toml: salesforce.client_idd: unknown setting (did you mean salesforce.client_id?)",
        "duplicate tenant name 'twin' in",
        "tenants left, right share the state namespace 'shared' of "
        "postgresql+psycopg://abmsync@db.internal/abmsync; give each its own namespace",
    ]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, out)
    assert len(lines) == 1 + len(expected)
    with pytest.raises(TenantError) as raised:
        load_tenants(folder)
    assert len(str(raised.value).splitlines()) == len(expected)
    assert [t.name for t in scan_tenants(folder).tenants] == ["acme"]


def test_tenants_on_sqlite_need_a_file_each(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_TOKEN", "t")
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", "sqlite:///abmsync.db")
    tenant(folder, "acme")
    assert check()[0] == ExitCode.OK  # one tenant on SQLite is fine
    tenant(folder, "beta")
    code, out = check()
    assert (
        code == ExitCode.FAILED and "tenants acme, beta share the state sqlite:///abmsync.db" in out
    )
    tenant(folder, "beta", 'database_url = "sqlite:///beta.db"')
    assert check()[0] == ExitCode.OK


def test_list_shows_no_secret_and_find_names_the_known_tenants(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "very-secret")
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", "postgresql://abmsync:db-pass@db/abmsync")
    tenant(folder, "acme")
    result = CliRunner().invoke(main, ["tenants", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert "very-secret" not in result.output and "db-pass" not in result.output
    [row] = json.loads(result.output)
    assert (row["name"], row["namespace"], row["systems"]) == ("acme", "acme", "hubspot")
    with pytest.raises(TenantError, match=r"no tenant 'beta' in .* \(tenants: acme\)"):
        find_tenant(folder, "beta")


def test_the_readme_example_is_a_valid_tenant_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Tenants\n", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("ACME_SF_SECRET", "s")
    monkeypatch.setenv("ACME_HUBSPOT_TOKEN", "t")
    (folder / "acme.toml").write_text(example, encoding="utf-8")
    settings = TenantSettings.from_file(folder / "acme.toml")
    assert settings.systems_named == ["salesforce", "hubspot"]
    assert settings.rules == folder / "acme" / "rules.yaml"
