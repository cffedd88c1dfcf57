"""One tenant's settings, read from its own TOML file.

A tenant file has the keys of ``abmsync.toml`` (:class:`abmsync.settings.Settings`)
plus two of its own::

    name = "acme"                  # default: the file's name without .toml
    namespace = "acme"             # its state in the shared database (default: the name)
    rules = "acme/rules.yaml"      # relative paths start at the file's folder
    mappings = "acme/mappings"

    [hubspot]
    access_token = { env = "ACME_HUBSPOT_TOKEN" }

Any value may be ``{env = "VARIABLE"}``: it is read from that environment
variable, so the file itself holds no secret. Nothing else comes from the
environment (a global ``ABMSYNC_HUBSPOT__ACCESS_TOKEN`` must never reach
another client's run); only the state database URL, when the file does not
set one, is the deployment's (``ABMSYNC_DATABASE_URL``, ``abmsync.toml``).
Problems are one :class:`~abmsync.settings.SettingsError` line naming the file
and the key, never a value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from abmsync.settings import (
    SYSTEMS,
    Settings,
    SettingsError,
    _check_readable,
    _setting_path,
    _suggestion,
    _toml_syntax_error,
)

# A namespace is a PostgreSQL schema name abmsync creates: lower-case, unquoted-safe.
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_RESERVED_NAMESPACES = ("pg_", "information_schema")
# Keys of a tenant file that are paths, resolved against the file's folder.
_PATH_KEYS = ("rules", "mappings", "data_dir", "metrics_file")
# Settings of the deployment, not of a tenant.
_DEPLOYMENT_ONLY = ("tenants",)
_INHERITED = ("database_url",)


class TenantSettings(Settings):
    """The settings of one tenant: its file's values, and the deployment's database."""

    # Read from no file or variable by pydantic-settings itself (see from_file).
    model_config = SettingsConfigDict(env_file=None, toml_file=None)

    name: str = Field(description="the tenant's name, as in `abmsync sync --tenant NAME`")
    namespace: str = Field(
        default="", description="schema of its state in a shared PostgreSQL database"
    )
    file: Path | None = Field(default=None, exclude=True, description="where it was read from")

    def __init__(self, **values: Any) -> None:
        """Only ``values``: no environment, ``.env`` or ``abmsync.toml`` (use ``from_file``)."""
        BaseSettings.__init__(self, **values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '-', '_' or '.'; start with a letter or digit")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value and (not _NAMESPACE.match(value) or value.startswith(_RESERVED_NAMESPACES)):
            raise ValueError(
                "must be a lower-case letter then up to 62 lower-case letters, digits or '_' "
                "(and not start with pg_)"
            )
        return value

    @model_validator(mode="after")
    def _namespace_from_name(self) -> TenantSettings:
        if not self.namespace:
            self.namespace = _default_namespace(self.name)
        return self

    @classmethod
    def from_file(cls, path: Path, *, deployment: Settings | None = None) -> TenantSettings:
        """Read the tenant file at ``path``; ``SettingsError`` (one line) when it is wrong.

        ``deployment`` gives the state database URL when the file sets none
        (default: ``Settings()``, read from the environment and ``abmsync.toml``).
        """
        _check_readable(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{path}: no such tenant file") from None
        except tomllib.TOMLDecodeError as exc:
            raise _toml_syntax_error(path, exc) from None
        for key in _DEPLOYMENT_ONLY:
            if key in data:
                raise SettingsError(f"{path}: {key}: a deployment setting, not a tenant's")
        values = _resolve_references(path, data, ())
        values.setdefault("name", path.stem)
        _resolve_paths(values, path.parent)
        for key in _INHERITED:
            if key not in values:
                values[key] = getattr(deployment or Settings(), key)
        try:
            return cls(**values, file=path)
        except ValidationError as exc:
            raise SettingsError(_describe(path, exc)) from None

    @property
    def database_target(self) -> str:
        """The state database, without a password: what two tenants must not share
        (with the namespace) and what may be printed."""
        from abmsync.sync.database import display_url

        return display_url(self.database_url.get_secret_value())

    @property
    def systems_named(self) -> list[str]:
        """The systems this tenant's file configures."""
        return [name for name in SYSTEMS if getattr(self, name).is_configured]


def _resolve_references(path: Path, data: Mapping[str, Any], at: tuple[str, ...]) -> dict[str, Any]:
    """``data`` with every ``{env = "NAME"}`` replaced by that variable's value."""
    resolved: dict[str, Any] = {}
    for key, value in data.items():
        where = (*at, key)
        if isinstance(value, Mapping) and set(value) == {"env"}:
            variable = value["env"]
            if not isinstance(variable, str) or not variable:
                raise SettingsError(f"{path}: {'.'.join(where)}: env must name a variable")
            if variable not in os.environ:
                raise SettingsError(
                    f"{path}: {'.'.join(where)}: environment variable {variable} is not set"
                )
            resolved[key] = os.environ[variable]
        elif isinstance(value, Mapping):
            resolved[key] = _resolve_references(path, value, where)
        else:
            resolved[key] = value
    return resolved


def _resolve_paths(values: dict[str, Any], folder: Path) -> None:
    """Relative paths in a tenant file start at its folder, not the working directory."""
    for key in _PATH_KEYS:
        if isinstance(values.get(key), str):
            values[key] = str(folder / Path(values[key]).expanduser())
    for system in SYSTEMS:
        section = values.get(system)
        verify = section.get("verify") if isinstance(section, dict) else None
        if isinstance(verify, str) and verify.strip().lower() not in _FLAG_WORDS:
            section["verify"] = str(folder / Path(verify).expanduser())  # type: ignore[index]


_FLAG_WORDS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})


def _default_namespace(name: str) -> str:
    """The name as a schema name: lower case, ``-`` and ``.`` as ``_``, starting with a letter."""
    schema = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not schema[:1].isalpha() or schema.startswith("pg_"):
        schema = f"t_{schema}"
    return schema[:63]


def _describe(path: Path, exc: ValidationError) -> str:
    """The first problem of ``exc`` as ``file: key: message``."""
    errors = exc.errors()
    first = errors[0]
    keys = _setting_path(tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        message = f"unknown setting{_suggestion(keys, as_variable=False, model=TenantSettings)}"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {'.'.join(keys)}: {message}{more}"


__all__ = ["TenantSettings"]
