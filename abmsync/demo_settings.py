"""The settings file ``abmsync demo`` leaves behind, so later commands find its state.

After the demo, ``abmsync report``, ``accounts``, ``history``, ``status`` and
the rest read their state database, rules and mappings from settings
(:mod:`abmsync.settings`). The demo writes them to ``abmsync.toml`` in the
working directory, the settings file those commands read, with a first line
that marks the file as the demo's. It does so only when its state directory
(``--dir``, by default ``abmsync-demo``) lies in that directory: a demo kept
elsewhere leaves the working directory as it was. A file without the first
line is the user's own and is never touched. Options (``--database``,
``--rules``, ``--mappings``), ``ABMSYNC_*`` variables and ``.env`` still win
over the file, as settings precedence says.
"""

from __future__ import annotations

import json
from pathlib import Path

from abmsync.settings import TOML_FILE

MARKER = "# Written by `abmsync demo`"
HEADER = (
    f"{MARKER}: the state database, rules and mappings of its last run, which\n"
    "# `abmsync report`, `accounts`, `history`, `status` ... read by default.\n"
    "# Options (--database, --rules, --mappings) and ABMSYNC_* variables still win;\n"
    "# delete this file to stop using the demo's state.\n"
)


def is_demo_settings(path: Path) -> bool:
    """Whether ``path`` is a settings file the demo wrote (so it may write it again)."""
    try:
        with path.open(encoding="utf-8") as file:
            return file.readline().startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def write_demo_settings(
    state: Path,
    database_url: str,
    rules: Path,
    mappings: Path,
    *,
    path: Path = Path(TOML_FILE),
) -> str | None:
    """Point settings at the demo's state in ``state``; None if written, else why not.

    Paths are written as the demo used them: relative ones are relative to
    the working directory, which is where ``path`` is read from.
    """
    home = path.resolve().parent
    if not state.resolve().is_relative_to(home):
        return f"the demo's state is outside {home}"
    if path.exists() and not is_demo_settings(path):
        return f"{path} is not the demo's: left alone"
    values = {"database_url": database_url, "rules": str(rules), "mappings": str(mappings)}
    # A JSON string is a valid TOML basic string (same escapes).
    body = "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in values.items()
    )
    try:
        path.write_text(HEADER + body, encoding="utf-8")
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}"
    return None


def next_commands(
    database_url: str,
    rules: Path,
    mappings: Path,
    *,
    not_written: str | None,
    email: str | None = None,
    sandbox: str = "",
) -> list[str]:
    """The commands to run after the demo, one line each with what they show.

    Short when :func:`write_demo_settings` pointed settings at the demo's state
    (``not_written`` is None); otherwise spelled out with ``--database``,
    ``--rules`` and ``--mappings``, after why settings were not written.
    """
    if not_written is None:
        state = rules_state = ""
        lines = [f"{TOML_FILE} points these commands at the demo's state ({database_url}):"]
    else:
        state = f" --database {database_url}"
        rules_state = f"{state} --rules {rules} --mappings {mappings}"
        lines = [f"State database: {database_url} (no {TOML_FILE} written: {not_written})"]
    commands = [
        (f"abmsync report{rules_state}", "funnel and ABM report as HTML"),
        (f"abmsync accounts --mqa{rules_state}", "marketing-qualified accounts by score"),
        *([(f"abmsync history {email}{state}", "one person's scores and stages")] if email else []),
        (f"abmsync status{state}", "the runs, cursors and dead letters"),
        (f"abmsync deadletters list{state}", "records a vendor rejected"),
        *(
            [(f"abmsync sandbox serve {sandbox}", "emulators to point `abmsync sync` at")]
            if sandbox
            else []
        ),
    ]
    return [*lines, *(f"  {command}   ({what})" for command, what in commands)]
