"""Settings precedence: options > ABMSYNC_* env > .env > abmsync.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from abmsync.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "ABMSYNC_DATABASE_URL",
        "ABMSYNC_RULES",
        "ABMSYNC_SALESFORCE__CLIENT_ID",
        "ABMSYNC_SALESFORCE__CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_defaults_apply_when_nothing_is_configured(workdir: Path) -> None:
    settings = Settings()
    assert settings.database_url.get_secret_value() == DEFAULT_DATABASE_URL
    assert settings.rules == Path("rules.yaml")


def test_each_source_overrides_the_ones_below_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "abmsync.toml").write_text(
        'rules = "toml.yaml"\ndata_dir = "toml-data"\n[salesforce]\nclient_id = "from-toml"\n'
    )
    assert Settings().rules == Path("toml.yaml")
    (workdir / ".env").write_text("ABMSYNC_RULES=dotenv.yaml\n")
    assert Settings().rules == Path("dotenv.yaml")
    monkeypatch.setenv("ABMSYNC_RULES", "env.yaml")
    assert Settings().rules == Path("env.yaml")
    assert Settings(rules=Path("option.yaml")).rules == Path("option.yaml")
    settings = Settings()
    assert settings.data_dir == Path("toml-data")
    assert settings.salesforce.client_id == "from-toml"


def test_nested_connector_settings_come_from_double_underscore_variables(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_ID", "3MVG9")
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_SECRET", "s3cr3t-value")
    settings = Settings()
    assert settings.salesforce.client_id == "3MVG9"
    assert settings.salesforce.client_secret is not None
    assert settings.salesforce.client_secret.get_secret_value() == "s3cr3t-value"


def test_secrets_never_appear_when_settings_are_printed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_SALESFORCE__CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", "postgresql+psycopg://u:pa55word@db/abm")
    settings = Settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "s3cr3t-value" not in shown
    assert "pa55word" not in shown


def test_dynamics_needs_its_org_tenant_client_and_secret_and_hides_the_secret(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_DYNAMICS__ORG_URL", "https://contoso.crm4.dynamics.com/")
    monkeypatch.setenv("ABMSYNC_DYNAMICS__CLIENT_SECRET", "dv-s3cr3t")
    with pytest.raises(SettingsError) as raised:
        Settings().systems()
    message = str(raised.value)
    assert "ABMSYNC_DYNAMICS__TENANT_ID" in message and "ABMSYNC_DYNAMICS__CLIENT_ID" in message
    assert "dv-s3cr3t" not in message
    monkeypatch.setenv("ABMSYNC_DYNAMICS__TENANT_ID", "8f2c0c1e-0000-4000-8000-000000000001")
    monkeypatch.setenv("ABMSYNC_DYNAMICS__CLIENT_ID", "51f81489-12ee-4a9e-aaae-a2591f45987d")
    settings = Settings()
    assert list(settings.systems()) == ["dynamics"]
    assert settings.dynamics.org_url == "https://contoso.crm4.dynamics.com"  # no trailing slash
    assert settings.dynamics.authority_host == "https://login.microsoftonline.com"
    assert "dv-s3cr3t" not in repr(settings) + settings.model_dump_json()


def test_an_unknown_dynamics_setting_is_an_error_with_a_suggestion(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_DYNAMICS__ORG_ULR", "https://contoso.crm.dynamics.com")
    with pytest.raises(SettingsError, match="ABMSYNC_DYNAMICS__ORG_ULR"):
        Settings()


@pytest.mark.parametrize("system", ["salesforce", "dynamics", "hubspot"])
def test_either_connector_verifies_tls_by_flag_or_trusts_a_ca_bundle_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, system: str
) -> None:
    variable = f"ABMSYNC_{system.upper()}__VERIFY"
    monkeypatch.setenv(variable, "false")
    assert getattr(Settings(), system).verify is False
    bundle = workdir / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv(variable, str(bundle))
    assert getattr(Settings(), system).verify == str(bundle)


def test_eloqua_is_configured_from_its_variables_and_names_a_missing_one(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abmsync.connectors.eloqua.connector import EloquaConnector
    from abmsync.sync.crm import configured

    monkeypatch.setenv("ABMSYNC_ELOQUA__COMPANY", "Acme")
    monkeypatch.setenv("ABMSYNC_ELOQUA__USERNAME", "Sync.User")
    with pytest.raises(SettingsError, match="ABMSYNC_ELOQUA__PASSWORD") as missing:
        configured(Settings())
    assert "Acme" not in str(missing.value)
    monkeypatch.setenv("ABMSYNC_ELOQUA__PASSWORD", "pa55-w0rd-value")
    monkeypatch.setenv("ABMSYNC_ELOQUA__SITE_TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("ABMSYNC_ELOQUA__LOGIN_URL", "https://login.example.test/")
    settings = Settings()
    assert settings.eloqua.login_url == "https://login.example.test"
    assert "pa55-w0rd-value" not in repr(settings)
    connectors = configured(settings)
    assert list(connectors) == ["eloqua"]
    connector = connectors["eloqua"]
    assert isinstance(connector, EloquaConnector)
    assert connector.reader.site_zone.key == "Europe/Berlin"  # type: ignore[attr-defined]
    connector.close()


def test_an_unknown_eloqua_time_zone_is_one_clear_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abmsync.errors import ConfigError
    from abmsync.sync.crm import configured

    for name, value in (("COMPANY", "Acme"), ("USERNAME", "u"), ("PASSWORD", "p")):
        monkeypatch.setenv(f"ABMSYNC_ELOQUA__{name}", value)
    monkeypatch.setenv("ABMSYNC_ELOQUA__SITE_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        configured(Settings())
