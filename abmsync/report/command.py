"""``abmsync report``: the funnel and ABM report as one HTML file, or its figures as JSON."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from abmsync.clikit import CliError, console, domain_errors, rules_and_mappings_options
from abmsync.report.attribution import Model
from abmsync.tenant_commands import TenantSelection, selected_state, tenant_option


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from None


@click.command("report")
@click.option("--from", "start", help="first day reported (YYYY-MM-DD; default: everything)")
@click.option("--to", "end", help="last day reported (YYYY-MM-DD; default: the last run)")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="HTML file to write  [default: report.html; with --json: none]",
)
@click.option("--json", "as_json", is_flag=True, help="print the report's figures as JSON")
@click.option(
    "--attribution",
    type=click.Choice([m.value for m in Model]),
    default=Model.W_SHAPED.value,
    show_default=True,
    help="model that credits touchpoints with pipeline and revenue",
)
@rules_and_mappings_options
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
def report(
    start: str | None,
    end: str | None,
    out: Path | None,
    as_json: bool,
    attribution: str,
    rules_path: Path | None,
    mappings: tuple[Path, ...],
    database: str | None,
    selection: TenantSelection,
) -> None:
    """Funnel, SLA, sales feedback, scores, ABM and closed-loop figures from the state database.

    Writes one self-contained HTML file (charts included, no network needed to
    view it); with --json prints the same figures instead.
    """
    from abmsync.report.build import build_report
    from abmsync.report.inputs import load_inputs
    from abmsync.report.sections import render_html

    first, last = _day(start, "--from"), _day(end, "--to")
    if first and last and first > last:
        raise CliError(f"--from {first} is after --to {last}")
    with domain_errors():
        state = selected_state(
            selection, database=database, rules_path=rules_path, mappings=mappings
        )
        rules, paths = state.rules_and_mappings()
        with state.open_store() as store:
            inputs = load_inputs(store, rules, paths, start=first, end=last)
        figures = build_report(inputs, Model(attribution))
    if as_json:
        click.echo(figures.model_dump_json(indent=2))
    target = out if out is not None else (None if as_json else Path("report.html"))
    if target is not None:
        target.write_text(render_html(figures), encoding="utf-8")
        if not as_json:
            console.print(
                f"wrote {target} ({figures.people:,} people, {figures.accounts:,} accounts)"
            )
