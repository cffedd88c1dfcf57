"""The report's ABM section counts companies as ``abmsync accounts`` lists them: a Salesforce
account and a HubSpot company of one web domain are one account in both."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.report.inputs import ReportInputs
from tests.report.conftest import MAPPINGS, RULES


def _json(*args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def both(demo_database: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``report --json`` and ``accounts --json`` on the demo's state database."""
    options = ("--database", demo_database, "--rules", str(RULES), "--mappings", str(MAPPINGS))
    return _json("report", *options), _json("accounts", *options)


def test_the_demo_holds_one_company_in_two_systems(demo_inputs: ReportInputs) -> None:
    # Otherwise the figures below would agree whether or not companies are merged.
    merged = demo_inputs.links.filter(
        demo_inputs.links["account_id"] != demo_inputs.links["canonical_id"]
    )
    assert merged.height > 0
    assert demo_inputs.companies.height == demo_inputs.links.height - merged.height


def test_accounts_by_tier_and_mqas_are_the_account_listing(
    both: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, accounts = both
    abm = report["abm"]
    assert report["accounts"] == len(accounts)
    by_tier = {t["tier"]: t for t in abm["tiers"]}
    for tier, count in Counter(a["tier"] for a in accounts).items():
        rows = [a for a in accounts if a["tier"] == tier]
        assert by_tier[tier]["accounts"] == count
        assert by_tier[tier]["mqas"] == sum(a["mqa"] for a in rows)
        assert by_tier[tier]["engaged"] == sum(a["engaged_people"] > 0 for a in rows)
    assert sum(t["accounts"] for t in abm["tiers"]) == len(accounts)
    assert abm["mqas"] == sum(a["mqa"] for a in accounts) > 0


def test_key_accounts_carry_the_listings_figures(
    both: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, accounts = both
    listed = {a["id"]: a for a in accounts}
    abm = report["abm"]
    assert abm["key_accounts"]
    for key in abm["key_accounts"]:
        row = listed[key["id"]]
        assert (key["name"], key["tier"], key["mqa"]) == (row["name"], row["tier"], row["mqa"])
        assert (key["people"], key["engaged_people"]) == (row["people"], row["engaged_people"])
        assert key["engaged_roles"] == len(row["engaged_roles"])
        assert key["coverage"] == row["coverage"]
    for suggestion in abm["tier_suggestions"]:
        assert suggestion["tier"] == listed[suggestion["id"]]["tier"]
        assert suggestion["suggested"] != suggestion["tier"]


def test_coverage_per_role_counts_the_listings_engaged_roles(
    both: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, accounts = both
    with_anyone = sum(a["engaged_people"] > 0 for a in accounts)
    for role in report["abm"]["coverage_by_role"]:
        covered = sum(role["role"] in a["engaged_roles"] for a in accounts)
        assert role["accounts"] == covered
        assert role["share"] == (
            pytest.approx(covered / with_anyone, abs=1e-4) if with_anyone else None
        )
