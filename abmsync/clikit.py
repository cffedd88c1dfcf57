"""What every ``abmsync`` command shares: the consoles, one-line errors, times, the database.

Kept apart from :mod:`abmsync.cli` so command modules elsewhere
(:mod:`abmsync.sync.commands`, :mod:`abmsync.sandbox.commands`) use the same
plumbing without importing the whole command tree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape

from abmsync.errors import AbmsyncError

if TYPE_CHECKING:
    pass

console = Console()
err_console = Console(stderr=True)


class ExitCode(IntEnum):
    """How a command ended, for a scheduler or a monitor to act on."""

    OK = 0  # succeeded, dry run, nothing to do, or stopped on request
    FAILED = 1  # nothing (more) was done: bad credentials, an unreachable system, ...
    USAGE = 2  # a bad option or argument (click's own code)
    PARTIAL = 3  # done but for some records (rejected) or a spent API budget
    LOCKED = 4  # skipped because another sync holds the lock (with --fail-if-locked)


class CliError(click.ClickException):
    """A domain error shown as one line, with its exit code."""

    exit_code = ExitCode.FAILED

    def show(self, file: Any = None) -> None:
        # One line, whatever the terminal's width; the message is text, not markup.
        err_console.print(
            f"[bold red]error:[/] {escape(self.message)}", highlight=False, soft_wrap=True
        )


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn abmsync's own errors into one-line CLI errors."""
    try:
        yield
    except AbmsyncError as exc:
        raise CliError(str(exc)) from exc


class FiniteFloatRange(click.FloatRange):
    """A ``FloatRange`` that also refuses ``nan`` and ``inf``, which compare as in range."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def parse_as_of(value: str | None) -> datetime | None:
    """Parse an ISO date or timestamp; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date or time: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def database_url(explicit: str | None) -> str:
    """The state database URL: the option, else settings (env, .env, abmsync.toml)."""
    if explicit:
        return explicit
    from abmsync.settings import Settings

    with domain_errors():
        return Settings().database_url.get_secret_value()


def rules_and_mappings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--rules`` and ``--mappings`` for commands that re-read the synced data."""
    command = click.option(
        "--mappings",
        multiple=True,
        type=click.Path(path_type=Path),
        help="mapping file or directory (repeatable; default: settings' mappings)",
    )(command)
    return click.option(
        "--rules",
        "rules_path",
        type=click.Path(path_type=Path),
        help="rules YAML file (default: settings)",
    )(command)


def rules_and_mappings(
    rules_path: Path | None, mappings: tuple[Path, ...]
) -> tuple[Any, list[Path]]:
    """The loaded rules and the mapping paths: the options, else settings."""
    from abmsync.rules.loader import load_rules
    from abmsync.settings import Settings

    paths = list(mappings)
    if rules_path is None or not paths:
        settings = Settings()
        rules_path = rules_path or settings.rules
        paths = paths or [settings.mappings]
    return load_rules(rules_path), paths
