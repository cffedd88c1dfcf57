"""The account brief: company links across systems, the brief's lines, bounded texts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from abmsync.accounts.brief import account_briefs, bounded_text
from abmsync.accounts.links import canonical_accounts
from abmsync.rules.compiled import compile_rules
from abmsync.rules.loader import load_rules
from abmsync.rules.scoring import score
from tests.sync.crm_env import RULES

AS_OF = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_a_hubspot_company_speaks_through_the_salesforce_account_of_its_domain() -> None:
    accounts = pl.DataFrame(
        {
            "id": ["001A", "001B", "900", "901"],
            "domain": ["acme.com", "acme.com", "acme.com", "globex.com"],
        }
    )
    systems = pl.DataFrame(
        {
            "id": ["001A", "001B", "900", "901"],
            "system": ["salesforce", "salesforce", "hubspot", "hubspot"],
        }
    )
    links = dict(canonical_accounts(accounts, systems).iter_rows())
    assert links["900"] == "001A"  # the lowest id of the higher-ranked system
    assert links["001B"] == "001B"  # accounts of one system are never merged
    assert links["901"] == "901"  # no Salesforce account of that domain


def test_without_systems_every_account_speaks_for_itself() -> None:
    accounts = pl.DataFrame({"id": ["a", "b"], "domain": ["acme.com", "acme.com"]})
    links = canonical_accounts(accounts, None)
    assert links["canonical_id"].to_list() == ["a", "b"]


def test_bounded_text_leaves_out_whole_lines_and_says_how_many() -> None:
    lines = [f"person {i} · engineer · user" for i in range(10)]
    text = bounded_text(lines, 100)
    assert text is not None and len(text) <= 100
    assert text.splitlines()[-1].startswith("… and ")
    kept = text.splitlines()[:-1]
    assert kept == lines[: len(kept)]
    assert text.splitlines()[-1] == f"… and {10 - len(kept)} more"
    assert bounded_text(lines, None) == "\n".join(lines)
    assert bounded_text([], 100) is None


def brief_of(people: list[dict[str, object]], touchpoints: list[dict[str, object]]) -> dict:
    rules = compile_rules(load_rules(RULES), AS_OF)
    accounts = pl.DataFrame(
        {"id": ["acc-1"], "name": ["Acme"], "domain": ["acme.com"], "annual_revenue": [2e8]}
    )
    result = score(rules, pl.DataFrame(people), pl.DataFrame(touchpoints), accounts)
    links = canonical_accounts(accounts, None)
    briefs = account_briefs(rules, result.people, result.accounts, pl.DataFrame(touchpoints), links)
    return briefs.row(0, named=True)


def test_the_brief_names_the_committee_by_role_and_the_newest_touches_first() -> None:
    people = [
        {
            "id": "p1",
            "first_name": "Vera",
            "last_name": "Lang",
            "title": "VP Sales",
            "email": "vera@acme.com",
            "account_id": "acc-1",
        },
        {
            "id": "p2",
            "first_name": "Ed",
            "last_name": "Eng",
            "title": "Software Engineer",
            "email": "ed@acme.com",
            "account_id": "acc-1",
        },
        {
            "id": "p3",
            "first_name": "No",
            "last_name": "Role",
            "title": "Intern",
            "email": "no@acme.com",
            "account_id": "acc-1",
        },
    ]
    touchpoints = [
        {
            "id": "t1",
            "person_id": "p1",
            "type": "form_submit",
            "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
            "campaign": "Contact sales",
        },
        {
            "id": "t2",
            "person_id": "p2",
            "type": "page_view",
            "occurred_at": datetime(2026, 11, 25, tzinfo=UTC),
            "url": "/pricing",
        },
        {
            "id": "t3",
            "person_id": "p2",
            "type": "email_send",
            "occurred_at": datetime(2026, 11, 28, tzinfo=UTC),
        },
    ]
    brief = brief_of(people, touchpoints)
    assert brief["tier"] == "lite"
    assert brief["people"] == 3
    assert brief["account_score"] == brief["account_fit"] + brief["account_engagement"]
    assert brief["committee"] == [
        "Vera Lang · VP Sales · decider · last touch 2026-11-20 · engaged",
        "Ed Eng · Software Engineer · user · last touch 2026-11-25",  # one page view: not engaged
    ]
    # A send is not engagement: neither a touch nor the last touch.
    assert brief["touches"] == [
        "2026-11-25 · page view · /pricing · Ed Eng",
        "2026-11-20 · form submit · Contact sales · Vera Lang",
    ]
    assert str(brief["last_touch"]) == "2026-11-25"
    assert brief["engaged_role_names"] == ["decider"]
    assert brief["engaged_roles_text"] == "decider (1 of 5)"
    assert brief["coverage_percent"] == 20.0
