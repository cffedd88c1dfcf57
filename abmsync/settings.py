"""Configuration, declared once.

Precedence, highest first: keyword arguments (the CLI's options), ``ABMSYNC_*``
environment variables (nested with ``__``, e.g. ``ABMSYNC_SALESFORCE__CLIENT_ID``),
a ``.env`` file, an ``abmsync.toml`` file, then the defaults below.
Credentials are ``SecretStr``: they print as ``**********`` and never reach
logs, reports or error messages.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite:///abmsync.db"


class SalesforceSettings(BaseModel):
    instance_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    api_version: str = "62.0"
    verify: bool | str = Field(default=True, description="TLS verification or a CA bundle path")
    api_reserve_percent: float = Field(default=10.0, ge=0, le=100)
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")


class HubSpotSettings(BaseModel):
    host: str = "https://api.hubapi.com"
    access_token: SecretStr | None = None
    api_reserve_percent: float = Field(default=10.0, ge=0, le=100)
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")


class Settings(BaseSettings):
    """Everything abmsync reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="ABMSYNC_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        toml_file="abmsync.toml",
        extra="ignore",
    )

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="state database; may hold a password, hence secret",
    )
    rules: Path = Path("rules.yaml")
    mappings: Path = Field(
        default=Path("mappings"), description="directory (or file) of YAML field mappings"
    )
    data_dir: Path = Path("abmsync-data")
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )
