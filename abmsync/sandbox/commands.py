"""``abmsync sandbox generate``: write a seeded demo data set to a directory.

Thin on purpose: parse the options, call ``generate_dataset`` and
``write_dataset``, and show what was written.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from abmsync.clikit import FiniteFloatRange
from abmsync.sandbox.generate import (
    DEFAULT_AS_OF,
    FORMATS,
    Format,
    generate_dataset,
    write_dataset,
)
from abmsync.schema import utc


@click.command("generate")
@click.option(
    "--people",
    type=click.IntRange(1, 10_000_000),
    default=10_000,
    show_default=True,
    help="How many people (leads and contacts) to generate; accounts are about a twelfth.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=7,
    show_default=True,
    help="Random seed: the same seed and options give the same data.",
)
@click.option(
    "--as-of",
    "as_of",
    default=DEFAULT_AS_OF.isoformat(),
    show_default=True,
    help="End of the touchpoint window, ISO 8601 (UTC when no offset is given).",
)
@click.option(
    "--months",
    type=click.IntRange(1, 240),
    default=12,
    show_default=True,
    help="Length of the touchpoint window before --as-of.",
)
@click.option(
    "--touchpoints-per-person",
    type=FiniteFloatRange(0, 1000),
    default=20.0,
    show_default=True,
    help="Average touchpoints per person (heavy-tailed: most have few).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("abmsync-data"),
    show_default=True,
    help="Directory to write the files to (created if missing).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="parquet",
    show_default=True,
    help="File format of the written frames.",
)
def generate(
    people: int,
    seed: int,
    as_of: str,
    months: int,
    touchpoints_per_person: float,
    out: Path,
    fmt: Format,
) -> None:
    """Write a synthetic but realistic B2B data set to --out.

    Accounts, people, touchpoints, opportunities and owners, seeded and
    reproducible, and dirty on purpose the way CRM data is: duplicate people,
    free-mail addresses, odd casing, countries typed as "Germany" or "de".
    """
    end = _parse_as_of(as_of)
    _ensure_writable(out)

    console = Console(stderr=True)
    with console.status(f"Generating {people:,} people and their touchpoints…"):
        try:
            data = generate_dataset(
                people,
                seed=seed,
                as_of=end,
                months=months,
                touchpoints_per_person=touchpoints_per_person,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    with console.status(f"Writing {fmt} files to {out}…"):
        try:
            paths = write_dataset(data, out, fmt)
        except OSError as exc:
            raise click.ClickException(f"cannot write to {out}: {exc.strerror or exc}") from exc

    frames = data.frames()
    table = Table()
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, path in paths.items():
        table.add_row(path.name, f"{frames[name].height:,}")
    stdout = Console()
    stdout.print(
        f"Wrote {len(paths)} files to {out} (seed {seed}, {months} months to "
        f"{end:%Y-%m-%d %H:%M} UTC)",
        highlight=False,
        soft_wrap=True,
    )
    stdout.print(table)
    stdout.print(
        f"Next: abmsync score --rules examples/rules.yaml --data {out} --out scores.parquet",
        highlight=False,
        soft_wrap=True,
    )


def _parse_as_of(value: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise click.ClickException(
            f"--as-of must be an ISO 8601 date or time such as 2026-11-01T00:00:00Z, got {value!r}"
        ) from None


def _ensure_writable(directory: Path) -> None:
    """Fail before generating, not after, when ``directory`` cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot write to {directory}: {exc.strerror or exc}") from exc
    if not os.access(directory, os.W_OK):
        raise click.ClickException(f"cannot write to {directory}: permission denied")
