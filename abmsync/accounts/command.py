"""``abmsync accounts``: each company's account score, tier, MQA and buying-centre coverage."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from abmsync.accounts.listing import AccountRow
from abmsync.clikit import console, domain_errors, rules_and_mappings_options
from abmsync.tenant_commands import TenantSelection, selected_state, tenant_option


@click.command("accounts")
@click.option("--tier", help="only accounts of this tier (e.g. strategic)")
@click.option("--mqa", "mqa_only", is_flag=True, help="only marketing-qualified accounts")
@rules_and_mappings_options
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
def accounts(
    tier: str | None,
    mqa_only: bool,
    rules_path: Path | None,
    mappings: tuple[Path, ...],
    database: str | None,
    selection: TenantSelection,
    as_json: bool,
) -> None:
    """Accounts by account score, as of the last sync: tier, MQA, engaged people and roles.

    The figures are the account brief a sync writes to the CRM's account
    records; a company held in several systems is one row.
    """
    from abmsync.accounts.listing import list_accounts

    with domain_errors():
        state = selected_state(
            selection, database=database, rules_path=rules_path, mappings=mappings
        )
        rules, paths = state.rules_and_mappings()
        with state.open_store() as store:
            rows = list_accounts(store, rules, paths, tier=tier, mqa_only=mqa_only)
    if as_json:
        click.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    render_accounts(rows, tier=tier, mqa_only=mqa_only)


def render_accounts(rows: list[AccountRow], *, tier: str | None, mqa_only: bool) -> None:
    """The rows as one table."""
    what = " ".join(filter(None, [tier, "MQA" if mqa_only else None, "accounts"]))
    shown = Table(title=f"{what[0].upper()}{what[1:]} ({len(rows):,})", title_justify="left")
    for name, justify in (
        ("account", "left"),
        ("tier", "left"),
        ("score", "right"),
        ("MQA", "left"),
        ("engaged people", "right"),
        ("engaged roles", "left"),
        ("coverage", "right"),
        ("last touch", "left"),
    ):
        shown.add_column(name, justify=justify, no_wrap=name == "last touch")  # type: ignore[arg-type]
    for row in rows:
        shown.add_row(
            row.name or row.id,
            row.tier,
            f"{row.account_score:,.0f}",
            "yes" if row.mqa else "no",
            f"{row.engaged_people:,} of {row.people:,}",
            f"{', '.join(row.engaged_roles) or '—'} "
            f"({len(row.engaged_roles)}/{row.expected_roles})",
            f"{row.coverage:.0%}",
            row.last_touch.isoformat() if row.last_touch else "—",
        )
    console.print(shown)
