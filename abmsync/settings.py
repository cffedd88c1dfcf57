"""Configuration, declared once.

Precedence, highest first: keyword arguments (the CLI's options), ``ABMSYNC_*``
environment variables (nested with ``__``, e.g. ``ABMSYNC_SALESFORCE__CLIENT_ID``),
a ``.env`` file, an ``abmsync.toml`` file, then the defaults below.
Credentials are ``SecretStr``: they print as ``**********`` and never reach
logs, reports or error messages.

A wrong value, an unknown key in ``abmsync.toml``, an unknown ``ABMSYNC_`` key
in ``.env`` or ``ABMSYNC_<SYSTEM>__*`` variable, or a TOML syntax error is a
:class:`SettingsError` naming where it came from and the key, e.g.
``abmsync.toml: salesforce.api_reserve_percent: Input should be a valid number``,
never the value (it may be a secret). Variables without the prefix are not ours
and are left alone.

A deployment that runs abmsync for several clients gives each one a tenant
file (:class:`TenantSettings`, ``tenants/<name>.toml``): the keys of
``abmsync.toml`` plus ``name`` and ``namespace``. A tenant reads nothing from
the environment but what its file names: any value may be written as
``{env = "VARIABLE"}`` so that the file holds no secret, and only the state
database URL is inherited from the deployment's settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from abmsync.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///abmsync.db"
ENV_PREFIX = "ABMSYNC_"
ENV_FILE = ".env"
TOML_FILE = "abmsync.toml"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_DATABASE_SCHEMES = re.compile(r"^(sqlite|postgres|postgresql)(\+[a-z0-9_]+)?://", re.IGNORECASE)
_TOML_POSITION = re.compile(r"^(?P<message>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_SOURCE_FIELD = re.compile(r'field "(?P<field>[^"]+)" from source "(?P<source>[^"]+)"')


class SettingsError(ConfigError):
    """A setting is wrong or unknown; the message names its source and key, never its value."""


def _http_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None  # unset: a configured system then reports it as missing
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.strip()


class ConnectorSettings(BaseModel):
    """Settings of one system; it counts as configured as soon as any of its keys is set."""

    model_config = ConfigDict(extra="forbid")

    required: ClassVar[tuple[str, ...]] = ()

    @property
    def is_configured(self) -> bool:
        """Whether any key of this system was set in some source (defaults do not count)."""
        return bool(self.model_fields_set)

    def missing(self) -> list[str]:
        """Required keys that are unset or empty."""
        return [name for name in self.required if not getattr(self, name)]


class TlsSettings(ConnectorSettings):
    """A connector reached over HTTPS: verify its certificate, or trust a CA bundle file."""

    verify: bool | str = Field(
        default=True, description="TLS verification (true/false) or a CA bundle path"
    )

    @field_validator("verify", mode="before")
    @classmethod
    def _flag_or_ca_file(cls, value: object) -> bool | str:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if not isinstance(value, str):
            raise ValueError("must be true, false or the path of a CA bundle file")
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        if not Path(value).expanduser().is_file():
            raise ValueError(
                "not true/false and no such CA bundle file (give true, false or a file path)"
            )
        return value


class SalesforceSettings(TlsSettings):
    required: ClassVar[tuple[str, ...]] = ("instance_url", "client_id", "client_secret")

    instance_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    api_version: str = "62.0"
    api_reserve_percent: float = Field(default=10.0, ge=0, le=100)
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")

    @field_validator("instance_url")
    @classmethod
    def _instance_url(cls, value: str | None) -> str | None:
        return _http_url(value)


class HubSpotSettings(TlsSettings):
    required: ClassVar[tuple[str, ...]] = ("access_token",)

    host: str = "https://api.hubapi.com"
    access_token: SecretStr | None = None
    api_reserve_percent: float = Field(default=10.0, ge=0, le=100)
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")
    search_per_second: float = Field(
        default=4.0,
        gt=0,
        le=5,
        description="pace of search calls; HubSpot allows five a second per account",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _http_url(value) or value


class DynamicsSettings(TlsSettings):
    """A Dynamics 365 (Dataverse) org reached with a Microsoft Entra app registration."""

    required: ClassVar[tuple[str, ...]] = ("org_url", "tenant_id", "client_id", "client_secret")

    org_url: str | None = Field(default=None, description="e.g. https://contoso.crm4.dynamics.com")
    tenant_id: str | None = Field(default=None, description="the Entra tenant (directory) id")
    client_id: str | None = Field(default=None, description="the app registration's client id")
    client_secret: SecretStr | None = None
    authority_host: str = Field(
        default="https://login.microsoftonline.com", description="Microsoft Entra's login host"
    )
    api_version: str = "9.2"
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")

    @field_validator("org_url")
    @classmethod
    def _org_url(cls, value: str | None) -> str | None:
        url = _http_url(value)
        return url.rstrip("/") if url else url

    @field_validator("authority_host")
    @classmethod
    def _authority(cls, value: str) -> str:
        return (_http_url(value) or value).rstrip("/")


class EloquaSettings(TlsSettings):
    """An Oracle Eloqua instance: a user's Basic login, or an OAuth2 app on top of it.

    With ``client_id`` and ``client_secret`` set, abmsync signs in with OAuth2
    (the resource-owner password grant, then refresh tokens); otherwise with
    HTTP Basic ``Company\\User:password``. Either way the pod's base URL comes
    from ``GET {login_url}/id``, never from a hard-coded host.
    """

    required: ClassVar[tuple[str, ...]] = ("company", "username", "password")

    company: str | None = Field(default=None, description="the Eloqua site (company) name")
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(default=None, description="OAuth2 app id (optional)")
    client_secret: SecretStr | None = None
    login_url: str = Field(
        default="https://login.eloqua.com", description="Eloqua's login and discovery host"
    )
    site_time_zone: str = Field(
        default="America/New_York",
        description="the instance's time zone, in which Eloqua writes non-system dates",
    )
    reconcile_every_seconds: float = Field(
        default=0,
        ge=0,
        description="how often deletions are looked for by an id export (0: every sync)",
    )
    max_calls_per_run: int | None = Field(default=None, ge=0, description="cap per sync run")

    @field_validator("login_url")
    @classmethod
    def _login(cls, value: str) -> str:
        return (_http_url(value) or value).rstrip("/")


class Settings(BaseSettings):
    """Everything abmsync reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        toml_file=TOML_FILE,
        extra="forbid",
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
    tenants: Path = Field(
        default=Path("tenants"),
        description="tenant file, or directory of tenant files (*.toml), for --tenant",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="serve sync metrics for Prometheus on this port"
    )
    metrics_address: str = Field(default="0.0.0.0", description="address the metrics port binds")
    metrics_file: Path | None = Field(
        default=None, description="write sync metrics here after each run (node_exporter textfile)"
    )
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    dynamics: DynamicsSettings = Field(default_factory=DynamicsSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
    eloqua: EloquaSettings = Field(default_factory=EloquaSettings)

    def __init__(self, **values: Any) -> None:
        """Read every source; a wrong or unknown setting raises one-line ``SettingsError``."""
        _check_readable(Path(TOML_FILE))
        _check_readable(Path(ENV_FILE))
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, values)) from None
        except SourceError as exc:
            raise SettingsError(_describe_source_error(exc)) from None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        if not _DATABASE_SCHEMES.match(value.get_secret_value().strip()):
            raise ValueError(
                "not a state database URL (use e.g. sqlite:///abmsync.db or "
                "postgresql+psycopg://user@host/dbname)"
            )
        return value

    def systems(self) -> dict[str, ConnectorSettings]:
        """The configured systems by name; ``SettingsError`` if one lacks a required key."""
        found: dict[str, ConnectorSettings] = {}
        for name in SYSTEMS:
            system: ConnectorSettings = getattr(self, name)
            if not system.is_configured:
                continue
            missing = system.missing()
            if missing:
                needs = ", ".join(_env_name((name, key)) for key in system.required)
                raise SettingsError(
                    f"{name}: {missing[0]} is missing or empty "
                    f"(set {_env_name((name, missing[0]))}; {name} needs {needs})"
                )
            found[name] = system
        return found

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
            _OurDotEnv(settings_cls),
            _toml_source(settings_cls),
            file_secret_settings,
        )


# The systems abmsync connects to, in the order it checks them: the connector
# sections of the settings model, so adding one there adds it everywhere.
SYSTEMS: tuple[str, ...] = tuple(
    name
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, ConnectorSettings)
)


class _OurDotEnv(DotEnvSettingsSource):
    """``.env`` without the lines that are not ours (no ``ABMSYNC_`` prefix)."""

    def __call__(self) -> dict[str, Any]:
        fields = set(Settings.model_fields)
        prefix = ENV_PREFIX.lower()
        return {
            key: value
            for key, value in super().__call__().items()
            if key in fields or key.lower().startswith(prefix)
        }


def _toml_source(settings_cls: type[BaseSettings]) -> TomlConfigSettingsSource:
    try:
        return TomlConfigSettingsSource(settings_cls)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_syntax_error(Path(TOML_FILE), exc) from None


def _toml_syntax_error(path: Path, exc: tomllib.TOMLDecodeError) -> SettingsError:
    """``file:line:column: TOML syntax: message`` for a file that does not parse."""
    text = str(exc)
    match = _TOML_POSITION.match(text)
    if match is not None:
        where, message = f"{match['line']}:{match['col']}", match["message"]
    else:
        # "(at end of document)": the position is the end of the file.
        lines = path.read_text(encoding="utf-8").split("\n")
        where = f"{len(lines)}:{len(lines[-1]) + 1}"
        message = text.removesuffix(" (at end of document)") + " at the end of the file"
    return SettingsError(f"{path}:{where}: TOML syntax: {message}")


def _check_readable(path: Path) -> None:
    """A settings file that exists must be a readable UTF-8 file."""
    if not path.exists():
        return
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise SettingsError(f"{path}: is a directory, not a settings file") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text") from None


def _env_name(path: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in path)


def _describe(exc: ValidationError, init: Mapping[str, Any]) -> str:
    """The first problem of ``exc`` as ``source: key: message``; how many more, if any."""
    errors = exc.errors()
    first = errors[0]
    path = _setting_path(tuple(first["loc"]))
    where, as_variable = _where(path, init)
    if first["type"] == "extra_forbidden":
        message = f"unknown setting{_suggestion(path, as_variable=as_variable)}"
    elif first["type"] == "missing":
        message = "required"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def _setting_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """``loc`` cut to the keys that name a setting (no union tags)."""
    path: list[str] = []
    model: type[BaseModel] | None = Settings
    for part in loc:
        name = str(part)
        if model is None:
            break
        path.append(name)
        info = model.model_fields.get(name)
        annotation: object = info.annotation if info is not None else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            model = None
    return tuple(path)


def _suggestion(
    path: tuple[str, ...], *, as_variable: bool, model: type[BaseModel] | None = None
) -> str:
    """`` (did you mean ...?)`` for an unknown key, spelled as its source spells keys."""
    import difflib

    model = model or Settings
    for part in path[:-1]:
        info = model.model_fields.get(part)
        annotation = info.annotation if info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    name = path[-1].lower().removeprefix(ENV_PREFIX.lower())
    close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.6)
    if not close:
        return ""
    known = (*(p.lower().removeprefix(ENV_PREFIX.lower()) for p in path[:-1]), close[0])
    return f" (did you mean {_env_name(known) if as_variable else '.'.join(known)}?)"


def _where(path: tuple[str, ...], init: Mapping[str, Any]) -> tuple[str, bool]:
    """Which source gave the value at ``path`` (highest precedence first) and its key;
    whether that source names keys as variables."""
    if _lookup(init, path):
        return f"settings: {'.'.join(path)}", False
    variable = _find_variable(dict(os.environ), path)
    if variable is not None:
        return f"environment variable {variable}", True
    variable = _find_variable(_dotenv_variables(), path)
    if variable is not None:
        return f"{ENV_FILE}: {variable}", True
    return f"{TOML_FILE}: {'.'.join(path)}", False


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    current: object = data
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return False
        current = current[part]
    return True


def _find_variable(variables: Mapping[str, str | None], path: tuple[str, ...]) -> str | None:
    """The ``ABMSYNC_*`` variable that holds ``path`` (itself, or a JSON parent)."""
    folded = {name.upper(): name for name in variables}
    if path and path[0].upper().startswith(ENV_PREFIX):
        return folded.get(path[0].upper())  # an unknown .env key, named in full
    for end in range(len(path), 0, -1):
        name = _env_name(path[:end])
        if name in folded:
            rest = ".".join(path[end:])
            return folded[name] + (f" ({rest})" if rest else "")
    return None


def _dotenv_variables() -> dict[str, str | None]:
    if not Path(ENV_FILE).is_file():
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(ENV_FILE, encoding="utf-8"))


def _describe_source_error(exc: SourceError) -> str:
    """A value pydantic-settings could not parse (invalid JSON for a section)."""
    match = _SOURCE_FIELD.search(str(exc))
    if match is None:
        return f"settings: {str(exc).splitlines()[0]}"
    field, source = match["field"], match["source"]
    name = _env_name((field,))
    where = f"{ENV_FILE}: {name}" if "DotEnv" in source else f"environment variable {name}"
    return f"{where}: not valid JSON for the {field} section (or set {name}__<KEY> variables)"


__all__ = [
    "DEFAULT_DATABASE_URL",
    "SYSTEMS",
    "DynamicsSettings",
    "EloquaSettings",
    "HubSpotSettings",
    "SalesforceSettings",
    "Settings",
    "SettingsError",
]
